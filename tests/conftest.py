"""Shared pytest configuration: deterministic torch, float64 where physics is checked."""

import os

import numpy as np
import pytest
import torch

torch.set_num_threads(int(os.environ.get("CHGGEN_TEST_THREADS", "2")))


@pytest.fixture(autouse=True)
def _seed_everything() -> None:
    torch.manual_seed(0)
    np.random.seed(0)  # noqa: NPY002 - seeds legacy global RNG users (pymatgen, ase)


@pytest.fixture
def one_thread():
    """One torch thread for the test (restored after): small tensors and many small ops
    (analytic scores, small e3nn steps) run several times faster than on two threads of
    a shared 2-core machine. Modules opt in with ``pytestmark``."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
