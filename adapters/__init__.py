"""bpy-side helpers kept out of operators and panels: Blender version differences (``compat``),
bulk keyframe I/O (``keyframes``), Sequencer strip placement (``strips``), Compositor nodes
(``nodes``), background jobs (``jobs``) and the capture/render flows (``flows``)."""
