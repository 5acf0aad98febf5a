"""Fixtures of the Python API tests: a tiny score model and settings that run in seconds."""

from __future__ import annotations

import pytest
import torch

from chggen_kernels.model import ScoreModel
from chggen_kernels.training import CheckpointMetadata, save_checkpoint
from chggen_kernels.training.tiny import tiny_model_config

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
    torch.manual_seed(0)
    config = tiny_model_config(n_layers=1, hidden_irreps="4x0e+2x1o", radial_hidden=(8,),
                               n_radial_basis=4, species_embedding_dim=4, noise_embedding_dim=4)
    model = ScoreModel(config)
    metadata = CheckpointMetadata(data_hash="0123456789abcdef", sigma_min=0.01, sigma_max=5.0,
                                  volume_prior={"Li": 20.0, "Si": 20.0})
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    save_checkpoint(path, config.to_dict(), model.state_dict(), metadata)
    return str(path)


@pytest.fixture(autouse=True)
def _restore_threads():
    previous = torch.get_num_threads()
    yield
    torch.set_num_threads(previous)
