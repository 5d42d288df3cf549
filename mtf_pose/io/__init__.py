"""Reading 2D keypoint files from common detectors, and writing lift results.

>>> from mtf_pose.io import read_keypoints
>>> keypoints = read_keypoints("alphapose-results.json")     # format detected by extension and content
>>> keypoints.format, [track.label for track in keypoints.tracks]
('alphapose', ['person 0', 'person 1'])

Formats (``list_formats()``): ``openpose``, ``alphapose``, ``coco``, ``mmpose``, ``mediapipe``,
``videopose3d``, ``npz``, ``npy``. A new format is a :class:`KeypointReader` passed to
:func:`register_reader`; a new output format is an :class:`OutputFormat` passed to
:func:`register_output_format`.
"""

from mtf_pose.io.base import KeypointFile, KeypointReader, KeypointReadError, KeypointSource, PersonTrack, Probe
from mtf_pose.io.registry import detect_format, get_reader, list_formats, read_keypoints, register_reader
from mtf_pose.io.writers import OutputFormat, get_output_format, list_output_formats, register_output_format

__all__ = [
    "KeypointFile",
    "KeypointReadError",
    "KeypointReader",
    "KeypointSource",
    "OutputFormat",
    "PersonTrack",
    "Probe",
    "detect_format",
    "get_output_format",
    "get_reader",
    "list_formats",
    "list_output_formats",
    "read_keypoints",
    "register_output_format",
    "register_reader",
]
