"""The motion file contract: round trips, sidecars, and clear rejection of malformed files."""

import json

import numpy as np
import pytest

from engine.controls import CONTROL_NAMES
from engine.motion import Motion, MotionError
from engine.sample import sample_performance


def test_json_round_trip_keeps_values(tmp_path):
    m = sample_performance(2.0, 25.0)
    path = m.save(tmp_path / "m.json")
    back = Motion.load(path)
    assert back.frame_count == 50 and back.fps == 25.0
    np.testing.assert_allclose(back.to_array(), m.to_array(), atol=1e-5)


def test_sidecar_round_trip_with_blendshapes_and_extras(tmp_path):
    n = 7
    m = Motion.neutral(n, 30.0)
    m.blendshapes = np.random.default_rng(0).random((n, 52), dtype=np.float32)
    m.blendshape_names = [f"b{i}" for i in range(52)]
    m.extras = {"liveportrait_exp": np.ones((n, 63), np.float32)}
    m.tracked[3] = False
    m.save(tmp_path / "m.json", sidecar=True)
    assert (tmp_path / "m.npz").is_file()
    back = Motion.load(tmp_path / "m.json")
    np.testing.assert_array_equal(back.blendshapes, m.blendshapes)
    assert back.extras["liveportrait_exp"].shape == (n, 63)
    assert not back.tracked[3] and back.tracked[2]


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.update(format="something"), "not a motion file"),
    (lambda d: d.update(version=99), "newer"),
    (lambda d: d["controls"].pop("mouth_open"), "missing controls: mouth_open"),
    (lambda d: d["controls"].__setitem__("jaw", [0.0] * 5), "unknown controls"),
    (lambda d: d["controls"].__setitem__("head_yaw", [0.0] * 4), "shape"),
    (lambda d: d.update(fps=-1), "fps"),
    (lambda d: d.update(frame_count=6), "frame_count"),
])
def test_malformed_files_are_rejected_with_a_reason(tmp_path, mutate, message):
    doc = Motion.neutral(5).to_dict()
    mutate(doc)
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(doc))
    with pytest.raises(MotionError, match=message):
        Motion.load(p)


def test_not_json_and_nan(tmp_path):
    p = tmp_path / "x.json"
    p.write_text("{not json")
    with pytest.raises(MotionError, match="not valid JSON"):
        Motion.load(p)
    doc = Motion.neutral(3).to_dict()
    doc["controls"]["head_yaw"] = [0.0, float("nan"), 0.0]
    p.write_text(json.dumps(doc))
    with pytest.raises(MotionError, match="NaN"):
        Motion.load(p)


def test_sidecar_must_sit_beside_the_file(tmp_path):
    doc = Motion.neutral(3).to_dict(arrays_inline=False)
    doc["arrays"] = "../elsewhere.npz"
    p = tmp_path / "m.json"
    p.write_text(json.dumps(doc))
    with pytest.raises(MotionError, match="beside"):
        Motion.load(p)


def test_controls_order_is_the_contract():
    assert CONTROL_NAMES[:6] == ("head_yaw", "head_pitch", "head_roll", "head_x", "head_y", "head_scale")
    assert len(CONTROL_NAMES) == 16
