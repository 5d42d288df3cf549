"""Sequence operators of the network: the selective scan and the causal depthwise convolution."""

from mtf_pose.model.ops.causal_conv import (
    causal_conv1d,
    causal_conv1d_available,
    causal_conv1d_reference,
    resolve_conv_backend,
)
from mtf_pose.model.ops.selective_scan import (
    BACKENDS,
    mamba_ssm_available,
    numba_available,
    resolve_backend,
    selective_scan,
    selective_scan_reference,
)

__all__ = [
    "BACKENDS",
    "causal_conv1d",
    "causal_conv1d_available",
    "causal_conv1d_reference",
    "mamba_ssm_available",
    "numba_available",
    "resolve_backend",
    "resolve_conv_backend",
    "selective_scan",
    "selective_scan_reference",
]
