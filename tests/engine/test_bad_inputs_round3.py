"""Hostile-user matrix, part 3 (issue 19, the non-network classes): concurrent jobs and output
folders, the GPU install folder, the farm's Blender command lines and non-ASCII bundles, size
caps of untrusted readers (npz bombs, absurd JSON numbers), silent wrong results (truncated
sound, an empty --frames), the ffmpeg fallback's reader thread, and terminal escapes in what the
CLI prints from data.

Same rules as parts 1 and 2: each case asserts the exit status (or the exception), one message
line, no traceback, that every file the user had is byte-identical afterwards and that no
temporary is left; the npz bomb runs in a child process under an address-space limit, so a
regression fails instead of eating the machine's memory. Nothing here opens a network socket.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine import cli, limits, outputs
from engine.motion import Motion
from engine.outputs import OutputError, is_temporary_name
from engine.sample import sample_performance

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
SENTENCE = SHARED / "testdata" / "audio" / "en_sentence.wav"  # 4.18 s of speech
SAMPLE_PORTRAIT = ROOT / "engine" / "assets" / "sample_portrait.jpg"
PROGRESS = re.compile(r"^\w+ \[[# ]+\] \d+/\d+")  # the console progress bar (engine/progress.py)
CLAIM = ".talking_head_claim"
need_media = pytest.mark.skipif(not SENTENCE.is_file(), reason="shared test media missing (../shared)")


# -- helpers (as in test_bad_inputs_new_commands.py) --------------------------------------------


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture()
def user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture):
    """A user folder (the working directory) with a portrait and a 10-frame motion;
    ``user.run(*args)`` runs the CLI there, ``user.check(*new)`` asserts nothing the user had
    changed, only ``new`` appeared and no temporary or claim file is left."""
    monkeypatch.chdir(tmp_path)
    sample_performance(0.4, 25.0).save(tmp_path / "motion.json")
    Image.open(SAMPLE_PORTRAIT).convert("RGB").resize((256, 284)).save(tmp_path / "portrait.png")

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
            extra = {n for n in set(after) - set(self.before) - set(allowed_new)
                     if not any(re.fullmatch(a, n) for a in allowed_new)}
            assert not extra, f"unexpected new files {sorted(extra)}"
            left = [p.name for p in tmp_path.rglob("*") if is_temporary_name(p.name)
                    or p.name.startswith(CLAIM)]
            assert left == [], left
            assert not outputs._live

    return User()


def refused(result: tuple[int, str], *needles: str) -> str:
    """Exit 2, one ``error:`` line naming ``needles``, no traceback, no bug hint."""
    rc, err = result
    assert rc == 2, err
    assert "Traceback" not in err and "unexpected" not in err and "this is a bug" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip() and not PROGRESS.match(ln)]
    if lines and lines[0].startswith("usage:"):
        lines = [ln for ln in lines if not ln.startswith(("usage:", " "))]
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    for n in needles:
        assert n in err, err
    return err


HOLD = """
import sys
sys.path.insert(0, sys.argv[1])
from engine import output_claim
held = output_claim.claim(sys.argv[2], sys.argv[3] or None)
print("held", flush=True)
if sys.argv[4] == "die":
    import os
    os._exit(0)  # a crash: the claim is left behind, its pid is gone
sys.stdin.read()
held.release()
"""


class Holder:
    """Another process holding ``folder``'s claim (for job ``job``) until ``stop()``."""

    def __init__(self, folder: Path, job: str = "", die: bool = False):
        self.proc = subprocess.Popen([sys.executable, "-c", HOLD, str(ROOT), str(folder), job,
                                      "die" if die else "hold"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "held"
        if die:
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)


@pytest.fixture()
def holder():
    made: list[Holder] = []

    def start(folder: Path, job: str = "", die: bool = False) -> Holder:
        made.append(Holder(folder, job, die))
        return made[-1]

    yield start
    for h in made:
        h.stop()


# -- data loss: one job per output folder -------------------------------------------------------


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_render_into_a_folder_another_job_is_writing_is_refused(user, holder, overwrite):
    """Issue 19: two renders into one folder both said "wrote 60 frames" and the folder held a mix
    of both portraits. The second one now fails at once, naming the other job."""
    out = user.root / "out"
    h = holder(out)
    refused(user.run("render", "portrait.png", "motion.json", "-o", out, *overwrite),
            "another job is writing into", str(out), f"pid {h.proc.pid}")
    assert [p.name for p in out.iterdir() if not p.name.startswith(CLAIM)] == []  # not one frame
    h.stop()
    user.check()


def test_animate_into_a_claimed_folder_is_refused_before_the_capture(user, holder):
    out = user.root / "out"
    holder(out)
    t0 = time.monotonic()
    # the driving file is never read: the claim is checked with the outputs, before any work
    (user.root / "clip.mp4").write_bytes(b"\x00" * 64)
    user.before = snapshot(user.root)
    refused(user.run("animate", "portrait.png", "clip.mp4", "-o", out), "another job is writing into")
    assert time.monotonic() - t0 < 10


def test_two_renders_at_once_one_is_refused_and_nothing_is_mixed(tmp_path):
    """Two real processes: the second starts while the first writes and is refused; the first
    writes every frame; no claim file is left."""
    sample_performance(40.0, 25.0).save(tmp_path / "long.json")  # 1000 frames: seconds to render
    Image.open(SAMPLE_PORTRAIT).convert("RGB").resize((128, 142)).save(tmp_path / "a.png")
    Image.open(SAMPLE_PORTRAIT).convert("L").convert("RGB").resize((128, 142)).save(tmp_path / "b.png")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "engine", "render", "--device", "cpu"]
    first = subprocess.Popen(cmd + [str(tmp_path / "a.png"), str(tmp_path / "long.json"), "-o", str(out)],
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (out / CLAIM).exists():
        assert first.poll() is None and time.monotonic() < deadline, first.communicate()
        time.sleep(0.02)
    second = subprocess.run(cmd + [str(tmp_path / "b.png"), str(tmp_path / "long.json"), "-o", str(out),
                                   "--overwrite"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    still_running = first.poll() is None
    out_a, err_a = first.communicate(timeout=300)
    assert first.returncode == 0, err_a
    assert "wrote" in out_a and "1000 frames" in out_a
    refused((second.returncode, second.stderr), "another job is writing into")
    assert still_running  # the refusal came while the first was writing, not after
    assert len(list(out.glob("frame_*.png"))) == 1000
    assert not [p for p in out.iterdir() if p.name.startswith(CLAIM) or is_temporary_name(p.name)]


def test_a_claim_left_by_a_crashed_process_is_taken_over(user, holder):
    out = user.root / "out"
    holder(out, die=True)
    assert (out / CLAIM).exists()  # left behind, its pid gone (and removed by the render)
    rc, err = user.run("render", "portrait.png", "motion.json", "-o", out)
    assert rc == 0, err
    user.check(r"out/frame_\d{6}\.png")


def test_chunks_of_one_farm_job_share_the_folder_other_jobs_do_not(tmp_path, holder):
    from engine.pipeline import render_motion

    motion = sample_performance(0.4, 25.0)
    portrait = np.asarray(Image.open(SAMPLE_PORTRAIT).convert("RGB").resize((128, 142)))
    out = tmp_path / "frames"
    holder(out, job="job-1")  # chunk 1 of job-1, still writing
    render_motion("builtin", portrait, motion, out, frames=range(5, 10), device="cpu", job="job-1")
    assert len(list(out.glob("frame_*.png"))) == 5
    for job in ("job-2", None):  # another farm job, or a plain render
        with pytest.raises(OutputError, match="another job is writing into"):
            render_motion("builtin", portrait, motion, out, frames=range(0, 5), device="cpu", job=job)
    assert len(list(out.glob("frame_*.png"))) == 5
    assert (out / CLAIM).exists()  # job-1's other chunk still holds it


@pytest.mark.parametrize("how", ["disk_full", "ctrl_c", "existing_frames"])
def test_the_claim_is_released_on_every_exit_path(user, monkeypatch, how):
    from engine import pipeline

    out = user.root / "out"
    if how == "existing_frames":
        assert user.run("render", "portrait.png", "motion.json", "-o", out)[0] == 0
        user.before = snapshot(user.root)
        refused(user.run("render", "portrait.png", "motion.json", "-o", out), "already rendered")
    else:
        calls = []
        real = pipeline.save_image

        def save(path, frame):
            calls.append(path)
            if len(calls) == 3:
                if how == "ctrl_c":
                    raise KeyboardInterrupt
                raise OSError(28, "No space left on device", str(path))
            real(path, frame)

        monkeypatch.setattr(pipeline, "save_image", save)
        rc, err = user.run("render", "portrait.png", "motion.json", "-o", out)
        assert rc == (130 if how == "ctrl_c" else 2), err
        assert "Traceback" not in err
    assert not [p.name for p in out.iterdir() if p.name.startswith(CLAIM)]
    user.check(r"out/frame_\d{6}\.png")


def test_an_mp4_render_makes_no_claim_file(user):
    rc, err = user.run("render", "portrait.png", "motion.json", "-o", "talk.mp4")
    assert rc == 0, err
    user.check("talk.mp4")


# -- data loss: gpu install --target ------------------------------------------------------------


def _wheelhouse(tmp_path: Path) -> Path:
    import importlib.util

    helper = ROOT / "tests" / "helpers" / "fake_ort_wheels.py"
    spec = importlib.util.spec_from_file_location("fake_ort_wheels", helper)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.build_wheelhouse(tmp_path / "house")


@pytest.fixture()
def restore_sys_path():
    saved = list(sys.path)
    yield
    sys.path[:] = saved


@pytest.mark.parametrize("folder", ["onnxruntime", "torch"])
def test_gpu_install_keeps_a_folder_of_the_users(user, folder):
    """Issue 19: `gpu install --target DIR` removed an onnxruntime/ folder the user had there."""
    mine = user.root / "rt" / folder / "my_notes.txt"
    mine.parent.mkdir(parents=True)
    mine.write_text("mine")
    user.before = snapshot(user.root)
    extra = ["--with-torch"] if folder == "torch" else []
    refused(user.run("gpu", "install", "--flavor", "cuda", "--no-index", "--find-links", user.root,
                     "--target", user.root / "rt", *extra),
            f"{folder} already exists and was not made by `gpu install`", "--overwrite")
    user.check()


def test_gpu_install_replaces_its_own_install_and_the_users_only_with_overwrite(user, restore_sys_path):
    house = _wheelhouse(user.root)
    args = ["gpu", "install", "--flavor", "cuda", "--no-index", "--find-links", house, "--target", "rt"]
    assert user.run(*args)[0] == 0  # a first install
    assert user.run(*args)[0] == 0  # our own install: replaced without --overwrite
    ort = user.root / "rt" / "onnxruntime"
    (ort / ".talking_head_gpu_install").unlink()  # now it could be anyone's
    refused(user.run(*args), "was not made by `gpu install`")
    assert (ort / "onnxruntime" / "__init__.py").is_file()
    assert user.run(*args, "--overwrite")[0] == 0
    assert (ort / ".talking_head_gpu_install").is_file()


# -- farm: --disable-autoexec and non-ASCII bundles ---------------------------------------------


def _template_commands() -> list[tuple[str, list[str]]]:
    """(command, args) of every step of farm/openjd/template.yaml (its args are JSON arrays)."""
    text = (ROOT / "farm" / "openjd" / "template.yaml").read_text(encoding="utf-8")
    found = []
    for m in re.finditer(r'command: "([^"]+)"\s+args: (\[.*?\])\n', text, re.S):
        found.append((m.group(1), json.loads(m.group(2))))
    return found


def test_every_blender_of_the_openjd_job_starts_with_disable_autoexec():
    """Issue 19: a worker with "Auto Run Python Scripts" on ran a submitted file's scripts."""
    commands = _template_commands()
    assert len(commands) == 3  # Capture, Render, Encode
    for command, args in commands:
        assert command == "{{Param.BlenderExecutable}}"
        assert args[0] == "--disable-autoexec", args  # before the .blend Blender opens
        assert args.index("-b") > 0 and args[args.index("-b") + 1].endswith(("BlendFile}}", ".blend"))


FARM_PYTHON = ROOT / ".venv-farm" / "bin" / "python"  # scripts/setup_farm.sh: has PyYAML
# ascii() + literal_eval carry the parsed strings exactly: JSON would re-join two broken
# surrogates into the emoji and hide the very bug this checks
_LOAD = "import sys, yaml; print(ascii(yaml.safe_load(open(sys.argv[1], encoding='utf-8'))))"


def load_yaml(path: Path):
    """``path`` parsed by PyYAML (the parser Deadline Cloud's tools use): this Python's, else the
    farm venv's; skipped when neither has it (a failure under TALKING_HEAD_CI)."""
    try:
        import yaml
    except ImportError:
        if FARM_PYTHON.is_file():
            r = subprocess.run([str(FARM_PYTHON), "-c", _LOAD, str(path)], capture_output=True,
                               text=True, encoding="utf-8", timeout=60)
            assert r.returncode == 0, r.stderr
            import ast

            return ast.literal_eval(r.stdout)
        if os.environ.get("TALKING_HEAD_CI"):
            raise
        pytest.skip("PyYAML missing (scripts/setup_farm.sh makes .venv-farm with it)")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", ["shot 😀", "日本語 ショット", "ünïcødé é", "line\u2028sep\x85nel",
                                  'quote" back\\slash'])
def test_non_ascii_paths_survive_the_bundle_yaml(tmp_path, name):
    """Issue 19: an emoji path came back broken from the generated Deadline YAML (JSON's
    \\ud83d\\ude00 surrogate escapes are two broken characters in YAML)."""
    from engine import farm

    folder = tmp_path / name
    folder.mkdir()
    blend = folder / f"{name}.blend"
    blend.write_bytes(b"BLENDER-v500")
    portrait = folder / f"{name}.png"
    portrait.write_bytes(b"\x89PNG")
    params = farm.bundle_parameters(blend, frames="1-10", output=folder / f"out {name}",
                                    portrait=name, chunk_size=5)
    farm.write_bundle(tmp_path / "bundle", params, inputs=[portrait])
    values = load_yaml(tmp_path / "bundle" / "parameter_values.yaml")
    got = {v["name"]: v["value"] for v in values["parameterValues"]}
    assert got == {k: str(v) for k, v in params.items()}
    assets = load_yaml(tmp_path / "bundle" / "asset_references.yaml")
    assert assets["assetReferences"]["inputs"]["filenames"] == [str(blend), str(portrait)]
    assert assets["assetReferences"]["outputs"]["directories"] == [str(folder / f"out {name}")]
    assert json.loads((tmp_path / "bundle" / "job_params.json").read_text())["Portrait"] == name


@pytest.mark.skipif(sys.platform != "linux", reason="file names of undecodable bytes: Linux")
def test_an_undecodable_file_name_is_refused_not_written_broken(user):
    blend = Path(os.fsdecode(bytes(user.root) + b"/shot\xff.blend"))
    blend.write_bytes(b"BLENDER-v500")
    user.before = snapshot(user.root)
    refused(user.run("farm", "bundle", blend, "-o", "bundle", "--frames", "1-10", "--no-check-blender"),
            "is not valid Unicode text")
    user.check()


# -- size caps: motion sidecars and JSON numbers ------------------------------------------------


def _sidecar_motion(folder: Path) -> Path:
    path = sample_performance(0.4, 25.0).save(folder / "m.json", sidecar=True)
    return path


def _npz_bomb(path: Path, nbytes: int = 2**31) -> None:
    """A valid .npz whose one array inflates to ``nbytes`` of zeros (a few MB on disk)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("controls/mouth_open.npy", "w", force_zip64=True) as fh:
            np.lib.format.write_array_header_1_0(fh, {"descr": "<f4", "fortran_order": False,
                                                      "shape": (nbytes // 4,)})
            block = bytes(1 << 24)
            for _ in range(nbytes // len(block)):
                fh.write(block)


@pytest.fixture(scope="module")
def bomb(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bomb")
    path = _sidecar_motion(folder)
    _npz_bomb(path.with_suffix(".npz"))
    return path


LIMITED = """
import resource, sys
sys.path.insert(0, sys.argv[1])
from engine.cli import main
import engine.commands.render, engine.pipeline  # imported before the limit: only the load counts
vm = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
resource.setrlimit(resource.RLIMIT_AS, (vm + (1 << 30), vm + (1 << 30)))  # 1 GiB more, no 2 GB
code = main(sys.argv[2:])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(f"peak_kb={peak}", file=sys.stderr)
sys.exit(code)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS and /proc: Linux")
def test_a_2mb_sidecar_that_inflates_to_2gb_is_refused_before_allocating(bomb, tmp_path):
    """Issue 19: a 2 MB .npz that inflates to 2 GB was rendered with 2.5 GB of RAM. In a child
    process with 1 GiB of address space to spare, so a regression fails with MemoryError."""
    assert bomb.with_suffix(".npz").stat().st_size < 4_000_000
    Image.open(SAMPLE_PORTRAIT).convert("RGB").resize((64, 71)).save(tmp_path / "p.png")
    r = subprocess.run([sys.executable, "-c", LIMITED, str(ROOT), "render", str(tmp_path / "p.png"),
                        str(bomb), "-o", str(tmp_path / "out")], capture_output=True, text=True, timeout=300)
    err = "\n".join(ln for ln in r.stderr.splitlines() if not ln.startswith("peak_kb="))
    refused((r.returncode, err), "sidecar m.npz would inflate to 2,147 MB", "above the limit")
    peak_kb = int(re.search(r"peak_kb=(\d+)", r.stderr).group(1))
    print(f"npz bomb refused with a peak RSS of {peak_kb / 1024:.0f} MB")
    assert peak_kb < 1_000_000
    assert not (tmp_path / "out").exists()


def _write_npz(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def _npy_header(shape: tuple, descr: str = "<f4") -> bytes:
    import io

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()


@pytest.mark.parametrize(("case", "needle"), [
    ("header_claims_2**40", "claims shape"),  # numpy would allocate from the header first
    ("header_claims_2**63", "claims shape"),  # overflows int64: must not be an OverflowError
    ("too_many_arrays", "more than the 256"),
    ("not_npy", "which is not a .npy array"),
    ("object_array", "Python objects"),
    ("declared_sizes", "would inflate to"),
])
def test_hostile_sidecars_are_refused_from_their_headers(user, case, needle):
    path = _sidecar_motion(user.root)
    npz = path.with_suffix(".npz")
    if case.startswith("header_claims"):
        n = 2**40 if case.endswith("40") else 2**63
        _write_npz(npz, {"controls/mouth_open.npy": _npy_header((n,)) + bytes(64)})
    elif case == "too_many_arrays":
        _write_npz(npz, {f"extras/x{i}.npy": _npy_header((10,)) + bytes(40) for i in range(300)})
    elif case == "not_npy":
        _write_npz(npz, {"controls/mouth_open.npy": _npy_header((10,)) + bytes(40), "evil.pkl": b"x"})
    elif case == "object_array":
        _write_npz(npz, {"controls/mouth_open.npy": _npy_header((10,), "|O") + bytes(40)})
    else:  # a zip directory that declares more than the cap (checked before any header is read)
        big = zipfile.ZipInfo("controls/mouth_open.npy")
        with zipfile.ZipFile(npz, "w") as zf:
            zf.writestr(big, _npy_header((10,)) + bytes(40))
        data = bytearray(npz.read_bytes())
        size = (limits.MAX_SIDECAR_BYTES + 1).to_bytes(4, "little")
        for sig, off in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):  # local and central headers
            i = data.index(sig)
            data[i + off:i + off + 4] = size
        npz.write_bytes(bytes(data))
    user.before = snapshot(user.root)
    refused(user.run("render", "portrait.png", "m.json", "-o", "out"), "sidecar m.npz", needle)
    user.check()


def test_a_sidecar_within_the_caps_still_loads():
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = _sidecar_motion(Path(d))
        assert Motion.load(path).frame_count == 10


def _motion_with(tmp: Path, edit) -> Path:
    doc = json.loads((tmp / "motion.json").read_text())
    text = edit(json.dumps(doc), doc)
    (tmp / "bad.json").write_text(text)
    return tmp / "bad.json"


@pytest.mark.parametrize(("case", "number"), [
    ("fps_int", "9" * 5000),  # Python refuses ints of > 4300 digits: was "unexpected ValueError"
    ("fps_negative", "-" + "9" * 5000),
    ("control_float", "0." + "1" * 5000),  # would silently become a number, or inf
    ("control_exponent", "1e" + "0" * 300 + "1"),
    ("frame_count", "1" * 101),
])
def test_absurd_json_numbers_are_one_clear_sentence(user, case, number):
    """Issue 19: a motion file with a 5000-digit number ended in a "this is a bug" hint."""
    def edit(text: str, doc: dict) -> str:
        if case.startswith("fps"):
            return text.replace('"fps": 25.0', f'"fps": {number}')
        if case == "frame_count":
            return text.replace('"frame_count": 10', f'"frame_count": {number}')
        first = json.dumps(doc["controls"]["mouth_open"][0])
        return text.replace(f'"mouth_open": [{first}', f'"mouth_open": [{number}', 1)

    bad = _motion_with(user.root, edit)
    assert number in bad.read_text()
    user.before = snapshot(user.root)
    refused(user.run("render", "portrait.png", "bad.json", "-o", "out"),
            f"bad.json: it holds a number of {len(number)} characters")
    user.check()


def test_every_cap_lives_in_engine_limits_with_a_comment():
    """One place for the limits: the old names are the same objects, each constant says why."""
    from engine import motion, pipeline  # noqa: F401 - the modules that use them import cleanly
    from engine.media import images

    assert images.MAX_IMAGE_PIXELS is limits.MAX_IMAGE_PIXELS
    assert images.MAX_IMAGE_SIDE is limits.MAX_IMAGE_SIDE
    assert motion.MAX_JSON_BYTES == limits.MAX_MOTION_JSON_BYTES
    lines = Path(limits.__file__).read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if re.match(r"[A-Z_]+ = ", line):
            assert lines[i - 1].startswith("#") or "  # " in line, f"{line}: say why (a comment)"


# -- silent wrong results ------------------------------------------------------------------------


def _m4a(src: Path, dst: Path, faststart: bool = True) -> Path:
    from engine.media.video import ffmpeg_exe

    cmd = [ffmpeg_exe(), "-v", "error", "-y", "-i", str(src), "-c:a", "aac"]
    subprocess.run(cmd + (["-movflags", "+faststart"] if faststart else []) + [str(dst)], check=True)
    return dst


def _cut(path: Path, name: str) -> Path:
    data = path.read_bytes()
    out = path.with_name(name)
    out.write_bytes(data[: len(data) // 2])
    return out


@need_media
@pytest.mark.parametrize("kind", ["m4a", "wav"])
def test_a_truncated_sound_is_reported_like_damaged_video(user, kind):
    """Issue 19: half an m4a captured half its frames with exit 0 and no warning."""
    if kind == "m4a":  # made with the bundled ffmpeg, index at the front (as phones write it)
        cut = _cut(_m4a(SENTENCE, user.root / "whole.m4a"), "cut.m4a")
    else:  # a WAV cut in half: its header still says 4.18 s
        cut = user.root / "cut.wav"
        cut.write_bytes(SENTENCE.read_bytes()[: SENTENCE.stat().st_size // 2])
    user.before = snapshot(user.root)
    rc, err = user.run("capture", cut, "-o", "m.json")
    assert rc == 0, err
    warnings = [ln for ln in err.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1 and f"cut.{kind}: " in warnings[0], err
    assert "could not be decoded (damaged or truncated file" in warnings[0] and "s missing" in warnings[0]
    assert "Traceback" not in err
    motion = Motion.load(user.root / "m.json")
    assert motion.frame_count == 105  # what the header promises (4.18 s at 25 fps), not half
    assert motion.tracked[:40].all() and not motion.tracked[60:].any()
    (a, b), = motion.source["missing_frames"]
    assert 50 <= a <= 54 and b == 104 and motion.source["missing_seconds"] > 1.9
    assert np.abs(motion.controls["mouth_open"][60:]).max() < 0.05  # closed, not frozen
    user.check("m.json")


@need_media
@pytest.mark.parametrize("case", ["intact", "range_inside_the_intact_part"])
def test_no_false_damage_warning(user, case):
    path = _m4a(SENTENCE, user.root / "whole.m4a")
    if case == "range_inside_the_intact_part":
        path = _cut(path, "cut.m4a")
    user.before = snapshot(user.root)
    extra = ["--frames", "0-30"] if case != "intact" else []
    rc, err = user.run("capture", path, "-o", "m.json", *extra)
    assert rc == 0 and "warning:" not in err, err
    motion = Motion.load(user.root / "m.json")
    assert motion.tracked.all() and "missing_frames" not in motion.source
    assert motion.frame_count == (31 if extra else 105)


@pytest.mark.parametrize("command", ["render", "animate", "capture"])
@pytest.mark.parametrize("text", ["", "   "])
def test_an_empty_frames_option_is_refused(user, command, text):
    """Issue 19: `render --frames ""` rendered everything though the docs say empty is refused."""
    args = {"render": ["portrait.png", "motion.json", "-o", "out"],
            "animate": ["portrait.png", "clip.mp4", "-o", "out"],
            "capture": ["clip.mp4", "-o", "m.json"]}[command]
    (user.root / "clip.mp4").write_bytes(b"never read")
    user.before = snapshot(user.root)
    refused(user.run(command, *args, "--frames", text), "empty frame range")
    user.check()


# -- the ffmpeg fallback decoder's reader thread -------------------------------------------------


def test_closing_the_ffmpeg_fallback_early_prints_no_thread_traceback(tmp_path, monkeypatch):
    """Issue 19: the reader thread printed a traceback when its pipe was closed under it."""
    from engine.media import video

    clip = tmp_path / "clip.mp4"
    rng = np.random.default_rng(0)
    with video.Mp4Writer(clip, 25, (64, 48)) as w:
        for _ in range(60):
            w.write(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    info = video.VideoReader(clip).info
    seen: list = []
    monkeypatch.setattr(threading, "excepthook", lambda args: seen.append(args.exc_value))
    # a busy machine: the thread lags behind ffmpeg's log, so it is still reading lines when the
    # generator is closed (the reader thread's queue is the only place to slow it down)
    import queue

    put = queue.Queue.put

    def slow_put(self, item, *args, **kwargs):
        time.sleep(0.005)
        return put(self, item, *args, **kwargs)

    monkeypatch.setattr(queue.Queue, "put", slow_put)
    before = set(threading.enumerate())
    for _ in range(8):
        frames = video._ffmpeg_frames(video.ffmpeg_exe(), clip, info)
        next(frames)
        frames.close()  # stops ffmpeg and closes its pipes while the thread may be reading
    time.sleep(0.3)
    assert seen == [], seen
    assert not [t for t in set(threading.enumerate()) - before if t.is_alive()]


# -- terminal escapes ---------------------------------------------------------------------------


HOSTILE = "\x1b]0;owned\x07\x1b[2J\rerror: all good\x00\x9b31m"


def test_printable_escapes_control_characters():
    from engine.safe_text import printable

    s = printable(HOSTILE + "\nnext")
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\n]", s)
    assert "\\x1b]0;owned\\x07" in s and "\\r" not in s and "\\x0d" in s and "\\n" in s
    assert printable("é 😀 日本\t") == "é 😀 日本\t"  # text is left as it is
    assert printable("x" * 500, limit=10) == "x" * 9 + "…"


def test_names_from_a_motion_file_cannot_drive_the_terminal(user):
    bad = _motion_with(user.root, lambda text, doc: text.replace(
        '"controls": {', '"controls": {' + json.dumps(HOSTILE) + ": [0.0], ", 1))
    user.before = snapshot(user.root)
    err = refused(user.run("render", "portrait.png", "bad.json", "-o", "out"), "unknown controls")
    assert "\x1b" not in err and "\r" not in err and "\x00" not in err and "\x9b" not in err
    assert "\\x1b[2J" in err
    assert bad.is_file()
    user.check()


@need_media
def test_warnings_quoting_a_file_name_are_escaped(user):
    cut = _cut(_m4a(SENTENCE, user.root / "whole.m4a"), "cut\x1b[2J\r.m4a")
    user.before = snapshot(user.root)
    rc, err = user.run("capture", cut, "-o", "m.json")
    assert rc == 0, err
    assert "warning: cut\\x1b[2J\\x0d.m4a: " in err and "\x1b" not in err and "\r" not in err


def test_the_error_printer_escapes_every_message(capsys):
    from engine.errors import EngineError

    def fail() -> int:
        raise EngineError(f"bad name {HOSTILE}")

    assert cli.exit_status(fail) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: bad name \\x1b]0;owned")
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", err)



RACE = """
import sys, time
sys.path.insert(0, sys.argv[1])
from engine import output_claim
from engine.outputs import OutputError
start = float(sys.argv[3])
time.sleep(max(0.0, start - time.time()))  # every racer claims at the same instant
try:
    held = output_claim.claim(sys.argv[2])
except OutputError as exc:
    print("refused", exc, flush=True)
else:
    print("won", flush=True)
    sys.stdin.read()  # writing until every racer has answered
    held.release()
"""


@pytest.mark.parametrize("racers", [2, 4])
def test_renders_claiming_at_the_same_instant_get_exactly_one_winner(tmp_path, racers):
    """The claim protocol itself, at its tightest: several processes claim one folder at the same
    moment, three rounds: exactly one wins each time (never none, never two), the rest are
    refused, and nothing is left behind."""
    for round_ in range(3):
        out = tmp_path / f"out{round_}"
        start = time.time() + 1.5
        procs = [subprocess.Popen([sys.executable, "-c", RACE, str(ROOT), str(out), str(start)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
                 for _ in range(racers)]
        first_lines = [p.stdout.readline() for p in procs]  # the winner keeps holding meanwhile
        results = [p.communicate(timeout=60) for p in procs]
        said = [line.split()[0] if line else f"crashed: {err}"
                for line, (_out, err) in zip(first_lines, results, strict=True)]
        assert said.count("won") == 1 and said.count("refused") == racers - 1, (first_lines, results)
        assert not list(out.iterdir())


def test_a_motion_declaring_more_frames_than_blender_holds_is_refused(user):
    too_many = limits.MAX_MOTION_FRAMES + 1
    bad = _motion_with(user.root, lambda text, doc: text.replace('"frame_count": 10',
                                                                 f'"frame_count": {too_many}'))
    assert bad.is_file()
    user.before = snapshot(user.root)
    refused(user.run("render", "portrait.png", "bad.json", "-o", "out"),
            f"{limits.MAX_MOTION_FRAMES + 1} frames is more than any Blender timeline holds")
    user.check()


# -- more variants --------------------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM")
def test_sigterm_during_a_render_releases_the_claim(tmp_path):
    import signal

    sample_performance(40.0, 25.0).save(tmp_path / "long.json")
    Image.open(SAMPLE_PORTRAIT).convert("RGB").resize((128, 142)).save(tmp_path / "a.png")
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "engine", "render", "--device", "cpu",
                             str(tmp_path / "a.png"), str(tmp_path / "long.json"), "-o", str(out)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not list(out.glob("frame_*.png")):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err
    assert not [p.name for p in out.iterdir() if p.name.startswith(CLAIM) or is_temporary_name(p.name)]


@pytest.mark.parametrize(("case", "needle"), [
    ("huge_npy_header", "is unreadable"),  # numpy's own header ceiling: one sentence
    ("truncated_member", "sidecar m.npz"),  # sizes declared right, data cut short
])
def test_damaged_sidecars_are_one_sentence(user, case, needle):
    path = _sidecar_motion(user.root)
    npz = path.with_suffix(".npz")
    if case == "huge_npy_header":
        header = b"\x93NUMPY\x02\x00" + (200_000).to_bytes(4, "little") + b" " * 200_000
        _write_npz(npz, {"controls/mouth_open.npy": header})
    else:
        data = npz.read_bytes()
        npz.write_bytes(data[: len(data) * 2 // 3])
    user.before = snapshot(user.root)
    refused(user.run("render", "portrait.png", "m.json", "-o", "out"), needle)
    user.check()


def test_an_absurd_number_deep_in_the_metadata_is_one_sentence(user):
    _motion_with(user.root, lambda text, doc: text.replace('"source": {', '"source": {"x": [[' + "7" * 5000
                                                           + "]], ", 1))
    user.before = snapshot(user.root)
    refused(user.run("render", "portrait.png", "bad.json", "-o", "out"), "a number of 5000 characters")
    user.check()


def test_a_file_name_in_an_error_is_escaped(user):
    err = refused(user.run("render", "face\x1b[2J\r.png", "motion.json", "-o", "out"), "not found")
    assert "face\\x1b[2J\\x0d.png" in err and "\x1b" not in err and "\r" not in err
    user.check()


@need_media
def test_animate_from_a_truncated_voice_warns_too(user):
    cut = _cut(_m4a(SENTENCE, user.root / "whole.m4a"), "cut.m4a")
    user.before = snapshot(user.root)
    rc, err = user.run("animate", "portrait.png", cut, "-o", "talk.mp4")
    assert rc == 0, err
    warnings = [ln for ln in err.splitlines() if ln.startswith("warning:")]
    assert any("cut.m4a: " in w and "s missing" in w for w in warnings), err
    user.check("talk.mp4")
