"""Size caps and deadlines for everything read from untrusted data, in one place.

Every reader checks its cap *before* it allocates (a declared length, a header's width x height),
so a small hostile input can never make us reserve gigabytes. Each section belongs to one kind of
input; the numbers are far above what honest data needs and far below what hurts a workstation.
"""

from __future__ import annotations

# network / server outputs
#: bytes of one JSON answer (/object_info of a server with many node packs is a few MB)
JSON_REPLY_MAX_BYTES = 64 << 20
#: bytes of an HTTP error body we read (only its first 200 characters are shown)
ERROR_BODY_MAX_BYTES = 64 << 10
#: bytes of one downloaded output file (/view), streamed to a temporary file, never into memory
OUTPUT_FILE_MAX_BYTES = 2 << 30
#: decoded RGB bytes of all of a job's returned frames together, checked before each frame
OUTPUT_DECODED_MAX_BYTES = 3 << 30
#: files an output node may list: each holds at least one frame, and each is one download
OUTPUT_FILES_MAX = 10_000
#: bytes of one websocket message (ComfyUI's JSON events are small; previews are a few MB)
WS_MESSAGE_MAX_BYTES = 32 << 20
#: seconds without a byte before a request or a websocket frame in progress gives up
NET_IDLE_TIMEOUT_S = 30.0
#: seconds one HTTP request may take in all (a server trickling a byte at a time ends here)
NET_REQUEST_DEADLINE_S = 120.0
#: seconds one output download may take in all
NET_DOWNLOAD_DEADLINE_S = 1800.0
#: seconds one model file download may take in all (it resumes when run again)
NET_MODEL_DEADLINE_S = 6 * 3600.0
#: bytes of a model file without a registered size
MODEL_FILE_MAX_BYTES = 8 << 30
#: seconds a ComfyUI job may run in all before we cancel it
COMFYUI_JOB_DEADLINE_S = 6 * 3600.0
#: seconds of websocket silence after which the queue and history are asked instead
COMFYUI_POLL_AFTER_S = 5.0
#: seconds the job may go without any sign of life (no event, not in the server's queue)
COMFYUI_JOB_IDLE_S = 900.0
#: redirects one request may follow (each one checked by the network policy)
NET_MAX_REDIRECTS = 5
#: how often a blocked network read wakes up to check cancel and deadlines
NET_TICK_S = 0.1
