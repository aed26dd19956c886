"""Key Mouth Shapes: the portrait's captured mouth as Rhubarb mouth-chart shapes (A-H, X) on a
property of the user's choice (adapters/mouth_cues.py does the work)."""

from __future__ import annotations

import bpy
from bpy.props import EnumProperty, IntProperty, StringProperty

from ..adapters import mouth_cues
from ._common import context_item, error_message

_LABELS = {"GREASEPENCIL": "Grease Pencil", "NODETREE": "Node Group"}
_KINDS = [(k, _LABELS.get(k, k.title()), "") for k in mouth_cues.ID_COLLECTIONS] + [
    ("IMAGE_STRIP", "Image Strip", "A Sequencer image strip holding the chart's images in the "
                                   "shapes' order (A first); a Speed effect over it gets the keys")]


class TALKINGHEAD_OT_key_mouth_shapes(bpy.types.Operator):
    """Key a property from the portrait's captured mouth as 2D mouth-chart shapes (Rhubarb's
    A-H, X: A = 0, B = 1, ...), with constant interpolation: an integer custom property, a Grease
    Pencil layer or material index, an image user's frame offset, or which image of a Sequencer
    image strip shows"""

    bl_idname = "talking_head.key_mouth_shapes"
    bl_label = "Key Mouth Shapes"
    bl_options = {"REGISTER", "UNDO"}

    portrait: StringProperty(name="Portrait", description="Portrait item (empty: the active one)")
    target_type: EnumProperty(name="Type", items=_KINDS, default="OBJECT",
                              description="Kind of data block that holds the property")
    target: StringProperty(name="Name", description="Data block whose property shows the mouth shape")
    data_path: StringProperty(name="Data Path", default='["mouth_shape"]',
                              description='Property to key: ["name"] (an integer custom property, '
                                          'made if missing), active_material_index, '
                                          'image_user.frame_offset, ...')
    shapes: StringProperty(name="Shapes", default="ABCDEFGHX",
                           description="The chart's shapes: A-F always, plus any of G, H, X "
                                       "(missing ones fall back as in Rhubarb: G->B, H->C, X->A)")
    offset: IntProperty(name="First Value", default=0,
                        description="Value of the first shape (A; for an image strip: the image "
                                    "index showing A, from 0); the others follow in order")

    def invoke(self, context: bpy.types.Context, event):
        obj = context.active_object
        if not self.target and obj is not None:
            self.target_type, self.target = "OBJECT", obj.name
        return context.window_manager.invoke_props_dialog(self)

    def execute(self, context: bpy.types.Context):
        try:
            item = context_item(context, self.portrait)
            if self.target_type == "IMAGE_STRIP":  # the data path is the Speed effect's own
                message = mouth_cues.key_image_strip(context.scene, item, self.target,
                                                     shapes=self.shapes, offset=self.offset)
            else:
                message = mouth_cues.key_shapes(context.scene, item, self.target_type, self.target,
                                                self.data_path, shapes=self.shapes,
                                                offset=self.offset)
        except Exception as exc:  # noqa: BLE001 - one line in the status bar, never a traceback
            self.report({"ERROR"}, error_message(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, message)
        return {"FINISHED"}


CLASSES = (TALKINGHEAD_OT_key_mouth_shapes,)
