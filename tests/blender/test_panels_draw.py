"""The panels' draw code run against a recording layout that checks every property, operator and
icon it is given against Blender's RNA (the bpy module has no window to draw real panels in)."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
BLINK = SHARED / "testdata" / "driving" / "d1_single_blink.mp4"
PORTRAIT = SHARED / "testdata" / "portraits" / "photo_woman.jpg"

pytestmark = pytest.mark.skipif(not BLINK.is_file() or not PORTRAIT.is_file(),
                                reason="shared test media missing (../shared)")


def mod(addon, name):
    return importlib.import_module(f"{addon}.{name}")


class OpProps:
    def __init__(self, idname):
        import bpy

        group, name = idname.split(".")
        self._rna = getattr(getattr(bpy.ops, group), name).get_rna_type()

    def __setattr__(self, key, value):
        if key != "_rna":
            assert key in self._rna.properties, f"operator has no property {key!r}"
        object.__setattr__(self, key, value)


class Layout:
    """Records calls; fails on unknown properties, operators or icons."""

    def __init__(self, log):
        self.log = log
        self.use_property_split = self.use_property_decorate = False
        self.enabled = self.active = True

    @staticmethod
    def _icon(icon):
        import bpy

        items = bpy.types.UILayout.bl_rna.functions["label"].parameters["icon"].enum_items
        assert icon in {i.identifier for i in items}, f"unknown icon {icon}"

    def _sub(self, *args, heading="", **kw):
        return Layout(self.log)

    row = column = box = split = _sub

    def label(self, text="", icon="NONE"):
        self._icon(icon)
        self.log.append(("label", text))

    def separator(self, **kw):
        pass

    def prop(self, data, name, **kw):
        assert name in data.bl_rna.properties, f"{data} has no property {name!r}"
        self.log.append(("prop", name))

    def prop_search(self, data, name, search_data, search_name, **kw):
        assert name in data.bl_rna.properties, name
        assert search_name in search_data.bl_rna.properties, search_name
        self.log.append(("prop_search", name))

    def operator(self, idname, icon="NONE", **kw):
        self._icon(icon)
        self.log.append(("operator", idname))
        return OpProps(idname)

    def progress(self, factor=0.0, text="", type="BAR"):
        self.log.append(("progress", text))


@pytest.fixture
def scene(addon):
    import bpy

    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    coll = mod(addon, "adapters.compat").strip_collection(scene)
    coll.new_movie("Driving", str(BLINK), channel=1, frame_start=1)
    coll.new_image("Portrait", str(PORTRAIT), channel=2, frame_start=1)
    return scene


def draw(panel_cls, context):
    log = []
    panel_cls.draw(SimpleNamespace(layout=Layout(log)), context)
    return log


def test_sequencer_panel_draws_setup_then_portrait_and_controls(addon, scene):
    import bpy

    se = scene.sequence_editor
    se.active_strip = se.strips_all["Portrait"] if hasattr(se, "strips_all") else se.sequences_all["Portrait"]
    ctx = SimpleNamespace(scene=scene)
    log = draw(bpy.types.SEQUENCER_PT_talking_head, ctx)
    assert ("operator", "talking_head.add_portrait") in log
    item = mod(addon, "adapters.strips").item_for_strip(scene, se.active_strip, create=True)
    log = draw(bpy.types.SEQUENCER_PT_talking_head, ctx)
    ops = [x[1] for x in log if x[0] == "operator"]
    assert ops[:3] == ["talking_head.capture", "talking_head.render", "talking_head.clear"]
    assert {"portrait_strip", "driving_strip"} <= {x[1] for x in log if x[0] == "prop_search"}
    assert {"renderer", "device", "scale", "smoothing", "output_dir"} <= {x[1] for x in log if x[0] == "prop"}
    item.renderer = "comfyui"  # its workflow, drive and seed, and Check Server
    log = draw(bpy.types.SEQUENCER_PT_talking_head, ctx)
    assert {"comfy_workflow", "comfy_drive", "comfy_seed"} <= {x[1] for x in log if x[0] == "prop"}
    assert ("operator", "talking_head.comfy_check") in log
    item.renderer = "builtin"
    # Mouth Source (a strip or a file), Learn Mouths From Movie; the kept set's line with forget
    log = draw(bpy.types.SEQUENCER_PT_talking_head, ctx)
    assert ("prop_search", "mouth_strip") in log and ("prop", "mouth_movie") in log
    assert ("operator", "talking_head.learn_mouths") in log
    assert not any(x[0] == "label" and x[1].startswith("Mouths:") for x in log)
    mouths = mod(addon, "adapters.mouths")
    mouths.store(item, _one_exemplar(addon), source="lp_d6.mp4 frames 55-66")
    log = draw(bpy.types.SEQUENCER_PT_talking_head, ctx)
    assert ("label", "Mouths: 1 from lp_d6.mp4 frames 55-66") in log
    assert ("operator", "talking_head.clear_mouths") in log
    mouths.clear(item)
    log = draw(bpy.types.SEQUENCER_PT_talking_head_controls, ctx)
    props = [x[1] for x in log if x[0] == "prop"]
    assert props == list(mod(addon, "engine.controls").CONTROL_NAMES)
    assert [x[1] for x in log if x[0] == "label"] == ["Head", "Eyes", "Brows", "Mouth"]
    # the 4 body curves only once keyed (a capture with Body keys them)
    body_names = mod(addon, "engine.body").BODY_CONTROL_NAMES
    mod(addon, "adapters.keyframes").write_body(scene, item, [1.0, 2.0],
                                                {k: [0.0, 0.1] for k in body_names})
    log = draw(bpy.types.SEQUENCER_PT_talking_head_controls, ctx)
    props = [x[1] for x in log if x[0] == "prop"]
    assert props == list(mod(addon, "engine.controls").CONTROL_NAMES) + list(body_names)
    assert [x[1] for x in log if x[0] == "label"] == ["Head", "Eyes", "Brows", "Mouth", "Body"]
    mod(addon, "adapters.keyframes").clear_controls(scene, item)
    # the driving strip leads to its portrait too
    item.driving_strip = "Driving"
    se.active_strip = se.strips_all["Driving"] if hasattr(se, "strips_all") else se.sequences_all["Driving"]
    assert ("label", item.name) in draw(bpy.types.SEQUENCER_PT_talking_head, ctx)


def _one_exemplar(addon):
    me = mod(addon, "engine.capture.mouth_exemplars")
    h, w = me.PATCH_H, me.PATCH_W
    return me.MouthExemplars(patches=np.zeros((1, h, w, 3), np.uint8),
                             masks=np.full((1, h, w), 255, np.uint8), controls=np.zeros((1, 4), np.float32),
                             lips=np.zeros((1, 3, 3), np.float32),
                             gaps=np.zeros((1, w), np.float32), frames=np.zeros(1, np.int64))


def test_compositor_panel_and_preferences_draw(addon, scene):
    import bpy

    tree = mod(addon, "adapters.compat").compositor_tree(scene, create=True)
    node = tree.nodes.new("CompositorNodeImage")
    node.image = bpy.data.images.load(str(PORTRAIT))
    ctx = SimpleNamespace(scene=scene, active_node=node)
    assert ("operator", "talking_head.add_portrait") in draw(bpy.types.NODE_PT_talking_head, ctx)
    mod(addon, "adapters.nodes").item_for_node(scene, node, create=True)
    log = draw(bpy.types.NODE_PT_talking_head, ctx)
    assert {"portrait_node", "driving_node"} <= {x[1] for x in log if x[0] == "prop_search"}
    assert ("prop", "mouth_movie") in log and ("operator", "talking_head.learn_mouths") in log
    assert ("operator", "talking_head.render") in log
    prefs = bpy.context.preferences.addons[addon].preferences
    log = []
    type(prefs).draw(SimpleNamespace(layout=Layout(log), **{k: getattr(prefs, k) for k in
                                                           ("device", "models_dir", "default_renderer",
                                                            "smoothing", "comfy_servers", "bl_rna")}),
                     bpy.context)
    assert ("operator", "talking_head.models_download") in log
    assert ("operator", "talking_head.comfy_server_add") in log
    assert any(x[0] == "label" and x[1].startswith("LivePortrait models: 0 of ") for x in log), log
