"""engine/rig: shape-key matching, presets, mapping evaluation and head/neck rotations (no Blender)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.controls import CONTROL_NAMES, NEUTRAL
from engine.motion import Motion
from engine.rig import (
    ARKIT_NAMES,
    CONTROL_APPROX,
    SOURCE_NAMES,
    MappingRow,
    arkit_name,
    build_mapping,
    detect_preset,
    evaluate,
    head_neck_rotations,
    matrix_to_quaternion,
    region_of_source,
    resample,
    source_arrays,
    vowels,
)
from engine.rig.head import armature_rotations
from engine.rig.mapping import mouth_origin

VROID_KEYS = ["Basis", "Fcl_ALL_Neutral", "Fcl_EYE_Close", "Fcl_EYE_Close_L", "Fcl_EYE_Close_R",
              "Fcl_EYE_Joy_L", "Fcl_BRW_Surprised", "Fcl_MTH_A", "Fcl_MTH_I", "Fcl_MTH_U",
              "Fcl_MTH_E", "Fcl_MTH_O", "Fcl_MTH_Fun", "Fcl_HA_Hide"]


@pytest.mark.parametrize("name, expected", [
    ("eyeBlinkLeft", "eyeBlinkLeft"), ("EYEBLINKLEFT", "eyeBlinkLeft"), ("eye_blink_L", "eyeBlinkLeft"),
    ("EyeBlink.L", "eyeBlinkLeft"), ("eyeBlink_R", "eyeBlinkRight"), ("eyeBlink-right", "eyeBlinkRight"),
    ("L_eyeBlink", "eyeBlinkLeft"), ("blendShape1.eyeBlinkLeft", "eyeBlinkLeft"),
    ("Fcl_jawOpen", "jawOpen"), ("ARKit_browInnerUp", "browInnerUp"), ("BS_mouthSmile_L", "mouthSmileLeft"),
    ("mouth_L", "mouthLeft"), ("jaw open", "jawOpen"), ("mouthFunnel", "mouthFunnel"),
    ("eyeBlink_L", "eyeBlinkLeft"), ("mouthSmile_R", "mouthSmileRight"),  # Mixamo-style
    ("EyeClosedLeft", "eyeBlinkLeft"), ("LipSuckUpper", "mouthRollUpper"), ("MouthClosed", "mouthClose"),
    ("Basis", None), ("Fcl_EYE_Close_L", None), ("cheekPuff_L", None), ("A", None),
])
def test_arkit_name_matching(name, expected):
    assert arkit_name(name) == expected


def test_every_arkit_name_matches_itself_and_sources_are_unique():
    assert len(set(ARKIT_NAMES)) == 52 and all(arkit_name(n) == n for n in ARKIT_NAMES)
    assert len(SOURCE_NAMES) == len(set(SOURCE_NAMES)) == 52 + 16 + 5
    assert all(k in ARKIT_NAMES for k in CONTROL_APPROX)
    assert region_of_source("eyeBlinkLeft") == "Eyes" and region_of_source("jawOpen") == "Jaw"
    assert region_of_source("vowel_a") == "Visemes" and region_of_source("mouth_open") == "Mouth"


def test_arkit_preset_full_and_partial_meshes():
    full = build_mapping(["Basis", *ARKIT_NAMES], "ARKIT", reference="Basis")
    assert [r.target for r in full.rows] == list(ARKIT_NAMES) and full.unmatched == []
    assert all(r.source == r.target for r in full.rows)
    few = build_mapping(["Basis", "Blink_Left", "blink_right", "JawOpen", "Smile", "Frown.L"], "ARKIT",
                        reference="Basis")
    assert {r.target: r.source for r in few.rows} == {"JawOpen": "jawOpen"}
    assert few.unmatched == ["Blink_Left", "blink_right", "Smile", "Frown.L"]  # listed, not dropped


def test_vroid_preset_vowels_and_blinks():
    assert detect_preset(VROID_KEYS) == "VROID" and detect_preset(ARKIT_NAMES) == "ARKIT"
    m = build_mapping(VROID_KEYS, "VROID", reference="Basis")
    src = {r.target: r.source for r in m.rows}
    assert src["Fcl_EYE_Close_L"] == "eyeBlinkLeft" and src["Fcl_EYE_Close_R"] == "eyeBlinkRight"
    assert [src[f"Fcl_MTH_{v}"] for v in "AIUEO"] == ["vowel_a", "vowel_i", "vowel_u", "vowel_e", "vowel_o"]
    assert "Fcl_EYE_Close" in m.unmatched  # both-eyes key unused when per-eye keys exist
    assert {"Fcl_ALL_Neutral", "Fcl_HA_Hide"} <= set(m.unmatched)
    vrm1 = build_mapping(["aa", "ih", "ou", "ee", "oh", "blink"], "VROID")
    assert {r.target: r.source for r in vrm1.rows}["blink"] == "eyeBlinkLeft"
    with pytest.raises(ValueError):
        build_mapping(["a"], "NOPE")


def _motion(n=10, **controls):
    m = Motion.neutral(n, fps=30)
    for k, v in controls.items():
        m.controls[k] = np.asarray(v, np.float32)
    return m


def test_controls_drive_arkit_keys_without_blendshapes():
    eye = np.linspace(1.0, 0.0, 5)
    m = _motion(5, eye_open_l=eye, eye_open_r=eye, mouth_open=[0, .2, .5, .9, 1.2],
                mouth_smile=[-1, -.5, 0, .5, 1], gaze_x=[0, 0, 0, 0, .5], brow_l=[-1, 0, 0, 0, 1])
    s = source_arrays(m, ["eyeBlinkLeft", "jawOpen", "mouthSmileLeft", "mouthFrownRight",
                          "eyeLookOutLeft", "eyeLookInRight", "browDownLeft", "tongueOut"])
    np.testing.assert_allclose(s["eyeBlinkLeft"], 1 - eye, atol=1e-6)
    np.testing.assert_allclose(s["jawOpen"], [0, .2, .5, .9, 1.0], atol=1e-6)  # clipped to 0..1
    np.testing.assert_allclose(s["mouthSmileLeft"], [0, 0, 0, .5, 1], atol=1e-6)
    np.testing.assert_allclose(s["mouthFrownRight"], [1, .5, 0, 0, 0], atol=1e-6)
    assert s["eyeLookOutLeft"][-1] == s["eyeLookInRight"][-1] == pytest.approx(.5)
    assert s["browDownLeft"][0] == 1 and s["tongueOut"].max() == 0


def test_blendshapes_calibrated_to_the_neutral_frame():
    names = ["_neutral", "eyeBlinkLeft", "jawOpen"]
    bs = np.array([[1, .2, .1], [1, .2, .1], [1, .84, .55], [1, 1.0, .1]], np.float32)
    controls = {k: np.full(4, NEUTRAL[k]) for k in CONTROL_NAMES}
    controls["eye_open_l"] = np.array([1, 1, 1, .5])
    controls["eye_open_r"] = np.array([1, .1, 1, 1])
    m = Motion(fps=30, controls=controls, blendshapes=bs,
               blendshape_names=names, calibration={"frame": 11}, source={"start": 10})
    s = source_arrays(m, ["eyeBlinkLeft", "jawOpen", "eyeBlinkRight"])
    np.testing.assert_allclose(s["eyeBlinkLeft"], [0, 0, .8, 1], atol=1e-6)
    # no tracker column for the right eye here: the controls' approximation alone
    np.testing.assert_allclose(s["eyeBlinkRight"], [0, .9, 0, 0], atol=1e-6)
    np.testing.assert_allclose(s["jawOpen"], [0, 0, .5, 0], atol=1e-6)
    raw = source_arrays(m, ["eyeBlinkLeft"], calibrate=False)["eyeBlinkLeft"]
    np.testing.assert_allclose(raw, bs[:, 1])
    # the lids' geometry assists a weak blink score (the larger of the two)
    controls["eye_open_l"] = np.array([1, 1, .1, 1])
    s = source_arrays(Motion(fps=30, controls=controls, blendshapes=bs, blendshape_names=names,
                             calibration={"frame": 11}, source={"start": 10}), ["eyeBlinkLeft"])
    np.testing.assert_allclose(s["eyeBlinkLeft"], [0, 0, .9, 1], atol=1e-6)


def test_rows_gain_offset_clamp():
    m = _motion(3, mouth_open=[0, .5, 1])
    rows = [MappingRow("a", "jawOpen"), MappingRow("b", "jawOpen", gain=2.0),
            MappingRow("c", "mouth_open", gain=-1, offset=1, clamp_min=0.2, clamp_max=0.9),
            MappingRow("d", "head_yaw", gain=1, clamp_min=-90, clamp_max=90)]
    out = evaluate(rows, m)
    np.testing.assert_allclose(out[:, 0], [0, .5, 1])
    np.testing.assert_allclose(out[:, 1], [0, 1, 1])
    np.testing.assert_allclose(out[:, 2], [.9, .5, .2])
    with pytest.raises(ValueError):
        evaluate([MappingRow("x", "nonsense")], m)


def _voice(m):
    m.source = {"kind": "audio"}  # what a voice capture records: its mouth opens like real speech
    return m


@pytest.mark.parametrize("origin, opens", [("face", [0, 1, .15, .8, .1, .01]),
                                           ("voice", [0, 1, .03, .8, .04, .002])])
def test_vowels_from_mouth_controls(origin, opens):
    m = _motion(6, mouth_open=opens, mouth_wide=[0, 0, 1, .8, 0, 1], mouth_pucker=[0, 0, 0, 0, 1, 0])
    m = _voice(m) if origin == "voice" else m
    assert mouth_origin(m) == origin
    v = vowels(m)
    best = [max(v, key=lambda k: v[k][i]) if max(x[i] for x in v.values()) > 0 else None for i in range(5)]
    assert best == [None, "vowel_a", "vowel_i", "vowel_e", "vowel_u"]
    assert max(x[5] for x in v.values()) < 0.05  # closed wide lips (a closed smile): no vowel
    o = vowels(_motion(1, mouth_open=[.9], mouth_pucker=[.9]))
    assert max(o, key=lambda k: o[k][0]) == "vowel_o"


def test_a_faces_resting_rounded_lips_are_no_vowel():
    """A face at rest (video capture of d18 between its openings: mouth_open ~0.03, pucker ~0.22)
    says no vowel; the same numbers from a voice are a spoken U."""
    rest = _motion(1, mouth_open=[.033], mouth_pucker=[.22])
    assert max(float(x[0]) for x in vowels(rest).values()) < 0.1
    assert max(vowels(_voice(rest)), key=lambda k: vowels(_voice(rest))[k][0]) == "vowel_u"


# Mean (mouth_open, mouth_wide, mouth_pucker) over the labelled syllables of the shared vowel
# recordings (../shared/testdata/audio/*_vowels.*) as the audio capture measures them.
SPOKEN = [("pah", (.44, .02, .10), "a"), ("mee", (.02, .59, .08), "i"), ("boo", (.06, 0, .57), "u"),
          ("oh", (.21, 0, .52), "o"), ("eee", (.02, .89, 0), "i"), ("who", (.06, 0, .52), "u"),
          ("e (ja)", (.13, .59, 0), "e"), ("o (ja)", (.20, 0, .51), "o"), ("u (ja)", (.04, 0, .81), "u"),
          ("pu (ja)", (.04, .11, .65), "u"), ("a (ja)", (.50, 0, 0), "a"), ("pi (ja)", (.01, .89, 0), "i")]


@pytest.mark.parametrize("text, mouth, vowel", SPOKEN, ids=[x[0] for x in SPOKEN])
def test_vowels_of_spoken_syllables(text, mouth, vowel):
    v = vowels(_voice(_motion(1, mouth_open=[mouth[0]], mouth_wide=[mouth[1]], mouth_pucker=[mouth[2]])))
    assert max(v, key=lambda k: v[k][0]) == f"vowel_{vowel}", {k: round(float(x[0]), 2) for k, x in v.items()}


def test_resample_between_frame_rates():
    v = np.arange(10, dtype=np.float32)[:, None]
    np.testing.assert_allclose(resample(v, 30, 30, 10), v)
    np.testing.assert_allclose(resample(v, 30, 15, 5)[:, 0], [0, 2, 4, 6, 8])
    np.testing.assert_allclose(resample(v, 10, 20, 4)[:, 0], [0, .5, 1, 1.5])


FORWARD = np.array([0.0, -1.0, 0.0])  # a Blender character faces -Y
UP_BONE = np.eye(3)[:, [0, 2, 1]] * [1, 1, -1]  # bone along +Z, roll 0: X=+X, Y=+Z, Z=-Y


def test_yaw_pitch_roll_turn_the_right_way_in_armature_space():
    r = armature_rotations([20, 0, 0], [0, 20, 0], [0, 0, 20])
    assert (r[0] @ FORWARD)[0] > 0.3  # + yaw: face toward the viewer's right (+X)
    assert (r[1] @ FORWARD)[2] > 0.3  # + pitch: chin up, the face looks up (+Z)
    assert (r[2] @ [0, 0, 1])[0] > 0.3  # + roll: clockwise as seen from the front, top to +X


@pytest.mark.parametrize("bone_roll_deg", [0, 90, -135])
def test_bone_local_rotation_gives_the_same_turn_whatever_the_bone_roll(bone_roll_deg):
    a = np.radians(bone_roll_deg)
    roll = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    rest = UP_BONE @ roll  # rolled about the bone's own Y axis
    yaw, pitch, rl = np.array([15.0, -5]), np.array([5.0, 10]), np.array([-8.0, 3])
    head, neck = head_neck_rotations(yaw, pitch, rl, head_rest=rest)
    assert neck is None
    back = np.einsum("ij,njk,lk->nil", rest, head, rest)  # B R_local Bᵀ = armature-space rotation
    np.testing.assert_allclose(back, armature_rotations(yaw, pitch, rl), atol=1e-9)


def test_neck_share_splits_and_composes_to_the_full_turn():
    yaw = np.array([30.0])
    head, neck = head_neck_rotations(yaw, [0.0], [0.0], head_rest=UP_BONE, neck_rest=UP_BONE,
                                     neck_share=0.4)
    full = armature_rotations(yaw, [0.0], [0.0])[0]
    total = UP_BONE @ neck[0] @ UP_BONE.T @ UP_BONE @ head[0] @ UP_BONE.T
    np.testing.assert_allclose(total, full, atol=1e-9)
    q_neck = matrix_to_quaternion(neck)
    assert np.degrees(2 * np.arccos(q_neck[0, 0])) == pytest.approx(12.0)


def test_quaternions_are_unit_continuous_and_match_the_matrices():
    t = np.linspace(-170, 170, 50)
    mats = armature_rotations(t, t / 3, -t / 2)
    q = matrix_to_quaternion(mats)
    np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1, atol=1e-9)
    assert np.all(np.einsum("ij,ij->i", q[1:], q[:-1]) > 0)
    w, x, y, z = q.T
    back = np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
        np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
        np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1)], 1)
    np.testing.assert_allclose(back, mats, atol=1e-9)


AUDIO = __import__("pathlib").Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "audio"
SYLLABLE_VOWEL = {"pah": "a", "mama": "a", "あ": "a", "ぱ": "a", "mee": "i", "eee": "i", "い": "i",
                  "ぴ": "i", "boo": "u", "who": "u", "う": "u", "ぷ": "u", "oh": "o", "お": "o", "え": "e"}


@pytest.mark.skipif(not (AUDIO / "en_vowels.wav").is_file(), reason="shared test media missing (../shared)")
def test_voice_capture_drives_the_right_visemes():
    """Audio captures (no blendshapes) of the shared vowel recordings: over each labelled syllable
    the strongest vowel key is the syllable's vowel (16 of 16 measured), and the ARKit keys come
    from the controls (jawOpen opens on the syllables; i/u open it little, as in real speech)."""
    import json

    from engine.capture.audio import capture_audio

    hits, misses = 0, []
    for lang in ("en", "ja"):
        motion = capture_audio(AUDIO / f"{lang}_vowels.wav", fps=25)
        assert motion.blendshapes is None
        v = vowels(motion)
        jaw = source_arrays(motion, ["jawOpen"])["jawOpen"]
        for seg in json.loads((AUDIO / f"{lang}_vowels.json").read_text(encoding="utf-8"))["segments"]:
            a, b = int(seg["start"] * motion.fps), int(seg["end"] * motion.fps)
            means = {k[-1]: float(x[a:b].mean()) for k, x in v.items()}
            best = max(means, key=means.get)
            if best == SYLLABLE_VOWEL[seg["text"]]:
                hits += 1
            else:
                misses.append((seg["text"], best))
            # i (ee) opens the jaw least: 0.017-0.026 measured (0.021-0.033 with the broadband
            # loudness, before the 300-3400 Hz band); every other syllable 0.049 or more
            assert jaw[a:b].max() > 0.01, seg["text"]
        assert jaw[:int(0.4 * motion.fps)].max() < 0.05  # lead-in silence: closed
    assert hits >= 15, misses
