"""Draw the F-curves a character bake writes, as the Graph Editor shows them, to a PNG (for docs).

Run: .venv/bin/python scripts/plot_rig_curves.py [--video CLIP] [-o docs/images/rig_graph_editor.png]
Registers the add-on from this source tree in the bpy module, builds a test character (the 52
ARKit shape keys, an armature with neck and head bones), captures the clip, bakes it, then reads
the baked curves back from Blender (foreach_get on the keyframes) and plots them with matplotlib
in the Graph Editor's colours: a bpy session has no screen to take a screenshot of.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_VIDEO = ROOT.parent / "shared" / "testdata" / "driving" / "d3_expressive_turns.mp4"
PANELS = (
    ("Eyes (Talking Head)", ("eyeBlinkLeft", "eyeBlinkRight", "eyeSquintLeft")),
    ("Jaw / Mouth (Talking Head)", ("jawOpen", "mouthSmileLeft", "mouthFunnel")),
    ("Brows (Talking Head)", ("browInnerUp", "browDownLeft")),
)
COLORS = ("#e6704d", "#5dc25d", "#5b8fe6", "#d9c94a")  # Graph Editor-like channel colours


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--video", default=str(DEFAULT_VIDEO))
    ap.add_argument("-o", "--output", default=str(ROOT / "docs" / "images" / "rig_graph_editor.png"))
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="plot_rig_")
    os.symlink(ROOT, Path(tmp) / "talking_head")
    sys.path.insert(0, tmp)
    import bpy
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import talking_head
    from talking_head.adapters import compat, flows, rig
    from talking_head.engine.outputs import atomic_output, check_outputs
    from talking_head.engine.rig import ARKIT_NAMES

    check_outputs([(args.output, "plot")], overwrite=True)
    talking_head.register()
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_rig_bake import build_character

    scene = bpy.context.scene
    scene.render.fps = 30
    face, arm = build_character(bpy, ARKIT_NAMES)
    rig.setup(face)
    st = rig.settings(face)
    st.armature, st.head_bone, st.neck_bone, st.neck_share = arm, "head", "neck", 0.3
    st.source, st.video_path, st.frame_start = "VIDEO", args.video, 1
    arm.pose.bones["head"].rotation_mode = "XYZ"  # Euler: readable in degrees (the bake follows the mode)
    print(flows.run_sync(rig.prepare_bake(scene, face)))

    def read(id_data, path, index=0):
        fc = compat.fcurves(id_data).find(path, index=index)
        co = np.empty(2 * len(fc.keyframe_points), np.float32)
        fc.keyframe_points.foreach_get("co", co)
        return co[0::2], co[1::2]

    plt.rcParams.update({"font.size": 9, "text.color": "#d0d0d0", "axes.labelcolor": "#d0d0d0",
                         "xtick.color": "#a0a0a0", "ytick.color": "#a0a0a0"})
    fig, axes = plt.subplots(len(PANELS) + 1, 1, figsize=(11, 8.5), sharex=True, facecolor="#303030")
    for ax, (_title, keys) in zip(axes, PANELS, strict=False):
        for color, key in zip(COLORS, keys, strict=False):
            x, y = read(face.data.shape_keys, f'key_blocks["{key}"].value')
            ax.plot(x, y, color=color, lw=1.2, label=key)
        ax.set_ylim(-0.05, 1.05)
    for color, (i, axis) in zip(COLORS, enumerate("XYZ"), strict=False):
        x, y = read(arm, 'pose.bones["head"].rotation_euler', i)
        axes[-1].plot(x, np.degrees(y), color=color, lw=1.2, label=f"head rotation {axis} (°)")
    titles = [p[0] for p in PANELS] + ["head (bone's local axes: Y = along the bone = yaw; "
                                       "neck takes 30%)"]
    for ax, title in zip(axes, titles, strict=True):
        ax.set_facecolor("#3d3d3d")
        ax.grid(color="#4a4a4a", lw=0.6)
        ax.set_title(title, loc="left", color="#d0d0d0", fontsize=9)
        ax.legend(loc="upper right", fontsize=8, facecolor="#303030", edgecolor="#505050",
                  labelcolor="#d0d0d0", ncol=4)
        for s in ax.spines.values():
            s.set_color("#505050")
    axes[-1].set_xlabel("frame")
    fig.suptitle(f"Baked F-curves: {Path(args.video).name} on a 52-key ARKit face + head bone",
                 color="#e0e0e0")
    fig.tight_layout()
    with atomic_output(args.output) as part:
        fig.savefig(part, dpi=90, facecolor=fig.get_facecolor(), format="png")
    print(f"wrote {args.output}")
    talking_head.unregister()


if __name__ == "__main__":
    main()
