"""farm/flamenco/talking_head.js compiled under Node with Flamenco's job-compiler globals stubbed
(tests/engine/flamenco_harness.js): the tasks it authors, their chunks and dependencies.

Needs `node` (Node 18+; CI has it). Without node this module is skipped and says so; set
TALKING_HEAD_REQUIRE_NODE=1 to make a missing node a failure instead."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from engine.frames import parse_frames

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "farm" / "flamenco" / "talking_head.js"
HARNESS = Path(__file__).with_name("flamenco_harness.js")
NODE = shutil.which("node")

if NODE is None and os.environ.get("TALKING_HEAD_REQUIRE_NODE"):
    raise RuntimeError("node is required for the Flamenco job test (TALKING_HEAD_REQUIRE_NODE is set)")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")

SETTINGS = {"frames": "1-25", "chunk_size": 10, "portrait": "Portrait", "device": "cpu",
            "render_output_root": "/farm", "add_path_components": 0,
            "job_dir": "/farm/shot/{timestamp}", "blendfile": "/projects/shot.blend"}


def compile_job(**changes) -> dict:
    settings = dict(SETTINGS, **changes)
    r = subprocess.run([NODE, str(HARNESS), str(SCRIPT), json.dumps(settings)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_job_type_settings_for_the_blender_add_on() -> None:
    job_type = compile_job()["job_type"]
    assert job_type["label"] == "Talking Head"
    settings = {s["key"]: s for s in job_type["settings"]}
    assert {"frames", "chunk_size", "portrait", "device", "render_output_root", "job_dir",
            "blendfile"} <= settings.keys()
    assert all(s["type"] in {"string", "int32", "float", "bool"} for s in settings.values())
    assert settings["frames"]["eval"] == "f'{C.scene.frame_start}-{C.scene.frame_end}'"
    assert settings["device"]["choices"] == ["cpu", "cuda", "auto"]


def _args(task: dict) -> list[str]:
    (command,) = task["commands"]
    assert command["type"] == "blender-render"
    p = command["parameters"]
    assert p["exe"] == "{blender}" and p["exeArgs"] == "{blenderArgs}"  # the Manager's variables
    # before the .blend, after the Manager's {blenderArgs} (Flamenco's default "-b -y"): a
    # submitted file never runs its scripts (issue 19)
    assert p["argsBefore"] == ["--disable-autoexec"]
    assert p["args"][:2] == ["-c", "talking_head"]
    return p["args"]


def _value(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


@pytest.mark.parametrize(("frames", "chunk", "sizes"), [
    ("1-25", 10, [10, 10, 5]), ("1..25", 25, [25]), ("0-2", 1, [1, 1, 1]), ("0-6", 3, [3, 3, 1]),
    ("101-110", 2, [2] * 5),
])
def test_capture_then_chunks_then_encode(frames: str, chunk: int, sizes: list[int]) -> None:
    out = compile_job(frames=frames, chunk_size=chunk)
    tasks = out["tasks"]
    capture, *renders, encode = tasks
    first, last = parse_frames(frames).span()
    job_dir = out["settings"]["job_dir"]
    assert job_dir == "/farm/shot/20261127T100000"  # {timestamp} filled in
    job_blend = f"{job_dir}/talking_head_job.blend"

    cap = _args(capture)
    assert cap[2] == "capture" and "--keep-keys" in cap and capture["dependencies"] == []
    assert capture["commands"][0]["parameters"]["blendfile"] == "/projects/shot.blend"
    job_id = _value(cap, "--job-id")
    assert job_id == "20261127T100000-shot_010"  # the engine's job-id rule: [A-Za-z0-9_.-]{1,64}
    covered: list[int] = []
    for task in renders:
        args = _args(task)
        assert args[2] == "render" and task["commands"][0]["parameters"]["blendfile"] == job_blend
        assert task["dependencies"] == [capture["name"]]
        assert _value(args, "--job-dir") == job_dir and _value(args, "--job-id") == job_id
        assert _value(args, "--device") == "cpu" and _value(args, "--portrait") == "Portrait"
        # the chunk string is what the extension's one parser reads: inclusive
        chunk_frames = parse_frames(_value(args, "--frames")).resolve(first, last)
        assert task["commands"][0]["totalFrames"] == len(chunk_frames)
        covered += chunk_frames
    assert [t["commands"][0]["totalFrames"] for t in renders] == sizes
    assert covered == list(range(first, last + 1))  # every frame exactly once, ends included
    enc = _args(encode)
    assert enc[2] == "encode" and _value(enc, "--frames") == f"{first}-{last}"
    assert sorted(encode["dependencies"]) == sorted(t["name"] for t in renders)
    assert len({t["name"] for t in tasks}) == len(tasks)


@pytest.mark.parametrize(("changes", "message"), [
    ({"chunk_size": 0}, "at least 1"),
    ({"chunk_size": 26}, "larger than the frame range 1-25 (25 frames); use at most 25"),
    ({"frames": "1-10,20-30"}, "one range"),
    ({"frames": "25-1"}, "reversed"),
    ({"frames": "-3..3"}, "below 0"),
    ({"frames": ""}, "one range"),
    ({"job_dir": ""}, "job_dir"),
    # issue 19: 200,003 tasks were compiled where the OpenJD bundle stops at 10,000
    ({"frames": "0-2000001", "chunk_size": 10}, "make 200001 tasks; use a chunk size of 201 or more"),
    ({"frames": "1-10001", "chunk_size": 1}, "at most 10000 tasks per job"),
])
def test_bad_settings_are_refused_with_a_message(changes: dict, message: str) -> None:
    out = compile_job(**changes)
    assert "tasks" not in out and message in out["error"]


def test_the_task_cap_is_the_engines():
    from engine.limits import MAX_TASKS

    assert f"const MAX_TASKS = {MAX_TASKS};" in SCRIPT.read_text(encoding="utf-8")
    assert "error" not in compile_job(frames=f"1-{MAX_TASKS}", chunk_size=1)  # exactly the cap
