"""Driving 3D characters: ARKit shape keys and head/neck bones from the same Motion.

``arkit`` the vocabulary and the controls' approximation of it, ``matching`` shape-key names ->
mapping rows (presets), ``mapping`` a Motion -> per-key arrays, ``head`` bone rotations. Plain
Python + numpy (no bpy); adapters/rig.py writes the results as keyframes.
"""

from .arkit import ARKIT_NAMES, CONTROL_APPROX, REGIONS, SOURCE_NAMES, VOWEL_NAMES, region_of_source
from .head import head_neck_rotations, matrix_to_quaternion
from .mapping import evaluate, neutral_index, resample, scene_frame_count, source_arrays, vowels
from .matching import PRESETS, Mapping, MappingRow, arkit_name, build_mapping, canonical, detect_preset

__all__ = ["ARKIT_NAMES", "CONTROL_APPROX", "PRESETS", "REGIONS", "SOURCE_NAMES", "VOWEL_NAMES",
           "Mapping", "MappingRow", "arkit_name", "build_mapping", "canonical", "detect_preset",
           "evaluate", "head_neck_rotations", "matrix_to_quaternion", "neutral_index",
           "region_of_source", "resample", "scene_frame_count", "source_arrays", "vowels"]
