"""The causal depthwise convolution against F.conv1d and against hand-made kernels."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from mtf_pose.model.ops import causal_conv1d, causal_conv1d_reference, numba_available

CPU_BACKENDS = ["torch"] + (["numba"] if numba_available() else [])


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("length", [1, 2, 3, 4, 17, 243])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("activation", [None, "silu"])
def test_matches_reference_with_gradients(backend: str, length: int, reverse: bool, activation: str | None) -> None:
    x = torch.randn(3, length, 10, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(10, 4, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(10, dtype=torch.float64, requires_grad=True)
    expected = causal_conv1d_reference(x, weight, bias, activation=activation, reverse=reverse)
    grad_output = torch.randn_like(expected)
    expected_grads = torch.autograd.grad(expected, (x, weight, bias), grad_output)
    actual = causal_conv1d(x, weight, bias, activation=activation, reverse=reverse, backend=backend)
    actual_grads = torch.autograd.grad(actual, (x, weight, bias), grad_output)
    torch.testing.assert_close(actual, expected, rtol=1e-12, atol=1e-12)
    for grad, expected_grad in zip(actual_grads, expected_grads):
        torch.testing.assert_close(grad, expected_grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_hand_made_kernels(backend: str) -> None:
    x = torch.arange(1.0, 7.0).reshape(1, 6, 1)
    last_tap = torch.tensor([[0.0, 0.0, 0.0, 1.0]])  # weight on the current step: identity
    first_tap = torch.tensor([[1.0, 0.0, 0.0, 0.0]])  # weight three steps back: a delay of 3
    assert causal_conv1d(x, last_tap, backend=backend).flatten().tolist() == [1, 2, 3, 4, 5, 6]
    assert causal_conv1d(x, first_tap, backend=backend).flatten().tolist() == [0, 0, 0, 1, 2, 3]
    # Reversed, the delay becomes a look-ahead of 3.
    assert causal_conv1d(x, first_tap, reverse=True, backend=backend).flatten().tolist() == [4, 5, 6, 0, 0, 0]
    summed = torch.ones(1, 4)
    bias = torch.tensor([10.0])
    assert causal_conv1d(x, summed, bias, backend=backend).flatten().tolist() == [11, 13, 16, 20, 24, 28]


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_inputs_are_convolved_in_float32(backend: str, dtype: torch.dtype) -> None:
    """As under torch.autocast: the result and the gradients are the float32 ones, rounded to ``dtype``."""
    generator = torch.Generator().manual_seed(3)
    x, weight, bias = (torch.randn(*shape, generator=generator).to(dtype) for shape in ((2, 17, 6), (6, 4), (6,)))
    leaves = [t.clone().requires_grad_() for t in (x, weight, bias)]
    output = causal_conv1d(*leaves, activation="silu", reverse=True, backend=backend)
    grad_output = torch.randn(output.shape, generator=generator).to(dtype)
    grads = torch.autograd.grad(output, leaves, grad_output)
    leaves32 = [t.float().requires_grad_() for t in (x, weight, bias)]
    expected = causal_conv1d(*leaves32, activation="silu", reverse=True, backend=backend)
    expected_grads = torch.autograd.grad(expected, leaves32, grad_output.float())
    assert output.dtype == dtype
    torch.testing.assert_close(output, expected.to(dtype), rtol=0, atol=0)
    for grad, expected_grad in zip(grads, expected_grads):
        assert grad.dtype == dtype
        torch.testing.assert_close(grad, expected_grad.to(dtype), rtol=0, atol=0)


def test_bad_shapes_are_named() -> None:
    with pytest.raises(ValueError, match=r"weight must be \(5, kernel_size\)"):
        causal_conv1d(torch.zeros(1, 3, 5), torch.zeros(4, 4))
    with pytest.raises(ValueError, match="activation must be"):
        causal_conv1d(torch.zeros(1, 3, 5), torch.zeros(5, 4), activation="relu")


@pytest.mark.skipif(not numba_available(), reason="numba is not installed")
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="numba's pool has one thread: nothing to clobber")
def test_the_first_numba_launch_keeps_the_callers_torch_thread_count() -> None:
    """numba's OpenMP pool, started by the first kernel of a process, used to reset PyTorch to every core
    (a Ray actor given one CPU then ran on all of them). It needs a fresh process to show."""
    code = (
        "import torch; torch.set_num_threads(1)\n"
        "from mtf_pose.model.ops import causal_conv1d\n"
        "causal_conv1d(torch.rand(2, 17, 8), torch.rand(8, 4), torch.rand(8), backend='numba')\n"
        "print(torch.get_num_threads())\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "1"
