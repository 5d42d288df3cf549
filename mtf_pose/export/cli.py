"""``mtf-pose export-bvh``: a saved lift (or a ``(T, 17, 3)`` array) to BVH.

    mtf-pose export-bvh walk.npz -o walk.bvh --up z --units cm --names humanoid

:func:`add_bvh_options` and :func:`bvh_options_from_args` give another command (``lift --output-format
bvh``) the same flags with the same defaults, which are :class:`~mtf_pose.export.BvhOptions`'s.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from mtf_pose.export.bvh import NAME_PRESETS, BvhOptions, write_bvh
from mtf_pose.result import LiftResult

_DEFAULTS = BvhOptions()


def add_bvh_options(parser: argparse.ArgumentParser) -> None:
    """The BVH flags (``--up``, ``--units``, ``--names``, ``--skeleton``, ``--ground``, ``--root-translation``,
    ``--no-constant-bones``) with :class:`BvhOptions`'s defaults."""
    group = parser.add_argument_group("BVH")
    group.add_argument(
        "--up", choices=["y", "z"], default=_DEFAULTS.up, help="up axis of the file (default: %(default)s)"
    )
    group.add_argument(
        "--units", choices=["m", "cm"], default=_DEFAULTS.units, help="length unit (default: %(default)s)"
    )
    group.add_argument(
        "--names",
        default=_DEFAULTS.names,
        metavar="PRESET|FILE.json",
        help=f"joint names: {' or '.join(NAME_PRESETS)}, or a JSON file mapping humanoid names to yours "
        "(default: %(default)s)",
    )
    group.add_argument(
        "--skeleton",
        type=Path,
        default=None,
        metavar="FILE.json",
        help="bone lengths in metres: a JSON list of 16 (skeleton.BONES order) or {bone name: length} "
        "(default: per-bone median over the sequence, left/right averaged)",
    )
    group.add_argument(
        "--ground",
        choices=["frame", "sequence", "none"],
        default=_DEFAULTS.ground,
        help="put the lowest ankle on the floor in every frame, over the whole sequence, or not at all "
        "(default: %(default)s)",
    )
    group.add_argument(
        "--root-translation",
        action="store_true",
        help="write the input's pelvis trajectory as root motion (arrays only: a lift is root-relative)",
    )
    group.add_argument(
        "--no-constant-bones",
        dest="constant_bones",
        action="store_false",
        help="keep each bone's input direction instead of projecting frames onto the constant-length skeleton",
    )


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} file {path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{what} file {path}: not readable JSON ({error})") from None


def _one_line(error: ValidationError) -> str:
    first = error.errors()[0]
    message = str(first["msg"]).removeprefix("Value error, ")
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {message}" if where else message


def bvh_options_from_args(args: argparse.Namespace) -> BvhOptions:
    """:class:`BvhOptions` from the flags of :func:`add_bvh_options`; bad values raise a one-line ValueError."""
    if args.names in NAME_PRESETS:
        names: Any = args.names
    elif Path(args.names).suffix == ".json":
        names = _read_json(Path(args.names), "--names")
    else:
        raise ValueError(f"--names must be {' or '.join(NAME_PRESETS)}, or a .json file of names; got {args.names!r}")
    lengths = None if args.skeleton is None else _read_json(args.skeleton, "--skeleton")
    try:
        return BvhOptions(
            up=args.up,
            units=args.units,
            names=names,
            bone_lengths=lengths,
            ground=args.ground,
            root_translation=args.root_translation,
            constant_bones=args.constant_bones,
        )
    except ValidationError as error:
        raise ValueError(_one_line(error)) from None


def _load_source(path: Path) -> Any:
    if path.suffix == ".npy":
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file")
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise ValueError(f"{path}: cannot read a (T, 17, 3) array ({error})") from None
    return LiftResult.load(path)


def _run_export_bvh(args: argparse.Namespace) -> int:
    options = bvh_options_from_args(args)
    source = _load_source(args.result)
    output = args.output if args.output is not None else args.result.with_suffix(".bvh")
    if output.is_dir():
        raise ValueError(f"{output} is a folder; give the .bvh file to write")
    try:
        export = write_bvh(source, output, fps=args.fps, options=options)
    except OSError as error:
        raise ValueError(f"{output}: cannot write ({error.strerror or error})") from None
    print(
        f"wrote {export.path}: {export.frames} frames at {1 / export.frame_time:g} fps, {len(export.joint_names)} "
        f"joints, {options.up.upper()}-up, {options.units}"
    )
    print(export.skeleton.summary())
    return 0


def add_export_bvh_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``export-bvh`` on an ``add_subparsers()`` object; ``args.run(args)`` returns the exit code."""
    parser = subparsers.add_parser(
        "export-bvh",
        help="write a saved lift as BVH (joint rotations over a constant skeleton) for Blender, Unity, ...",
        description="Write a lift result as BVH. Y-up or Z-up, metres or centimetres, humanoid or H36M joint "
        "names; see docs/bvh.md for the Blender import settings.",
    )
    parser.add_argument(
        "result", type=Path, help="a lift result (.npz or .json from LiftResult.save) or a (T, 17, 3) .npy array"
    )
    parser.add_argument("-o", "--output", type=Path, default=None, help="the .bvh file (default: RESULT with .bvh)")
    parser.add_argument(
        "--fps", type=float, default=None, help="frame rate; required for a .npy array (a lift result has its own)"
    )
    add_bvh_options(parser)
    parser.set_defaults(run=_run_export_bvh)
    return parser
