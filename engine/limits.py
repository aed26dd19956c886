"""Size caps and deadlines for everything read from untrusted data, in one place (docs/files.md#size-limits).

Every reader checks its cap against what the data *declares* (an image header, a container's
frame count, a zip member's size, a .npy header's shape) before it allocates or decodes, so a
small hostile file that claims gigabytes is refused with one sentence instead of eating memory.
Each section lists the readers that use it; keep a section's constants together.
"""

from __future__ import annotations

# -- images and video frames (engine/media/images.py, media/video.py, face_tracker.py, pipeline.py)

# 50 megapixels (8660 x 8660, or a 48 MP phone photo): far above what a portrait needs, and
# well below OpenCV's decoder limit (2^30) and the 32767-pixel side limit of cv2.remap.
MAX_IMAGE_PIXELS = 50_000_000
# The longest side of any image or video frame we decode (cv2.remap and MediaPipe need < 32767).
MAX_IMAGE_SIDE = 16_384

# -- video and audio streams (engine/capture/video.py, capture/audio.py, media/audio.py)

# Frames a damaged clip's header may add past what actually decodes (they are filled in as
# untracked and reported): a corrupt header saying "10^9 frames" must not size the arrays.
MAX_UNDECODED_FRAMES = 1_000_000
# ffmpeg's log of one decode is read only up to its last this-many bytes (for the one line an
# error message quotes): a file can make ffmpeg write a warning per packet, gigabytes of them.
MAX_LOG_TAIL_BYTES = 64 * 1024

# -- motion files (engine/motion.py, engine/npz_reader.py)

# A motion .json larger than this is refused before parsing: parsing costs about 10x its size in
# memory, and a 1-hour capture with blendshapes and dense arrays inline is ~130 MB (longer ones
# use the .npz sidecar, `capture --sidecar`).
MAX_MOTION_JSON_BYTES = 256 * 1024 * 1024
# Longest number literal in a motion .json: a float32 needs at most ~25 characters; Python would
# refuse an integer of more than 4300 digits with a ValueError, and a float of 5000 digits is inf.
MAX_JSON_NUMBER_CHARS = 100
# Decoded size of all arrays of one .npz sidecar together: ~530 bytes a frame with blendshapes and
# the dense LivePortrait track, so this holds about 9 hours at 30 fps. Checked on the zip's member
# sizes and each .npy header's shape x item size before anything is decompressed.
MAX_SIDECAR_BYTES = 512 * 1024 * 1024
# Arrays in one sidecar: a motion has ~20 (16 controls, confidence, tracked, blendshapes, extras).
MAX_SIDECAR_MEMBERS = 256
# A .npy header is ~128 bytes; numpy's own default ceiling is 10000.
MAX_NPY_HEADER_BYTES = 10_000

# -- farm jobs (engine/farm.py, farm/flamenco/talking_head.js, engine/motion.py)

# Tasks in one farm job: schedulers choke on more, and each task starts Blender. The Flamenco
# job type (JavaScript) holds the same number (tests/engine/test_flamenco_job.py checks it).
MAX_TASKS = 10_000
# Frames in one motion: Blender's frame range (engine/frames.py MAX_FRAME, both signs, plus 0)
# is the longest anything can be keyed or rendered; checked on the declared count first.
MAX_MOTION_FRAMES = 2 * 1_048_574 + 1

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
