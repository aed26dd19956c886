"""Stand-in LivePortrait networks with the published signatures, exported here from tiny torch
modules (seconds, KB): a motion extractor whose expression AND head pose follow the image (so a
driving clip gives a real dense track), an eye MLP, and a warping+generator network with a
dynamic batch axis that really uses a 5-D GridSample and convolutions on the feature volume,
its sampling grid moved by the keypoints. With the real F, stitching and lip files from
../shared/reference/liveportrait_onnx they make a complete model set. NOT LivePortrait: frames
rendered with them say nothing about quality. Loaded by path (--import-mode=importlib)."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
LP = ROOT.parent / "shared" / "reference" / "liveportrait_onnx"
REAL = {"appearance": LP / "appearance_feature_extractor.onnx", "stitching": LP / "stitching.onnx",
        "lip": LP / "stitching_lip.onnx"}


def export(module, args, path, inputs, outputs, opset=20, dynamic=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), args, str(path), input_names=inputs, output_names=outputs,
                          opset_version=opset, dynamo=False, dynamic_axes=dynamic)
    return Path(path)


class Motion(torch.nn.Module):
    """exp = exp0 + m * exp_dir and yaw/pitch peaks that move with m = mean(image)."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.register_buffer("bins", torch.arange(66, dtype=torch.float32)[None])
        self.register_buffer("t", torch.tensor([[0.03, -0.02, 0.5]]))
        self.register_buffer("exp0", torch.randn(1, 63, generator=g) * 0.01)
        self.register_buffer("exp_dir", torch.randn(1, 63, generator=g) * 0.05)
        self.register_buffer("kp", torch.randn(1, 63, generator=g) * 0.4)

    def forward(self, img):
        m = img.mean()

        def peak(centre):
            return -((self.bins - centre) ** 2) / 4.0

        return (peak(34.0 + 10.0 * (m - 0.4)), peak(31.0 + 30.0 * (m - 0.4)), peak(32.5 + 0 * m),
                self.t + 0.1 * (m - 0.4), self.exp0 + m * self.exp_dir,
                1.4 + 0.2 * (m - 0.4) + 0 * self.t[:, :1], self.kp + 0 * m)


class Eye(torch.nn.Module):
    """Moves keypoint 11's y by 0.5 x the target eye ratio (input 65)."""

    def forward(self, x):
        out = torch.zeros(1, 63) + 0 * x[:, :63]
        return out + torch.nn.functional.one_hot(torch.tensor([34]), 63).float() * 0.5 * x[:, 65:66]


class Warp3D(torch.nn.Module):
    """feature (b,32,16,64,64) -> conv -> 5-D grid_sample at a grid shifted by the mean keypoint
    motion -> mean over depth -> conv -> upsample to 512 -> sigmoid. Per-sample: a batch of
    frames gives each frame's own result."""

    def __init__(self, gain: float = 0.3):
        super().__init__()
        g = torch.Generator().manual_seed(1)
        self.c3 = torch.nn.Conv3d(32, 4, 1)
        self.c2 = torch.nn.Conv2d(4, 3, 3, padding=1)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * gain)
        d, h, w = torch.meshgrid(torch.linspace(-1, 1, 16), torch.linspace(-1, 1, 64),
                                 torch.linspace(-1, 1, 64), indexing="ij")
        self.register_buffer("grid", torch.stack([w, h, d], -1)[None])

    def forward(self, feature, kp_driving, kp_source):
        shift = (kp_driving - kp_source).mean(1)  # (b, 3)
        grid = self.grid + 4.0 * shift[:, None, None, None, :]
        vol = torch.nn.functional.grid_sample(self.c3(feature), grid, mode="bilinear",
                                              padding_mode="zeros", align_corners=False)
        img = self.c2(vol.mean(2))
        img = torch.nn.functional.interpolate(img, size=(512, 512), mode="bilinear", align_corners=False)
        return torch.sigmoid(img)


def build(directory: Path) -> dict[str, Path]:
    """role -> .onnx for a complete stand-in set (real F, stitching, lip)."""
    directory.mkdir(parents=True, exist_ok=True)
    files = dict(REAL)
    files["motion"] = export(Motion(), (torch.zeros(1, 3, 256, 256),), directory / "motion_extractor.onnx",
                             ["img"], ["pitch", "yaw", "roll", "t", "exp", "scale", "kp"], opset=17)
    files["eye"] = export(Eye(), (torch.zeros(1, 66),), directory / "stitching_eye.onnx", ["input"],
                          ["output"], opset=17)
    b = {0: "batch"}
    files["warping"] = export(Warp3D(), (torch.zeros(2, 32, 16, 64, 64), torch.zeros(2, 21, 3),
                                         torch.zeros(2, 21, 3)),
                              directory / "warping_spade.onnx", ["feature_3d", "kp_driving", "kp_source"],
                              ["out"], opset=20,
                              dynamic={"feature_3d": b, "kp_driving": b, "kp_source": b, "out": b})
    return files
