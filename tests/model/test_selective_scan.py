"""The selective scan: every backend against the sequential reference, and the reference against algebra."""

from __future__ import annotations

import math

import pytest
import torch

from mtf_pose.model.ops import numba_available, resolve_backend, selective_scan, selective_scan_reference

CPU_BACKENDS = ["torch"] + (["numba"] if numba_available() else [])
# Stated tolerances, relative to the largest magnitude of the reference value:
# float32 forward 1e-5 and gradients 2e-5 (measured: ~3e-7 and ~2e-6); float64 1e-12 (measured ~3e-15).
TOLERANCE = {torch.float32: (1e-5, 2e-5), torch.float64: (1e-12, 1e-12)}


def _inputs(batch: int, length: int, channels: int, states: int, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(length * 7 + channels)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g, dtype=dtype)

    return {
        "x": randn(batch, length, channels),
        "delta": randn(batch, length, channels) * 0.5 - 1.0,
        "A": -torch.exp(randn(channels, states) * 0.5 + 1.0),
        "B": randn(batch, length, states),
        "C": randn(batch, length, states),
        "D": randn(channels),
        "z": randn(batch, length, channels),
        "delta_bias": randn(channels) * 0.3,
    }


def _relative_error(value: torch.Tensor, reference: torch.Tensor) -> float:
    difference = (value - reference).detach().abs().max()
    return float(difference / reference.detach().abs().max().clamp_min(1e-30))


def _assert_matches_reference(backend: str, inputs: dict[str, torch.Tensor], reverse: bool) -> None:
    """Output and the gradients of all eight inputs against the reference, within TOLERANCE."""
    leaves = {k: v.clone().requires_grad_() for k, v in inputs.items()}
    reference = selective_scan_reference(**leaves, reverse=reverse)
    grad_output = torch.randn_like(reference)
    reference_grads = torch.autograd.grad(reference, list(leaves.values()), grad_output)

    leaves2 = {k: v.clone().requires_grad_() for k, v in inputs.items()}
    output = selective_scan(**leaves2, reverse=reverse, backend=backend)
    grads = torch.autograd.grad(
        output, list(leaves2.values()), grad_output, allow_unused=True, materialize_grads=True
    )
    forward_tol, grad_tol = TOLERANCE[reference.dtype]
    assert output.dtype == reference.dtype and output.shape == reference.shape
    assert _relative_error(output, reference) < forward_tol
    for name, grad, reference_grad in zip(leaves, grads, reference_grads):
        assert _relative_error(grad, reference_grad) < grad_tol, name


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("length", [1, 2, 17, 243, 1000])
@pytest.mark.parametrize("reverse", [False, True])
def test_backend_matches_reference_forward_and_backward(
    backend: str, dtype: torch.dtype, length: int, reverse: bool
) -> None:
    _assert_matches_reference(backend, _inputs(2, length, 24, 16, dtype), reverse)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("channels", [64, 150])
def test_channels_spanning_several_kernel_chunks(backend: str, channels: int) -> None:
    # The numba backward works on chunks of 64 channels: one full chunk, then two full and a partial one.
    _assert_matches_reference(backend, _inputs(2, 17, channels, 16, torch.float64), reverse=True)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_optional_gate_bias_and_plain_delta(backend: str) -> None:
    inputs = _inputs(3, 17, 8, 4, torch.float64)
    inputs.pop("z")
    inputs.pop("delta_bias")
    inputs["delta"] = inputs["delta"].abs() * 0.1  # without softplus delta must stay positive to be a scan
    expected = selective_scan_reference(**inputs, delta_softplus=False)
    actual = selective_scan(**inputs, delta_softplus=False, backend=backend)
    assert _relative_error(actual, expected) < 1e-12


def test_reference_solves_a_scalar_recurrence_in_closed_form() -> None:
    # One channel, one state, constant inputs: h_t = a h_{t-1} + b with a = exp(dt A), b = dt B x,
    # so h_t = b (1 - a^(t+1)) / (1 - a) and y_t = C h_t + D x.
    length, dt, a_coef, b_coef, c_coef, d_coef, x = 30, 0.2, -1.5, 0.7, 1.3, 0.4, 2.0
    ones = torch.ones(1, length, 1, dtype=torch.float64)
    y = selective_scan_reference(
        ones * x, ones * dt, torch.tensor([[a_coef]], dtype=torch.float64), ones * b_coef, ones * c_coef,
        torch.tensor([d_coef], dtype=torch.float64), delta_softplus=False,
    )
    a = math.exp(dt * a_coef)
    b = dt * b_coef * x
    expected = torch.tensor(
        [c_coef * b * (1 - a ** (t + 1)) / (1 - a) + d_coef * x for t in range(length)], dtype=torch.float64
    )
    torch.testing.assert_close(y[0, :, 0], expected, rtol=1e-12, atol=1e-12)


def test_reverse_is_the_scan_of_the_reversed_sequence() -> None:
    inputs = _inputs(2, 9, 4, 3, torch.float64)
    flipped = {k: (v.flip(1) if v.dim() == 3 else v) for k, v in inputs.items()}
    expected = selective_scan_reference(**flipped).flip(1)
    torch.testing.assert_close(selective_scan_reference(**inputs, reverse=True), expected)


def test_backend_resolution_is_explicit() -> None:
    cpu32 = torch.zeros(1, dtype=torch.float32)
    assert resolve_backend("auto", cpu32) == ("numba" if numba_available() else "torch")
    # Half-precision CPU inputs are scanned in float32, so they get the compiled kernels too.
    assert resolve_backend("auto", cpu32.bfloat16()) == resolve_backend("auto", cpu32)
    assert resolve_backend("auto", cpu32.to(torch.int32)) == "torch"
    assert resolve_backend("torch", cpu32) == "torch"
    with pytest.raises(ValueError, match="needs CUDA tensors"):
        resolve_backend("cuda", cpu32)
    with pytest.raises(ValueError, match="backend must be one of"):
        resolve_backend("fast", cpu32)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_inputs_are_scanned_in_float32(backend: str, dtype: torch.dtype) -> None:
    """As under torch.autocast: the result and the gradients are the float32 ones, rounded to ``dtype``."""
    inputs = {k: v.to(dtype) for k, v in _inputs(2, 243, 8, 4, torch.float32).items()}
    leaves = {k: v.clone().requires_grad_() for k, v in inputs.items()}
    output = selective_scan(**leaves, backend=backend)
    grad_output = torch.randn(output.shape, generator=torch.Generator().manual_seed(0)).to(dtype)
    grads = torch.autograd.grad(output, list(leaves.values()), grad_output)

    leaves32 = {k: v.float().requires_grad_() for k, v in inputs.items()}
    expected = selective_scan(**leaves32, backend=backend)
    expected_grads = torch.autograd.grad(expected, list(leaves32.values()), grad_output.float())
    assert output.dtype == dtype
    torch.testing.assert_close(output, expected.to(dtype), rtol=0, atol=0)
    for name, grad, expected_grad in zip(inputs, grads, expected_grads):
        assert grad.dtype == dtype, name
        torch.testing.assert_close(grad, expected_grad.to(dtype), rtol=0, atol=0, msg=name)


def test_shape_errors_name_the_argument() -> None:
    inputs = _inputs(2, 5, 4, 3, torch.float32)
    inputs["B"] = inputs["B"][:, :, :2]
    with pytest.raises(ValueError, match=r"B must have shape \(2, 5, 3\)"):
        selective_scan(**inputs)


@pytest.mark.skipif(not numba_available(), reason="numba is not installed")
def test_numba_gradients_do_not_depend_on_the_thread_count() -> None:
    """Parameter gradients are summed over a fixed split of the rows: bit-identical with 1 or many threads."""
    from mtf_pose.model.ops._numba_kernels import worker_count

    if worker_count() < 2:
        pytest.skip("numba has a single worker thread on this machine: nothing to compare")
    inputs = _inputs(64, 243, 64, 16, torch.float32)  # enough work for every thread to take a share
    gradients = []
    previous = torch.get_num_threads()
    try:
        # Which rows a thread takes varies from run to run (TBB steals work): repeat the many-thread runs.
        for threads in (1,) + (worker_count(),) * 6:
            torch.set_num_threads(threads)  # the kernels launch with torch's thread count
            leaves = {k: v.clone().requires_grad_() for k, v in inputs.items()}
            output = selective_scan(**leaves, backend="numba")
            gradients.append(torch.autograd.grad(output.sum(), list(leaves.values())))
    finally:
        torch.set_num_threads(previous)
    for run in gradients[1:]:
        for name, one_thread, many_threads in zip(inputs, gradients[0], run):
            assert torch.equal(one_thread, many_threads), name
