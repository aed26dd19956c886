"""The body bake on the installed extension: the captured body keyed onto test rigs built here
(Rigify-named, and Mixamo-named stood up from Y-up as FBX imports are), bones rolled by odd
angles, in the pose bones' own rotation modes; Blender itself poses the bones (frame_set) and the
posed bones must point along the captured segments. Also: a real shared clip's body capture, one
undo step, and the errors."""

from __future__ import annotations

import importlib
import math
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
D0 = ROOT.parent / "shared" / "testdata" / "driving" / "d0_smile_blink.mp4"
N = 60


def mod(addon, name):
    return importlib.import_module(f"{addon}.{name}")


def rot(axis, angle):
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def performance(addon):
    """A torso that turns and leans, the left arm lifting and bending with the wrist flexing, the
    right arm swinging forward: world joints in MediaPipe axes (x right, y down, z away)."""
    body_mod = mod(addon, "engine.body")
    J = body_mod.J
    t = np.linspace(0, 2 * np.pi, N)
    turn, lean = 0.4 * np.sin(t), 0.15 * np.sin(2 * t)
    lift, bend, fwd, flex = 1.1 * np.sin(t) - 0.3, 0.8 + 0.6 * np.sin(3 * t), 0.9 * np.sin(t + 1), \
        0.5 * np.sin(2 * t + 0.5)
    char = np.zeros((N, body_mod.JOINT_COUNT, 3))  # character axes (+X its left, +Z up)
    for i in range(N):
        torso = rot((0, 0, 1), turn[i]) @ rot((0, 1, 0), lean[i])
        neck = torso @ np.array([0, 0, 0.5])
        char[i, J["left_hip"]], char[i, J["right_hip"]] = (0.1, 0, 0), (-0.1, 0, 0)
        ls, rs = neck + torso @ np.array([0.18, 0, 0]), neck + torso @ np.array([-0.18, 0, 0])
        char[i, J["left_shoulder"]], char[i, J["right_shoulder"]] = ls, rs
        arm = torso @ rot((0, 1, 0), -lift[i])
        le = ls + 0.28 * arm @ np.array([1.0, 0, 0])
        fore = arm @ rot((0, 0, 1), bend[i])
        lw = le + 0.25 * fore @ np.array([1.0, 0, 0])
        hand = fore @ rot((0, 1, 0), flex[i]) @ np.array([1.0, 0, 0])
        side = fore @ np.array([0, 0.03, 0])
        char[i, J["left_elbow"]], char[i, J["left_wrist"]] = le, lw
        char[i, J["left_index"]], char[i, J["left_pinky"]] = lw + 0.08 * hand + side, lw + 0.08 * hand - side
        rup = torso @ rot((0, 0, 1), fwd[i]) @ np.array([-1.0, 0, -0.3])
        rup /= np.linalg.norm(rup)
        re, rw = rs + 0.28 * rup, rs + 0.53 * rup
        char[i, J["right_elbow"]], char[i, J["right_wrist"]] = re, rw
        char[i, J["right_index"]], char[i, J["right_pinky"]] = rw + 0.08 * rup + (0, 0.03, 0), \
            rw + 0.08 * rup - (0, 0.03, 0)
    world = np.stack([char[..., 0], -char[..., 2], char[..., 1]], axis=-1).astype(np.float32)
    conf = np.ones(world.shape[:2], np.float32)
    conf[:, [J[n] for n in ("left_knee", "right_knee", "left_ankle", "right_ankle")]] = 0.05  # legs unseen
    img = np.zeros_like(world)
    img[..., 0], img[..., 1] = 0.5 + world[..., 0], 0.5 + world[..., 1]
    return body_mod.BodyTrack(img, world, conf, np.ones(N, bool),
                              body_mod.body_controls(img, world, 1.0, 0))


def motion_file(addon, tmp_path, body):
    Motion = mod(addon, "engine.motion").Motion
    names = mod(addon, "engine.controls").CONTROL_NAMES
    n = body.frame_count if body is not None else N
    path = tmp_path / "body.json"
    Motion(fps=30.0, controls={k: np.zeros(n, np.float32) for k in names}, body=body).save(path)
    return path


@pytest.fixture
def scene(addon):
    import bpy

    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base, scene.frame_start = 30, 1.0, 1
    return scene


def face():
    import bpy

    mesh = bpy.data.meshes.new("Face")
    mesh.from_pydata([(0, 0, 0), (1, 0, 0), (0, 0, 1)], [], [(0, 1, 2)])
    obj = bpy.data.objects.new("Face", mesh)
    bpy.context.scene.collection.objects.link(obj)
    obj.shape_key_add(name="Basis")
    obj.shape_key_add(name="jawOpen", from_mix=False)
    return obj


# role -> (head, tail, roll in degrees), a T-pose in character axes; parents in PARENT
TPOSE = {
    "spine": ((0, 0, 1.2), (0, 0, 1.45), 17),
    "shoulder.L": ((0.03, 0, 1.45), (0.18, 0, 1.45), -23),
    "upper_arm.L": ((0.18, 0, 1.45), (0.46, 0, 1.45), 40),
    "forearm.L": ((0.46, 0, 1.45), (0.71, 0, 1.45), 63),
    "hand.L": ((0.71, 0, 1.45), (0.79, 0, 1.45), -12),
    "shoulder.R": ((-0.03, 0, 1.45), (-0.18, 0, 1.45), 11),
    "upper_arm.R": ((-0.18, 0, 1.45), (-0.46, 0, 1.45), -52),
    "forearm.R": ((-0.46, 0, 1.45), (-0.71, 0, 1.45), 29),
    "hand.R": ((-0.71, 0, 1.45), (-0.79, 0, 1.45), 8),
    "thigh.L": ((0.1, 0, 1.0), (0.1, 0, 0.55), 0),
    "shin.L": ((0.1, 0, 0.55), (0.1, 0, 0.1), 0),
}
PARENT = {"shoulder.L": "spine", "upper_arm.L": "shoulder.L", "forearm.L": "upper_arm.L",
          "hand.L": "forearm.L", "shoulder.R": "spine", "upper_arm.R": "shoulder.R",
          "forearm.R": "upper_arm.R", "hand.R": "forearm.R", "shin.L": "thigh.L"}


def make_rig(addon, family: str, mode: str, y_up: bool = False):
    """A rig named after ``family`` (its preset's names; Mixamo with an undriven Spine2 between
    the chest and the shoulders, as Mixamo rigs have), every bone in rotation ``mode``."""
    import bpy

    names = dict(mod(addon, "engine.rig.body").PRESETS[family])
    data = bpy.data.armatures.new("Body")
    arm = bpy.data.objects.new("Body", data)
    bpy.context.scene.collection.objects.link(arm)
    bpy.context.view_layer.objects.active = arm
    bpy.ops.object.mode_set(mode="EDIT")

    def place(p):
        return (p[0], p[2], -p[1]) if y_up else p  # built Y-up, stood up by the object's rotation

    bones = {}
    for role, (head, tail, roll) in TPOSE.items():
        b = data.edit_bones.new(names[role])
        b.head, b.tail, b.roll = place(head), place(tail), math.radians(roll)
        bones[role] = b
    parent = dict(PARENT)
    if family == "mixamo":  # Spine1 (driven) -> Spine2 (never keyed) -> the shoulders
        s2 = data.edit_bones.new("mixamorig:Spine2")
        s2.head, s2.tail, s2.parent = place((0, 0, 1.45)), place((0, 0, 1.55)), bones["spine"]
        bones["shoulder.L"].parent = bones["shoulder.R"].parent = s2
        parent.pop("shoulder.L")
        parent.pop("shoulder.R")
    for role, p in parent.items():
        bones[role].parent = bones[p]
    bpy.ops.object.mode_set(mode="OBJECT")
    if y_up:
        arm.rotation_euler = (math.radians(90), 0, 0)
    for pb in arm.pose.bones:
        pb.rotation_mode = mode
    bpy.context.view_layer.update()
    return arm, names


def setup(addon, scene, arm, source_path, preset="AUTO"):
    obj = face()
    rig = mod(addon, "adapters.rig")
    rig.setup(obj)
    st = rig.settings(obj)
    st.armature, st.bake_body, st.body_preset = arm, True, preset
    st.source, st.motion_path, st.frame_start = "MOTION", str(source_path), 1
    return obj


def posed_directions(arm, bones, frames):
    """bone -> (n, 3) world direction of each posed bone (its +Y), as Blender evaluates it."""
    import bpy

    out = {b: [] for b in bones}
    for f in frames:
        bpy.context.scene.frame_set(int(f))
        for b in bones:
            m = np.array((arm.matrix_world @ arm.pose.bones[b].matrix).to_3x3())
            out[b].append(m[:, 1] / np.linalg.norm(m[:, 1]))
    return {b: np.array(v) for b, v in out.items()}


def angle(a, b):
    return np.degrees(np.arccos(np.clip(np.einsum("ni,ni->n", a, b), -1, 1)))


@pytest.mark.parametrize("family,mode,y_up", [("rigify", "QUATERNION", False), ("rigify", "ZXY", False),
                                              ("rigify", "AXIS_ANGLE", False), ("mixamo", "XYZ", True)])
def test_bones_follow_the_captured_joints(addon, scene, tmp_path, family, mode, y_up):
    import bpy

    body = performance(addon)
    arm, names = make_rig(addon, family, mode, y_up)
    obj = setup(addon, scene, arm, motion_file(addon, tmp_path, body))
    assert bpy.ops.talking_head.rig_bake(object=obj.name) == {"FINISHED"}
    rb = mod(addon, "engine.rig.body")
    segs = rb.segments(body)
    driven = [r for r in TPOSE if r not in ("thigh.L", "shin.L")]
    # legs never seen: left alone (no curves); every keyed curve in the bone's own rotation mode
    keyed = {fc.data_path for fc in mod(addon, "adapters.compat").fcurves(arm)}
    prop = {"QUATERNION": "rotation_quaternion",
            "AXIS_ANGLE": "rotation_axis_angle"}.get(mode, "rotation_euler")
    assert keyed == {f'pose.bones["{names[r]}"].{prop}' for r in driven}
    posed = posed_directions(arm, [names[r] for r in driven], range(1, N + 1))
    for role in driven:
        p, s = posed[names[role]], segs[role][0]
        err = angle(p, s)
        assert err.max() < 1.0, f"{role}: off by up to {err.max():.2f} deg"
        # the bone's angle to its rest direction follows the segment's over the clip
        rest = np.array(TPOSE[role][1]) - np.array(TPOSE[role][0])
        rest = np.broadcast_to(rest / np.linalg.norm(rest), p.shape)
        r = np.corrcoef(angle(p, rest), angle(s, rest))[0, 1]
        assert r >= 0.9, f"{role}: angle correlation {r:.3f}"


def test_a_real_clips_body_drives_the_chest_and_shoulders(addon, scene, tmp_path):
    if not D0.is_file():
        pytest.skip("../shared/testdata not present")
    import bpy

    m = mod(addon, "engine.capture").capture(D0, body=True, stop=40)
    path = tmp_path / "d0.json"
    m.save(path)
    arm, names = make_rig(addon, "rigify", "QUATERNION")
    obj = setup(addon, scene, arm, path, preset="RIGIFY")
    assert bpy.ops.talking_head.rig_bake(object=obj.name, frames="1-40") == {"FINISHED"}
    keyed = {fc.data_path.split('"')[1] for fc in mod(addon, "adapters.compat").fcurves(arm)}
    assert {"chest", "shoulder.L", "shoulder.R"} <= keyed
    assert not keyed & {"forearm_fk.L", "forearm_fk.R", "thigh_fk.L"}  # arms below the frame, no legs
    # the clip's frames on the scene's 30 fps grid, as the bake (and the face curves) take them
    resample = mod(addon, "engine.rig").resample
    on_scene = mod(addon, "adapters.body_rig").resampled(m.body, lambda v: resample(v, m.fps, 30.0, 40))
    segs = mod(addon, "engine.rig.body").segments(on_scene)
    posed = posed_directions(arm, ["chest", "shoulder.L"], range(1, 41))
    for role, bone in (("spine", "chest"), ("shoulder.L", "shoulder.L")):
        direction, conf = segs[role]
        seen = conf >= 0.5
        assert seen.sum() >= 20
        assert angle(posed[bone][seen], direction[seen]).max() < 1.0, role


def test_one_undo_step_removes_the_body_keys(addon, scene, tmp_path):
    import bpy

    arm, names = make_rig(addon, "rigify", "XYZ")
    obj = setup(addon, scene, arm, motion_file(addon, tmp_path, performance(addon)))
    compat = mod(addon, "adapters.compat")
    bpy.ops.ed.undo_push(message="before bake")
    assert bpy.ops.talking_head.rig_bake(object=obj.name, frames="5-20") == {"FINISHED"}
    bpy.ops.ed.undo_push(message="bake")
    arm = bpy.data.objects["Body"]
    curves = compat.fcurves(arm)
    assert curves is not None and len(curves) == 27  # 9 upper-body bones x 3 Euler channels
    frames = {round(k.co[0]) for fc in curves for k in fc.keyframe_points}
    assert frames == set(range(5, 21))  # the frame range, both ends included
    bpy.ops.ed.undo()
    arm = bpy.data.objects["Body"]
    curves = compat.fcurves(arm)
    assert curves is None or len(curves) == 0


def test_errors_are_one_clear_line(addon, scene, tmp_path):
    import bpy

    arm, _ = make_rig(addon, "rigify", "QUATERNION")
    obj = setup(addon, scene, arm, motion_file(addon, tmp_path, None))
    with pytest.raises(RuntimeError, match="the motion has no body: capture with the body on"):
        bpy.ops.talking_head.rig_bake(object=obj.name)
    data = bpy.data.armatures.new("Plain")
    plain = bpy.data.objects.new("Plain", data)
    scene.collection.objects.link(plain)
    bpy.context.view_layer.objects.active = plain
    bpy.ops.object.mode_set(mode="EDIT")
    b = data.edit_bones.new("Bone")
    b.head, b.tail = (0, 0, 0), (0, 0, 1)
    bpy.ops.object.mode_set(mode="OBJECT")
    st = mod(addon, "adapters.rig").settings(obj)
    st.armature = plain
    st.motion_path = str(motion_file(addon, tmp_path, performance(addon)))
    with pytest.raises(RuntimeError, match=r"armature 'Plain' has no body bones named like Rigify"):
        bpy.ops.talking_head.rig_bake(object=obj.name)
    st.body_preset = "MIXAMO"
    with pytest.raises(RuntimeError, match=r"no body bones named like Mixamo \(mixamorig:Spine1"):
        bpy.ops.talking_head.rig_bake(object=obj.name)
    assert mod(addon, "adapters.rig").body_problem(st).startswith("armature 'Plain' has no body bones")
    curves = mod(addon, "adapters.compat").fcurves(arm)
    assert curves is None or not len(curves)


def test_presets_detected_from_the_bone_names(addon, scene):
    br = mod(addon, "adapters.body_rig")
    for family, key in (("rigify", "RIGIFY"), ("mixamo", "MIXAMO"), ("vrm", "VRM")):
        arm, names = make_rig(addon, family, "QUATERNION")
        assert br.detect(arm) == key
        found = br.bone_map(arm, key)
        assert found == {r: names[r] for r in TPOSE}
        arm.name = f"done_{family}"


def test_captured_body_kept_in_the_blend_bakes_and_sends_wan_animate_without_the_video(
        addon, comfyui, tmp_path):
    """Capture with Body on keeps the joints in the .blend; then, with the driving clip removed,
    the character bake (Portrait Curves source) keys the chest, and a ComfyUI render with a
    workflow that takes the pose video sends the pose drawn from those joints (a core-node
    workflow sends it straight back, so what was sent is what is checked)."""
    if not D0.is_file():
        pytest.skip("../shared/testdata not present")
    import json

    import bpy

    portrait_png = ROOT.parent / "shared" / "testdata" / "portraits" / "photo_woman.jpg"
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base, scene.frame_start, scene.frame_end = 30, 1.0, 1, 12
    compat = mod(addon, "adapters.compat")
    coll = compat.strip_collection(scene)
    drv = coll.new_movie("Driving", str(D0), channel=1, frame_start=1)
    por = coll.new_image("Portrait", str(portrait_png), channel=2, frame_start=1)
    compat.set_strip_timing(por, "duration", 12)
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "shot.blend"))
    item = mod(addon, "adapters.strips").item_for_strip(scene, por, create=True)
    item.driving_strip, item.scale, item.capture_body = drv.name, 25, True
    assert bpy.ops.talking_head.capture(portrait=item.name, frames="1-12") == {"FINISHED"}
    body_track = mod(addon, "adapters.body_track")
    stored = body_track.load(item)
    assert stored is not None and stored[0].tolist() == list(range(1, 13))
    assert stored[1]["confidence"][:, 11:13].min() > 0.5  # d0's shoulders, seen
    coll.remove(drv)  # from here on, no video
    item.driving_strip = ""
    bpy.ops.wm.save_mainfile()
    bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "shot.blend"))  # kept in the file
    scene = bpy.context.scene
    item = mod(addon, "adapters.strips").find_item(scene, "Portrait")
    assert body_track.has_body(item)

    arm, names = make_rig(addon, "rigify", "QUATERNION")
    obj = face()
    rig = mod(addon, "adapters.rig")
    rig.setup(obj)
    st = rig.settings(obj)
    st.armature, st.bake_body, st.source, st.portrait = arm, True, "PORTRAIT", item.name
    assert bpy.ops.talking_head.rig_bake(object=obj.name) == {"FINISHED"}
    keyed = {fc.data_path.split('"')[1] for fc in compat.fcurves(arm)}
    assert {"chest", "shoulder.L", "shoulder.R"} <= keyed

    graph = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "x.png"}, "_meta": {"title": "th:portrait"}},
        "2": {"class_type": "LoadVideo", "inputs": {"file": "x.mp4"}, "_meta": {"title": "th:pose"}},
        "3": {"class_type": "GetVideoComponents", "inputs": {"video": ["2", 0]}},
        "4": {"class_type": "CreateVideo", "inputs": {"images": ["3", 0], "fps": ["3", 2]}},
        "5": {"class_type": "SaveVideo", "inputs": {"video": ["4", 0], "filename_prefix": "th/pose",
                                                    "format": "auto", "codec": "auto"},
              "_meta": {"title": "th:output"}},
        "6": {"class_type": "LoadVideo", "inputs": {"file": "y.mp4"}, "_meta": {"title": "th:face"}},
    }
    wf = tmp_path / "pose_echo.json"
    wf.write_text(json.dumps(graph))
    prefs = mod(addon, "prefs").get_prefs()
    prefs.comfy_servers.clear()
    server = prefs.comfy_servers.add()
    server.name, server.url = "test box", comfyui.url
    item.renderer, item.comfy_workflow, item.comfy_workflow_path = "comfyui", "CUSTOM", str(wf)
    item.comfy_server = "test box"
    try:
        assert bpy.ops.talking_head.render(portrait=item.name) == {"FINISHED"}
    finally:
        prefs.comfy_servers.clear()
    import cv2

    out = sorted(Path(bpy.path.abspath(item.result_dir)).glob("frame_*.png"))
    assert len(out) == 12
    img = cv2.cvtColor(cv2.imread(str(out[6])), cv2.COLOR_BGR2RGB).astype(int)
    h, w = img.shape[:2]
    lit = (img.max(axis=2) > 40).mean()
    assert 0.002 < lit < 0.3, lit  # a skeleton on black, not the portrait
    body = body_track.body_at(item, np.array([7.0]))
    from_pose = mod(addon, "engine.pose_video")
    pts, conf = from_pose.openpose_keypoints(body.joints[0], body.confidence[0])
    # the head's points (d0's shoulders sit below the frame's bottom edge) where the stored
    # joints put them: the nose red; the eyes (OpenPose 14, 15) lit (small dots next to other
    # colours: H.264's half-resolution chroma blurs their hue)
    for k in (0, 14, 15):
        x, y = (pts[k] * (w, h)).astype(int)
        assert conf[k] > 0.5 and 0 <= x < w and 0 <= y < h, k
        assert img[y, x].max() > 100, (k, img[y, x])
    x, y = (pts[0] * (w, h)).astype(int)
    assert img[y, x, 0] > 150 and img[y, x, 1] < 90, img[y, x]


def test_cli_bake_takes_the_armature(addon, scene, tmp_path, capsys):
    import bpy

    arm, names = make_rig(addon, "mixamo", "QUATERNION")
    obj = face()
    mod(addon, "adapters.rig").setup(obj)
    motion = motion_file(addon, tmp_path, performance(addon))
    blend = tmp_path / "shot.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    main = mod(addon, "cli_command").main
    assert main(["bake", "--blend", str(blend), "--object", "Face", "--motion", str(motion),
                 "--armature", "Body", "--bone-names", "mixamo", "--frames", "1-30"]) == 0
    assert "9 body bones on Face over frames 1-30" in capsys.readouterr().out
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    curves = mod(addon, "adapters.compat").fcurves(bpy.data.objects["Body"])
    assert len(curves) == 36  # 9 bones x 4 quaternion channels, saved in the file
    assert main(["bake", "--blend", str(blend), "--object", "Face", "--motion", str(motion),
                 "--armature", "Nope"]) == 2
    assert "no armature 'Nope'" in capsys.readouterr().err
