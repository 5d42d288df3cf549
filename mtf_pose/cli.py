"""The ``mtf-pose`` command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mtf_pose._atomic import write_text_atomic

if TYPE_CHECKING:
    from mtf_pose.batch import BatchOptions, BatchSummary

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130


class CliError(Exception):
    """A problem to report in one line, without a traceback."""


def _cmd_convert(args: argparse.Namespace) -> int:
    from mtf_pose.model.convert import convert_official

    out = convert_official(args.bam, args.lifter, args.out_dir, preset=args.preset)
    print(f"wrote {out / 'config.json'} and {out / 'model.safetensors'}")
    return EXIT_OK


def _load_train_config(path: Path, overrides: list[str]):  # type: ignore[no-untyped-def]
    from mtf_pose.training.trainer import TrainConfig

    text = path.read_text(encoding="utf-8")
    if path.suffix in {".yaml", ".yml"}:
        try:
            import yaml
        except ImportError:
            raise CliError("YAML configs need pyyaml: pip install 'mtf_pose[train]' (or use a .json config)") from None
        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise CliError(f"--set expects key=value, got {item!r}")
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        target = data
        *parents, leaf = key.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = parsed
    return TrainConfig.model_validate(data)


def _cmd_train(args: argparse.Namespace) -> int:
    from mtf_pose.training.trainer import Trainer

    config = _load_train_config(Path(args.config), args.set)
    trainer = Trainer(config, progress=not args.no_progress)
    history = trainer.run()
    if history:
        print(json.dumps(history[-1], indent=2))
    print(f"best weights: {Path(config.out_dir) / 'best'}")
    return EXIT_OK


def _cmd_evaluate(args: argparse.Namespace) -> int:
    import torch

    from mtf_pose.evaluation.h36m import evaluate_views, evaluate_views_with_lifter
    from mtf_pose.lifter import Lifter
    from mtf_pose.training.h36m import load_views

    if args.threads:
        torch.set_num_threads(args.threads)
    lifter = Lifter.from_pretrained(args.weights)
    views = load_views(args.data, args.subjects.split(","))[:: args.view_stride]
    reports = {}
    flip, progress = not args.no_flip, not args.no_progress
    for inputs in args.inputs.split(","):
        if inputs not in ("gt", "detected"):
            raise CliError(f"--inputs takes 'gt' and/or 'detected', got {inputs!r}")
        runs = [
            ("ground-truth scale", evaluate_views(lifter.model, views, inputs=inputs, flip=flip, progress=progress))
        ]
        if args.metric_output:
            runs.append(("Lifter metric output", evaluate_views_with_lifter(lifter, views, inputs=inputs, flip=flip,
                                                                            progress=progress)))
        for label, report in runs:
            reports[f"{inputs} ({label})"] = report.to_dict()
            print(f"\n{args.subjects}, {inputs} 2D input, {label} ({report.frames} frames, "
                  f"flip {'off' if args.no_flip else 'on'}, weights: {lifter.source}):")
            print(report.table())
    if args.json:
        write_text_atomic(args.json, json.dumps(reports, indent=2) + "\n")
    return EXIT_OK


def _image_size(text: str) -> tuple[float, float]:
    width, sep, height = text.lower().replace(",", "x").partition("x")
    try:
        size = (float(width), float(height))
    except ValueError:
        size = (0.0, 0.0)
    if not sep or min(size) <= 0:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT in pixels, e.g. 1920x1080; got {text!r}")
    return size


def _add_lift_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from mtf_pose.io import list_formats, list_output_formats
    from mtf_pose.layouts import LAYOUTS

    lift = commands.add_parser(
        "lift",
        help="lift keypoint files (files, folders, globs) to 3D",
        description="Lift every keypoint file found in INPUT (files, folders searched recursively, glob patterns) "
        "to 3D. Facts a file records (layout, image size, frame rate) are taken from it; the options fill in "
        "what it does not record.",
    )
    lift.add_argument("inputs", nargs="+", metavar="INPUT", help="keypoint file, folder or glob pattern")
    lift.add_argument("-o", "--output-dir", required=True, type=Path, help="folder for the results")
    lift.add_argument("--format", choices=list_formats(), help="read every input as this format (default: detect)")
    lift.add_argument("--layout", choices=sorted(LAYOUTS), help="joint layout of files that do not record it")
    lift.add_argument("--image-size", type=_image_size, metavar="WxH", help="image size of files that do not record it")
    lift.add_argument("--coordinates", choices=["pixels", "unit", "normalized"],
                      help="coordinate system of files that do not record it (default: guessed from the values)")
    lift.add_argument("--fps", type=float, help="frame rate of files that do not record it")
    lift.add_argument("--person", metavar="ID", help="lift only this person (track id, e.g. 3) of multi-person files")
    lift.add_argument("--min-frames", type=int, default=1, metavar="N",
                      help="list, but do not lift, people seen in fewer than N frames (default: 1)")
    lift.add_argument("--weights", default=None, help="weights folder or Hub repo id (default: embedded)")
    lift.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    lift.add_argument("--batch-size", type=int, default=8, help="clips per network batch (default: 8)")
    lift.add_argument("--threads", type=int, default=None,
                      help="CPU threads for the network (default: PyTorch's; with --engine ray: per actor, its CPUs)")
    lift.add_argument("--no-flip", action="store_true",
                      help="no flip averaging (twice as fast, a little less accurate)")
    lift.add_argument("--subject-height", type=float, default=1.70, help="height in metres that sets the scale")
    lift.add_argument("--output-format", choices=list_output_formats(), default="npz", help="default: npz")
    lift.add_argument("--skip-existing", action="store_true", help="skip outputs that exist (resume a run)")
    lift.add_argument("--jobs", type=int, default=2,
                      help="threads reading and writing files (default: 2; 0: none; with --engine ray: read and write "
                      "tasks at once)")
    lift.add_argument("--report", type=Path, default=None, help="also write the summary as JSON here")
    lift.add_argument("--no-progress", action="store_true", help="no progress bar")
    cluster = lift.add_argument_group("Ray engine (--engine ray; pip install 'mtf_pose[ray]')")
    cluster.add_argument("--engine", choices=["local", "ray"], default="local",
                         help="local: this process (default); ray: Ray Data actors on a local or existing cluster")
    cluster.add_argument("--address", default=None,
                         help="Ray cluster to use (auto, HOST:PORT, ray://HOST:10001); default: RAY_ADDRESS if set, "
                         "else a local Ray started for the run")
    cluster.add_argument("--ray-actors", type=int, default=None, metavar="N",
                         help="lifting actors (default: as many as the cluster's CPUs or GPUs allow)")
    cluster.add_argument("--ray-cpus-per-actor", type=float, default=None, metavar="C",
                         help="CPUs (and threads) of each actor (default: 1 for CPU actors, none for GPU actors)")
    cluster.add_argument("--ray-gpus-per-actor", type=float, default=None, metavar="G",
                         help="GPUs of each actor, fractions share a GPU (default: 0)")
    cluster.add_argument("--ray-batch-rows", type=int, default=None, metavar="N",
                         help="person tracks per actor call (default: 8)")
    lift.set_defaults(run=_cmd_lift)


# The Ray engine's options: argparse destination -> RayOptions field.
_RAY_OPTIONS = {"address": "address", "ray_actors": "actors", "ray_cpus_per_actor": "cpus_per_actor",
                "ray_gpus_per_actor": "gpus_per_actor", "ray_batch_rows": "rows_per_batch"}


def _cmd_lift(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from mtf_pose.batch import BatchLockedError, BatchOptions, run_batch
    from mtf_pose.schemas import format_validation_error

    if args.engine == "local":
        for dest in _RAY_OPTIONS:
            if getattr(args, dest) is not None:
                raise CliError(f"--{dest.replace('_', '-')} needs --engine ray")
    try:
        options = BatchOptions(
            output_dir=args.output_dir, output_format=args.output_format, format=args.format, layout=args.layout,
            image_size=args.image_size, coordinates=args.coordinates, fps=args.fps, person=args.person,
            min_frames=args.min_frames, weights=args.weights, device=args.device, batch_size=args.batch_size,
            flip=not args.no_flip, subject_height=args.subject_height, skip_existing=args.skip_existing,
            jobs=args.jobs, progress=False if args.no_progress else None,
        )
    except ValidationError as error:
        raise CliError(format_validation_error(error).removeprefix("invalid keypoint input: ")) from None
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    try:
        summary = _run_ray_batch(args, options) if args.engine == "ray" else run_batch(args.inputs, options)
    except BatchLockedError as error:
        raise CliError(str(error)) from None
    print("\n".join(summary.lines()), flush=True)
    if args.report:
        write_text_atomic(args.report, json.dumps(summary.to_dict(), indent=2) + "\n")
    if summary.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FAILURE if summary.failures else EXIT_OK


def _run_ray_batch(args: argparse.Namespace, options: BatchOptions) -> BatchSummary:
    from pydantic import ValidationError

    from mtf_pose.schemas import format_validation_error

    try:
        from mtf_pose.integrations import ray as ray_engine
    except ImportError as error:
        raise CliError(str(error)) from None
    given = {field: getattr(args, dest) for dest, field in _RAY_OPTIONS.items() if getattr(args, dest) is not None}
    try:
        ray_options = ray_engine.RayOptions(**given)
    except ValidationError as error:
        raise CliError(format_validation_error(error).removeprefix("invalid keypoint input: ")) from None
    try:
        return ray_engine.run_batch(args.inputs, options, ray_options, threads=args.threads)
    except ray_engine.RayEngineError as error:
        raise CliError(str(error)) from None


def _add_info_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from mtf_pose.io import list_formats

    info = commands.add_parser(
        "info",
        help="what a keypoint file, weights folder or lift result holds",
        description="Show what PATH holds: a keypoint file or OpenPose folder (format, people, frames, joints, "
        "layout, image size), a weights folder (preset, parameters, training data, model card) or a lift "
        "result. Without PATH: the embedded default weights.",
    )
    info.add_argument("path", nargs="?", default=None, metavar="PATH", help="file, folder or Hub repo id")
    info.add_argument("--format", choices=list_formats(), help="read a keypoint file as this format")
    info.add_argument("--json", action="store_true", help="print JSON instead of text")
    info.set_defaults(run=_cmd_info)


def _cmd_info(args: argparse.Namespace) -> int:
    from mtf_pose.info import describe

    description = describe(args.path, args.format)
    print(json.dumps(description.to_dict(), indent=2) if args.json else "\n".join(description.lines()))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mtf-pose", description="Lift 2D keypoint sequences to 3D with MDTF.")
    commands = parser.add_subparsers(dest="command", required=True)

    convert = commands.add_parser("convert", help="convert the official release's checkpoints to safetensors")
    convert.add_argument("--bam", required=True, type=Path, help="stage-1 checkpoint (Bone Aware Module), *.pth.tr")
    convert.add_argument("--lifter", required=True, type=Path, help="stage-2 checkpoint (lifter), *.pth.tr")
    convert.add_argument("--preset", default="tiny", help="network preset of the checkpoints (tiny, large)")
    convert.add_argument("out_dir", type=Path, help="folder to write config.json and model.safetensors to")
    convert.set_defaults(run=_cmd_convert)

    train = commands.add_parser("train", help="train the BAM (stage 1) or the lifter (stage 2) on Human3.6M")
    train.add_argument("--config", required=True, help="training config (.json, or .yaml with the train extra)")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value")
    train.add_argument("--no-progress", action="store_true", help="no progress bars")
    train.set_defaults(run=_cmd_train)

    evaluate = commands.add_parser("evaluate", help="MPJPE, P-MPJPE, N-MPJPE and MPJVE per action on Human3.6M")
    evaluate.add_argument("--weights", default=None, help="weights folder or Hub repo id (default: embedded)")
    evaluate.add_argument("--data", required=True, type=Path, help="folder with the compact Human3.6M files")
    evaluate.add_argument("--subjects", default="S8", help="comma-separated subjects (default: S8, held out)")
    evaluate.add_argument("--inputs", default="gt,detected", help="'gt', 'detected' or both, comma-separated")
    evaluate.add_argument("--view-stride", type=int, default=1, help="evaluate every n-th view (default: all)")
    evaluate.add_argument("--no-flip", action="store_true", help="no flip averaging")
    evaluate.add_argument("--metric-output", action="store_true",
                          help="also evaluate the Lifter's metric output "
                               "(pixels in, metres out, no ground-truth scale)")
    evaluate.add_argument("--threads", type=int, default=None, help="CPU threads")
    evaluate.add_argument("--json", default=None, help="also write the tables as JSON here")
    evaluate.add_argument("--no-progress", action="store_true", help="no progress bars")
    evaluate.set_defaults(run=_cmd_evaluate)

    _add_lift_parser(commands)
    _add_info_parser(commands)

    from mtf_pose.export.cli import add_export_bvh_parser

    add_export_bvh_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from mtf_pose.weights import WeightsError

    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (CliError, WeightsError, FileNotFoundError, ValueError) as error:
        print(f"mtf-pose {args.command}: error: {error}", file=sys.stderr)
        return EXIT_FAILURE
    except BrokenPipeError:
        # The reader went away (`mtf-pose info | head`): stop quietly, as other command-line tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print(f"mtf-pose {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
