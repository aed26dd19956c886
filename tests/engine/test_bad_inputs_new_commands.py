"""Hostile-user matrix, part 2: the commands that landed after test_bad_inputs.py was written --
voice capture, `farm bundle`, `comfyui check` and the ComfyUI renderer, the LivePortrait options,
`gpu install` -- and the shared frame-range parser (engine/frames.py) they all use.

Same rules as part 1: every case asserts the exit status, the one ``error:`` line, no traceback,
that every file the user had is byte-identical afterwards and that no temporary is left. All run
in-process (``engine.cli.main`` + capfd, which also sees what native code prints to the console);
network cases only use 127.0.0.1 ports nothing listens on (a refused connection) or addresses
refused before any connection is tried.
"""

from __future__ import annotations

import hashlib
import re
import wave
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine import cli, outputs
from engine.frames import MAX_FRAME
from engine.outputs import is_temporary_name
from engine.sample import sample_performance

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_PORTRAIT = ROOT / "engine" / "assets" / "sample_portrait.jpg"
REFUSED = "http://127.0.0.1:1"  # nothing listens on port 1: connection refused at once
PROGRESS = re.compile(r"^\w+ \[[# ]+\] \d+/\d+")  # the console progress bar (engine/progress.py)


# -- helpers (as in test_bad_inputs.py) ---------------------------------------------------------


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture()
def user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture):
    """A user folder (the working directory) with good inputs; ``user.run(*args)`` runs the CLI
    there and ``user.check(*new)`` asserts nothing the user had changed and only ``new`` appeared."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TALKING_HEAD_COMFYUI_TOKEN", raising=False)
    with wave.open(str(tmp_path / "voice.wav"), "wb") as w:  # 1 s of a tone
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((np.sin(np.arange(16000) * 0.1) * 8000).astype("<i2").tobytes())
    sample_performance(0.4, 25.0).save(tmp_path / "motion.json")  # 10 frames
    Image.open(SAMPLE_PORTRAIT).convert("RGB").resize((256, 284)).save(tmp_path / "portrait.png")
    (tmp_path / "shot.blend").write_bytes(b"BLENDER-v500")  # the engine never opens it
    (tmp_path / "mine.json").write_text('{"mine": true}')
    (tmp_path / "folder").mkdir()

    class User:
        root = tmp_path
        before = snapshot(tmp_path)

        def run(self, *args: object) -> tuple[int, str]:
            capfd.readouterr()
            try:
                rc = cli.main([str(a) for a in args])
            except SystemExit as exc:  # argparse errors
                rc = exc.code if isinstance(exc.code, int) else 2
            return rc, capfd.readouterr().err

        def check(self, *allowed_new: str) -> None:
            after = snapshot(tmp_path)
            for name, digest in self.before.items():
                assert after.get(name) == digest, f"{name} was changed or removed"
            extra = set(after) - set(self.before) - set(allowed_new)
            assert not extra, f"unexpected new files {sorted(extra)}"
            left = [p.name for p in tmp_path.rglob("*") if is_temporary_name(p.name)]
            assert left == [], left
            assert not outputs._live

    return User()


def refused(result: tuple[int, str], *needles: str) -> str:
    """Exit 2, one ``error:`` line naming ``needles``, nothing else on stderr (but argparse's usage
    lines for a mistyped option), no traceback."""
    rc, err = result
    assert rc == 2, err
    assert "Traceback" not in err and "unexpected" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    if lines and lines[0].startswith("usage:"):  # argparse: usage, then its one error line
        lines = [line for line in lines if not line.startswith(("usage:", " "))]
    lines = [line for line in lines if not PROGRESS.match(line)]  # a progress bar already started
    assert len(lines) == 1 and "error:" in lines[0], err
    for n in needles:
        assert n in err, err
    return err


# -- voice capture ------------------------------------------------------------------------------


@pytest.mark.parametrize(("extra", "needle"), [
    (["--fps", "0.5"], "give --fps between 1 and 1000"),  # was accepted: 1 frame at 0.5 fps
    (["--fps", "1e9"], "give --fps between 1 and 1000"),
    (["--fps", "nan"], "must be a finite number"),
    (["--fps", ""], "not a number"),
    (["--neutral-frame", "5"], "--neutral-frame applies to capture from a face"),  # was ignored
    (["--smoothing", "0.3"], "--smoothing applies to capture from a face"),  # was ignored
    (["--dense", "on"], "--dense on applies to capture from a face"),  # was ignored
    (["--frames", "1000-2000"], "past the end of the sound"),
    (["--frames", "1-3,5-7"], "one contiguous range"),
    (["--frames", "1..x"], "bad frame range"),
    (["--seed", "x"], "invalid int value"),
    (["--blinks", "2"], "between 0 and 1"),
])
def test_voice_capture_options_refused(user, extra, needle):
    refused(user.run("capture", "voice.wav", "-o", "out.json", *extra), needle)
    user.check()


@pytest.mark.parametrize(("make", "needle"), [
    (lambda d: (d / "v.wav").write_bytes(b""), "is empty"),
    (lambda d: (d / "v.wav").write_text("hello, not a sound"), "corrupt or not a media file"),
    (lambda d: (d / "v.wav").mkdir(), "is a folder"),
    (lambda d: None, "not found"),
])
def test_bad_voice_files(user, make, needle):
    make(user.root)
    user.before = snapshot(user.root)
    refused(user.run("capture", "v.wav", "-o", "out.json"), needle)
    user.check()


def test_voice_capture_keeps_an_existing_motion_file(user):
    refused(user.run("capture", "voice.wav", "-o", "mine.json"), "already exists", "--overwrite")
    user.check()


def test_voice_capture_never_writes_over_its_sound(user):
    refused(user.run("capture", "voice.wav", "-o", "voice.wav", "--overwrite"), "is the driving video")
    user.check()


def test_voice_capture_plot_in_an_unwritable_place(user):
    refused(user.run("capture", "voice.wav", "-o", "out.json", "--plot", "/proc/plot.png"), "/proc")
    user.check()


def test_a_text_file_given_as_video_is_one_line(user):
    """OpenCV printed a "[ WARN ...] can't be used to capture by name" line before our error."""
    refused(user.run("capture", "mine.json", "-o", "out.json"), "cannot open video mine.json")
    user.check()


def test_animate_with_a_voice_refuses_face_options_before_writing(user):
    refused(user.run("animate", "portrait.png", "voice.wav", "-o", "talk.mp4", "--smoothing", "0.2"),
            "--smoothing applies")
    user.check()


def test_voice_capture_still_works(user):
    rc, err = user.run("capture", "voice.wav", "-o", "out.json", "--fps", "1")
    assert rc == 0, err
    user.check("out.json")


# -- frame ranges (engine/frames.py, shared by render, capture, farm, blender -c) ----------------


@pytest.mark.parametrize(("frames", "needle"), [
    ("0-99999999999", "past Blender's last frame"),  # built a list of 10^11 frames: killed (OOM)
    ("0-" + "9" * 5000, "past Blender's last frame"),  # int() of > 4300 digits: OverflowError
    (f"{-MAX_FRAME - 1}-0", "past Blender's last frame"),
    ("5-20", "frames 10-20 are outside the motion"),
    ("0-4,8-30", "frames 10-30 are outside the motion"),
    ("10-1", "reversed frame range"),
    ("1-3,2-5", "overlap"),
    ("1..x", "bad frame range"),
    ("1-3,,5", "bad frame range"),
    ("1-,4-5", "cannot be part of a list"),
])
def test_render_frame_typos_fail_fast_with_nothing_written(user, frames, needle):
    refused(user.run("render", "portrait.png", "motion.json", "-o", "talk.mp4", f"--frames={frames}"), needle)
    user.check()


# -- farm bundle --------------------------------------------------------------------------------


def _bundle(user, *extra: object, blend: str = "shot.blend", out: str = "bundle"):
    return user.run("farm", "bundle", blend, "-o", out, "--no-check-blender", *extra)


@pytest.mark.parametrize(("extra", "needle"), [
    (["--frames", "1-99999999999"], "past Blender's last frame"),  # was killed for memory
    (["--frames", "1-1000000", "--chunk-size", "1"], "use --chunk-size 100 or more"),
    (["--frames", "1-10", "--chunk-size", "0"], "at least 1 frame"),
    (["--frames", "1-10", "--chunk-size", "x"], "invalid int value"),
    (["--frames", "1-10,20-30"], "one contiguous range"),
    (["--frames", "1-"], "give the job's last frame"),
    (["--frames", "1-10", "--input", "missing.png"], "--input file not found"),  # was accepted
    (["--frames", "1-10", "--input", "folder"], "is a folder"),  # was accepted
    (["--frames", "1-10", "--job-output", "mine.json"], "the job output mine.json is a file"),  # was accepted
    (["--frames", "1-10", "--job-id", "a/../b"], "bad job id"),
    (["--frames", "1-10", "--blender", "/nonexistent/blender", "--no-check-blender"], None),
])
def test_farm_bundle_options_refused(user, extra, needle):
    if needle is None:  # --no-check-blender: a worker-only path is fine
        rc, err = _bundle(user, *extra)
        assert rc == 0, err
        return
    refused(_bundle(user, *extra), needle)
    user.check()


@pytest.mark.parametrize(("blend", "needle"), [
    ("folder", "is a folder"),  # said ".blend file not found"
    ("portrait.png", "is not a .blend file"),  # said ".blend file not found" for an existing file
    ("missing.blend", "not found"),
])
def test_farm_bundle_bad_blend(user, blend, needle):
    refused(_bundle(user, "--frames", "1-10", blend=blend), needle)
    user.check()


def test_farm_bundle_keeps_an_existing_bundle_and_the_users_files(user):
    (user.root / "bundle").mkdir()
    (user.root / "bundle" / "job.yaml").write_text("mine")  # a user file beside the bundle survives
    rc, err = _bundle(user, "--frames", "1-10")
    assert rc == 0, err
    user.before = snapshot(user.root)
    refused(_bundle(user, "--frames", "1-20"), "already exists", "--overwrite")
    user.check()


@pytest.mark.parametrize(("out", "needle"), [("/proc/bundle", "/proc"), ("mine.json", "is a file")])
def test_farm_bundle_unwritable_or_file_output(user, out, needle):
    refused(_bundle(user, "--frames", "1-10", out=out), needle)
    user.check()


# -- ComfyUI: addresses, workflows, the renderer -------------------------------------------------


@pytest.mark.parametrize(("server", "needle"), [
    ("http://127.0.0.1:abc", "the port is a number"),  # was: unexpected InvalidURL (bug hint)
    ("http://127.0.0.1:99999", "the port is a number"),  # was: "connection refused"
    ("http://[::1:1", "bad ComfyUI server address"),  # was: unexpected ValueError (bug hint)
    ("ftp://127.0.0.1:8188", "bad ComfyUI server address"),
    ("http://", "bad ComfyUI server address"),
    ("http://192.0.2.1:8188", "is not this machine"),  # refused before any connection is tried
    (REFUSED, "cannot reach the ComfyUI server"),
])
def test_comfyui_check_bad_servers(user, server, needle):
    refused(user.run("comfyui", "check", server), needle)
    user.check()


def test_comfyui_password_in_the_address_is_refused_and_never_printed(user):
    err = refused(user.run("comfyui", "check", "http://anna:s3cret@127.0.0.1:1/"),
                  "TALKING_HEAD_COMFYUI_TOKEN")
    assert "s3cret" not in err


@pytest.mark.parametrize(("content", "needle"), [
    (None, "workflow file not found"),
    ("[1, 2", "is not valid JSON"),
    ("[]", "is not an API-format ComfyUI workflow"),
    ("nosuch", "no workflow template 'nosuch'"),
])
def test_comfyui_check_reads_workflows_before_the_server(user, content, needle):
    """A bad --workflow used to be reported as "cannot reach the server" (the server came first)."""
    name = "nosuch" if content == "nosuch" else "wf.json"
    if content not in (None, "nosuch"):
        (user.root / name).write_text(content)
        user.before = snapshot(user.root)
    refused(user.run("comfyui", "check", REFUSED, "--workflow", name), needle)
    user.check()


@pytest.mark.parametrize(("extra", "needle"), [
    (["--server", REFUSED, "--workflow", "core_roundtrip"], "cannot reach the ComfyUI server"),
    (["--server", "http://127.0.0.1:abc", "--workflow", "core_roundtrip"], "the port is a number"),
    (["--server", "http://192.0.2.1", "--workflow", "core_roundtrip"], "--allow-network"),
    (["--server", REFUSED], "needs a workflow"),
    (["--server", REFUSED, "--workflow", "mine.json"], "not an API-format ComfyUI workflow"),
])
def test_comfyui_render_refused_with_nothing_written(user, extra, needle):
    refused(user.run("render", "portrait.png", "motion.json", "-o", "talk.mp4", "--renderer", "comfyui",
                     *extra), needle)
    user.check()


# -- LivePortrait options, GPU runtime ----------------------------------------------------------


@pytest.mark.parametrize(("extra", "needle"), [
    (["--batch-size", "0"], "between 1 and 256"),
    (["--batch-size", "99999999999999999999"], "between 1 and 256"),
    (["--crop-scale", "nan"], "finite number"),
    (["--crop-scale", "1e9"], "between 1.5 and 4"),
    (["--device", "tpu"], "invalid choice"),
])
def test_liveportrait_options_refused(user, extra, needle):
    refused(user.run("render", "portrait.png", "motion.json", "-o", "talk.mp4", "--renderer", "liveportrait",
                     *extra), needle)
    user.check()


def test_gpu_install_needs_network_consent_and_creates_nothing(user):
    refused(user.run("gpu", "install", "--flavor", "cuda", "--target", "runtime"), "--allow-network")
    user.check()


_GRAPH = '{"1": {"class_type": "LoadImage", "inputs": {"image": "x"}}}'


@pytest.mark.parametrize(("workflow", "binding", "needle"), [
    # each was an "unexpected AttributeError/KeyError/ValueError/TypeError" with the bug hint
    ('{"1": {"class_type": "LoadImage", "inputs": {}, "_meta": "th:portrait"}}', None,
     "wf.json is not shaped like a ComfyUI API-format workflow"),
    (_GRAPH, "[]", "wf.binding.json is not shaped like a ComfyUI binding"),
    (_GRAPH, '{"inputs": {"portrait": [{"node": 1}]}, "output": {"node": "1"}}', "missing key 'input'"),
    (_GRAPH, '{"inputs": {"portrait": {"node": 1, "input": "image"}}, "output": {"node": "1"}, '
             '"seed_max": "abc"}', "wf.binding.json is not shaped like"),
    (_GRAPH, '{"inputs": {"portrait": "1"}, "output": "1"}', "wf.binding.json is not shaped like"),
    (_GRAPH, '{"inputs": [1], "output": {"node": "1"}}', "wf.binding.json is not shaped like"),
    (_GRAPH, "{not json", "is not valid JSON"),
    ("[" * 100_000 + "]" * 100_000, None, "nested too deeply"),
])
@pytest.mark.parametrize("command", ["check", "render"])
def test_malformed_own_workflows_are_one_sentence(user, workflow, binding, needle, command):
    (user.root / "wf.json").write_text(workflow)
    if binding is not None:
        (user.root / "wf.binding.json").write_text(binding)
    user.before = snapshot(user.root)
    if command == "check":
        result = user.run("comfyui", "check", REFUSED, "--workflow", "wf.json")
    else:
        result = user.run("render", "portrait.png", "motion.json", "-o", "talk.mp4", "--renderer", "comfyui",
                          "--server", REFUSED, "--workflow", "wf.json")
    refused(result, needle)
    user.check()


@pytest.mark.parametrize(("extra", "needle"), [
    (["--find-links", "missing_dir"], "--find-links missing_dir is not a folder of wheels"),  # pip's error
    (["--find-links", "mine.json"], "--find-links mine.json is not a folder of wheels"),
    (["--find-links", "folder", "--package", "x; rm -rf /"], "is not a package requirement"),  # pip traceback
    (["--find-links", "folder", "--package", "--pre"], "expected one argument"),
    (["--find-links", "folder", "--target", "mine.json"], "runtime folder mine.json is a file"),
])
def test_gpu_install_arguments_checked_before_pip(user, extra, needle):
    args = ["gpu", "install", "--flavor", "cuda", "--no-index", *extra]
    refused(user.run(*args, *([] if "--target" in extra else ["--target", "runtime"])), needle)
    user.check()


def test_gpu_install_failing_offline_leaves_no_empty_runtime_folder(user):
    """pip finds no wheel in an empty --find-links folder (offline: --no-index)."""
    rc, err = user.run("gpu", "install", "--flavor", "cuda", "--no-index", "--find-links", "folder",
                       "--target", "runtime")
    assert rc == 2 and "error: pip could not install" in err and "Traceback" not in err, err
    user.check()
    assert not (user.root / "runtime").exists()  # was left behind, empty


@pytest.mark.parametrize(("command", "extra", "needle"), [
    # each was silently ignored: the built-in renderer's frames came out, no word said
    ("render", ["--workflow", "core_roundtrip"], "--workflow is an option of the comfyui renderer"),
    ("render", ["--server", "http://127.0.0.1:abc"], "--server is an option of the comfyui renderer"),
    ("render", ["--batch-size", "4"], "--batch-size is an option of the liveportrait renderer"),
    ("render", ["--fp16", "--tensorrt"], "--fp16, --tensorrt are options of the liveportrait renderer"),
    ("render", ["--renderer", "liveportrait", "--comfy-seed", "3"], "--comfy-seed is an option of"),
    ("animate", ["--workflow", "x"], "--workflow is an option of the comfyui renderer"),
    # a --driving clip is checked before the server is asked (it was only read after)
    ("render", ["--renderer", "comfyui", "--workflow", "core_roundtrip", "--server", REFUSED,
                "--driving", "missing.mp4"], "driving clip (--driving) not found"),
    ("render", ["--renderer", "comfyui", "--workflow", "core_roundtrip", "--server", REFUSED,
                "--driving", "folder"], "is a folder"),
])
def test_options_of_another_renderer_are_refused(user, command, extra, needle):
    inputs = ["portrait.png", "motion.json" if command == "render" else "voice.wav"]
    refused(user.run(command, *inputs, "-o", "talk.mp4", *extra), needle)
    user.check()


@pytest.mark.parametrize("command", ["capture", "animate"])
def test_ctrl_c_during_voice_capture_exits_130_and_leaves_nothing(user, monkeypatch, command):
    from engine import progress

    def interrupt(self, done, total, message=""):  # Ctrl-C at the first progress report
        raise KeyboardInterrupt

    monkeypatch.setattr(progress.Progress, "update", interrupt)
    args = (["voice.wav", "-o", "out.json"] if command == "capture"
            else ["portrait.png", "voice.wav", "-o", "t.mp4"])
    rc, err = user.run(command, *args)
    assert rc == 130 and "interrupted" in err and "Traceback" not in err, err
    user.check()
