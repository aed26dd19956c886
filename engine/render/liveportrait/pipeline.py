"""LivePortraitRenderer: our controls in, LivePortrait frames pasted into the full portrait out.

prepare(): track the portrait with our MediaPipe tracker, crop (scale 2.3, shift -0.125, 512 then
area-resized to 256), appearance features F and source motion M once, source keypoints, eye/lip
ratios. render_frame(): controls -> driving parameters -> driving keypoints -> eye and lip
retargeting offsets -> stitching -> warping + generator -> feathered paste-back. Stateless per
frame. ``timings`` holds the last frame's milliseconds per stage.

Options (``create_renderer("liveportrait", models_dir=..., ...)``):
  models_dir      model folder (default: store.default_models_dir())
  model_files     role -> .onnx path, bypassing the store (custom exports, tests)
  mouth_mode      "retarget" (lip MLP, default) or "slider" (AdvancedLivePortrait's "aaa")
  use_scale       False ignores head_scale (against "breathing")
  stitching       False skips the stitching MLP
  eye_asymmetry   True renders l/r eye differences (winks) through per-eye keypoints (unverified)
  pose_signs      overrides of controls_to_motion.POSE_SIGNS
  threads         onnxruntime intra-op threads
  crop_scale      source crop side in face sizes (default 2.3, LivePortrait's; larger = more room)
  crop_rule       "face" (LivePortrait's 106-point region, default) or "mesh" (FasterLivePortrait)
  batch_size      frames per warping+generator run (default 8 on a GPU provider, 1 on the CPU)
  fp16            True: the warping+generator network in float16 (GPU; see docs for the error)
  tensorrt        True: TensorRT before CUDA when onnxruntime-gpu has it (first run builds engines)
  paste           "auto" (torch on the GPU when the frames are there), "torch" or "cpu"
  use_dense       False ignores a dense LivePortrait track in the motion extras
  on_warning      callable(message) for provider fallbacks (also logged)

Device: auto | cuda | dml | coreml | cpu (providers.choose_providers); ``provider`` says which
provider runs, after the first prepare().
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...controls import CONTROL_NAMES
from ..base import Renderer, RenderError
from . import crop as cropmod
from .controls_to_motion import DrivingParams, controls_to_driving
from .keypoints import (
    KeypointInfo,
    apply_stitching,
    eye_input,
    lip_input,
    stitching_input,
    transform_keypoints,
)
from .networks import ROLES, LivePortraitNetworks

MODEL_SET = "liveportrait"
#: extras keys: dense expression change per frame (63,), the controls captured on that frame (16,)
#: and the head motion change (13: relative rotation 9, scale ratio 1, translation change 3)
EXTRA_DENSE_EXP = "liveportrait_exp"
EXTRA_DENSE_BASE = "liveportrait_base"
EXTRA_DENSE_POSE = "liveportrait_pose"
#: fp16 is kept only when the frames stay within this many uint8 levels of fp32
FP16_MAX_LEVELS = 2


def to_input(rgb256: np.ndarray) -> np.ndarray:
    """(256,256,3) uint8 RGB -> (1,3,256,256) float32 in 0..1."""
    return (np.asarray(rgb256, np.float32) / 255.0).transpose(2, 0, 1)[None].copy()


def to_image(out: np.ndarray) -> np.ndarray:
    """(1,3,H,W) 0..1 -> (H,W,3) uint8, truncated like LivePortrait (live_portrait_wrapper
    parse_output: clip(out * 255).astype(uint8)), not rounded."""
    return np.clip(np.asarray(out)[0].transpose(1, 2, 0) * 255.0, 0, 255).astype(np.uint8)


def resolve_model_files(models_dir: Path | str | None) -> dict[str, Path]:
    from ...models.store import ModelStore

    store = ModelStore(models_dir)
    bad = store.missing(MODEL_SET)
    if bad:
        raise RenderError(f"LivePortrait model files missing or unverified in {store.set_dir(MODEL_SET)}: "
                          f"{', '.join(bad)}; {store.how_to_get(MODEL_SET)}")
    return store.paths(MODEL_SET)


class LivePortraitRenderer(Renderer):
    name = "liveportrait"
    label = "LivePortrait (neural)"
    needs_models = True

    def __init__(self, device: str = "auto", **options: Any):
        super().__init__(device, **options)
        files = options.get("model_files")
        if files is None:
            files = resolve_model_files(options.get("models_dir"))
        self.model_files = {r: Path(files[r]) for r in ROLES if r in files}
        self.nets: LivePortraitNetworks | None = None
        self.timings: dict[str, float] = {}
        self._src: dict[str, Any] | None = None
        self._paste: Any = None
        #: measured max |fp16 - fp32| in uint8 levels (None: fp16 not asked or not measured yet)
        self.fp16_levels: int | None = None

    # ------------------------------------------------------------------ setup
    def _networks(self) -> LivePortraitNetworks:
        if self.nets is None:
            o = self.options
            self.nets = LivePortraitNetworks(
                self.model_files, self.device, o.get("threads"), fp16=bool(o.get("fp16", False)),
                tensorrt=bool(o.get("tensorrt", False)), check=o.get("check_placement"),
                on_warning=o.get("on_warning"))
        return self.nets

    @property
    def provider(self) -> str:
        """Where the networks run ("CUDA", "CPU", "CUDA (warping on CPU)", ...)."""
        return self._networks().label

    @property
    def batch_size(self) -> int:
        bs = self.options.get("batch_size")
        if bs:
            return max(1, int(bs))
        return 1 if self._networks()["warping"].providers[0] == "CPUExecutionProvider" else 8

    def prepare(self, portrait: np.ndarray, landmarks: np.ndarray | None = None) -> None:
        """Fit the portrait. ``landmarks`` (478, 2+) skips the tracker (already tracked)."""
        if portrait.dtype != np.uint8 or portrait.ndim != 3 or portrait.shape[2] != 3:
            raise RenderError("the portrait must be an RGB uint8 image")
        if landmarks is None:
            landmarks = track_landmarks(portrait, self.options.get("face"))
        nets = self._networks()
        scale = float(self.options.get("crop_scale") or cropmod.SOURCE_SCALE)
        geom = cropmod.crop_geometry(landmarks, 512, scale, cropmod.SOURCE_VY,
                                     self.options.get("crop_rule", "face"))
        crop256 = cropmod.crop_image(portrait, geom, 256)
        inp = to_input(crop256)
        feature = nets.appearance(inp)
        info = KeypointInfo.from_outputs(nets.motion(inp))
        x_s = info.keypoints()
        eyes = cropmod.eye_ratios(landmarks)
        lip = cropmod.lip_ratio(landmarks)
        self._src = {
            "portrait": portrait, "landmarks": np.asarray(landmarks), "geom": geom, "feature": feature,
            "info": info, "x_s": x_s, "eye_ratios": eyes, "lip_ratio": lip,
            "mask": cropmod.feather_mask(512),
            # network outputs at the source's own ratios: retargeting adds only the change
            "eye_base": nets.eye(eye_input(x_s, eyes[0], eyes[1], (eyes[0] + eyes[1]) / 2)),
            "lip_base": nets.lip(lip_input(x_s, lip, lip)),
        }
        self._paste = self._torch_paste(portrait, geom)
        if self.options.get("fp16") and self.fp16_levels is None:
            self._check_fp16()

    def _check_fp16(self) -> None:
        """fp16 only where it keeps the output within FP16_MAX_LEVELS of fp32: measured once, on
        this portrait, for the neutral frame and a moved one, against an fp32 session of the same
        network on the same provider. Beyond that: one warning and fp32 for this renderer."""
        from .networks import Network

        nets = self._networks()
        half = nets["warping"]
        if not half.fp16:
            return
        full = Network("warping", half.path, half.providers, half._threads, check=False)
        src = self.source
        moved = dict(head_yaw=12.0, head_pitch=-6.0, mouth_open=0.7, eye_open_l=0.3, eye_open_r=0.3)
        kp = np.stack([self.driving_keypoints({}), self.driving_keypoints(moved)])
        n = 2 if half.batch_dynamic else 1
        a = np.concatenate([half.run_warp(src["feature"], kp[i:i + n], src["x_s"]) for i in range(0, 2, n)])
        b = np.concatenate([full.run_warp(src["feature"], kp[i:i + n], src["x_s"]) for i in range(0, 2, n)])
        levels = [np.abs(to_image(a[i:i + 1]).astype(int) - to_image(b[i:i + 1]).astype(int)).max()
                  for i in range(2)]
        self.fp16_levels = int(max(levels))
        if self.fp16_levels > FP16_MAX_LEVELS:
            nets._warn(f"warping: fp16 differs from fp32 by up to {self.fp16_levels} levels on this "
                       f"portrait (limit {FP16_MAX_LEVELS}); using fp32")
            nets.nets["warping"] = full

    @property
    def source(self) -> dict[str, Any]:
        if self._src is None:
            raise RenderError("call prepare(portrait) before rendering")
        return self._src

    # ------------------------------------------------------------------ per frame
    def driving(self, controls: Mapping[str, float],
                extras: Mapping[str, np.ndarray] | None = None) -> DrivingParams:
        src = self.source
        dense = base = pose = None
        if extras is not None and self.options.get("use_dense", True):
            if EXTRA_DENSE_EXP in extras:
                dense = np.asarray(extras[EXTRA_DENSE_EXP], np.float64).reshape(-1)
                if dense.size != 63 or not np.isfinite(dense).all():
                    raise RenderError(f"the motion's {EXTRA_DENSE_EXP} must hold 63 finite numbers per "
                                      f"frame, got {dense.size}; capture the motion again")
            if EXTRA_DENSE_POSE in extras:
                pose = np.asarray(extras[EXTRA_DENSE_POSE], np.float64).reshape(-1)
                # a rotation (9), a positive scale ratio, a translation (3): anything else would
                # reach onnxruntime as garbage keypoints
                if pose.size != 13 or not np.isfinite(pose).all() or pose[9] <= 0:
                    raise RenderError(f"the motion's {EXTRA_DENSE_POSE} must hold 13 finite numbers per "
                                      f"frame with a positive scale ratio; capture the motion again")
            if EXTRA_DENSE_BASE in extras and (dense is not None or pose is not None):
                b = np.asarray(extras[EXTRA_DENSE_BASE], np.float64).reshape(-1)
                if b.size != len(CONTROL_NAMES) or not np.isfinite(b).all():
                    raise RenderError(f"the motion's {EXTRA_DENSE_BASE} must hold {len(CONTROL_NAMES)} "
                                      "finite numbers per frame; capture the motion again")
                base = dict(zip(CONTROL_NAMES, b.tolist(), strict=True))
        o = self.options
        return controls_to_driving(
            src["info"], controls, src["eye_ratios"], src["lip_ratio"], dense_exp=dense,
            dense_base=base, dense_pose=pose, mouth_mode=o.get("mouth_mode", "retarget"),
            use_scale=o.get("use_scale", True), eye_asymmetry=o.get("eye_asymmetry", False),
            pose_signs=o.get("pose_signs"))

    def driving_keypoints(self, controls: Mapping[str, float],
                          extras: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
        """(21,3) final driving keypoints: formula, eye/lip retargeting, stitching."""
        src = self.source
        nets = self._networks()
        t0 = time.perf_counter()
        p = self.driving(controls, extras)
        info: KeypointInfo = src["info"]
        x_s = src["x_s"]
        x_d = transform_keypoints(info.kp, p.rotation, p.exp, p.scale, p.t)
        t1 = time.perf_counter()
        if p.eye_target is not None:
            el, er = src["eye_ratios"]
            x_d = x_d + (nets.eye(eye_input(x_s, el, er, p.eye_target)) - src["eye_base"]).reshape(21, 3)
        if p.lip_target is not None:
            x_d = x_d + (nets.lip(lip_input(x_s, src["lip_ratio"], p.lip_target))
                         - src["lip_base"]).reshape(21, 3)
        t2 = time.perf_counter()
        if self.options.get("stitching", True):
            x_d = apply_stitching(x_d, nets.stitching(stitching_input(x_s, x_d)))
        t3 = time.perf_counter()
        self.timings.update(keypoints=(t1 - t0) * 1e3, retarget=(t2 - t1) * 1e3, stitching=(t3 - t2) * 1e3)
        return x_d

    def render_crop(self, controls: Mapping[str, float],
                    extras: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
        """The generator's 512² RGB uint8 crop for one frame."""
        x_d = self.driving_keypoints(controls, extras)
        t0 = time.perf_counter()
        out = self._networks().warp(self.source["feature"], x_d, self.source["x_s"])
        self.timings["warp_generate"] = (time.perf_counter() - t0) * 1e3
        return to_image(out)

    def render_frame(self, controls: Mapping[str, float],
                     extras: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
        return self.render_frames([(controls, extras)])[0]

    def render_frames(self, items: Sequence[tuple[Mapping[str, float], Mapping[str, np.ndarray] | None]]
                      ) -> list[np.ndarray]:
        """Several frames: keypoints per frame, then the warping+generator network on batches of
        ``batch_size`` frames, then the paste-back (torch on the GPU when available).

        Every run has exactly ``batch_size`` frames (the last one is padded by repeating its last
        frame): onnxruntime's kernels may round differently for another batch size (measured on
        the CPU: 1 vs >1 differ by ~1 ulp, i.e. 1 level on a few pixels), so a frame must not
        depend on how a render was split into batches or farm chunks. With that, render_frame,
        any batching and any chunking give the same bytes (tests/engine/test_liveportrait_gpu_paths.py)."""
        src = self.source
        nets = self._networks()
        kps = [self.driving_keypoints(c, e) for c, e in items]
        bs = self.batch_size
        pad = bs > 1 and nets["warping"].batch_dynamic
        frames: list[np.ndarray] = []
        t_warp = t_paste = 0.0
        for k in range(0, len(kps), bs):
            real = kps[k:k + bs]
            n = len(real)
            chunk = np.stack(real + [real[-1]] * (bs - n if pad else 0))
            t0 = time.perf_counter()
            if self._paste is not None:
                out = self._paste.torch.empty((len(chunk), 3, 512, 512), dtype=self._paste.torch.float32,
                                              device=self._paste.device)
                nets.warp(src["feature"], chunk, src["x_s"], out=out)
                t1 = time.perf_counter()
                frames += self._paste.paste(out[:n])
            else:
                out = nets.warp(src["feature"], chunk, src["x_s"])
                t1 = time.perf_counter()
                frames += [cropmod.paste_back(src["portrait"], to_image(o[None]), src["geom"], src["mask"])
                           for o in out[:n]]
            t_warp += t1 - t0
            t_paste += time.perf_counter() - t1
        n = max(len(items), 1)
        self.timings.update(warp_generate=t_warp * 1e3 / n, paste_back=t_paste * 1e3 / n)
        return frames

    def _torch_paste(self, portrait: np.ndarray, geom: cropmod.CropGeometry) -> Any:
        """The GPU paste-back when the frames come out on a CUDA device and torch sees it
        (``paste="torch"`` forces it, on the CPU too; ``"cpu"`` turns it off)."""
        mode = self.options.get("paste", "auto")
        if mode == "cpu":
            return None
        from . import providers as prov

        on_gpu = prov.io_device(self._networks()["warping"].providers) == "cuda"
        if mode == "auto" and not on_gpu:
            return None
        try:
            import torch
        except ImportError:
            return None
        cuda = on_gpu and torch.cuda.is_available()
        if mode == "auto" and not cuda:
            return None
        from .paste_torch import TorchPasteBack

        return TorchPasteBack(portrait, geom, self._src["mask"], "cuda" if cuda else "cpu")

    def close(self) -> None:
        if self.nets is not None:
            self.nets.close()
        self.nets = None
        self._src = None
        self._paste = None

    # ------------------------------------------------------------------ optional dense capture
    def capture_expression(self, frames: Iterable[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """Dense LivePortrait expression of a driving clip: (n, 63) exp_d,i - exp_d,0, from
        (rgb, landmarks) pairs (driving crop: scale 2.2, shift -0.1). Store it in
        ``Motion.extras[EXTRA_DENSE_EXP]`` with the captured controls in EXTRA_DENSE_BASE."""
        nets = self._networks()
        rows = []
        for rgb, lm in frames:
            geom = cropmod.crop_geometry(lm, 512, cropmod.DRIVING_SCALE, cropmod.DRIVING_VY)
            info = KeypointInfo.from_outputs(nets.motion(to_input(cropmod.crop_image(rgb, geom, 256))))
            rows.append(info.exp.reshape(-1))
        if not rows:
            return np.zeros((0, 63), np.float32)
        a = np.asarray(rows)
        return (a - a[0]).astype(np.float32)


def track_landmarks(portrait: np.ndarray, face_index: int | None = None) -> np.ndarray:
    from ...face_tracker import FaceTracker, portrait_face

    with FaceTracker(video=False) as tracker:
        faces = tracker.detect(portrait)
    face = portrait_face(faces, (portrait.shape[1], portrait.shape[0]), face_index)
    if face is None:
        raise RenderError("no face found in the portrait; use a clearer, more frontal portrait")
    return face.landmarks

