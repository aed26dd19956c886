"""engine.farm and `python -m engine farm bundle`: the job bundle, the job folder contract, the
encode; bad input gives one message and writes nothing. (The bundle run by the real OpenJD
runtime: tests/blender/test_farm_openjd.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine import farm
from engine.media.video import save_image
from engine.outputs import OutputError

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine", "farm", *args], cwd=ROOT,
                          capture_output=True, text=True)


@pytest.fixture
def shot(tmp_path: Path) -> Path:
    blend = tmp_path / "shot.blend"
    blend.write_bytes(b"BLENDER-v500")  # the engine never opens it
    return blend


def test_bundle_is_filled_from_arguments(tmp_path: Path, shot: Path) -> None:
    bundle = tmp_path / "bundle"
    shot.with_name("anna.jpg").write_bytes(b"\xff\xd8")  # --input files must exist here too
    r = _cli("bundle", str(shot), "-o", str(bundle), "--frames", "1..250", "--chunk-size", "25",
             "--portrait", "Anna", "--blender", sys.executable, "--device", "cuda",
             "--input", str(shot.with_name("anna.jpg")))
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in bundle.iterdir()) == sorted(farm.BUNDLE_FILES)
    params = json.loads((bundle / "job_params.json").read_text())
    assert params["Frames"] == "1-250" and params["ChunkSize"] == 25 and params["Device"] == "cuda"
    assert params["Portrait"] == "Anna" and params["BlendFile"] == str(shot)
    assert params["OutputDir"] == str(tmp_path / "shot_farm")  # default: next to the .blend
    assert len(params["JobId"]) == 16
    assert (bundle / "template.yaml").read_bytes() == (ROOT / "farm/openjd/template.yaml").read_bytes()
    values = (bundle / "parameter_values.yaml").read_text()
    assert values.startswith("parameterValues:\n- name: BlendFile\n") and '"1-250"' in values
    assets = (bundle / "asset_references.yaml").read_text()
    assert json.dumps(str(shot)) in assets and "anna.jpg" in assets
    assert "outputs:\n    directories:\n    - " + json.dumps(params["OutputDir"]) in assets
    # nothing is overwritten without --overwrite
    before = (bundle / "job_params.json").read_bytes()
    r = _cli("bundle", str(shot), "-o", str(bundle), "--frames", "1-10", "--no-check-blender")
    assert r.returncode == 2 and "already exists" in r.stderr and "--overwrite" in r.stderr
    assert (bundle / "job_params.json").read_bytes() == before


@pytest.mark.parametrize(("args", "message"), [
    (["--frames", "1-100", "--chunk-size", "0"], "chunk size 0 must be at least 1 frame"),
    (["--frames", "1-100", "--chunk-size", "101"],
     "chunk size 101 is larger than the frame range 1-100 (100 frames); use at most 100"),
    (["--frames", "1-10,5-20"], "overlap"),
    (["--frames", "1-10,20-30"], "a farm job needs one contiguous range"),
    (["--frames", "100-1"], "reversed frame range"),
    (["--frames", "10-"], "give the job's last frame"),
    (["--frames", "1-10", "--blender", "/nowhere/blender"],
     "Blender executable '/nowhere/blender' not found"),
    (["--frames", "1-10", "--blender", "no-such-blender-4.2"], "not found on this machine"),
])
def test_bundle_bad_input(tmp_path: Path, shot: Path, args: list[str], message: str) -> None:
    extra = [] if "--blender" in args else ["--no-check-blender"]
    r = _cli("bundle", str(shot), "-o", str(tmp_path / "b"), *args, *extra)
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert r.stderr.count("\n") == 1  # one line, no traceback
    assert not (tmp_path / "b").exists()


def test_bundle_missing_blend_and_shared_output(tmp_path: Path, shot: Path) -> None:
    r = _cli("bundle", str(tmp_path / "nope.blend"), "-o", str(tmp_path / "b"), "--frames", "1-10",
             "--no-check-blender")
    assert r.returncode == 2 and ".blend file not found" in r.stderr
    job = tmp_path / "job"
    farm.claim_job_folder(job, "first-job")
    r = _cli("bundle", str(shot), "-o", str(tmp_path / "b"), "--frames", "1-10", "--no-check-blender",
             "--job-output", str(job))
    assert r.returncode == 2 and "belongs to another job (first-job)" in r.stderr
    assert not (tmp_path / "b").exists()


def test_job_folder_claims(tmp_path: Path) -> None:
    job = tmp_path / "job"
    farm.claim_job_folder(job, "a1")
    assert farm.job_owner(job) == "a1" and (job / "frames" / farm.RENDER_MARKER).is_file()
    farm.claim_job_folder(job, "a1")  # a retried Capture step
    farm.check_job_folder(job, "a1")
    with pytest.raises(farm.FarmError, match="belongs to another job"):
        farm.claim_job_folder(job, "b2")
    with pytest.raises(farm.FarmError, match="belongs to another job"):
        farm.check_job_folder(job, "b2")
    with pytest.raises(farm.FarmError, match="not a farm job folder"):
        farm.check_job_folder(tmp_path / "other", "a1")
    users = tmp_path / "users"
    users.mkdir()
    (users / "notes.txt").write_text("mine")
    with pytest.raises(farm.FarmError, match="not empty and no farm job made it"):
        farm.claim_job_folder(users, "a1")
    assert os.listdir(users) == ["notes.txt"]
    with pytest.raises(farm.FarmError, match="bad job id"):
        farm.claim_job_folder(tmp_path / "x", "../evil")


def test_encode_needs_every_frame_and_never_overwrites(tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    rng = np.random.default_rng(0)
    for i in (0, 1, 2, 4):
        save_image(frames / f"frame_{i:06d}.png", rng.integers(0, 255, (33, 47, 3), dtype=np.uint8))
    out = tmp_path / "movie.mp4"
    with pytest.raises(farm.FarmError, match=r"1 of 5 frames are missing .*motion frames 3\)"):
        farm.encode_frames(frames, range(5), 24, out)
    assert not out.exists()
    farm.encode_frames(frames, [0, 1, 2], 24, out)
    import imageio_ffmpeg

    assert imageio_ffmpeg.count_frames_and_secs(str(out))[0] == 3
    with pytest.raises(OutputError, match="already exists"):
        farm.encode_frames(frames, [0, 1, 2], 24, out)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".movie")]  # no temporaries left


OPENJD = ROOT / ".venv-farm" / "bin" / "openjd"
if not OPENJD.is_file() and os.environ.get("TALKING_HEAD_CI"):
    raise RuntimeError("scripts/setup_farm.sh did not make .venv-farm (openjd-cli)")


@pytest.mark.skipif(not OPENJD.is_file(), reason="openjd-cli missing: run scripts/setup_farm.sh")
def test_cli_bundle_passes_openjd_check_and_resolves(tmp_path: Path, shot: Path) -> None:
    bundle = tmp_path / "bundle"
    r = _cli("bundle", str(shot), "-o", str(bundle), "--frames", "1-250", "--chunk-size", "25",
             "--no-check-blender")
    assert r.returncode == 0, r.stderr
    r = subprocess.run([str(OPENJD), "check", str(bundle / "template.yaml")], capture_output=True, text=True)
    assert r.returncode == 0 and "passes validation" in r.stdout, r.stdout + r.stderr
    r = subprocess.run([str(OPENJD), "summary", str(bundle / "template.yaml"), "-p",
                        f"file://{bundle / 'job_params.json'}", "--output", "json"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    summary = json.loads(r.stdout)
    steps = {s["name"]: s for s in summary["steps"]}
    assert list(steps) == ["Capture", "Render", "Encode"]
    assert steps["Render"]["total_tasks"] == 250  # frames 1-250, both ends included
    assert summary["total_tasks"] == 252
