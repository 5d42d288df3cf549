"""mtf_pose: lift 2D human keypoint sequences to 3D with the Mamba-Driven Topology Fusion network.

>>> from mtf_pose import Lifter
>>> lifter = Lifter.from_pretrained()
>>> result = lifter.lift(keypoints, layout="coco", image_size=(1920, 1080), fps=30)
"""

import importlib.util as _importlib_util
import os as _os
import sys as _sys

# The numba kernels run on their own worker threads between PyTorch's OpenMP regions, and OpenMP's
# default of spinning while idle takes the cores from them: passive waiting measured 1.1-1.2x faster
# training steps and flip-averaged lifting on 2 cores, but less than half the speed for the pure-PyTorch
# backend (benchmarks/bench_threads.py), so it is offered only where numba is installed. OpenMP reads the
# setting once, when torch loads, so it can only be offered before that; an explicit setting wins.
if "torch" not in _sys.modules and _importlib_util.find_spec("numba") is not None:
    _os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from mtf_pose._version import __version__
from mtf_pose.lifter import Lifter
from mtf_pose.result import LiftResult
from mtf_pose.schemas import KeypointInputError, KeypointSequence
from mtf_pose.weights import WeightsError

__all__ = ["KeypointInputError", "KeypointSequence", "LiftResult", "Lifter", "WeightsError", "__version__"]
