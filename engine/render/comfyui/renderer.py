"""The ``comfyui`` clip renderer: one frame range = one ComfyUI job.

Steps of ``render_clip``: pick the drive (guide video rendered from the curves by the built-in
renderer, the driving clip as it is, or its audio), cut the portrait to a face crop when the
workflow wants one, upload, fill the template, queue and follow it, download its output and
conform it to the range (count, fps, size), pasting a crop back into the full portrait.
"""

from __future__ import annotations

import os
import random
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ... import limits
from ...errors import EngineError
from ...progress import Progress
from ...safe_text import printable
from ..base import ClipJob, ClipRenderer, RenderError, create_renderer
from . import media, server_media
from .client import TOKEN_ENV, ComfyClient, ComfyUIError, JobProgress, safe_file_name, safe_subfolder
from .workflow import Workflow, load_workflow

__all__ = ["TOKEN_ENV", "ComfyUIRenderer"]

# Wan-Animate's face video: WanAnimateToVideo scales it to 512² itself; Wan2.2's preprocessing
# crops the face with a margin around its landmarks
FACE_SIZE, FACE_SCALE = 512, 1.6
# share of the progress bar per phase (the server's part dominates)
_GUIDE, _UPLOAD, _SERVER, _TOTAL = 20, 5, 70, 100


class ComfyUIRenderer(ClipRenderer):
    name = "comfyui"
    label = "ComfyUI"
    needs_models = False

    def __init__(self, device: str = "auto", *, workflow: str | None = None, server: str = "",
                 token: str | None = None, allow_network: bool = False, drive: str | None = None,
                 ca_file: str | None = None, **options: Any):
        super().__init__(device, **options)
        if not workflow:
            raise RenderError("the comfyui renderer needs a workflow: --workflow NAME or PATH "
                              "(python -m engine comfyui templates lists them)")
        self.workflow: Workflow = load_workflow(workflow)
        token = token if token is not None else os.environ.get(TOKEN_ENV) or None
        self.client = ComfyClient(server or "http://127.0.0.1:8188", token, allow_network=allow_network,
                                  ca_file=ca_file or None)
        self.drive = drive
        self.last_notes: list[str] = []
        self.last_job: dict[str, Any] = {}

    # -- inputs -------------------------------------------------------------------------------
    def _guide_frames(self, job: ClipJob, progress: Progress | None, box: media.CropBox | None,
                      crop_size: int, size: tuple[int, int]) -> Iterator[np.ndarray]:
        import cv2

        face = self.options.get("face")  # which face of a group portrait the guide animates
        builtin = create_renderer("builtin", **({} if face is None else {"face": face}))
        try:
            builtin.use_motion(job.motion)
            builtin.prepare(job.portrait)
            n = len(job.frames)
            for k, index in enumerate(job.frames):
                extras = {name: arr[index] for name, arr in job.motion.extras.items()}
                rgb = builtin.render_frame(job.motion.frame(index), extras or None)
                if box is not None:
                    rgb = box.cut(rgb, crop_size)
                elif (rgb.shape[1], rgb.shape[0]) != size:
                    rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
                if progress is not None:
                    progress.update(int(_GUIDE * (k + 1) / n), _TOTAL, f"guide frame {index}")
                yield rgb
        finally:
            builtin.close()

    def _values(self, job: ClipJob, progress: Progress | None, tmp: str) -> dict[str, Any]:
        wf = self.workflow
        drive = job.drive or self.drive or wf.drive
        if drive not in ("guide", "driving", "audio"):
            raise RenderError(f"unknown drive {drive!r}: use guide, driving or audio")
        h, w = job.portrait.shape[:2]
        n = len(job.frames)
        box = None
        crop_size = 0
        if wf.crop:
            # the face the guide animates (--face N / the portrait's Face number), not the largest
            box = media.face_box(job.portrait, float(wf.crop.get("scale", 2.0)), self.options.get("face"))
            crop_size = int(wf.crop.get("size", 512))
            portrait_in = box.cut(job.portrait, crop_size)
            gen_w = gen_h = crop_size
        else:
            portrait_in = job.portrait
            gen_w, gen_h = wf.generated_size(w, h)
        self._box = box
        values: dict[str, Any] = {
            "fps": float(job.fps), "length": wf.generated_length(n),
            # a fixed default seed: re-rendering the same range gives the same result
            "seed": (int(job.seed) if job.seed else random.Random(n).randint(1, 2**31 - 1)) % wf.seed_max,
            "width": gen_w, "height": gen_h,
        }
        values["portrait"] = self.client.upload(media.encode_png(portrait_in), ".png")
        if "video" in wf.inputs:
            if drive == "driving" or (drive == "audio" and job.driving):
                if not job.driving:
                    raise EngineError("this workflow is driven by the driving clip: give it "
                                      "(--driving VIDEO, or the portrait's driving strip)")
                size = (crop_size, crop_size) if box is not None else (gen_w, gen_h)
                frames = media.driving_frames(job.driving, self._driving_indices(job), size)
            else:
                frames = self._guide_frames(job, progress, box, crop_size, (gen_w, gen_h))
            data = media.encode_mp4(frames, job.fps, tmp)
            if progress is not None:
                progress.update(_GUIDE, _TOTAL, "uploading")
            values["video"] = self.client.upload(data, ".mp4")
        if "face" in wf.inputs:  # Wan-Animate's face video: a square crop around the face
            frames = self._face_frames(job, progress, drive)
            values["face"] = self.client.upload(media.encode_mp4(frames, job.fps, tmp), ".mp4")
        if "pose" in wf.inputs:  # the body as a DWPose-style pose video at the generated size
            from ...pose_video import pose_frames

            body = job.motion.body
            if body is None:
                raise EngineError(f"workflow {wf.name} takes a pose video, and the motion has no body: "
                                  "capture with the body (Capture's Body option, or --body)")
            if progress is not None:
                progress.update(_GUIDE, _TOTAL, "pose video")
            data = media.encode_mp4(pose_frames(body, job.frames, (gen_w, gen_h)), job.fps, tmp)
            values["pose"] = self.client.upload(data, ".mp4")
        if "audio" in wf.inputs:
            if not job.driving:
                raise EngineError("this workflow is driven by audio: give the driving clip "
                                  "(--driving VIDEO, or the portrait's driving strip)")
            start_s = self._driving_indices(job)[0] / _clip_fps(job.driving, job.fps)
            wav = media.extract_audio(job.driving, start_s, n / job.fps, tmp)
            values["audio"] = self.client.upload(wav, ".wav")
        return {k: v for k, v in values.items() if k in wf.inputs}

    def _face_frames(self, job: ClipJob, progress: Progress | None, drive: str) -> Iterator[np.ndarray]:
        """The face video: FACE_SIZE² crops around the face (FACE_SCALE x its landmarks' extent,
        found once, on the portrait for the guide or on the first driving frame), of the driving
        clip or of the guide the built-in renderer draws from the curves."""
        if drive == "driving" or (drive == "audio" and job.driving):
            if not job.driving:
                raise EngineError("this workflow's face video comes from the driving clip: give it "
                                  "(--driving VIDEO, or the portrait's driving strip)")
            frames = media.driving_frames(job.driving, self._driving_indices(job))
            first = next(frames)
            box = media.face_box(first, FACE_SCALE)
            yield box.cut(first, FACE_SIZE)
            for rgb in frames:
                yield box.cut(rgb, FACE_SIZE)
            return
        box = media.face_box(job.portrait, FACE_SCALE, self.options.get("face"))
        yield from self._guide_frames(job, progress, box, FACE_SIZE, (FACE_SIZE, FACE_SIZE))

    @staticmethod
    def _driving_indices(job: ClipJob) -> list[int]:
        if job.driving_indices is not None:
            if len(job.driving_indices) != len(job.frames):
                raise RenderError("driving_indices must give one driving frame per rendered frame")
            return [int(i) for i in job.driving_indices]
        return [job.driving_start + i for i in job.frames]

    def preflight(self) -> None:
        """Check the workflow against the server's /object_info before rendering any guide or
        uploading: a missing node pack or model file fails here, in one sentence."""
        from .check import check_workflow

        report = check_workflow(self.workflow, self.client.object_info())
        if not report.ready:
            what = report.summary(notes=False).split(": ", 1)[1]
            raise ComfyUIError(f"the ComfyUI server at {self.client.url} cannot run {self.workflow.name}: "
                               f"{what}; install it and restart ComfyUI")

    # -- the job ------------------------------------------------------------------------------
    def render_clip(self, job: ClipJob, progress: Progress | None = None) -> list[np.ndarray]:
        if job.frames.step != 1 or len(job.frames) == 0:
            raise RenderError("a ComfyUI workflow renders one contiguous frame range")
        if progress is not None:
            progress.update(0, _TOTAL, f"connecting to {self.client.url}")
            # every request and websocket read of this job wakes up for a cancel (Esc, Ctrl-C)
            self.client.cancelled = lambda: progress.cancelled
        self.client.system_stats()  # fail early and clearly when the server is not there
        self.preflight()
        with tempfile.TemporaryDirectory(prefix="th_comfyui_") as tmp:
            values = self._values(job, progress, tmp)
        graph = self.workflow.fill(values)
        if progress is not None:
            progress.update(_GUIDE + _UPLOAD, _TOTAL, "queued")

        def on_update(state: JobProgress) -> None:
            if progress is None or progress.callback is None:
                return
            frac = 0.0
            if state.nodes_total:
                step = state.step / state.steps if state.steps else 0.0
                frac = min(1.0, (state.nodes_done + step) / state.nodes_total)
            progress.callback(_GUIDE + _UPLOAD + int(_SERVER * frac), _TOTAL, state.describe())

        result = self.client.run(graph, progress, on_update)
        # untrusted: at most this many frames in all, whether one video or an image per frame
        # (SaveImage lists a batch in order; its stills carry no fps, so the motion's applies)
        cap = 4 * len(job.frames) + 64
        files = _output_files(result.outputs.get(self.workflow.output), min(cap, limits.OUTPUT_FILES_MAX),
                              self.workflow.name)
        if not files:
            raise ComfyUIError(f"workflow {self.workflow.name}: its output node "
                               f"{self.workflow.output} returned no files; check that it saves "
                               "images or a video")
        if progress is not None:
            progress.update(_TOTAL - 5, _TOTAL, "downloading")
        frames: list[np.ndarray] = []
        fps = None
        budget = server_media.DecodeBudget()  # decoded bytes of all files together
        with tempfile.TemporaryDirectory(prefix="th_comfyui_out_") as tmp:
            for k, f in enumerate(files):
                if len(frames) >= cap:
                    break
                # streamed to disk (never whole into memory), named by us, decoded as its suffix
                path = Path(tmp) / f"{k}{Path(f['filename']).suffix.lower()}"
                with open(path, "wb") as out:
                    self.client.view_to(f["filename"], f["subfolder"], f["type"], out)
                got, got_fps = server_media.decode_file(path, f["filename"], cap - len(frames), budget)
                path.unlink()
                frames.extend(got)
                fps = fps or got_fps
        h, w = job.portrait.shape[:2]
        box = self._box
        size = (box.size, box.size) if box is not None else (w, h)
        out, self.last_notes = media.conform(frames, fps, len(job.frames), job.fps, size)
        if box is not None:
            out = [media.paste_back(job.portrait, box, f) for f in out]
        self.last_job = {"prompt_id": result.prompt_id, "seconds": result.seconds,
                         "returned_frames": len(frames), "returned_fps": fps, "files": files}
        if progress is not None:
            progress.update(_TOTAL, _TOTAL, "done")
        return out


def _clip_fps(path: str, fallback: float) -> float:
    from ...media.video import VideoReader

    with VideoReader(path) as reader:
        return reader.info.fps or fallback


def _output_files(output: Any, most: int, workflow: str) -> list[dict]:
    """Files an executed node reported: ``images`` (SaveImage, SaveVideo, VHS), ``gifs`` (VHS),
    ``video``/``videos`` in some packs. Temp previews are accepted too. Names are checked before
    anything is downloaded (no folders, ``..`` or NUL), and a list longer than ``most`` (each
    file holds at least one frame, and each is one download) is refused up front."""
    if not isinstance(output, dict):
        return []
    files = []
    for key in ("images", "gifs", "videos", "video"):
        items = output.get(key) or []
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and item.get("filename"):
                if len(files) >= most:
                    raise ComfyUIError(f"workflow {workflow}: its output node listed more than {most} "
                                       "files, more than this frame range can use; refused before "
                                       "downloading them")
                kind = item.get("type", "output")
                name = safe_file_name(item["filename"], "output file")
                if Path(name).suffix.lower() not in server_media.FORMATS:
                    raise ComfyUIError(f"workflow {workflow}: its output {printable(name, 80)} is not "
                                       "a file type this product reads back (mp4, webm, png, ...); "
                                       "refused before downloading it")
                files.append({"filename": name,
                              "subfolder": safe_subfolder(item.get("subfolder")),
                              "type": kind if isinstance(kind, str) else "?"})
    return files
