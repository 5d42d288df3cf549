"""Depthwise causal 1-D convolution (Mamba's short convolution), channels-last.

``out[b, t, d] = bias[d] + sum_k weight[d, k] * x[b, t - (K - 1) + k, d]`` (zero before the start), and
with ``reverse=True`` the mirror image ``bias[d] + sum_k weight[d, k] * x[b, t + (K - 1) - k, d]``: the
causal convolution of the time-reversed sequence, reversed back, without flipping any tensor.

Backends: ``"cuda"`` (causal-conv1d's kernel, CUDA tensors), ``"numba"`` (compiled CPU kernel, fused with
the SiLU) and ``"torch"`` (``F.conv1d``, any device). :func:`causal_conv1d_reference` is the plain
definition used by the tests. As for the selective scan, half-precision CPU inputs are computed in float32
and returned in their own precision.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from mtf_pose.model.ops.selective_scan import BACKENDS, CPU_KERNEL_DTYPES, is_cpu_half, numba_available


@functools.cache
def causal_conv1d_available() -> bool:
    """Whether the causal-conv1d CUDA kernel is importable."""
    try:
        from causal_conv1d import causal_conv1d_fn  # noqa: F401
    except Exception:  # noqa: BLE001 (not installed, or a build that cannot load without CUDA)
        return False
    return True


def resolve_conv_backend(backend: str, tensor: torch.Tensor) -> str:
    """The concrete backend ``backend`` stands for, for inputs like ``tensor``; raises if impossible."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    numba_ok = tensor.device.type == "cpu" and tensor.dtype in CPU_KERNEL_DTYPES and numba_available()
    if backend == "auto":
        if tensor.is_cuda and causal_conv1d_available():
            return "cuda"
        return "numba" if numba_ok else "torch"
    if backend == "cuda" and not (tensor.is_cuda and causal_conv1d_available()):
        raise RuntimeError("backend='cuda' needs CUDA tensors and causal-conv1d: pip install 'mtf_pose[cuda]'")
    if backend == "numba" and not numba_ok:
        raise ValueError(f"backend='numba' needs numba and CPU float tensors, got {tensor.dtype} on {tensor.device}")
    return backend


def causal_conv1d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    *,
    activation: str | None = None,
    reverse: bool = False,
    backend: str = "auto",
) -> torch.Tensor:
    """Depthwise causal convolution of ``x`` ``(batch, length, channels)`` with ``weight`` ``(channels, K)``.

    ``activation`` is ``None`` or ``"silu"``; ``backend`` one of ``"auto"``, ``"torch"``, ``"numba"``,
    ``"cuda"`` (``"auto"``: CUDA kernel for CUDA tensors, numba on CPU, else PyTorch).
    """
    if x.dim() != 3:
        raise ValueError(f"x must be (batch, length, channels), got shape {tuple(x.shape)}")
    channels = x.shape[-1]
    if weight.dim() != 2 or weight.shape[0] != channels:
        raise ValueError(f"weight must be ({channels}, kernel_size), got shape {tuple(weight.shape)}")
    if bias is not None and tuple(bias.shape) != (channels,):
        raise ValueError(f"bias must be ({channels},), got shape {tuple(bias.shape)}")
    if activation not in (None, "silu"):
        raise ValueError(f"activation must be None or 'silu', got {activation!r}")
    if is_cpu_half(x):
        bias32 = None if bias is None else bias.float()
        out = causal_conv1d(x.float(), weight.float(), bias32, activation=activation, reverse=reverse, backend=backend)
        return out.to(x.dtype)
    chosen = resolve_conv_backend(backend, x)
    if chosen == "numba":
        return _NumbaCausalConv.apply(x, weight, bias, activation == "silu", reverse)
    if chosen == "cuda":
        from causal_conv1d import causal_conv1d_fn

        xt = x.transpose(1, 2)
        if reverse:
            xt = xt.flip(-1)
        out = causal_conv1d_fn(xt.contiguous(), weight.contiguous(), bias, activation=activation)
        if reverse:
            out = out.flip(-1)
        return out.transpose(1, 2)
    kernel = weight.shape[1]
    padding = (0, kernel - 1) if reverse else (kernel - 1, 0)
    xt = F.pad(x.transpose(1, 2), padding)
    w = weight.flip(-1) if reverse else weight
    out = F.conv1d(xt, w.unsqueeze(1), bias, groups=channels).transpose(1, 2)
    return F.silu(out) if activation == "silu" else out


class _NumbaCausalConv(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, silu: bool, reverse: bool
    ) -> torch.Tensor:
        from mtf_pose.model.ops import _numba_kernels as kernels

        x = x.detach().contiguous()
        weight_t = weight.detach().to(x.dtype).t().contiguous()
        bias_ = x.new_zeros(x.shape[-1]) if bias is None else bias.detach().to(x.dtype).contiguous()
        out = torch.empty_like(x)
        kernels.launch(kernels.conv_forward, x.numpy(), weight_t.numpy(), bias_.numpy(), silu, reverse, out.numpy())
        ctx.save_for_backward(x, weight_t, bias_)
        ctx.options = (silu, reverse, bias is not None, weight.dtype)
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        from mtf_pose.model.ops import _numba_kernels as kernels

        x, weight_t, bias_ = ctx.saved_tensors
        silu, reverse, use_bias, weight_dtype = ctx.options
        blocks = kernels.worker_count()  # row blocks, one partial gradient each
        grad_x = torch.zeros_like(x)
        grad_weight_t = x.new_zeros(blocks, *weight_t.shape)
        grad_bias = x.new_zeros(blocks, x.shape[-1])
        kernels.launch(
            kernels.conv_backward, x.numpy(), weight_t.numpy(), bias_.numpy(), silu, reverse,
            grad_out.to(x.dtype).contiguous().numpy(), grad_x.numpy(), grad_weight_t.numpy(), grad_bias.numpy(),
        )
        grad_weight = grad_weight_t.sum(0).t().to(weight_dtype)
        return grad_x, grad_weight, grad_bias.sum(0) if use_bias else None, None, None


def causal_conv1d_reference(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    *,
    activation: str | None = None,
    reverse: bool = False,
) -> torch.Tensor:
    """The definition: ``F.conv1d`` with left padding on the (reversed) sequence, as in Mamba."""
    seq = x.flip(1) if reverse else x
    length, channels, kernel = x.shape[1], x.shape[2], weight.shape[1]
    out = F.conv1d(seq.transpose(1, 2), weight.unsqueeze(1), bias, padding=kernel - 1, groups=channels)
    out = out[..., :length].transpose(1, 2)
    if reverse:
        out = out.flip(1)
    return F.silu(out) if activation == "silu" else out
