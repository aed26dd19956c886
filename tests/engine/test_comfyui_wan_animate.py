"""Wan-Animate's pose and face inputs: the template wiring, Check Server naming the pose input, the
filled workflow validated by the REAL ComfyUI server with the pose video connected (only the model
files it lacks refused), and the renderer uploading the pose video it draws from the motion's body
(sent back by a core-node workflow and decoded: the known pose's colours where they belong)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.body import JOINT_COUNT, BodyTrack, J, body_controls
from engine.controls import NEUTRAL
from engine.errors import EngineError
from engine.media.video import load_image
from engine.motion import Motion
from engine.pipeline import frame_path, render_motion
from engine.pose_video import COLORS, pose_frame
from engine.render.comfyui import media
from engine.render.comfyui.check import check_workflow
from engine.render.comfyui.client import ComfyClient
from engine.render.comfyui.packs import MODEL_INPUTS
from engine.render.comfyui.workflow import load_workflow

ROOT = Path(__file__).resolve().parents[2]
PORTRAIT = ROOT.parent / "shared" / "testdata" / "portraits" / "photo_woman.jpg"
N = 6
POSE = {"nose": (0.50, 0.22), "left_eye": (0.54, 0.18), "right_eye": (0.46, 0.18),
        "left_ear": (0.58, 0.20), "right_ear": (0.42, 0.20), "left_shoulder": (0.68, 0.42),
        "right_shoulder": (0.32, 0.42), "left_elbow": (0.80, 0.62), "right_elbow": (0.20, 0.62),
        "left_wrist": (0.84, 0.82), "right_wrist": (0.16, 0.82)}


def body_motion(n: int = N) -> Motion:
    joints = np.zeros((n, JOINT_COUNT, 3), np.float32)
    for name, xy in POSE.items():
        joints[:, J[name], :2] = xy
    conf = np.zeros((n, JOINT_COUNT), np.float32)
    conf[:, [J[k] for k in POSE]] = 1.0
    world = np.zeros_like(joints)
    body = BodyTrack(joints, world, conf, np.ones(n, bool), body_controls(joints, world, 1.0, 0))
    return Motion(fps=25.0, controls={k: np.full(n, v, np.float32) for k, v in NEUTRAL.items()}, body=body)


@pytest.fixture(scope="module")
def portrait() -> np.ndarray:
    if not PORTRAIT.is_file():
        pytest.skip("../shared/testdata not present")
    return cv2.resize(load_image(PORTRAIT), (192, 192), interpolation=cv2.INTER_AREA)


def test_template_takes_the_pose_and_the_face_video() -> None:
    wf = load_workflow("wan_animate")
    g = wf.graph
    (pose,), (face,) = wf.inputs["pose"], wf.inputs["face"]
    assert g[pose.node]["class_type"] == "LoadVideo" and pose.input == "file"
    assert g[face.node]["class_type"] == "LoadVideo" and face.input == "file"
    animate = g["12"]["inputs"]
    # LoadVideo -> GetVideoComponents (its IMAGE output 0) -> WanAnimateToVideo
    for role, target in (("pose_video", pose), ("face_video", face)):
        comp = animate[role][0]
        assert animate[role][1] == 0 and g[comp]["class_type"] == "GetVideoComponents"
        assert g[comp]["inputs"]["video"] == [target.node, 0], role
    assert "video" not in wf.inputs  # the face video is the drive now, as a face crop


def _object_info_for(graph: dict) -> dict:
    return {node["class_type"]: {"input": {"required": {}}} for node in graph.values()}


def test_check_names_the_pose_input() -> None:
    wf = load_workflow("wan_animate")
    report = check_workflow(wf, _object_info_for(wf.graph))
    assert report.ready
    assert "takes the pose video: the motion needs the body" in report.summary()
    assert "no pose_video connected" not in report.summary()
    del wf.graph["12"]["inputs"]["pose_video"]
    report = check_workflow(wf, _object_info_for(wf.graph))
    assert "node 12 (WanAnimateToVideo) has no pose_video connected: the body will not drive it" \
        in report.summary()
    assert "no pose_video" not in report.summary(notes=False)


def test_wan_animate_with_the_pose_connected_validates_on_the_real_server(comfyui, portrait,
                                                                         tmp_path) -> None:
    client = ComfyClient(comfyui.url)
    info = client.object_info()
    wf = load_workflow("wan_animate")
    report = check_workflow(wf, info)
    assert not report.missing_nodes and not report.bad_values, report.summary()
    assert "takes the pose video" in report.summary()
    assert all(folder in ("diffusion_models", "text_encoders", "vae", "clip_vision")
               for _, folder, _ in report.missing_models)
    m = body_motion()
    pose = [pose_frame(m.body.joints[i], m.body.confidence[i], (192, 192), hands=True) for i in range(N)]
    values = {"portrait": client.upload(media.encode_png(portrait), ".png"),
              "pose": client.upload(media.encode_mp4(pose, 25.0, str(tmp_path)), ".mp4"),
              "face": client.upload(media.encode_mp4([portrait] * N, 25.0, str(tmp_path)), ".mp4"),
              "fps": 25.0, "length": 9, "seed": 3, "width": 192, "height": 192}
    graph = wf.fill(values)
    assert graph["12"]["inputs"]["pose_video"] == ["20", 0]
    status, data = client._request("POST", "/prompt", json.dumps(
        {"prompt": graph, "client_id": client.client_id}).encode(), "application/json")
    assert status == 400
    errors = json.loads(data)["node_errors"]
    assert errors
    # the server's own validation: every refusal is a model file it lacks; the pose and face
    # videos, their decoding nodes and the WanAnimateToVideo links all pass
    for node_id, e in errors.items():
        for err in e["errors"]:
            assert err["type"] == "value_not_in_list", (node_id, err)
            assert err["extra_info"]["input_name"] in MODEL_INPUTS[e["class_type"]], (node_id, err)
    assert not {"9", "10", "12", "19", "20"} & set(errors)
    # and a pose file the server does not have is refused by it, on the pose's LoadVideo
    graph["19"]["inputs"]["file"] = "not_uploaded.mp4"
    status, data = client._request("POST", "/prompt", json.dumps(
        {"prompt": graph, "client_id": client.client_id}).encode(), "application/json")
    assert status == 400 and "19" in json.loads(data)["node_errors"]


def _echo_pose_workflow(folder: Path) -> Path:
    """Core nodes only: the uploaded pose video straight back as the output (what the renderer
    sent is what comes back)."""
    graph = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "x.png"}, "_meta": {"title": "th:portrait"}},
        "2": {"class_type": "LoadVideo", "inputs": {"file": "x.mp4"}, "_meta": {"title": "th:pose"}},
        "3": {"class_type": "GetVideoComponents", "inputs": {"video": ["2", 0]}},
        "4": {"class_type": "CreateVideo", "inputs": {"images": ["3", 0], "fps": ["3", 2]}},
        "5": {"class_type": "SaveVideo", "inputs": {"video": ["4", 0], "filename_prefix": "talking_head/pose",
                                                    "format": "auto", "codec": "auto"},
              "_meta": {"title": "th:output"}},
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "echo_pose.json"
    path.write_text(json.dumps(graph))
    return path


def test_renderer_uploads_the_pose_video_drawn_from_the_body(comfyui, portrait, tmp_path) -> None:
    wf = _echo_pose_workflow(tmp_path / "wf")
    m = body_motion()
    out = render_motion("comfyui", portrait, m, tmp_path / "out",
                        renderer_options={"workflow": str(wf), "server": comfyui.url})
    frames = [load_image(frame_path(out, i)) for i in range(N)]
    assert len(frames) == N and frames[0].shape == (192, 192, 3)
    f = frames[N // 2].astype(int)

    def at(name):
        x, y = POSE[name]
        return f[int(y * 192), int(x * 192)]

    # two H.264 passes: the dots keep their colours, the background stays black
    assert np.abs(at("nose") - COLORS[0]).max() < 60  # red
    assert np.abs(at("right_shoulder") - COLORS[2]).max() < 60  # orange
    assert np.abs(at("left_elbow") - COLORS[6]).max() < 60  # green
    assert np.abs(f[5, 5]).max() < 20 and np.abs(f[180, 96]).max() < 20
    # hands are drawn for Wan-Animate: the wrists get DWPose's blue hand point
    assert at("left_wrist")[2] > 180 and at("left_wrist")[0] < 80
    # a motion without a body: one sentence, before anything is queued
    face_only = Motion(fps=25.0, controls={k: np.full(N, v, np.float32) for k, v in NEUTRAL.items()})
    with pytest.raises(EngineError, match="takes a pose video, and the motion has no body"):
        render_motion("comfyui", portrait, face_only, tmp_path / "out2",
                      renderer_options={"workflow": str(wf), "server": comfyui.url})
