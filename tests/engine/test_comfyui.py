"""The ComfyUI backend against a REAL ComfyUI server (tests/comfyui_server.py, CPU, loopback).

Workflows are built from core nodes with the real ones' shape (portrait image + drive video in,
an mp4 out). Checked: upload, queue, progress, download, frame count, fps and size, paste-back of
a face crop, the three drives (guide from the curves, driving clip as is, its audio), the title
convention of bring-your-own workflows, cancel mid-job (slow random-weight upscaler), a server
that stops mid-job, validation errors in one sentence, and every shipped template against the
server's /object_info. Tiny images and few frames keep it quick.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.media.video import VideoReader, load_image
from engine.motion import Motion
from engine.pipeline import frame_path, render_motion
from engine.progress import Cancelled, Progress
from engine.render.base import create_renderer
from engine.render.comfyui import media
from engine.render.comfyui.check import check_workflow
from engine.render.comfyui.client import ComfyClient, ComfyUIError, NetworkNotAllowed
from engine.render.comfyui.packs import MODEL_INPUTS
from engine.render.comfyui.workflow import TEMPLATES_DIR, load_workflow, shipped_templates
from engine.sample import sample_performance

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "testdata"
PORTRAIT = SHARED / "portraits" / "photo_woman.jpg"
INTERVIEW = SHARED / "driving" / "tps_interview.mp4"  # 25 fps, has its speech track
N = 8  # frames per test render

pytestmark = pytest.mark.skipif(not PORTRAIT.is_file(), reason="../shared/testdata not present")


@pytest.fixture(scope="module")
def portrait() -> np.ndarray:
    rgb = load_image(PORTRAIT)
    return cv2.resize(rgb, (192, 192), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def motion() -> Motion:
    return sample_performance(N / 25.0 + 0.5, 25.0)


def _guide(portrait: np.ndarray, motion: Motion, frames: range) -> list[np.ndarray]:
    r = create_renderer("builtin")
    r.prepare(portrait)
    return [r.render_frame(motion.frame(i)) for i in frames]


def _frames(folder: Path, frames: range) -> list[np.ndarray]:
    return [load_image(frame_path(folder, i)) for i in frames]


def _node(cls, title=None, **inputs):
    d = {"class_type": cls, "inputs": inputs}
    if title:
        d["_meta"] = {"title": title}
    return d


def _write_workflow(folder: Path, name: str, graph: dict, binding: dict | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(graph))
    if binding is not None:
        (folder / f"{name}.binding.json").write_text(json.dumps(binding))
    return path


def _slow_graph(model: str) -> dict:
    """Drive video -> slow 2x upscale (random weights, progress per frame) -> back down -> mp4."""
    return {
        "1": _node("LoadImage", "th:portrait", image="x.png"),
        "2": _node("LoadVideo", "th:video", file="x.mp4"),
        "3": _node("GetVideoComponents", video=["2", 0]),
        "4": _node("UpscaleModelLoader", model_name=model),
        "5": _node("ImageUpscaleWithModel", upscale_model=["4", 0], image=["3", 0]),
        "6": _node("ImageScale", image=["5", 0], upscale_method="area", width=192, height=192,
                   crop="disabled"),
        "7": _node("ImageBlend", image1=["6", 0], image2=["1", 0], blend_factor=0.5, blend_mode="normal"),
        "8": _node("CreateVideo", images=["7", 0], fps=["3", 2]),
        "9": _node("SaveVideo", "th:output", video=["8", 0], filename_prefix="talking_head/slow",
                   format="auto", codec="auto"),
    }


# -- no server needed ----------------------------------------------------------------------------


def test_network_rules_and_token_never_shown() -> None:
    with pytest.raises(NetworkNotAllowed, match="--allow-network"):
        ComfyClient("http://10.20.30.40:8188")
    with pytest.raises(NetworkNotAllowed):
        ComfyClient("https://gpu-box.example.com")
    client = ComfyClient("https://gpu-box.example.com", "s3cret-token", allow_network=True)
    assert "s3cret" not in repr(client)
    for url in ("127.0.0.1:8188", "http://localhost:8188", "http://[::1]:8188", "http://127.8.9.1"):
        ComfyClient(url)  # loopback needs nothing


def test_conform_resamples_time_and_size() -> None:
    # 10 frames at 12.5 fps cover 0.8 s = 20 frames at 25 fps: each doubles, sized to (64, 48)
    frames = [np.full((40, 40, 3), k, np.uint8) for k in range(10)]
    out, notes = media.conform(frames, 12.5, 20, 25.0, (64, 48))
    assert [int(f[0, 0, 0]) for f in out] == [min(round(i / 2), 9) for i in range(20)]
    assert all(f.shape == (48, 64, 3) for f in out) and notes == []
    # Wan's 4n+1: 9 generated for 7 wanted -> the extra two are dropped, nothing held
    out, notes = media.conform(frames[:9], 25.0, 7, 25.0, (40, 40))
    assert [int(f[0, 0, 0]) for f in out] == list(range(7)) and notes == []
    out, notes = media.conform(frames[:3], 25.0, 6, 25.0, (40, 40))
    assert [int(f[0, 0, 0]) for f in out] == [0, 1, 2, 2, 2, 2] and "held" in notes[0]


def test_bring_your_own_workflow_titles_and_refusals(tmp_path) -> None:
    wf = load_workflow(_write_workflow(tmp_path, "mine", _slow_graph("m.safetensors")))
    assert wf.output == "9" and wf.inputs["portrait"][0].input == "image"
    assert wf.inputs["video"][0].input == "file" and wf.drive == "guide"
    ui = tmp_path / "ui.json"
    ui.write_text(json.dumps({"nodes": [], "links": []}))
    with pytest.raises(ComfyUIError, match=r"Export \(API\)"):
        load_workflow(ui)
    with pytest.raises(ComfyUIError, match="no workflow template 'nope'"):
        load_workflow("nope")
    g = _slow_graph("m.safetensors")
    g["9"]["_meta"]["title"] = "Save"
    with pytest.raises(ComfyUIError, match="th:output"):
        load_workflow(_write_workflow(tmp_path, "noout", g))


def test_wan_lengths_and_sizes() -> None:
    wf = load_workflow("wan_animate")
    assert [wf.generated_length(n) for n in (1, 5, 6, 77, 78)] == [1, 5, 9, 77, 81]
    assert wf.generated_size(1920, 1080) == (832, 464)
    assert wf.generated_size(512, 512) == (512, 512)


# -- against the real server ---------------------------------------------------------------------


def test_every_template_against_object_info(comfyui) -> None:
    client = ComfyClient(comfyui.url)
    info = client.object_info()
    names = shipped_templates()
    assert {"core_roundtrip", "wan_animate", "wan_s2v", "wan_infinitetalk", "advanced_liveportrait",
            "hellomeme", "x_portrait"} <= set(names)
    for name in names:
        wf = load_workflow(name)
        report = check_workflow(wf, info)
        if wf.packs:  # custom-pack templates: "needs pack X" and nothing else wrong
            assert set(report.missing_packs) == set(wf.packs), report.summary()
            assert f"needs pack {wf.packs[0]}" in report.summary()
            assert not report.bad_values
        elif name.startswith("wan_"):  # core nodes: only model files are missing (no weights here)
            assert not report.missing_nodes and not report.bad_values, report.summary()
            assert report.missing_models, report.summary()
            assert "missing model file(s)" in report.summary()
        else:
            assert report.ready, report.summary()


def test_wan_templates_fail_only_on_model_files_in_the_servers_own_validation(comfyui, portrait, tmp_path):
    client = ComfyClient(comfyui.url)
    img = client.upload(media.encode_png(portrait), ".png")
    vid = client.upload(media.encode_mp4([portrait] * 3, 25.0, str(tmp_path)), ".mp4")
    wav = client.upload(media.extract_audio(str(INTERVIEW), 0.0, 0.5, str(tmp_path)), ".wav")
    for name in ("wan_animate", "wan_s2v", "wan_infinitetalk"):
        wf = load_workflow(name)
        # Wan-Animate's pose and face videos: any uploaded video passes the server's checks here
        values = {"portrait": img, "video": vid, "audio": wav, "pose": vid, "face": vid, "fps": 25.0,
                  "length": 9, "seed": 3, "width": 192, "height": 192}
        graph = wf.fill({k: v for k, v in values.items() if k in wf.inputs})
        status, data = client._request("POST", "/prompt", json.dumps(
            {"prompt": graph, "client_id": client.client_id}).encode(), "application/json")
        assert status == 400, name
        errors = json.loads(data)["node_errors"]
        assert errors, name
        for node_id, e in errors.items():
            for err in e["errors"]:
                assert err["type"] == "value_not_in_list", (name, node_id, err)
                assert err["extra_info"]["input_name"] in MODEL_INPUTS[e["class_type"]], (name, err)
        with pytest.raises(ComfyUIError, match=r"is not on the server; put that file in ComfyUI's models"):
            client.submit(graph)
    # a node no pack on the server provides: the server's own refusal, mapped to one sentence
    graph = load_workflow("x_portrait").fill({"portrait": img, "video": vid})
    with pytest.raises(ComfyUIError) as exc:
        client.submit(graph)
    assert "install the node pack ComfyUI-X-Portrait-Nodes" in str(exc.value), str(exc.value)
    assert "\n" not in str(exc.value)


def test_render_guide_roundtrip_frames_size_and_content(comfyui, portrait, motion, tmp_path) -> None:
    frames = range(2, 2 + N)
    updates: list[tuple[int, int, str]] = []
    out = render_motion("comfyui", portrait, motion, tmp_path / "out", frames=frames,
                        renderer_options={"workflow": "core_roundtrip", "server": comfyui.url},
                        progress=Progress(lambda d, t, m: updates.append((d, t, m))))
    got = _frames(out, frames)
    assert len(list(out.glob("frame_*.png"))) == N
    assert all(f.shape == portrait.shape for f in got)
    # core_roundtrip = guide (rendered from the curves) blended with the portrait at 25%
    expected = [0.75 * g.astype(np.float32) + 0.25 * portrait for g in _guide(portrait, motion, frames)]
    errs = [float(np.abs(f.astype(np.float32) - e).mean()) for f, e in zip(got, expected, strict=True)]
    assert max(errs) < 6.0, errs  # two h264 encodes (ours at crf 18, SaveVideo's)
    # and each frame matches ITS guide frame, not another one of the performance
    wrong = [float(np.abs(f.astype(np.float32) - e).mean()) for f, e in zip(got, expected[::-1], strict=True)]
    assert np.mean(errs) < np.mean(wrong) - 1.0, (errs, wrong)
    assert float(np.abs(got[0].astype(int) - got[-1]).mean()) > 1.0  # the performance moves
    messages = " | ".join(m for _, _, m in updates)
    assert "guide frame" in messages and "node " in messages and "downloading" in messages


def test_render_to_mp4_keeps_fps_and_count(comfyui, portrait, tmp_path) -> None:
    motion = sample_performance(0.5, 12.0)  # 6 frames at 12 fps
    out = render_motion("comfyui", portrait, motion, tmp_path / "clip.mp4",
                        renderer_options={"workflow": "core_roundtrip", "server": comfyui.url})
    with VideoReader(out) as r:
        n = sum(1 for _ in r.frames())
        assert abs(r.info.fps - 12.0) < 0.01 and n == motion.frame_count
        assert (r.info.width, r.info.height) == (192, 192)


def test_face_crop_is_pasted_back_into_the_full_portrait(comfyui, portrait, motion, tmp_path) -> None:
    graph = json.loads((TEMPLATES_DIR / "core_roundtrip.json").read_text())
    binding = json.loads((TEMPLATES_DIR / "core_roundtrip.binding.json").read_text())
    binding["crop"] = {"size": 64, "scale": 1.6}
    path = _write_workflow(tmp_path / "wf", "crop", graph, binding)
    big = cv2.resize(load_image(PORTRAIT), (320, 320), interpolation=cv2.INTER_AREA)
    box = media.face_box(big, 1.6)
    assert 0 < box.size < 320
    frames = range(N)
    out = render_motion("comfyui", big, motion, tmp_path / "out", frames=frames,
                        renderer_options={"workflow": str(path), "server": comfyui.url})
    got = _frames(out, frames)
    mask = np.zeros(big.shape[:2], bool)
    mask[box.y:box.y + box.size, box.x:box.x + box.size] = True
    for f in got:
        assert f.shape == big.shape
        assert np.array_equal(f[~mask], big[~mask])  # outside the crop: the untouched portrait
    inner = slice(box.y + box.size // 4, box.y + 3 * box.size // 4), slice(box.x + box.size // 4,
                                                                              box.x + 3 * box.size // 4)
    assert float(np.abs(got[0][inner].astype(int) - got[-1][inner]).mean()) > 0.5  # the face moves


def _two_face_portrait() -> np.ndarray:
    """The shared portrait twice: large on the left (face 0, the main face), smaller on the right."""
    p = load_image(PORTRAIT)
    two = np.full((240, 440, 3), 128, np.uint8)
    two[:, :240] = cv2.resize(p, (240, 240), interpolation=cv2.INTER_AREA)
    two[30:210, 250:430] = cv2.resize(p, (180, 180), interpolation=cv2.INTER_AREA)
    return two


def test_face_crop_follows_the_face_choice_of_a_group_portrait(comfyui, motion, tmp_path) -> None:
    """--face 1 animates the smaller right face: the crop sent to the workflow and pasted back is
    that face's, like the guide's (it used to be the largest face's, so the crop showed a face the
    guide did not animate)."""
    two = _two_face_portrait()
    assert media.face_box(two, 1.6).x < 120  # no choice: the main (largest) face, on the left
    box = media.face_box(two, 1.6, face=1)
    assert box.x >= 240 and box.x + box.size <= 440, box  # inside the right portrait
    graph = json.loads((TEMPLATES_DIR / "core_roundtrip.json").read_text())
    binding = json.loads((TEMPLATES_DIR / "core_roundtrip.binding.json").read_text())
    binding["crop"] = {"size": 64, "scale": 1.6}
    path = _write_workflow(tmp_path / "wf", "crop", graph, binding)
    frames = range(N)
    out = render_motion("comfyui", two, motion, tmp_path / "out", frames=frames,
                        renderer_options={"workflow": str(path), "server": comfyui.url, "face": 1})
    got = _frames(out, frames)
    mask = np.zeros(two.shape[:2], bool)
    mask[box.y:box.y + box.size, box.x:box.x + box.size] = True
    for f in got:
        assert np.array_equal(f[~mask], two[~mask])  # the left face and the rest: untouched
    inner = (slice(box.y + box.size // 4, box.y + 3 * box.size // 4),
             slice(box.x + box.size // 4, box.x + 3 * box.size // 4))
    # the pasted crop is the right face animated by the guide (with the largest face's crop
    # the region would be the left face, which the guide does not move)
    assert float(np.abs(got[0][inner].astype(int) - got[-1][inner]).mean()) > 0.5
    guide = _guide_face(two, motion, frames, 1)
    expected = [0.75 * g[inner].astype(np.float32) + 0.25 * two[inner] for g in guide]
    errs = [float(np.abs(f[inner].astype(np.float32) - e).mean()) for f, e in zip(got, expected, strict=True)]
    assert max(errs) < 8.0, errs


def _guide_face(portrait: np.ndarray, motion: Motion, frames: range, face: int) -> list[np.ndarray]:
    r = create_renderer("builtin", face=face)
    r.prepare(portrait)
    return [r.render_frame(motion.frame(i)) for i in frames]


def test_image_outputs_and_a_smaller_crop_convert(comfyui, portrait, motion, tmp_path) -> None:
    """A workflow whose output node is SaveImage (a PNG per frame, no fps: the motion's applies)
    and one whose crop comes back smaller than sent (48 px for a 64 px crop): frame count,
    timing and paste-back are right for both."""
    from engine.render.base import ClipJob

    def graph(size: int | None) -> dict:
        g = {
            "1": _node("LoadImage", "th:portrait", image="x.png"),
            "2": _node("LoadVideo", "th:video", file="x.mp4"),
            "3": _node("GetVideoComponents", video=["2", 0]),
            "4": _node("ImageBlend", image1=["3", 0], image2=["1", 0], blend_factor=0.25,
                       blend_mode="normal"),
            "5": _node("SaveImage", "th:output", images=["4", 0], filename_prefix="talking_head/img"),
        }
        if size:
            g["6"] = _node("ImageScale", image=["4", 0], upscale_method="area", width=size,
                           height=size, crop="disabled")
            g["5"]["inputs"]["images"] = ["6", 0]
        return g

    frames = range(3, 3 + N)
    wf = _write_workflow(tmp_path / "wf", "images", graph(None))
    r = create_renderer("comfyui", workflow=str(wf), server=comfyui.url)
    r.prepare(portrait)
    got = r.render_clip(ClipJob(portrait, motion, frames))
    assert len(got) == N and r.last_job["returned_frames"] == N and r.last_job["returned_fps"] is None
    assert [f["filename"].endswith(".png") for f in r.last_job["files"]] == [True] * N
    expected = [0.75 * g.astype(np.float32) + 0.25 * portrait for g in _guide(portrait, motion, frames)]
    errs = [float(np.abs(f.astype(np.float32) - e).mean()) for f, e in zip(got, expected, strict=True)]
    assert max(errs) < 4.0, errs  # one h264 encode (ours), PNGs back: frame i is guide frame i
    shifted = [float(np.abs(f.astype(np.float32) - e).mean())
               for f, e in zip(got[1:], expected[:-1], strict=True)]
    assert np.mean(errs) < np.mean(shifted), (errs, shifted)  # not off by one

    # a crop workflow returning 48 px images for the 64 px face crop, rendered to an mp4 at 12 fps
    binding = {"inputs": {"portrait": {"node": "1", "input": "image"},
                          "video": {"node": "2", "input": "file"}},
               "output": {"node": "5"}, "drive": "guide", "crop": {"size": 64, "scale": 1.6}}
    path = _write_workflow(tmp_path / "wf", "small", graph(48), binding)
    big = cv2.resize(load_image(PORTRAIT), (256, 256), interpolation=cv2.INTER_AREA)
    box = media.face_box(big, 1.6)
    slow = sample_performance(0.5, 12.0)  # 6 frames at 12 fps
    out = render_motion("comfyui", big, slow, tmp_path / "small.mp4",
                        renderer_options={"workflow": str(path), "server": comfyui.url})
    with VideoReader(out) as reader:
        clip = [rgb for _, _, rgb in reader.frames()]
        assert abs(reader.info.fps - 12.0) < 0.01 and len(clip) == slow.frame_count
    mask = np.zeros(big.shape[:2], bool)
    mask[box.y:box.y + box.size, box.x:box.x + box.size] = True
    for f in clip:
        assert f.shape == big.shape
        assert float(np.abs(f[~mask].astype(int) - big[~mask]).mean()) < 3.0  # outside: the portrait
    # inside: the face, scaled back up to the crop box (not a 48 px patch in a corner)
    inner = (slice(box.y + 4, box.y + box.size - 4), slice(box.x + 4, box.x + box.size - 4))
    assert float(np.abs(clip[0][inner].astype(int) - big[inner]).mean()) < 12.0


def test_driving_clip_as_is_and_its_audio(comfyui, portrait, tmp_path) -> None:
    motion = sample_performance(N / 25.0, 25.0)
    motion.source = {"path": str(INTERVIEW), "start": 40}
    out = render_motion("comfyui", portrait, motion, tmp_path / "drv", drive="driving",
                        renderer_options={"workflow": "core_roundtrip", "server": comfyui.url})
    with VideoReader(INTERVIEW) as r:
        clip = [cv2.resize(rgb, (192, 192), interpolation=cv2.INTER_AREA)
                for _, _, rgb in r.frames(40, 40 + N)]
    got = _frames(out, range(N))
    errs = [float(np.abs(g.astype(np.float32) - (0.75 * c + 0.25 * portrait)).mean())
            for g, c in zip(got, clip, strict=True)]
    assert max(errs) < 5.0, errs

    # audio drive through a bring-your-own workflow titled by the convention: the portrait
    # repeated th:length times, with the driving clip's audio, at th:fps
    graph = {
        "1": _node("LoadImage", "th:portrait", image="x.png"),
        "2": _node("LoadAudio", "th:audio", audio="x.wav"),
        "3": _node("RepeatImageBatch", "th:length.amount", image=["1", 0], amount=1),
        "4": _node("CreateVideo", "th:fps", images=["3", 0], fps=1.0, audio=["2", 0]),
        "5": _node("SaveVideo", "th:output", video=["4", 0], filename_prefix="talking_head/audio",
                   format="auto", codec="auto"),
    }
    wf = _write_workflow(tmp_path / "wf", "audio", graph)
    assert load_workflow(wf).drive == "audio"
    renderer = create_renderer("comfyui", workflow=str(wf), server=comfyui.url)
    from engine.render.base import ClipJob

    renderer.prepare(portrait)
    frames = renderer.render_clip(ClipJob(portrait, motion, range(N), driving=str(INTERVIEW)))
    assert len(frames) == N and renderer.last_job["returned_frames"] == N
    assert abs(renderer.last_job["returned_fps"] - 25.0) < 0.01
    assert float(np.abs(frames[3].astype(int) - portrait).mean()) < 5.0  # one h264 encode
    # the result carries the interview's speech, cut to the range (N frames at 25 fps)
    f = renderer.last_job["files"][0]
    mp4 = tmp_path / "audio_out.mp4"
    mp4.write_bytes(renderer.client.view(f["filename"], f["subfolder"], f["type"]))
    from engine.media.video import ffmpeg_exe

    probe = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(mp4)], capture_output=True, text=True)
    assert "Audio:" in probe.stderr, probe.stderr
    decoded = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(mp4), "-vn", "-f", "s16le", "-ac", "1",
                              "-ar", "16000", "-"], capture_output=True).stdout
    seconds = len(decoded) / 2 / 16000
    assert abs(seconds - N / 25.0) < 0.06, seconds
    assert np.abs(np.frombuffer(decoded, np.int16)).max() > 500  # speech, not silence
    history = renderer.client.history(renderer.last_job["prompt_id"])
    assert history == {}  # our finished prompt is forgotten on the server


def test_validation_errors_are_one_sentence(comfyui, portrait, motion, tmp_path) -> None:
    def render(workflow: str) -> str:
        with pytest.raises(ComfyUIError) as exc:
            render_motion("comfyui", portrait, motion, tmp_path / workflow.replace("/", "_"),
                          frames=range(2), renderer_options={"workflow": workflow, "server": comfyui.url})
        msg = str(exc.value)
        assert "\n" not in msg and len(msg) < 300, msg
        return msg

    assert "cannot run x_portrait: needs pack ComfyUI-X-Portrait-Nodes" in render("x_portrait")
    assert "needs pack ComfyUI-AdvancedLivePortrait" in render("advanced_liveportrait")
    assert "needs pack ComfyUI_HelloMeme" in render("hellomeme")
    msg = render("wan_animate")
    assert "missing model file(s) diffusion_models/wan2.2_animate_14B_bf16.safetensors" in msg
    graph = json.loads((TEMPLATES_DIR / "core_roundtrip.json").read_text())
    graph["4"]["inputs"]["blend_factor"] = 5.0
    binding = json.loads((TEMPLATES_DIR / "core_roundtrip.binding.json").read_text())
    bad = _write_workflow(tmp_path / "wf", "bad", graph, binding)
    msg = render(str(bad))
    assert "node 4 (ImageBlend) input blend_factor" in msg and "value_bigger_than_max" in msg
    # nothing was written for the refused jobs
    assert not any((tmp_path / d).is_dir() and any((tmp_path / d).iterdir())
                   for d in ("x_portrait", "wan_animate"))


def test_cancel_mid_job_stops_it_on_the_server(comfyui, portrait, tmp_path) -> None:
    model = comfyui.add_slow_upscale_model()
    wf = _write_workflow(tmp_path / "wf", "slow", _slow_graph(model))
    motion = sample_performance(16 / 25.0, 25.0)
    steps: list[str] = []
    progress = Progress()

    def on_progress(done, total, message):
        steps.append(message)
        if " step " in message and "ImageUpscaleWithModel" in message:
            progress.cancel()

    progress.callback = on_progress
    out = tmp_path / "out"
    t0 = time.monotonic()
    with pytest.raises(Cancelled):
        render_motion("comfyui", portrait, motion, out,
                      renderer_options={"workflow": str(wf), "server": comfyui.url}, progress=progress)
    assert any("step 1/" in s for s in steps), steps  # per-step progress came through the socket
    client = ComfyClient(comfyui.url)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the server stops at its next progress step
        q = client.queue()
        if not q.get("queue_running") and not q.get("queue_pending"):
            break
        time.sleep(0.2)
    assert not client.queue().get("queue_running"), "the job kept running on the server"
    assert time.monotonic() - t0 < 60
    assert not any(out.glob("frame_*.png"))  # nothing half-done was written


def test_server_stopping_mid_job_is_one_sentence(comfyui_module, portrait, tmp_path) -> None:
    if comfyui_module.missing_reason():
        pytest.skip(comfyui_module.missing_reason())
    server = comfyui_module.start(tmp_path / "srv")
    try:
        model = server.add_slow_upscale_model()
        wf = _write_workflow(tmp_path / "wf", "slow", _slow_graph(model))
        motion = sample_performance(16 / 25.0, 25.0)
        stopper = threading.Event()

        def on_progress(done, total, message):
            if " step " in message and not stopper.is_set():
                stopper.set()
                threading.Thread(target=server.stop, kwargs={"kill": True}).start()

        with pytest.raises(ComfyUIError, match="stopped or dropped the connection") as exc:
            render_motion("comfyui", portrait, motion, tmp_path / "out",
                          renderer_options={"workflow": str(wf), "server": server.url},
                          progress=Progress(on_progress))
        assert "\n" not in str(exc.value)
    finally:
        server.stop()
    with pytest.raises(ComfyUIError, match="cannot reach the ComfyUI server"):
        render_motion("comfyui", portrait, motion, tmp_path / "out2",
                      renderer_options={"workflow": "core_roundtrip", "server": server.url})


def test_cli_render_and_check(comfyui, tmp_path) -> None:
    motion = sample_performance(0.24, 25.0)
    mpath = tmp_path / "m.json"
    motion.save(mpath)
    small = tmp_path / "p.png"
    cv2.imwrite(str(small), cv2.resize(cv2.imread(str(PORTRAIT)), (128, 128)))
    env_cmd = [sys.executable, "-m", "engine"]
    r = subprocess.run(env_cmd + ["render", str(small), str(mpath), "-o", str(tmp_path / "f"),
                                  "--renderer", "comfyui", "--workflow", "core_roundtrip",
                                  "--server", comfyui.url], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert len(list((tmp_path / "f").glob("frame_*.png"))) == motion.frame_count
    r = subprocess.run(env_cmd + ["comfyui", "check", comfyui.url], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 1, r.stdout + r.stderr  # the model templates are not ready here
    assert "core_roundtrip: ready" in r.stdout
    assert "x_portrait: needs pack ComfyUI-X-Portrait-Nodes" in r.stdout
    assert ("wan_animate: missing model file(s) diffusion_models/wan2.2_animate_14B_bf16.safetensors"
            in r.stdout)
    r = subprocess.run(env_cmd + ["comfyui", "check", "http://192.0.2.1:8188"], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 2 and "--allow-network" in r.stderr
    shutil.rmtree(tmp_path / "f")


def test_queue_position_while_another_job_runs(comfyui, portrait, tmp_path) -> None:
    """Someone else's slow job occupies the server: our render reports its queue position, then
    runs once that job is interrupted."""
    model = comfyui.add_slow_upscale_model()
    other = ComfyClient(comfyui.url)
    wf = load_workflow(_write_workflow(tmp_path / "wf", "slow", _slow_graph(model)))
    vid = other.upload(media.encode_mp4([portrait] * 16, 25.0, str(tmp_path)), ".mp4")
    img = other.upload(media.encode_png(portrait), ".png")
    other_id = other.submit(wf.fill({"portrait": img, "video": vid}))
    messages: list[str] = []

    def on_progress(done, total, message):
        messages.append(message)
        if message.startswith("queued,") and "ahead" in message:
            other.interrupt(other_id)  # let ours through

    motion = sample_performance(4 / 25.0, 25.0)
    out = render_motion("comfyui", portrait, motion, tmp_path / "out",
                        renderer_options={"workflow": "core_roundtrip", "server": comfyui.url},
                        progress=Progress(on_progress))
    assert "queued, 1 ahead" in messages, messages[:20]
    assert len(list(out.glob("frame_*.png"))) == 4


def test_server_outputs_are_checked_before_decoding(tmp_path) -> None:
    """A server's output is untrusted input: a corrupt image is one sentence, an endless clip is
    cut at the frame cap."""
    from engine.errors import EngineError

    with pytest.raises(EngineError, match="ComfyUI output x.png"):
        media.decode_output(b"\x89PNG\r\n\x1a\nnot really", "x.png")
    frames = [np.full((32, 32, 3), 10 * k, np.uint8) for k in range(12)]
    data = media.encode_mp4(frames, 25.0, str(tmp_path))
    got, fps = media.decode_output(data, "y.mp4", max_frames=5)
    assert len(got) == 5 and fps == pytest.approx(25.0)


def test_a_frame_list_is_one_clip_job_per_contiguous_run() -> None:
    from engine.pipeline import _contiguous_runs

    assert _contiguous_runs([3, 4, 5, 9, 10, 0]) == [range(3, 6), range(9, 11), range(0, 1)]
