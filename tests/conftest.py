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
