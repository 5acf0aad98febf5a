"""Fixtures shared by the campaign CLI tests."""

from __future__ import annotations

import pytest
import torch

from chggen_kernels.model import ScoreModel
from chggen_kernels.training import CheckpointMetadata, save_checkpoint
from chggen_kernels.training.tiny import tiny_model_config


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny random-weight checkpoint (< 1k parameters) with a 20 Å^3/atom volume prior.

    Modules that need another model (``test_runner``, ``test_model_info``) define
    their own ``checkpoint`` fixture, which takes precedence over this one.
    """
    torch.manual_seed(0)
    config = tiny_model_config(n_layers=1, hidden_irreps="4x0e+2x1o", radial_hidden=(8,),
                               n_radial_basis=4, species_embedding_dim=4, noise_embedding_dim=4)
    model = ScoreModel(config)
    metadata = CheckpointMetadata(data_hash="0123456789abcdef", sigma_min=0.01, sigma_max=5.0,
                                  volume_prior={"Li": 20.0, "Si": 20.0})
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    save_checkpoint(path, config.to_dict(), model.state_dict(), metadata)
    return str(path)
