"""Compositor side: portrait/driving nodes and the result Image node.

The portrait is an Image node (a still). The driving clip is a Movie Clip node (timing from the
clip's ``frame_start``/``frame_offset``) or an Image node showing a movie (timing from the node's
``frame_start``/``frame_offset``). The result is loaded as an image-sequence Image node placed
beside the portrait node, starting at the first rendered frame.
"""

from __future__ import annotations

import os
import re

import bpy
import numpy as np

from . import compat
from .strips import RESULT_TAG, DrivingRange, SetupError, movie_frame_count_path


def tree(scene: bpy.types.Scene):
    t = compat.compositor_tree(scene)
    if t is None:
        raise SetupError("this scene has no compositing node tree: turn on Use Nodes in the Compositor")
    return t


def get_node(scene: bpy.types.Scene, name: str):
    t = compat.compositor_tree(scene)
    return None if t is None or not name else t.nodes.get(name)


def item_for_node(scene: bpy.types.Scene, node, create: bool = False):
    from .strips import items, new_item

    if node is None:
        return None
    tag = node.get(RESULT_TAG)
    for it in items(scene):
        if it.kind == "COMPOSITOR" and (it.portrait_node == node.name or (tag and it.uid == tag)):
            return it
    if not create:
        return None
    if node.bl_idname != "CompositorNodeImage" or node.image is None:
        raise SetupError(f"{node.name!r} is not an Image node with an image: select the portrait's "
                         "Image node")
    it = new_item(scene, node.name, portrait_node=node.name)
    it.kind = "COMPOSITOR"
    return it


def portrait_path(scene: bpy.types.Scene, item) -> str:
    node = get_node(scene, item.portrait_node)
    if node is None or getattr(node, "image", None) is None:
        raise SetupError(f"portrait node {item.portrait_node!r} not found or has no image")
    path = bpy.path.abspath(node.image.filepath, library=node.image.library)
    if not os.path.isfile(path):
        raise SetupError(f"portrait image not found: {path}")
    return path


def portrait_frames(scene: bpy.types.Scene, item) -> np.ndarray:
    return np.arange(scene.frame_start, scene.frame_end + 1)


def driving_range(scene: bpy.types.Scene, item, frames: tuple[int, int] | None = None) -> DrivingRange:
    node = get_node(scene, item.driving_node)
    if node is None:
        raise SetupError("pick the driving Movie Clip node first" if not item.driving_node
                         else f"driving node {item.driving_node!r} not found")
    if node.bl_idname == "CompositorNodeMovieClip" and node.clip is not None:
        clip = node.clip
        path = bpy.path.abspath(clip.filepath, library=clip.library)
        start, offset = int(clip.frame_start), int(clip.frame_offset)
    elif node.bl_idname == "CompositorNodeImage" and node.image is not None and node.image.source == "MOVIE":
        path = bpy.path.abspath(node.image.filepath, library=node.image.library)
        start, offset = int(node.frame_start), int(node.frame_offset)
    else:
        raise SetupError(f"{node.name!r} is not a Movie Clip node (or an Image node showing a movie)")
    if not os.path.isfile(path):
        raise SetupError(f"driving movie not found: {path}")
    count = movie_frame_count_path(path, 0)
    if count <= 0:
        raise SetupError(f"cannot read frames of {path}")
    # scene frame f shows source frame f - start + offset (clamped to the clip)
    a = max(scene.frame_start, start - offset)
    b = min(scene.frame_end + 1, start - offset + count)
    if frames is not None:
        a, b = max(a, frames[0]), min(b, frames[1])
    if b <= a:
        raise SetupError("the driving clip does not cover the scene's frame range")
    scene_frames = np.arange(a, b)
    src = (scene_frames - start + offset).astype(np.float64)
    return DrivingRange(path, scene_frames, src, 1.0)


def result_nodes(scene: bpy.types.Scene, item) -> list:
    t = compat.compositor_tree(scene)
    return [] if t is None else [n for n in t.nodes if n.get(RESULT_TAG) == item.uid]


def remove_result(scene: bpy.types.Scene, item) -> int:
    t = compat.compositor_tree(scene)
    found = result_nodes(scene, item)
    for node in found:
        image = node.image
        t.nodes.remove(node)
        if image is not None and image.users == 0:
            bpy.data.images.remove(image)
    item.result_node = ""
    return len(found)


def place_result(scene: bpy.types.Scene, item, directory: str, files: list[str], start: int):
    """An Image node playing the rendered frames as an image sequence from scene frame ``start``."""
    t = tree(scene)
    portrait = get_node(scene, item.portrait_node)
    remove_result(scene, item)
    image = bpy.data.images.load(os.path.join(directory, files[0]), check_existing=False)
    image.source = "SEQUENCE"
    image.name = f"{item.name} talking"
    node = t.nodes.new("CompositorNodeImage")
    node.image = image
    node.frame_start = start
    node.frame_duration = len(files)
    # image user frame at scene frame f is f - frame_start + 1 + frame_offset, and that number
    # picks the file: start the sequence at the first file's number
    digits = re.findall(r"(\d+)", os.path.splitext(files[0])[0])
    node.frame_offset = (int(digits[-1]) if digits else 1) - 1
    node.label = f"{item.name} (talking)"
    node[RESULT_TAG] = item.uid
    if portrait is not None:
        node.location = (portrait.location.x, portrait.location.y - portrait.dimensions.y - 80)
    item.result_node = node.name
    return node
