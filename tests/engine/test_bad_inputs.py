"""Hostile-user matrix: bad inputs and unlucky outputs through the engine CLI.

Every case asserts the exit status, the message, that no traceback was printed and that every
file the user had is byte-identical afterwards (sha256 before/after), with no temporaries left.
All bad media are generated here (nothing bad is committed). CLI cases run in-process
(``engine.cli.main`` + capsys) for speed; a few run as real processes where the process matters
(a native crash, SIGTERM).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import struct
import subprocess
import sys
import time
import zipfile
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from engine import cli, outputs
from engine.media.images import MAX_IMAGE_PIXELS, load_image
from engine.media.video import Mp4Writer
from engine.motion import Motion
from engine.outputs import is_temporary_name
from engine.sample import sample_performance

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_PORTRAIT = ROOT / "engine" / "assets" / "sample_portrait.jpg"


# -- helpers ------------------------------------------------------------------------------------


_GUARD: dict = {}  # the running test's folder and its snapshot before the first command


def run(capsys: pytest.CaptureFixture, *args: object) -> tuple[int, str, str]:
    """``python -m engine ARGS`` in-process: (exit status, stdout, stderr)."""
    if _GUARD.get("folder") is not None and _GUARD.get("before") is None:
        _GUARD["before"] = snapshot(_GUARD["folder"])  # the user's files as the command finds them
    capsys.readouterr()
    try:
        rc = cli.main([str(a) for a in args])
    except SystemExit as exc:  # argparse errors
        rc = exc.code if isinstance(exc.code, int) else 2
    out, err = capsys.readouterr()
    return rc, out, err


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_refused(result: tuple[int, str, str], *needles: str, rc: int = 2) -> None:
    code, _out, err = result
    assert code == rc, err
    assert "Traceback" not in err, err
    assert "error:" in err, err
    for n in needles:
        assert n in err, err


def no_temporaries(folder: Path, users: set[str] = frozenset()) -> None:
    left = [p.name for p in folder.rglob("*")
            if is_temporary_name(p.name) and str(p.relative_to(folder)) not in users]
    assert left == [], left


@pytest.fixture()
def guard(tmp_path: Path):
    """The folder is snapshotted when the test's first command runs; ``guard(*new_files)`` then
    checks every user file is unchanged, only those files are new, and no temporary is left."""
    _GUARD.update(folder=tmp_path, before=None)

    def check(*allowed_new: str) -> None:
        before = _GUARD["before"] if _GUARD["before"] is not None else snapshot(tmp_path)
        after = snapshot(tmp_path)
        for name, digest in before.items():
            assert after.get(name) == digest, f"{name} was changed or removed"
        extra = set(after) - set(before) - set(allowed_new)
        assert not extra, f"unexpected new files {sorted(extra)}"
        no_temporaries(tmp_path, set(before))
        assert not outputs._live

    yield check
    _GUARD.update(folder=None, before=None)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Good inputs (portrait, motion, a 60-frame driving clip of a face) and bad media made from them."""
    d = tmp_path_factory.mktemp("media")
    portrait = load_image(SAMPLE_PORTRAIT)
    small = cv2.resize(portrait, (256, 284), interpolation=cv2.INTER_AREA)
    m: dict[str, Path] = {}
    m["portrait"] = d / "portrait.png"
    Image.fromarray(small).save(m["portrait"])
    m["motion"] = sample_performance(0.4, 25.0).save(d / "motion.json")  # 10 frames
    rng = np.random.default_rng(0)
    m["clip"] = d / "clip.mp4"
    with Mp4Writer(m["clip"], 25, (256, 284)) as w:  # faststart: the index is at the front
        for k in range(60):
            f = np.roll(small, k % 5, axis=1).astype(np.int16) + rng.integers(-12, 12, small.shape)
            w.write(f.clip(0, 255).astype(np.uint8))
    data = m["clip"].read_bytes()
    n = len(data)
    m["clip_garbage"] = d / "clip_garbage.mp4"  # 1/8 of the file overwritten in the middle
    m["clip_garbage"].write_bytes(data[:n // 2] + rng.integers(0, 256, n // 8, dtype=np.uint8).tobytes()
                                  + data[n // 2 + n // 8:])
    m["clip_truncated"] = d / "clip_truncated.mp4"  # an unfinished copy: 60 % of the bytes
    m["clip_truncated"].write_bytes(data[:int(n * 0.6)])
    m["clip_no_index"] = d / "clip_no_index.mp4"  # moov at the end, cut off: nothing to decode
    subprocess.run([_ffmpeg(), "-v", "error", "-y", "-i", str(m["clip"]), "-c", "copy",
                    str(d / "tail_moov.mp4")], check=True)
    tail = (d / "tail_moov.mp4").read_bytes()
    m["clip_no_index"].write_bytes(tail[:len(tail) // 2])
    m["audio_only"] = d / "voice.m4a"
    subprocess.run([_ffmpeg(), "-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=440:duration=1",
                    str(m["audio_only"])], check=True)
    two = np.full((284, 600, 3), 200, np.uint8)  # two faces; the right one is nearer the centre
    two[:, 10:266] = small
    two[:, 320:576] = small
    m["two_faces"] = d / "two_faces.png"
    Image.fromarray(two).save(m["two_faces"])
    return m


def _ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def png_header_only(path: Path, w: int, h: int, grey: bool = True) -> Path:
    """A valid PNG signature + IHDR claiming w x h, with a tiny IDAT (what a decompression bomb's
    header looks like: the size check must refuse it before any decoder runs)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0 if grey else 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


def huge_grey_png(path: Path, side: int) -> Path:
    """A real, valid side x side grey PNG (about 900 KB for 30000^2). Fast: one deflate block of
    500 rows is compressed once with a full flush (so it stands alone) and repeated."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    row = b"\0" + b"\x80" * side
    block = row * 500
    n, rest = divmod(side, 500)
    first = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = first.compress(block) + first.flush(zlib.Z_FULL_FLUSH)
    last = zlib.compressobj(9, zlib.DEFLATED, -15)
    end = last.compress(row * rest) + last.flush()
    adler = 1
    for _ in range(n):
        adler = zlib.adler32(block, adler)
    adler = zlib.adler32(row * rest, adler)
    idat = b"\x78\xda" + piece * n + end + struct.pack(">I", adler)
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def test_huge_png_generator_makes_a_valid_png(tmp_path):
    small = np.asarray(Image.open(huge_grey_png(tmp_path / "s.png", 1234)))
    assert small.shape == (1234, 1234) and (small == 128).all()


def jpeg_claiming(path: Path, w: int, h: int) -> Path:
    """A small JPEG whose SOF header is patched to claim w x h."""
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (90, 90, 90)).save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    i = data.index(b"\xff\xc0")
    data[i + 5:i + 9] = struct.pack(">HH", h, w)
    path.write_bytes(bytes(data))
    return path


# -- 1. temporary names never clobber user files ------------------------------------------------


@pytest.mark.parametrize("mine", ["talk.part.mp4", "talk.mp4.part", ".talk.mp4.tmp.mp4",
                                  ".talk.mp4.x.tmp.mp4"])
def test_user_files_named_like_old_temporaries_survive_an_mp4_render(capsys, tmp_path, media, guard, mine):
    (tmp_path / mine).write_bytes(b"mine")
    rc, _, err = run(capsys, "render", media["portrait"], media["motion"], "-o", tmp_path / "talk.mp4",
                     "--frames", "0-3", "--device", "cpu")
    assert rc == 0, err
    guard("talk.mp4")


def test_user_frame_part_and_json_part_survive(capsys, tmp_path, media, guard):
    out = tmp_path / "out"
    out.mkdir()
    (out / "frame_000000.png.part").write_bytes(b"mine")
    (tmp_path / "m.json.part").write_bytes(b"mine too")
    assert run(capsys, "render", media["portrait"], media["motion"], "-o", out, "--frames", "0-1",
               "--device", "cpu")[0] == 0
    assert run(capsys, "sample", "-o", tmp_path / "m.json", "--seconds", "0.2")[0] == 0
    guard("out/frame_000000.png", "out/frame_000001.png", "m.json")


def test_sidecar_part_survives_capture(capsys, tmp_path, media, guard):
    (tmp_path / "m.npz.part").write_bytes(b"mine")
    rc, _, err = run(capsys, "capture", media["clip"], "-o", tmp_path / "m.json", "--sidecar",
                     "--frames", "0-9")
    assert rc == 0, err
    guard("m.json", "m.npz")
    assert Motion.load(tmp_path / "m.json").frame_count == 10


# -- 2. every output checked before any work ----------------------------------------------------


@pytest.mark.parametrize("case", ["plot", "sidecar", "output"])
def test_capture_refuses_existing_outputs_up_front(capsys, tmp_path, media, guard, case):
    files = {"plot": tmp_path / "p.png", "sidecar": tmp_path / "m.npz", "output": tmp_path / "m.json"}
    files[case].write_bytes(b"keep me")
    args = ["capture", media["clip"], "-o", files["output"], "--plot", files["plot"], "--sidecar"]
    t = time.perf_counter()
    assert_refused(run(capsys, *args), "already exists", "--overwrite", files[case].name)
    assert time.perf_counter() - t < 5  # refused before the capture started
    guard()


@pytest.mark.parametrize("flag", ["--save-motion", "--preview", "-o"])
def test_animate_refuses_existing_outputs_before_capture(capsys, tmp_path, media, guard, flag):
    names = {"--save-motion": "m.json", "--preview": "sheet.png", "-o": "talk.mp4"}
    (tmp_path / names[flag]).write_bytes(b"keep me")
    args = ["animate", media["portrait"], media["clip"], "-o", tmp_path / "talk.mp4",
            "--save-motion", tmp_path / "m.json", "--preview", tmp_path / "sheet.png"]
    assert_refused(run(capsys, *args), "already exists", names[flag])
    guard()


def test_animate_refuses_a_folder_holding_frames(capsys, tmp_path, media, guard):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "frame_000003.png").write_bytes(b"keep me")
    assert_refused(run(capsys, "animate", media["portrait"], media["clip"], "-o", tmp_path / "out"),
                   "frame_000003.png", "--overwrite")
    guard()


def test_render_refuses_existing_preview_before_rendering(capsys, tmp_path, media, guard):
    (tmp_path / "sheet.png").write_bytes(b"keep me")
    assert_refused(run(capsys, "render", media["portrait"], media["motion"], "-o", tmp_path / "out",
                       "--preview", tmp_path / "sheet.png"), "sheet.png", "already exists")
    guard()
    assert not (tmp_path / "out").exists()


def test_render_refuses_existing_mp4(capsys, tmp_path, media, guard):
    (tmp_path / "talk.mp4").write_bytes(b"keep me")
    assert_refused(run(capsys, "render", media["portrait"], media["motion"], "-o", tmp_path / "talk.mp4"),
                   "talk.mp4", "--overwrite")
    guard()


@pytest.mark.parametrize(("cmd", "flag", "name"), [
    ("capture", "--plot", "x.txt"), ("render", "--preview", "x.txt"), ("animate", "--preview", "x.bmp"),
    ("capture", "--plot", "noext"), ("render", "--preview", "x.mp4"),
])
def test_unsupported_image_suffix_refused_up_front(capsys, tmp_path, media, guard, cmd, flag, name):
    src = {"capture": [media["clip"]], "render": [media["portrait"], media["motion"]],
           "animate": [media["portrait"], media["clip"]]}[cmd]
    out = tmp_path / ("m.json" if cmd == "capture" else "out")
    assert_refused(run(capsys, cmd, *src, "-o", out, flag, tmp_path / name), "unsupported file type")
    guard()


def test_output_and_plot_the_same_file(capsys, tmp_path, media, guard):
    assert_refused(run(capsys, "capture", media["clip"], "-o", tmp_path / "a.png", "--plot",
                       tmp_path / "a.png"), "same file")
    guard()


@pytest.mark.parametrize("case", ["video_as_output", "portrait_as_preview", "motion_as_output"])
def test_an_input_is_never_an_output_even_with_overwrite(capsys, tmp_path, media, guard, case):
    import shutil

    for k in ("clip", "portrait", "motion"):
        shutil.copy(media[k], tmp_path / media[k].name)
    clip, portrait, motion = (tmp_path / media[k].name for k in ("clip", "portrait", "motion"))
    before = snapshot(tmp_path)
    args = {"video_as_output": ["capture", clip, "-o", clip],
            "portrait_as_preview": ["render", portrait, motion, "-o", tmp_path / "o", "--preview", portrait],
            "motion_as_output": ["render", portrait, motion, "-o", motion]}[case]
    result = run(capsys, *args, "--overwrite")
    assert_refused(result)
    assert "reads" in result[2] or "folder for PNG frames" in result[2]
    assert snapshot(tmp_path) == before


def test_output_is_a_folder_or_under_a_file(capsys, tmp_path, media, guard):
    (tmp_path / "dir.json").mkdir()
    (tmp_path / "afile").write_text("x")
    assert_refused(run(capsys, "capture", media["clip"], "-o", tmp_path / "dir.json"), "is a folder")
    assert_refused(run(capsys, "capture", media["clip"], "-o", tmp_path / "afile" / "m.json"),
                   "is a file, not a folder")
    assert_refused(run(capsys, "render", media["portrait"], media["motion"], "-o", tmp_path / "afile"),
                   "is a file")
    assert_refused(run(capsys, "render", media["portrait"], media["motion"], "-o", tmp_path / "x.png"),
                   "folder for PNG frames")
    guard()


def test_unwritable_folder(capsys, tmp_path, guard):
    target = Path("/proc/talking_head_test/m.json") if os.geteuid() == 0 else tmp_path / "ro" / "m.json"
    if os.geteuid() != 0:
        (tmp_path / "ro").mkdir()
        (tmp_path / "ro").chmod(0o500)
    try:
        result = run(capsys, "sample", "-o", target)
    finally:
        if os.geteuid() != 0:
            (tmp_path / "ro").chmod(0o700)
    assert_refused(result, str(target.parent))
    guard()


def test_sample_refuses_existing_output(capsys, tmp_path, guard):
    (tmp_path / "m.json").write_text("mine")
    assert_refused(run(capsys, "sample", "-o", tmp_path / "m.json"), "already exists")
    guard()


# -- 3. portraits: headers checked before decoding, every pixel format -----------------------------


@pytest.mark.parametrize("case", ["missing", "folder", "empty", "text", "truncated_png", "truncated_jpeg",
                                  "random_bytes", "png_30000_header", "png_40000_header", "jpeg_65000",
                                  "png_20000x4", "png_zero_width"])
def test_bad_portraits(capsys, tmp_path, media, guard, case):
    p = tmp_path / f"{case}.png"
    good = media["portrait"].read_bytes()
    if case == "folder":
        p.mkdir()
    elif case == "empty":
        p.write_bytes(b"")
    elif case == "text":
        p.write_text("this is not an image")
    elif case == "truncated_png":
        p.write_bytes(good[: len(good) // 2])
    elif case == "truncated_jpeg":
        p = tmp_path / "t.jpg"
        p.write_bytes(SAMPLE_PORTRAIT.read_bytes()[:3000])
    elif case == "random_bytes":
        p.write_bytes(np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    elif case == "png_30000_header":
        png_header_only(p, 30000, 30000)
    elif case == "png_40000_header":
        png_header_only(p, 40000, 40000, grey=False)
    elif case == "jpeg_65000":
        p = jpeg_claiming(tmp_path / "big.jpg", 65000, 65000)
    elif case == "png_20000x4":
        png_header_only(p, 20000, 4)
    elif case == "png_zero_width":
        png_header_only(p, 0, 10)
    expect = {"missing": "not found", "folder": "is a folder", "empty": "empty",
              "png_30000_header": "30000x30000", "png_40000_header": "megapixels",
              "jpeg_65000": "65000x65000", "png_20000x4": "20000x4"}.get(case, p.name)
    t = time.perf_counter()
    assert_refused(run(capsys, "render", p, media["motion"], "-o", tmp_path / "out"), expect)
    assert time.perf_counter() - t < 5
    guard()
    assert not (tmp_path / "out").exists()


def _rgb(name: str) -> np.ndarray:
    return load_image(SAMPLE_PORTRAIT)[:120, :100]


@pytest.mark.parametrize("kind", ["png16", "grey16", "tiff_float_rgb", "tiff_float_grey", "tiff_float_hdr",
                                  "rgba", "la", "palette_transparent", "cmyk_jpeg", "one_bit", "bmp", "webp"])
def test_pixel_formats_load_visible_and_upright(tmp_path, kind):
    ref = _rgb(kind)
    p = tmp_path / f"{kind}.img"
    if kind == "png16":
        p = p.with_suffix(".png")
        cv2.imwrite(str(p), cv2.cvtColor(ref, cv2.COLOR_RGB2BGR).astype(np.uint16) * 257)
    elif kind == "grey16":
        p = p.with_suffix(".png")
        cv2.imwrite(str(p), cv2.cvtColor(ref, cv2.COLOR_RGB2GRAY).astype(np.uint16) * 257)
    elif kind.startswith("tiff_float"):
        p = p.with_suffix(".tif")
        f = cv2.cvtColor(ref, cv2.COLOR_RGB2BGR).astype(np.float32) / 255.0
        if kind == "tiff_float_grey":
            f = cv2.cvtColor(ref, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
        if kind == "tiff_float_hdr":
            f = f * 40.0  # a linear HDR range: normalised by its maximum, not clipped to white
        cv2.imwrite(str(p), f)
    elif kind in ("rgba", "la", "palette_transparent", "cmyk_jpeg", "one_bit", "bmp", "webp"):
        im = Image.fromarray(ref)
        ext = {"cmyk_jpeg": ".jpg", "bmp": ".bmp", "webp": ".webp"}.get(kind, ".png")
        p = p.with_suffix(ext)
        if kind == "rgba":
            im.putalpha(255)
        elif kind == "la":
            im = im.convert("LA")
        elif kind == "palette_transparent":
            im = im.convert("P")
            im.info["transparency"] = 0
        elif kind == "cmyk_jpeg":
            im = im.convert("CMYK")
        elif kind == "one_bit":
            im = im.convert("1")
        im.save(p, **({"quality": 95} if ext == ".jpg" else {"lossless": True} if ext == ".webp" else {}))
    got = load_image(p)
    assert got.dtype == np.uint8 and got.shape == ref.shape
    assert got.mean() > 40, "loaded (nearly) black"
    if kind not in ("one_bit", "palette_transparent", "tiff_float_hdr"):
        grey_ref = cv2.cvtColor(ref, cv2.COLOR_RGB2GRAY).astype(float)
        grey_got = cv2.cvtColor(got, cv2.COLOR_RGB2GRAY).astype(float)
        assert np.abs(grey_ref - grey_got).mean() < 6


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_applied(tmp_path, orientation):
    ref = _rgb("exif")
    im = Image.fromarray(ref)
    stored = {3: im.rotate(180), 6: im.rotate(90, expand=True), 8: im.rotate(-90, expand=True)}[orientation]
    exif = stored.getexif()
    exif[0x0112] = orientation
    p = tmp_path / f"phone_{orientation}.jpg"
    stored.save(p, exif=exif, quality=95)
    got = load_image(p)
    assert got.shape == ref.shape
    assert np.abs(got.astype(float) - ref).mean() < 8


def test_large_phone_jpeg_is_decoded_downscaled(tmp_path):
    w, h = 9000, 6000  # 54 MP: above the limit, JPEG: decoded at reduced scale instead of refused
    Image.new("RGB", (w, h), (120, 80, 60)).save(tmp_path / "big.jpg", quality=50)
    got = load_image(tmp_path / "big.jpg")
    assert got.shape[0] * got.shape[1] <= MAX_IMAGE_PIXELS
    assert got.shape[1] / got.shape[0] == pytest.approx(1.5)


def test_float_tiff_portrait_renders_with_a_face(capsys, tmp_path, media, guard):
    p = tmp_path / "float.tif"
    bgr = cv2.cvtColor(load_image(media["portrait"]), cv2.COLOR_RGB2BGR)
    cv2.imwrite(str(p), bgr.astype(np.float32) / 255)
    rc, _, err = run(capsys, "render", p, media["motion"], "-o", tmp_path / "out", "--frames", "0",
                     "--device", "cpu")
    assert rc == 0, err
    guard("out/frame_000000.png")


def test_real_30000_square_png_is_refused_by_a_process_that_survives(tmp_path, media):
    big = huge_grey_png(tmp_path / "grey.png", 30000)
    assert big.stat().st_size < 2_000_000
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "engine", "render", str(big), str(media["motion"]), "-o",
                        str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "30000x30000" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert time.perf_counter() - t < 30


# -- 4. two faces ----------------------------------------------------------------------------------


def test_two_faces_warn_and_face_option_picks(capsys, tmp_path, media, guard):
    import re

    rc, _, err = run(capsys, "render", media["two_faces"], media["motion"], "-o", tmp_path / "a",
                     "--frames", "5", "--device", "cpu")
    assert rc == 0, err
    m = re.search(r"warning: the portrait shows 2 faces; animating face (\d)", err)
    assert m and "--face N" in err, err
    chosen = int(m.group(1))
    rc, _, err = run(capsys, "render", media["two_faces"], media["motion"], "-o", tmp_path / "b",
                     "--frames", "5", "--device", "cpu", "--face", str(1 - chosen))
    assert rc == 0 and "warning" not in err, err
    src = load_image(media["two_faces"]).astype(int)
    a, b = (load_image(tmp_path / x / "frame_000005.png").astype(int) for x in "ab")
    halves = (slice(0, 290), slice(300, 600))  # face 0 is on the left, face 1 on the right

    def change(img: np.ndarray, face: int) -> float:
        return float(np.abs(img[:, halves[face]] - src[:, halves[face]]).mean())

    # each render animates its own face and leaves the other one alone
    assert change(a, chosen) > 3 * change(a, 1 - chosen)
    assert change(b, 1 - chosen) > 3 * change(b, chosen)
    assert_refused(run(capsys, "render", media["two_faces"], media["motion"], "-o", tmp_path / "c",
                       "--device", "cpu", "--face", "2"), "shows 2 face(s)", "0-1")
    guard(*(f"{x}/frame_000005.png" for x in "ab"))


@pytest.mark.parametrize("value", ["-1", "x"])
def test_face_argument_checked(capsys, tmp_path, media, value):
    assert_refused(run(capsys, "render", media["portrait"], media["motion"], "-o", tmp_path / "o",
                       "--face", value), "--face")


# -- 5. motion files ---------------------------------------------------------------------------------


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("case", ["missing", "empty", "not_json", "binary", "nested_100k", "nested_obj",
                                  "nan_literal", "wrong_format", "newer_version", "frame_count_lie",
                                  "sidecar_missing", "sidecar_garbage", "sidecar_pickle", "sidecar_escape",
                                  "controls_not_object", "fps_string", "list_top", "nan_extras",
                                  "inf_confidence"])
def test_bad_motion_files(capsys, tmp_path, media, guard, case):
    good = json.loads(media["motion"].read_text())
    p = tmp_path / "m.json"
    if case == "empty":
        p.write_bytes(b"")
    elif case == "not_json":
        p.write_text("{not json")
    elif case == "binary":
        p.write_bytes(b"\xff\xfe\x00garbage")
    elif case == "nested_100k":
        p.write_text(_nested(100_000))
    elif case == "nested_obj":
        p.write_text('{"a":' * 50_000 + "1" + "}" * 50_000)
    elif case == "nan_literal":
        good["controls"]["head_yaw"][0] = float("nan")
        p.write_text(json.dumps(good))
    elif case == "wrong_format":
        good["format"] = "something.else"
        p.write_text(json.dumps(good))
    elif case == "newer_version":
        good["version"] = 99
        p.write_text(json.dumps(good))
    elif case == "frame_count_lie":
        good["frame_count"] = 11
        p.write_text(json.dumps(good))
    elif case.startswith("sidecar"):
        name = "../m.npz" if case == "sidecar_escape" else "m.npz"
        doc = dict(good, arrays=name)
        p.write_text(json.dumps(doc))
        if case == "sidecar_garbage":
            (tmp_path / "m.npz").write_bytes(b"PK\x03\x04 this is not a zip")
        elif case == "sidecar_pickle":
            np.savez(tmp_path / "m.npz", **{"controls/head_yaw": np.array([object()] * 10, dtype=object)})
    elif case == "controls_not_object":
        good["controls"] = [1, 2, 3]
        p.write_text(json.dumps(good))
    elif case == "fps_string":
        good["fps"] = "fast"
        p.write_text(json.dumps(good))
    elif case == "list_top":
        p.write_text("[1, 2]")
    elif case == "nan_extras":
        good["extras"] = {"liveportrait_exp": [[float("nan")] * 63] * 10}
        p.write_text(json.dumps(good))
    elif case == "inf_confidence":
        good["confidence"] = [float("inf")] * 10
        p.write_text(json.dumps(good))
    expect = {"missing": "not found", "nested_100k": "nested too deeply", "nested_obj": "nested too deeply",
              "nan_literal": "NaN", "newer_version": "newer", "sidecar_missing": "missing",
              "sidecar_escape": "beside", "sidecar_garbage": "m.npz", "sidecar_pickle": "m.npz",
              "nan_extras": "NaN", "inf_confidence": "infinite",
              }.get(case, "m.json")
    assert_refused(run(capsys, "render", media["portrait"], p, "-o", tmp_path / "out"), expect)
    guard()


def test_nan_smoothing_never_reaches_json(capsys, tmp_path, media):
    for value in ("nan", "inf", "-inf", "1.5", "-0.1", "abc"):
        assert_refused(run(capsys, "capture", media["clip"], "-o", tmp_path / "m.json", "--smoothing", value),
                       "--smoothing")
    m = sample_performance(0.2, 25.0)
    m.filter["strength"] = float("nan")
    with pytest.raises(Exception, match="non-finite"):
        m.save(tmp_path / "nan.json")
    assert not (tmp_path / "nan.json").exists()
    no_temporaries(tmp_path)


@pytest.mark.parametrize(("args", "needle"), [
    (["sample", "--fps", "nan"], "--fps"), (["sample", "--seconds", "-1"], "--seconds"),
    (["sample", "--seconds", "inf"], "--seconds"), (["sample", "--seconds", "1e9"], "10 million"),
])
def test_numeric_arguments_checked(capsys, tmp_path, args, needle):
    assert_refused(run(capsys, *args, "-o", tmp_path / "m.json"), needle)
    assert not (tmp_path / "m.json").exists()


def test_bad_frame_range(capsys, tmp_path, media):
    assert_refused(run(capsys, "render", media["portrait"], media["motion"], "-o", tmp_path / "o",
                       "--frames", "a-b"), "frame range")


# -- 6. driving videos -------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["missing", "empty", "text", "no_index", "audio_only", "folder", "image"])
def test_bad_driving_videos(capsys, tmp_path, media, guard, case):
    src = {"no_index": media["clip_no_index"], "audio_only": media["audio_only"],
           "image": media["portrait"]}.get(case)
    v = tmp_path / "v.mp4"
    if src is not None:
        v.write_bytes(src.read_bytes())
    elif case == "empty":
        v.write_bytes(b"")
    elif case == "text":
        v.write_text("not a video at all")
    elif case == "folder":
        v.mkdir()
    expect = {"missing": "not found", "empty": "empty", "no_index": "truncated", "audio_only": "audio",
              "folder": "is a folder"}.get(case, "v.mp4")
    assert_refused(run(capsys, "capture", v, "-o", tmp_path / "m.json"), expect)
    guard(*(["v.mp4"] if case not in ("missing", "folder") else []))


def test_damaged_video_is_decoded_past_the_damage_and_the_gap_is_reported(capsys, tmp_path, media):
    rc, out, err = run(capsys, "capture", media["clip_garbage"], "-o", tmp_path / "m.json")
    assert rc == 0, err
    assert "warning:" in err and "could not be decoded" in err and "Traceback" not in err
    m = Motion.load(tmp_path / "m.json")
    assert m.frame_count == 60
    missing = [i for a, b in m.source["missing_frames"] for i in range(a, b + 1)]
    assert 0 < len(missing) < 20, missing  # ffmpeg decodes past the damage: most frames are there
    assert m.tracked[-1] and m.tracked[0]  # frames after the damage were decoded and tracked
    assert not m.tracked[missing].any()  # never-seen frames are flagged, not passed off as tracked
    assert f"{len(missing)} frame(s)" in err


def test_truncated_video_reports_missing_tail(capsys, tmp_path, media):
    rc, _, err = run(capsys, "capture", media["clip_truncated"], "-o", tmp_path / "m.json")
    assert rc == 0, err
    m = Motion.load(tmp_path / "m.json")
    (a, b), = m.source["missing_frames"]
    assert b == 59 and 20 < a < 59 and not m.tracked[a:].any() and m.tracked[:a].all()
    assert f"frames {a}-59" in err


# -- 7. model archives -------------------------------------------------------------------------------


def _model_zip(tmp_path: Path, damage: str) -> Path:
    from engine.models.registry import get_set

    name = get_set("liveportrait").files[0].name
    payload = os.urandom(1000) * 50
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name, payload)
    data = bytearray(buf.getvalue())
    start = 30 + len(name)  # first member's data, after its local header
    if damage == "crc":
        data[start + 200] ^= 0xFF
    elif damage == "deflate":
        data[start:start + 64] = b"\xff" * 64
    elif damage == "truncated":
        data = data[: len(data) // 2]
    p = tmp_path / "models.zip"
    p.write_bytes(bytes(data))
    return p


@pytest.mark.parametrize("damage", ["crc", "deflate", "truncated", "not_zip"])
def test_corrupt_model_zip(capsys, tmp_path, damage):
    if damage == "not_zip":
        src = tmp_path / "models.zip"
        src.write_text("hello")
    else:
        src = _model_zip(tmp_path, damage)
    store = tmp_path / "store"
    before = snapshot(tmp_path)
    result = run(capsys, "models", "--models-dir", store, "install", src, "--trust-unverified")
    assert_refused(result)
    words = ("damaged", "corrupt", "neither", "does not match", "bytes")
    assert any(w in result[2] for w in words), result[2]
    assert {k: v for k, v in snapshot(tmp_path).items() if not k.startswith("store/.")} == before
    no_temporaries(tmp_path)


# -- 8. disk full, permissions, interrupts, unexpected errors ------------------------------------------


def test_disk_full_on_png_frames_names_the_file(capsys, tmp_path, media, guard, monkeypatch):
    import errno

    def full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(outputs.os, "fsync", full)
    assert_refused(run(capsys, "render", media["portrait"], media["motion"], "-o", tmp_path / "out",
                       "--frames", "0-2", "--device", "cpu"),
                   "no space left on device", "frame_000000.png")
    guard()


def test_disk_full_on_capture_leaves_no_empty_file(capsys, tmp_path, media, guard, monkeypatch):
    import errno

    def full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(outputs.os, "fsync", full)
    assert_refused(run(capsys, "capture", media["clip"], "-o", tmp_path / "m.json", "--frames", "0-5"),
                   "no space left on device", "m.json")
    guard()


def test_ffmpeg_failure_message_names_disk_full(tmp_path):
    from engine.media.video import _ffmpeg_failure

    msg = _ffmpeg_failure("[out#0/mp4] Error writing trailer: No space left on device", tmp_path / "t.mp4")
    assert msg.startswith("no space left on device while writing") and "t.mp4" in msg


def test_ctrl_c_during_render_removes_temporaries(capsys, tmp_path, media, guard, monkeypatch):
    from engine.render.builtin import BuiltinRenderer

    calls = {"n": 0}
    original = BuiltinRenderer.render_frame

    def interrupted(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(self, *a, **k)

    monkeypatch.setattr(BuiltinRenderer, "render_frame", interrupted)
    for out in ("talk.mp4", "frames"):
        calls["n"] = 0
        rc, _, err = run(capsys, "render", media["portrait"], media["motion"], "-o", tmp_path / out,
                         "--device", "cpu")
        assert rc == 130 and "interrupted" in err and "Traceback" not in err
    guard("frames/frame_000000.png", "frames/frame_000001.png")


def test_unexpected_errors_are_one_line_with_a_bug_hint(capsys, tmp_path, media, monkeypatch):
    from engine import motion as motion_mod

    def broken(*a, **k):
        raise TypeError("internal oops")

    monkeypatch.setattr(motion_mod.Motion, "load", broken)
    rc, _, err = run(capsys, "render", media["portrait"], media["motion"], "-o", tmp_path / "o")
    assert rc == 2 and "Traceback" not in err and "unexpected TypeError: internal oops" in err
    assert "bug" in err and "--debug" in err
    rc, _, err = run(capsys, "--debug", "render", media["portrait"], media["motion"], "-o", tmp_path / "o")
    assert rc == 2 and "Traceback" in err


@pytest.mark.parametrize(("exc", "needle"), [
    (MemoryError(), "out of memory"), (RecursionError(), "nested too deeply"),
    (zipfile.BadZipFile("Bad CRC-32"), "corrupt archive"),
    (zlib.error("invalid stored block"), "corrupt archive"),
    (IsADirectoryError(21, "Is a directory", "/x"), "Is a directory: /x"),
    (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad"), "cannot decode"),
])
def test_every_exception_class_maps_to_exit_2(capsys, exc, needle):
    def boom() -> int:
        raise exc

    assert cli.exit_status(boom) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and needle in err and "Traceback" not in err


def test_sigterm_during_render_removes_temporaries(tmp_path, media):
    out = tmp_path / "talk.mp4"
    motion = sample_performance(20.0, 25.0).save(tmp_path / "long.json")  # 500 frames
    proc = subprocess.Popen([sys.executable, "-m", "engine", "render", str(media["portrait"]), str(motion),
                             "-o", str(out), "--device", "cpu"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not any(is_temporary_name(p.name) for p in tmp_path.iterdir()):
        time.sleep(0.05)
    assert any(is_temporary_name(p.name) for p in tmp_path.iterdir()), "the render never started"
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM and "Traceback" not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.json"]


def test_huge_video_refused_before_decoding(capsys, tmp_path, guard):
    v = tmp_path / "wide.mkv"
    subprocess.run([_ffmpeg(), "-v", "error", "-f", "lavfi", "-i", "color=c=gray:size=17000x16:rate=5",
                    "-frames:v", "2", "-c:v", "ffv1", str(v)], check=True)
    assert_refused(run(capsys, "capture", v, "-o", tmp_path / "m.json"), "17000x16", "scale it down")
    guard()


def test_file_name_too_long_is_one_sentence(capsys, tmp_path, guard):
    assert_refused(run(capsys, "sample", "-o", tmp_path / ("m" * 300 + ".json")), "file name too long")
    guard()


def test_ffmpeg_dying_mid_write_leaves_nothing(tmp_path, monkeypatch):
    """The encoder process disappears (killed, out of memory): one MediaError, no temporary."""
    from engine.errors import EngineError

    writer = Mp4Writer(tmp_path / "t.mp4", 25, (64, 64))
    assert writer._proc is not None
    writer._proc.kill()
    writer._proc.wait()
    with pytest.raises(EngineError, match="t.mp4"):
        for _ in range(50):
            writer.write(np.zeros((64, 64, 3), np.uint8))
        writer.close(keep=True)
    writer.close(keep=False)
    assert list(tmp_path.iterdir()) == []


def test_arrays_above_the_limit_never_reach_native_code():
    from engine.errors import EngineError
    from engine.face_tracker import FaceTracker, TrackerError
    from engine.pipeline import render_motion

    wide = np.zeros((2, 20000, 3), np.uint8)
    with pytest.raises(TrackerError, match="20000x2"), FaceTracker() as tracker:
        tracker.detect(wide)
    with pytest.raises(EngineError, match="size limit"):
        render_motion("builtin", wide, sample_performance(0.1, 25.0), "/nonexistent/out", device="cpu")


def test_neutral_frame_outside_the_clip_refused_before_tracking(capsys, tmp_path, media, guard):
    t = time.perf_counter()
    assert_refused(run(capsys, "capture", media["clip"], "-o", tmp_path / "m.json", "--neutral-frame", "500"),
                   "neutral frame 500", "0-59")
    assert time.perf_counter() - t < 3
    guard()


def test_frame_range_past_the_end_is_not_reported_as_damage(capsys, tmp_path, media):
    rc, _, err = run(capsys, "capture", media["clip"], "-o", tmp_path / "m.json", "--frames", "50-500")
    assert rc == 0 and "could not be decoded" not in err, err
    m = Motion.load(tmp_path / "m.json")
    assert m.frame_count == 10 and m.tracked.all() and m.source["missing_frames"] == []


@pytest.mark.parametrize(("extra", "needle"), [
    (["--device", "cuda"], "--device cpu"), (["--renderer", "nope"], "unknown renderer"),
    (["--frames", "5-3"], "reversed frame range"), (["--frames", "0-999"], "outside the motion"),
])
def test_render_options_refused_with_nothing_written(capsys, tmp_path, media, guard, extra, needle):
    assert_refused(run(capsys, "render", media["portrait"], media["motion"], "-o", tmp_path / "out.mp4",
                       *extra), needle)
    guard()


def test_motion_file_too_large_refused_before_parsing(capsys, tmp_path, media, guard, monkeypatch):
    from engine import motion as motion_mod

    monkeypatch.setattr(motion_mod, "MAX_JSON_BYTES", 100)
    assert_refused(run(capsys, "render", media["portrait"], media["motion"], "-o", tmp_path / "o"),
                   "too large")
    guard()


def test_non_ascii_names_work(capsys, tmp_path, media, guard):
    portrait = tmp_path / "portrét 日本.png"
    portrait.write_bytes(media["portrait"].read_bytes())
    rc, _, err = run(capsys, "render", portrait, media["motion"], "-o", tmp_path / "vídeo ü.mp4",
                     "--frames", "0-2", "--device", "cpu")
    assert rc == 0, err
    guard("vídeo ü.mp4")
