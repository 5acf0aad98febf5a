"""The tiny random-weight checkpoint the CLI and API tests share."""

from __future__ import annotations

from pathlib import Path

import torch

from chggen_kernels.model import ScoreModel
from chggen_kernels.training import CheckpointMetadata, save_checkpoint
from chggen_kernels.training.tiny import tiny_model_config


def write_tiny_checkpoint(folder: Path) -> str:
    """A tiny random-weight checkpoint (< 1k parameters, seed 0) with a 20 Å^3/atom volume
    prior for Li and Si, written to ``folder/tiny.pt``; returns its path."""
    torch.manual_seed(0)
    config = tiny_model_config(n_layers=1, hidden_irreps="4x0e+2x1o", radial_hidden=(8,),
                               n_radial_basis=4, species_embedding_dim=4, noise_embedding_dim=4)
    model = ScoreModel(config)
    metadata = CheckpointMetadata(data_hash="0123456789abcdef", sigma_min=0.01, sigma_max=5.0,
                                  volume_prior={"Li": 20.0, "Si": 20.0})
    path = Path(folder) / "tiny.pt"
    save_checkpoint(path, config.to_dict(), model.state_dict(), metadata)
    return str(path)
