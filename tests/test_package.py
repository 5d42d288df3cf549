"""What ``import mtf_pose`` does to the process: only the OpenMP wait policy, and only when it may."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PRINT_POLICY = "import os; {imports}; print(os.environ.get('OMP_WAIT_POLICY'))"


def _policy_after(imports: str, preset: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if preset is not None:
        env["OMP_WAIT_POLICY"] = preset
    code = PRINT_POLICY.format(imports=imports)
    completed = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return completed.stdout.strip()


@pytest.mark.parametrize(
    ("imports", "preset", "expected"),
    [
        ("import mtf_pose", None, "PASSIVE"),  # torch not loaded yet: passive waiting offered
        ("import mtf_pose", "ACTIVE", "ACTIVE"),  # an explicit choice wins
        ("import torch; import mtf_pose", None, "None"),  # too late to matter: left alone
    ],
)
def test_openmp_wait_policy_is_offered_only_before_torch_loads(imports: str, preset: str | None, expected: str) -> None:
    assert _policy_after(imports, preset) == expected
