"""The selective scan of Mamba, with one entry point and several backends.

Shapes are channels-last, as produced by ``nn.Linear``:

- ``x``, ``delta``, ``z``: ``(batch, length, channels)``
- ``A``: ``(channels, states)`` (negative: ``-exp(A_log)``), ``D``, ``delta_bias``: ``(channels,)``
- ``B``, ``C``: ``(batch, length, states)``

and the recurrence, with ``dt = softplus(delta + delta_bias)``::

    h_t = exp(dt_t * A) * h_{t-1} + dt_t * B_t * x_t        (per channel, over the states)
    y_t = (C_t . h_t + D * x_t) * silu(z_t)

``reverse=True`` runs the recurrence from the last step to the first (the backward stream of a
bidirectional Mamba) without flipping any tensor.

On the CPU, half-precision inputs (bfloat16 or float16, as ``torch.autocast`` produces them) are scanned
in float32 and the result is returned in the input's precision: a half-precision state would lose the
small per-step increments, and the compiled kernels only take float32/float64.

Backends: ``"cuda"`` (mamba-ssm's kernel, CUDA tensors), ``"numba"`` (a compiled CPU kernel, see
``_numba_kernels``), ``"torch"`` (pure PyTorch, any device). :func:`selective_scan_reference` is the plain
step-by-step definition that the tests hold the others to.
"""

from __future__ import annotations

import functools
from typing import Literal

import torch
import torch.nn.functional as F

Backend = Literal["auto", "torch", "numba", "cuda"]
BACKENDS: tuple[str, ...] = ("auto", "torch", "numba", "cuda")
HALF_DTYPES = (torch.bfloat16, torch.float16)
# What the compiled CPU kernels take, half precision by way of float32.
CPU_KERNEL_DTYPES = (torch.float32, torch.float64, *HALF_DTYPES)


@functools.cache
def numba_available() -> bool:
    """Whether the compiled CPU kernels can be used (numba importable)."""
    try:
        import numba  # noqa: F401
    except Exception:  # noqa: BLE001 (ImportError, or a numba that does not load with this numpy)
        return False
    return True


@functools.cache
def mamba_ssm_available() -> bool:
    """Whether mamba-ssm's CUDA selective-scan kernel is importable."""
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn  # noqa: F401
    except Exception:  # noqa: BLE001 (not installed, or a build that cannot load without CUDA)
        return False
    return True


def is_cpu_half(tensor: torch.Tensor) -> bool:
    """Whether ``tensor`` is a half-precision CPU tensor, which the sequence operators compute in float32."""
    return tensor.device.type == "cpu" and tensor.dtype in HALF_DTYPES


def resolve_backend(backend: str, tensor: torch.Tensor, *, cuda_available: bool | None = None) -> str:
    """The concrete backend ``backend`` stands for, for inputs like ``tensor``; raises if impossible."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    numba_ok = tensor.device.type == "cpu" and tensor.dtype in CPU_KERNEL_DTYPES
    if backend == "auto":
        if tensor.is_cuda and (mamba_ssm_available() if cuda_available is None else cuda_available):
            return "cuda"
        if numba_ok and numba_available():
            return "numba"
        return "torch"
    if backend == "cuda":
        if not tensor.is_cuda:
            raise ValueError("backend='cuda' needs CUDA tensors; move the model to a CUDA device")
        if not (mamba_ssm_available() if cuda_available is None else cuda_available):
            raise RuntimeError("backend='cuda' needs mamba-ssm: pip install 'mtf_pose[cuda]'")
    if backend == "numba":
        if not numba_ok:
            raise ValueError(
                f"backend='numba' runs on CPU floating-point tensors, got {tensor.dtype} on {tensor.device}"
            )
        if not numba_available():
            raise RuntimeError("backend='numba' needs numba: pip install numba")
    return backend


def selective_scan(
    x: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor,
    z: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    *,
    delta_softplus: bool = True,
    reverse: bool = False,
    backend: str = "auto",
) -> torch.Tensor:
    """Selective scan (see the module docstring); differentiable on every backend."""
    _check_shapes(x, delta, A, B, C, D, z, delta_bias)
    if is_cpu_half(x):
        y = selective_scan(
            x.float(), delta.float(), A.float(), B.float(), C.float(), D.float(),
            None if z is None else z.float(), None if delta_bias is None else delta_bias.float(),
            delta_softplus=delta_softplus, reverse=reverse, backend=backend,
        )
        return y.to(x.dtype)
    chosen = resolve_backend(backend, x)
    if chosen == "cuda":
        return _selective_scan_cuda(x, delta, A, B, C, D, z, delta_bias, delta_softplus, reverse)
    if chosen == "numba":
        return _NumbaSelectiveScan.apply(x, delta, A, B, C, D, z, delta_bias, delta_softplus, reverse)
    y = _linear_scan_torch(x, _discretize(delta, delta_bias, delta_softplus), A, B, C, D, reverse)
    return y if z is None else y * F.silu(z)


def _check_shapes(
    x: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor,
    z: torch.Tensor | None,
    delta_bias: torch.Tensor | None,
) -> None:
    if x.dim() != 3:
        raise ValueError(f"x must be (batch, length, channels), got shape {tuple(x.shape)}")
    batch, length, channels = x.shape
    states = A.shape[-1]
    expected = {
        "delta": (delta, (batch, length, channels)),
        "A": (A, (channels, states)),
        "B": (B, (batch, length, states)),
        "C": (C, (batch, length, states)),
        "D": (D, (channels,)),
    }
    if z is not None:
        expected["z"] = (z, (batch, length, channels))
    if delta_bias is not None:
        expected["delta_bias"] = (delta_bias, (channels,))
    for name, (tensor, shape) in expected.items():
        if tuple(tensor.shape) != shape:
            raise ValueError(f"{name} must have shape {shape}, got {tuple(tensor.shape)}")


def _discretize(
    delta: torch.Tensor, delta_bias: torch.Tensor | None, delta_softplus: bool
) -> torch.Tensor:
    dt = delta if delta_bias is None else delta + delta_bias
    return F.softplus(dt) if delta_softplus else dt


def selective_scan_reference(
    x: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor,
    z: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    *,
    delta_softplus: bool = True,
    reverse: bool = False,
) -> torch.Tensor:
    """The definition, one step at a time. Slow; the other backends are tested against it."""
    _check_shapes(x, delta, A, B, C, D, z, delta_bias)
    dt = _discretize(delta, delta_bias, delta_softplus)
    batch, length, channels = x.shape
    h = x.new_zeros(batch, channels, A.shape[-1])
    ys = [x.new_empty(0)] * length
    steps = range(length - 1, -1, -1) if reverse else range(length)
    for t in steps:
        decay = torch.exp(dt[:, t, :, None] * A)  # (batch, channels, states)
        h = decay * h + (dt[:, t] * x[:, t])[:, :, None] * B[:, t, None, :]
        ys[t] = (h * C[:, t, None, :]).sum(-1) + D * x[:, t]
    y = torch.stack(ys, dim=1)
    return y if z is None else y * F.silu(z)


def _linear_scan_torch(
    x: torch.Tensor,
    dt: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor,
    reverse: bool,
) -> torch.Tensor:
    """Pure PyTorch, one fused update per step with only the current state in memory.

    The loop is bound by memory traffic, not by Python: materialising every step's decay and drive first
    (``batch x length x channels x states`` temporaries), and the chunked formulation built on them, each
    measured 2-4x slower on the CPU at L = 17 and L = 243 (benchmarks/bench_scan.py).
    """
    batch, length, channels = x.shape
    drive_scale = dt * x  # the input's share of each step, before it meets B
    h = x.new_zeros(batch, channels, A.shape[-1])
    ys = [x.new_empty(0)] * length
    for t in range(length - 1, -1, -1) if reverse else range(length):
        h = torch.addcmul(drive_scale[:, t, :, None] * B[:, t, None, :], torch.exp(dt[:, t, :, None] * A), h)
        ys[t] = torch.bmm(h, C[:, t, :, None]).squeeze(-1)  # (batch, channels, states) @ (batch, states, 1)
    return torch.stack(ys, dim=1) + D * x


class _NumbaSelectiveScan(torch.autograd.Function):
    """The whole selective scan (softplus, recurrence, gate) on the compiled CPU kernels."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx,
        x: torch.Tensor,
        delta: torch.Tensor,
        A: torch.Tensor,
        B: torch.Tensor,
        C: torch.Tensor,
        D: torch.Tensor,
        z: torch.Tensor | None,
        delta_bias: torch.Tensor | None,
        delta_softplus: bool,
        reverse: bool,
    ) -> torch.Tensor:
        from mtf_pose.model.ops import _numba_kernels as kernels

        dtype = x.dtype
        x, delta = x.detach().contiguous(), delta.detach().to(dtype).contiguous()
        # B and C are usually column slices of one projection: strided views are fine for the kernel.
        B, C = B.detach().to(dtype), C.detach().to(dtype)
        A_t = A.detach().to(dtype).t().contiguous()
        D_ = D.detach().to(dtype).contiguous()
        z_ = x.new_empty(1, 1, 1) if z is None else z.detach().to(dtype).contiguous()
        bias = x.new_zeros(x.shape[-1]) if delta_bias is None else delta_bias.detach().to(dtype).contiguous()
        out = torch.empty_like(x)
        kernels.launch(
            kernels.scan_forward, x.numpy(), delta.numpy(), A_t.numpy(), B.numpy(), C.numpy(), D_.numpy(),
            z_.numpy(), bias.numpy(), z is not None, delta_softplus, reverse, out.numpy(),
        )
        ctx.save_for_backward(x, delta, A_t, B, C, D_, z_, bias)
        ctx.options = (z is not None, delta_bias is not None, delta_softplus, reverse)
        ctx.param_dtypes = (A.dtype, D.dtype)
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        from mtf_pose.model.ops import _numba_kernels as kernels

        x, delta, A_t, B, C, D_, z_, bias = ctx.saved_tensors
        use_z, use_bias, delta_softplus, reverse = ctx.options
        blocks = kernels.worker_count()  # row blocks, one partial gradient each
        grad_x, grad_delta = torch.empty_like(x), torch.empty_like(x)
        grad_B, grad_C = x.new_zeros(B.shape), x.new_zeros(C.shape)
        grad_z = torch.empty_like(x) if use_z else z_
        grad_A_t = x.new_zeros(blocks, *A_t.shape)
        grad_D, grad_bias = x.new_zeros(blocks, x.shape[-1]), x.new_zeros(blocks, x.shape[-1])
        kernels.launch(
            kernels.scan_backward, x.numpy(), delta.numpy(), A_t.numpy(), B.numpy(), C.numpy(), D_.numpy(),
            z_.numpy(), bias.numpy(), use_z, delta_softplus, reverse,
            grad_out.to(x.dtype).contiguous().numpy(), grad_x.numpy(), grad_delta.numpy(), grad_B.numpy(),
            grad_C.numpy(), grad_z.numpy(), grad_A_t.numpy(), grad_D.numpy(), grad_bias.numpy(),
        )
        A_dtype, D_dtype = ctx.param_dtypes
        return (
            grad_x, grad_delta, grad_A_t.sum(0).t().to(A_dtype), grad_B, grad_C, grad_D.sum(0).to(D_dtype),
            grad_z if use_z else None, grad_bias.sum(0) if use_bias else None, None, None,
        )


def _selective_scan_cuda(
    x: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor,
    z: torch.Tensor | None,
    delta_bias: torch.Tensor | None,
    delta_softplus: bool,
    reverse: bool,
) -> torch.Tensor:
    """mamba-ssm's fused kernel, which takes (batch, channels, length) layouts."""
    from mamba_ssm.ops.selective_scan_interface import selective_scan_fn

    def to_kernel(t: torch.Tensor | None) -> torch.Tensor | None:
        if t is None:
            return None
        t = t.transpose(1, 2)
        return (t.flip(-1) if reverse else t).contiguous()

    y = selective_scan_fn(
        to_kernel(x), to_kernel(delta), A.float(), to_kernel(B), to_kernel(C), D.float(),
        z=to_kernel(z), delta_bias=None if delta_bias is None else delta_bias.float(),
        delta_softplus=delta_softplus,
    )
    if reverse:
        y = y.flip(-1)
    return y.transpose(1, 2)
