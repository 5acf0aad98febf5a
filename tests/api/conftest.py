"""Fixtures of the Python API tests: a tiny score model and settings that run in seconds."""

from __future__ import annotations

import pytest
import torch

from tests.tiny_checkpoint import write_tiny_checkpoint

#: A few noise levels, a few relaxation steps, one thread, no progress lines: the keywords
#: of ``chggen.generate`` / ``inpaint`` (the options of ``chggen generate``).
FAST = {"n_levels": 6, "n_corrector": 1, "resample_passes": 1, "jump_length": 2,
        "max_steps": 12, "threads": 1, "quiet": True}
#: The same on the command line.
FAST_ARGV = ["--n-levels", "6", "--n-corrector", "1", "--resample-passes", "1",
             "--jump-length", "2", "--max-steps", "12", "--threads", "1", "--quiet"]


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny random-weight checkpoint (< 1k parameters) with a 20 Å^3/atom volume prior
    (as ``tests/campaign/conftest.py``'s)."""
    return write_tiny_checkpoint(tmp_path_factory.mktemp("model"))


@pytest.fixture(autouse=True)
def _restore_threads():
    previous = torch.get_num_threads()
    yield
    torch.set_num_threads(previous)
