"""A local Ray instance for the Ray engine tests: one per test module, 2 CPUs as on the development machine."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The batch tests' helpers (test data, the console script) are shared with these tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "batch"))

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    """The address of a Ray instance with 2 CPUs and 1 GPU in name only (no CUDA is needed: it lets a test
    see that an actor given a GPU picks it), shut down after the module's tests."""
    import ray  # here, not at the top: the modules that need Ray skip themselves when it is not installed

    # Ray's processes, and so the workers of every driver that connects, inherit this environment: they must
    # import this checkout, whatever copy of mtf_pose is installed.
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), saved]))
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, object_store_memory=200 * 2**20,
             logging_level=logging.WARNING)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
        if saved is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = saved
