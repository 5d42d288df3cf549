"""The public API: load weights, lift 2D keypoint sequences to 3D.

>>> from mtf_pose import Lifter
>>> lifter = Lifter.from_pretrained()                         # embedded default weights, offline
>>> result = lifter.lift(keypoints, layout="coco", image_size=(1920, 1080), fps=30)
>>> result.joints_3d.shape, result.bone_lengths.shape          # (T, 17, 3) metres, (T, 16)
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from tqdm.auto import tqdm

from mtf_pose._version import __version__
from mtf_pose._windows import ClipPlan, ShortSequence, plan_clips
from mtf_pose.hub import resolve_weights
from mtf_pose.model import MDTF
from mtf_pose.result import DEFAULT_SUBJECT_HEIGHT, LiftResult, metres_per_unit
from mtf_pose.schemas import KeypointInputError, KeypointSequence, PreparedSequence, prepare, validate_sequence
from mtf_pose.weights import WeightsConfig, load_weights, model_card, save_weights

# Clips overlap by a third of their length (81 of 243 frames): measured to keep jitter at clip seams
# within 1.2x of elsewhere (benchmarks/bench_seams.py).
CLIP_OVERLAP_FRACTION = 1 / 3
# Sequences with at least this many clips show a progress bar (on a terminal).
PROGRESS_MIN_CLIPS = 16


def clip_plan(model_frames: int, clip_frames: int, short: ShortSequence = "pad") -> ClipPlan:
    """How a sequence of ``model_frames`` frames (at the model's rate) is cut into clips of ``clip_frames``."""
    return plan_clips(model_frames, clip_frames, int(clip_frames * CLIP_OVERLAP_FRACTION), short)


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` (CUDA when available, else CPU) or a torch device name; an unusable device is an error."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available; use device='cpu' or 'auto'")
    return resolved


class Lifter:
    """An MDTF network with the preprocessing its weights were trained with."""

    def __init__(
        self, model: MDTF, config: WeightsConfig, *, source: str = "", device: str | torch.device = "auto"
    ) -> None:
        self.device = resolve_device(device)
        # Inference only: no autograd bookkeeping (call lifter.model.requires_grad_(True) to fine-tune).
        self.model = model.to(self.device).eval().requires_grad_(False)
        self.config = config
        self.source = source

    # -- loading and saving -----------------------------------------------------------------------------
    @classmethod
    def from_pretrained(
        cls,
        source: str | Path | None = None,
        *,
        revision: str | None = None,
        device: str | torch.device = "auto",
        cache_dir: str | Path | None = None,
        local_files_only: bool = False,
        token: str | bool | None = None,
        backend: str = "auto",
    ) -> Lifter:
        """Load weights: ``None`` for the embedded default (no network access), a local folder or file, or
        a Hugging Face Hub repo id (``revision`` pins a branch, tag or commit; the standard cache is used,
        and ``local_files_only`` or ``HF_HUB_OFFLINE=1`` read only from it)."""
        folder = resolve_weights(
            source, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only, token=token
        )
        model, config = load_weights(folder)
        model.set_backend(backend)
        label = "embedded default" if source is None else str(source) + (f"@{revision}" if revision else "")
        return cls(model, config, source=label, device=device)

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write ``config.json``, ``model.safetensors`` and a model card ``README.md`` to ``directory``."""
        return save_weights(directory, self.model, self.config, card=model_card(self.config))

    def push_to_hub(
        self,
        repo_id: str,
        *,
        token: str | bool | None = None,
        private: bool = False,
        commit_message: str = "Upload MDTF weights with mtf_pose",
    ) -> str:
        """Upload the weights folder to a Hub model repo (created if needed); returns the commit URL."""
        from huggingface_hub import HfApi

        api = HfApi(token=token)
        api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        with tempfile.TemporaryDirectory() as folder:
            self.save_pretrained(folder)
            commit = api.upload_folder(repo_id=repo_id, folder_path=folder, commit_message=commit_message)
        return str(commit.commit_url)

    # -- facts --------------------------------------------------------------------------------------------
    @property
    def frames(self) -> int:
        """Clip length the network works on."""
        return self.config.model.frames

    @property
    def fps(self) -> float:
        """Frame rate the weights were trained at; inputs are resampled to it."""
        return self.config.preprocessing.fps

    @property
    def backend(self) -> str:
        """The backend the scans run on (``"numba"``, ``"torch"`` or ``"cuda"``)."""
        return self.model.resolved_backend()

    def __repr__(self) -> str:
        return (
            f"Lifter(model={self.config.model.name!r}, source={self.source!r}, device={str(self.device)!r}, "
            f"backend={self.backend!r})"
        )

    # -- lifting ----------------------------------------------------------------------------------------
    def lift(
        self,
        keypoints: Any,
        *,
        layout: str | None = None,
        image_size: tuple[float, float] | None = None,
        coordinates: str = "pixels",
        fps: float | None = None,
        confidence: Any = None,
        flip: bool = True,
        subject_height: float = DEFAULT_SUBJECT_HEIGHT,
        short: ShortSequence = "pad",
        batch_size: int = 8,
        progress: bool | None = None,
    ) -> LiftResult:
        """Lift one person's 2D keypoint sequence (see :class:`~mtf_pose.schemas.KeypointSequence` for the
        input fields) to a :class:`~mtf_pose.result.LiftResult`.

        ``flip``: average with a horizontally mirrored pass (better accuracy, twice the work).
        ``subject_height``: the person's height in metres, which sets the metric scale.
        ``short``: ``"pad"`` or ``"resample"`` for sequences shorter than one clip.
        ``progress``: a progress bar; ``None`` shows one for long inputs on a terminal.
        """
        fields: dict[str, Any] = {
            k: v
            for k, v in (("layout", layout), ("image_size", image_size), ("fps", fps), ("confidence", confidence))
            if v is not None
        }
        if coordinates != "pixels":
            fields["coordinates"] = coordinates
        sequence = validate_sequence(keypoints, **fields)
        return self.lift_batch(
            [sequence], flip=flip, subject_height=subject_height, short=short, batch_size=batch_size, progress=progress
        )[0]

    def lift_batch(
        self,
        sequences: Iterable[Any],
        *,
        flip: bool = True,
        subject_height: float = DEFAULT_SUBJECT_HEIGHT,
        short: ShortSequence = "pad",
        batch_size: int = 8,
        progress: bool | None = None,
        **fields: Any,
    ) -> list[LiftResult]:
        """Lift many sequences of any lengths together; clips from all of them share network batches.

        Each item is a :class:`KeypointSequence`, a mapping of its fields, or an array that takes the
        shared ``fields`` (``layout``, ``image_size``, ``coordinates``, ``fps``).
        """
        if not 0.3 <= subject_height <= 3.0:
            raise KeypointInputError(f"subject_height is in metres and must lie in [0.3, 3.0]; got {subject_height}")
        if batch_size < 1:
            raise KeypointInputError(f"batch_size must be at least 1; got {batch_size}")
        validated = []
        for index, item in enumerate(sequences):
            try:
                if isinstance(item, Mapping):
                    validated.append(validate_sequence(**{**fields, **item}))
                else:
                    validated.append(validate_sequence(item, **fields))
            except KeypointInputError as error:
                raise KeypointInputError(f"sequence {index}: {error}") from None
        prepared = [prepare(sequence, self.fps) for sequence in validated]
        plans = [clip_plan(p.keypoints.shape[0], self.frames, short) for p in prepared]
        normalized = self._run(prepared, plans, flip=flip, batch_size=batch_size, progress=progress)
        return [
            self._result(sequence, item, prediction, flip=flip, subject_height=subject_height)
            for sequence, item, prediction in zip(validated, prepared, normalized)
        ]

    def _run(
        self,
        prepared: list[PreparedSequence],
        plans: list[ClipPlan],
        *,
        flip: bool,
        batch_size: int,
        progress: bool | None,
    ) -> list[NDArray[np.float32]]:
        clips = np.concatenate([plan.gather(item.keypoints) for item, plan in zip(prepared, plans)])
        total = clips.shape[0]
        show = progress if progress is not None else (total >= PROGRESS_MIN_CLIPS and sys.stderr.isatty())
        outputs = np.empty(clips.shape[:-1] + (3,), dtype=np.float32)
        with torch.inference_mode(), tqdm(total=total, unit="clip", desc="lifting", disable=not show) as bar:
            for first in range(0, total, batch_size):
                batch = torch.from_numpy(clips[first : first + batch_size]).to(self.device)
                outputs[first : first + batch_size] = self.model.predict(batch, flip=flip).float().cpu().numpy()
                bar.update(batch.shape[0])
        results, first = [], 0
        for plan in plans:
            results.append(plan.scatter(outputs[first : first + plan.clips]))
            first += plan.clips
        return results

    def _result(
        self, sequence: KeypointSequence, prepared: PreparedSequence, prediction: NDArray[np.float32], *,
        flip: bool, subject_height: float,
    ) -> LiftResult:
        normalized = prepared.to_caller_frames(prediction)
        normalized[:, 0] = 0.0  # root-relative by definition
        scale = metres_per_unit(normalized, subject_height, prepared.fps)
        return LiftResult(
            joints_3d=(normalized * scale[:, None, None]).astype(np.float32),
            joints_3d_normalized=normalized,
            confidence=prepared.confidence,
            filled=prepared.filled,
            fps=prepared.fps,
            subject_height=subject_height,
            metres_per_unit=scale,
            metadata={
                "weights": self.source,
                "model": self.config.model.name,
                "flip": flip,
                "layout": sequence.layout,
                "coordinates": sequence.coordinates,
                "image_size": list(sequence.image_size) if sequence.image_size else None,
                "input_fps": sequence.fps,
                "mtf_pose_version": __version__,
            },
        )
