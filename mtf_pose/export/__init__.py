"""Export lifts for character tools: BVH with constant bone lengths.

>>> from mtf_pose.export import write_bvh, project_to_constant_bones
>>> write_bvh(result, "walk.bvh", up="y", units="m", names="humanoid")
>>> projection = project_to_constant_bones(result)   # constant-length joints + how far each frame moved
"""

from mtf_pose.export.bvh import NAME_PRESETS, BvhExport, BvhOptions, write_bvh
from mtf_pose.export.skeleton_fit import ConstantBoneProjection, estimate_bone_lengths, project_to_constant_bones

__all__ = [
    "NAME_PRESETS",
    "BvhExport",
    "BvhOptions",
    "ConstantBoneProjection",
    "estimate_bone_lengths",
    "project_to_constant_bones",
    "write_bvh",
]
