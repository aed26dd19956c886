"""Size caps for everything read from untrusted data, in one place (docs/files.md#size-limits).

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
