"""Training losses (PyTorch). Poses are ``(B, T, J, 3)``; every loss is a scalar mean."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def mpjpe_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean Euclidean distance between corresponding joints."""
    return torch.linalg.vector_norm(predicted - target, dim=-1).mean()


def n_mpjpe_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MPJPE after the per-frame scale that best fits ``predicted`` to ``target`` (least squares)."""
    scale = (target * predicted).sum(dim=(-1, -2), keepdim=True) / (predicted * predicted).sum(
        dim=(-1, -2), keepdim=True
    ).clamp_min(1e-12)
    return mpjpe_loss(scale * predicted, target)


def velocity_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean distance between frame-to-frame joint displacements (0 for a single frame)."""
    if predicted.shape[1] <= 1:
        return predicted.new_zeros(())
    return mpjpe_loss(predicted.diff(dim=1), target.diff(dim=1))


def lifter_loss(
    predicted: torch.Tensor, target: torch.Tensor, *, n_mpjpe_weight: float = 0.5, velocity_weight: float = 20.0
) -> dict[str, torch.Tensor]:
    """MDTF's stage-2 objective: MPJPE + 0.5 N-MPJPE + 20 velocity; returns every term and ``"total"``."""
    terms = {
        "mpjpe": mpjpe_loss(predicted, target),
        "n_mpjpe": n_mpjpe_loss(predicted, target),
        "velocity": velocity_loss(predicted, target),
    }
    terms["total"] = terms["mpjpe"] + n_mpjpe_weight * terms["n_mpjpe"] + velocity_weight * terms["velocity"]
    return terms


def polar_class_loss(logits: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """Stage 1: cross-entropy of the BAM's per-joint polar-angle logits ``(..., K)`` against ``(...)``."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), classes.reshape(-1))
