"""mtf_pose: lift 2D human keypoint sequences to 3D with the Mamba-Driven Topology Fusion network.

>>> from mtf_pose import Lifter
>>> lifter = Lifter.from_pretrained()
>>> result = lifter.lift(keypoints, layout="coco", image_size=(1920, 1080), fps=30)
"""

from mtf_pose._version import __version__
from mtf_pose.lifter import Lifter
from mtf_pose.result import LiftResult
from mtf_pose.schemas import KeypointInputError, KeypointSequence
from mtf_pose.weights import WeightsError

__all__ = ["KeypointInputError", "KeypointSequence", "LiftResult", "Lifter", "WeightsError", "__version__"]
