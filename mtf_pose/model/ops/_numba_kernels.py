"""Numba CPU kernels: the selective scan and the causal depthwise convolution, forward and backward.

Layout is channels-last, the layout the surrounding ``nn.Linear`` layers produce:
``x, delta, z, out: (rows, L, D)``, ``B, C: (rows, L, N)``, ``A_t: (N, D)`` (``A`` transposed, so the
innermost loop runs over contiguous channels and vectorises), ``D_skip, delta_bias: (D,)``.

Why compiled kernels: the recurrence needs one ``exp(delta * A)`` per state element per step, and a
PyTorch loop over steps spends its time in allocation and dispatch, not arithmetic. Here the state of one
row lives in a small local array and the exponential is a branch-free polynomial that LLVM vectorises
(``math.exp`` is a scalar libm call that it does not). The elementwise work around the recurrence
(softplus of ``delta``, the ``silu(z)`` gate) is fused in, which saves full-size temporaries.

Rows are independent and run in parallel (``prange``). Parameter gradients are accumulated per block of
rows (a fixed split, one block per possible worker) and summed afterwards in block order, so no two
threads write the same element and the sums do not depend on how the threads were scheduled: the same
inputs give bit-identical gradients, which is what lets a resumed training run repeat an uninterrupted one.
"""

from __future__ import annotations

import math
import threading

import numba
import numpy as np
import torch
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic, overload

# The backward pass keeps the state history of one chunk of channels of the row in hand, (L + 1, N,
# CHANNEL_CHUNK) floats: 1 MB at L=243, N=16. Wider chunks amortise the per-step reductions over
# channels; 64 measured fastest of 16/32/64 (benchmarks/bench_scan.py).
CHANNEL_CHUNK = 64


@intrinsic
def _int32_bits_as_float32(typingctx, value):  # type: ignore[no-untyped-def]
    """Reinterpret the bits of an int32 as a float32 (builds 2**n without a libm call)."""
    if value != types.int32:
        return None

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(types.int32), codegen


def _vector_exp(x):  # type: ignore[no-untyped-def]
    """exp(x); inside compiled code the overload below replaces it (vectorisable for float32)."""
    return math.exp(x)


@overload(_vector_exp, inline="always", jit_options={"fastmath": True})
def _vector_exp_overload(x):  # type: ignore[no-untyped-def]
    if x == types.float32:

        def exp_float32(x):  # type: ignore[no-untyped-def]
            # Cody-Waite range reduction: x = k*ln2 + r with |r| <= ln2/2, so exp(x) = 2**k * exp(r).
            x = min(max(x, np.float32(-87.3)), np.float32(88.3))
            k = np.floor(x * np.float32(1.4426950408889634) + np.float32(0.5))
            r = x - k * np.float32(0.693145751953125)  # ln2, high part (exact in float32)
            r = r - k * np.float32(1.428606765330187e-06)  # ln2, low part
            # exp(r) by its degree-6 Taylor polynomial: relative error below 2e-7 on |r| <= ln2/2.
            p = np.float32(1.0 / 720.0)
            p = p * r + np.float32(1.0 / 120.0)
            p = p * r + np.float32(1.0 / 24.0)
            p = p * r + np.float32(1.0 / 6.0)
            p = p * r + np.float32(0.5)
            p = p * r + np.float32(1.0)
            p = p * r + np.float32(1.0)
            # 2**k from its IEEE-754 bits; k + 127 stays in (0, 255) after the clamp above.
            two_k = _int32_bits_as_float32(np.int32((np.int32(k) + np.int32(127)) << np.int32(23)))
            return p * two_k

        return exp_float32

    def exp_other(x):  # type: ignore[no-untyped-def]
        return math.exp(x)

    return exp_other


def _vector_log1p(u):  # type: ignore[no-untyped-def]
    """log(1 + u) for u in [0, 1]; inside compiled code the overload below replaces it."""
    return math.log1p(u)


@overload(_vector_log1p, inline="always", jit_options={"fastmath": True})
def _vector_log1p_overload(u):  # type: ignore[no-untyped-def]
    if u == types.float32:

        def log1p_float32(u):  # type: ignore[no-untyped-def]
            # log(1 + u) = 2 atanh(s) with s = u / (2 + u) in [0, 1/3]; odd series to s**11
            # (truncation below 2e-7 relative).
            s = u / (np.float32(2.0) + u)
            s2 = s * s
            p = np.float32(1.0 / 11.0)
            p = p * s2 + np.float32(1.0 / 9.0)
            p = p * s2 + np.float32(1.0 / 7.0)
            p = p * s2 + np.float32(1.0 / 5.0)
            p = p * s2 + np.float32(1.0 / 3.0)
            p = p * s2 + np.float32(1.0)
            return np.float32(2.0) * s * p

        return log1p_float32

    def log1p_other(u):  # type: ignore[no-untyped-def]
        return math.log1p(u)

    return log1p_other


@njit(inline="always", fastmath=True)
def _softplus(v):  # type: ignore[no-untyped-def]
    # Branch-free and overflow-free: max(v, 0) + log(1 + exp(-|v|)).
    return max(v, 0.0 * v) + _vector_log1p(_vector_exp(-abs(v)))


@njit(inline="always", fastmath=True)
def _sigmoid(v):  # type: ignore[no-untyped-def]
    one = v * 0.0 + 1.0
    return one / (one + _vector_exp(-v))


@njit(parallel=True, fastmath=True, cache=True)
def scan_forward(x, delta, A_t, B, C, D_skip, z, delta_bias, use_z, softplus, reverse, out):  # type: ignore[no-untyped-def]
    """out[r, t] = silu(z[r, t]) * (C[r, t] . h_t + D * x[r, t]),
    h_t = exp(dt[r, t] A) h_{t-1} + dt[r, t] B[r, t] x[r, t],  dt = softplus(delta + delta_bias).

    ``use_z`` off: no gate; ``softplus`` off: ``dt = delta + delta_bias``. With ``reverse`` the recurrence
    runs from the last step to the first.
    """
    rows, length, channels = x.shape
    states = A_t.shape[0]
    for row in prange(rows):
        h = np.zeros((states, channels), dtype=x.dtype)
        dt = np.empty(channels, dtype=x.dtype)
        dt_x = np.empty(channels, dtype=x.dtype)
        y = np.empty(channels, dtype=x.dtype)
        for step in range(length):
            t = length - 1 - step if reverse else step
            for d in range(channels):
                v = delta[row, t, d] + delta_bias[d]
                dt[d] = _softplus(v) if softplus else v
                dt_x[d] = dt[d] * x[row, t, d]
                y[d] = D_skip[d] * x[row, t, d]
            for n in range(states):
                b_n = B[row, t, n]
                c_n = C[row, t, n]
                for d in range(channels):
                    h_new = _vector_exp(dt[d] * A_t[n, d]) * h[n, d] + dt_x[d] * b_n
                    h[n, d] = h_new
                    y[d] += h_new * c_n
            if use_z:
                for d in range(channels):
                    zv = z[row, t, d]
                    out[row, t, d] = y[d] * zv * _sigmoid(zv)
            else:
                for d in range(channels):
                    out[row, t, d] = y[d]


@njit(parallel=True, fastmath=True, cache=True)
def scan_backward(  # type: ignore[no-untyped-def]
    x, delta, A_t, B, C, D_skip, z, delta_bias, use_z, softplus, reverse, grad_out,
    grad_x, grad_delta, grad_B, grad_C, grad_z, grad_A_t_partial, grad_D_partial, grad_bias_partial,
):
    """Gradients of :func:`scan_forward`, recomputing its states one chunk of channels at a time.

    A forward sweep recomputes the states (kept per step) and computes everything that needs only the
    current step: ``grad_z``, ``grad_C`` and ``grad_y`` (the gradient reaching the ungated output). A
    backward sweep then runs the state gradient, dL/dh_t = C_t grad_y_t + exp(dt_{t+1} A) dL/dh_{t+1},
    recomputing the decays (cheaper than storing them). ``grad_x``, ``grad_delta`` and (with ``use_z``)
    ``grad_z`` (rows, L, D) are fully written; ``grad_B``, ``grad_C`` (rows, L, N) are accumulated over
    chunks and must be zeroed, as must the ``*_partial`` buffers (leading axis: the blocks of rows).

    Speed: the hot loops index small arrays local to a block of rows, never ``array[..., d0 + j]``: with
    the offset index LLVM vectorised them poorly (measured 1.7x slower overall).
    """
    rows, length, channels = x.shape
    states = A_t.shape[0]
    zero = np.zeros(1, dtype=x.dtype)[0]
    blocks = grad_bias_partial.shape[0]  # a fixed split of the rows, whatever the scheduling
    chunk = min(CHANNEL_CHUNK, channels)
    for block in prange(blocks):
        # Scratch of one block, reused for each of its rows and chunks.
        A_chunk = np.empty((states, chunk), dtype=x.dtype)
        h_hist = np.empty((length + 1, states, chunk), dtype=x.dtype)  # [s + 1]: state after step s
        dt_hist = np.empty((length, chunk), dtype=x.dtype)
        grad_y_hist = np.empty((length, chunk), dtype=x.dtype)
        h = np.empty((states, chunk), dtype=x.dtype)
        grad_h = np.empty((states, chunk), dtype=x.dtype)
        grad_A_chunk = np.zeros((states, chunk), dtype=x.dtype)
        dt = np.empty(chunk, dtype=x.dtype)
        dt_x = np.empty(chunk, dtype=x.dtype)
        y = np.empty(chunk, dtype=x.dtype)
        grad_y = np.empty(chunk, dtype=x.dtype)
        grad_drive = np.empty(chunk, dtype=x.dtype)  # of the input term dt * x, summed over states
        grad_dt = np.empty(chunk, dtype=x.dtype)
        for row in range(block * rows // blocks, (block + 1) * rows // blocks):
            for d0 in range(0, channels, chunk):
                width = min(chunk, channels - d0)
                for n in range(states):
                    for j in range(width):
                        A_chunk[n, j] = A_t[n, d0 + j]
                h[:, :] = 0.0
                h_hist[0, :, :] = 0.0
                for step in range(length):
                    t = length - 1 - step if reverse else step
                    for j in range(width):
                        v = delta[row, t, d0 + j] + delta_bias[d0 + j]
                        dt[j] = _softplus(v) if softplus else v
                        dt_x[j] = dt[j] * x[row, t, d0 + j]
                        y[j] = D_skip[d0 + j] * x[row, t, d0 + j]
                    for n in range(states):
                        b_n = B[row, t, n]
                        c_n = C[row, t, n]
                        for j in range(width):
                            h_new = _vector_exp(dt[j] * A_chunk[n, j]) * h[n, j] + dt_x[j] * b_n
                            h[n, j] = h_new
                            h_hist[step + 1, n, j] = h_new
                            y[j] += h_new * c_n
                    for j in range(width):
                        g = grad_out[row, t, d0 + j]
                        if use_z:
                            zv = z[row, t, d0 + j]
                            sig = _sigmoid(zv)
                            grad_z[row, t, d0 + j] = g * y[j] * sig * (1.0 + zv * (1.0 - sig))
                            g = g * zv * sig
                        grad_y[j] = g
                        dt_hist[step, j] = dt[j]
                        grad_y_hist[step, j] = g
                    for n in range(states):
                        acc_c = zero
                        for j in range(width):
                            acc_c += grad_y[j] * h[n, j]
                        grad_C[row, t, n] += acc_c
                grad_h[:, :] = 0.0
                for step in range(length - 1, -1, -1):
                    t = length - 1 - step if reverse else step
                    for j in range(width):
                        dt[j] = dt_hist[step, j]
                        grad_y[j] = grad_y_hist[step, j]
                        dt_x[j] = dt[j] * x[row, t, d0 + j]
                        grad_drive[j] = zero
                        grad_dt[j] = zero
                    for n in range(states):
                        c_n = C[row, t, n]
                        b_n = B[row, t, n]
                        acc_b = zero
                        for j in range(width):
                            a = A_chunk[n, j]
                            decay = _vector_exp(dt[j] * a)
                            gh = grad_h[n, j] + grad_y[j] * c_n
                            acc_b += gh * dt_x[j]
                            grad_drive[j] += gh * b_n
                            through_decay = gh * decay * h_hist[step, n, j]  # dL/d(dt A) at this state
                            grad_dt[j] += a * through_decay
                            grad_A_chunk[n, j] += dt[j] * through_decay
                            grad_h[n, j] = gh * decay
                        grad_B[row, t, n] += acc_b
                    for j in range(width):
                        x_value = x[row, t, d0 + j]
                        g = grad_dt[j] + x_value * grad_drive[j]
                        if softplus:  # d softplus(v) / dv = sigmoid(v)
                            g = g * _sigmoid(delta[row, t, d0 + j] + delta_bias[d0 + j])
                        grad_delta[row, t, d0 + j] = g
                        grad_bias_partial[block, d0 + j] += g
                        grad_x[row, t, d0 + j] = grad_y[j] * D_skip[d0 + j] + dt[j] * grad_drive[j]
                        grad_D_partial[block, d0 + j] += grad_y[j] * x_value
                for n in range(states):
                    for j in range(width):
                        grad_A_t_partial[block, n, d0 + j] += grad_A_chunk[n, j]
                        grad_A_chunk[n, j] = zero


@njit(inline="always", fastmath=True)
def _conv_preactivation(x, weight_t, bias, reverse, row, t, acc):  # type: ignore[no-untyped-def]
    """``acc[:] = bias + sum_k weight_t[k] * x[row, source(t, k)]``: the convolution at one step of one row."""
    length = x.shape[1]
    taps = weight_t.shape[0]
    for d in range(acc.shape[0]):
        acc[d] = bias[d]
    for k in range(taps):
        source = t + (taps - 1) - k if reverse else t - (taps - 1) + k
        if 0 <= source < length:
            for d in range(acc.shape[0]):
                acc[d] += weight_t[k, d] * x[row, source, d]


@njit(parallel=True, fastmath=True, cache=True)
def conv_forward(x, weight_t, bias, silu, reverse, out):  # type: ignore[no-untyped-def]
    """Depthwise causal convolution, ``weight_t`` ``(K, D)``; optional SiLU.

    ``out[r, t] = bias + sum_k weight_t[k] * x[r, t - (K - 1) + k]`` (``t + (K - 1) - k`` with ``reverse``),
    zero outside the sequence.
    """
    rows, length, channels = x.shape
    for row in prange(rows):
        acc = np.empty(channels, dtype=x.dtype)
        for t in range(length):
            _conv_preactivation(x, weight_t, bias, reverse, row, t, acc)
            if silu:
                for d in range(channels):
                    out[row, t, d] = acc[d] * _sigmoid(acc[d])
            else:
                for d in range(channels):
                    out[row, t, d] = acc[d]


@njit(parallel=True, fastmath=True, cache=True)
def conv_backward(x, weight_t, bias, silu, reverse, grad_out, grad_x, grad_weight_partial, grad_bias_partial):  # type: ignore[no-untyped-def]
    """Gradients of :func:`conv_forward`; ``grad_x`` and the ``*_partial`` buffers must be zeroed."""
    rows, length, channels = x.shape
    taps = weight_t.shape[0]
    blocks = grad_bias_partial.shape[0]  # a fixed split of the rows, whatever the scheduling
    for block in prange(blocks):
        for row in range(block * rows // blocks, (block + 1) * rows // blocks):
            acc = np.empty(channels, dtype=x.dtype)
            for t in range(length):
                if silu:  # the pre-activation is needed for the SiLU derivative
                    _conv_preactivation(x, weight_t, bias, reverse, row, t, acc)
                    for d in range(channels):
                        sig = _sigmoid(acc[d])
                        acc[d] = grad_out[row, t, d] * sig * (1.0 + acc[d] * (1.0 - sig))
                else:
                    for d in range(channels):
                        acc[d] = grad_out[row, t, d]
                for d in range(channels):
                    grad_bias_partial[block, d] += acc[d]
                for k in range(taps):
                    source = t + (taps - 1) - k if reverse else t - (taps - 1) + k
                    if 0 <= source < length:
                        for d in range(channels):
                            grad_x[row, source, d] += weight_t[k, d] * acc[d]
                            grad_weight_partial[block, k, d] += x[row, source, d] * acc[d]


def worker_count() -> int:
    """Numba's worker threads at most: the number of row blocks (and partial gradient buffers) of a backward."""
    return int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]  # set at import, not in the stubs


# One kernel launch at a time: numba's default threading layer aborts on concurrent launches from
# several Python threads, and each launch already uses every worker.
_LAUNCH_LOCK = threading.Lock()


def launch(kernel, *args) -> None:  # type: ignore[no-untyped-def]
    """Run ``kernel(*args)`` with as many workers as PyTorch is allowed (``torch.set_num_threads``)."""
    requested = torch.get_num_threads()
    threads = max(1, min(requested, worker_count()))
    with _LAUNCH_LOCK:
        numba.set_num_threads(threads)
        kernel(*args)
        # numba's OpenMP layer starts its pool on the first launch in a process and sets OpenMP's thread
        # count to the pool's size on the way, which is the count PyTorch reads back: keep the caller's.
        if torch.get_num_threads() != requested:
            torch.set_num_threads(requested)
