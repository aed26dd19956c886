"""Export Farm Job: an Open Job Description bundle (AWS Deadline Cloud, `openjd run`) for the
saved .blend and a portrait. Thin: adapters/farm.py and engine/farm.py do the work."""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, EnumProperty, IntProperty, StringProperty

from ..adapters import farm
from ..engine.errors import EngineError
from ._common import context_item


class TALKINGHEAD_OT_export_farm_job(bpy.types.Operator):
    """Write a render-farm job bundle (Open Job Description: capture, chunked render, encode)
    for the saved file and this portrait"""

    bl_idname = "talking_head.export_farm_job"
    bl_label = "Export Farm Job"
    bl_options = {"REGISTER"}

    directory: StringProperty(name="Bundle Folder", subtype="DIR_PATH",
                              description="Folder to write the job bundle into")
    portrait: StringProperty(name="Portrait", description="Portrait item (empty: the active one)")
    frames: StringProperty(name="Frames", description="Scene frames, both ends included, e.g. 1-250 "
                                                      "(empty: the portrait's frames)")
    chunk_size: IntProperty(name="Chunk Size", default=10, min=1,
                            description="Frames per render task: each task starts Blender and loads "
                                        "the renderer once, so bigger chunks amortise that start-up")
    job_output: StringProperty(name="Job Output", subtype="DIR_PATH",
                               description="The job's own output folder on shared storage (empty: "
                                           "next to the .blend)")
    blender: StringProperty(name="Blender", description="Blender executable on the workers (empty: "
                                                        "this Blender)")
    device: EnumProperty(name="Device", default="cpu",
                         items=[("cpu", "CPU", ""), ("cuda", "CUDA", ""), ("auto", "Auto", "")],
                         description="Render device, the same on every worker so chunks match")
    overwrite: BoolProperty(name="Overwrite", default=False, description="Replace an existing bundle")

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return context.scene is not None

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event):
        if bpy.app.background or context.window is None:
            return self.execute(context)
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context: bpy.types.Context):
        if not self.directory:
            self.report({"ERROR"}, "choose a folder for the job bundle")
            return {"CANCELLED"}
        try:
            item = context_item(context, self.portrait)
            message = farm.export_bundle(context.scene, item, self.directory, job_output=self.job_output,
                                         frames=self.frames, chunk_size=self.chunk_size,
                                         blender=self.blender, device=self.device,
                                         overwrite=self.overwrite)
        except EngineError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, message)
        return {"FINISHED"}


CLASSES = (TALKINGHEAD_OT_export_farm_job,)
