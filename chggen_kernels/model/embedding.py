"""Node inputs: a learned embedding per element and an embedding of the noise level."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["SpeciesEmbedding", "NoiseLevelEmbedding"]


class SpeciesEmbedding(nn.Module):
    """Learned vector per atomic number (equivalent to one-hot followed by a linear map)."""

    def __init__(self, max_atomic_number: int, dim: int) -> None:
        super().__init__()
        self.max_atomic_number = int(max_atomic_number)
        self.table = nn.Embedding(self.max_atomic_number + 1, dim)

    def forward(self, atomic_numbers: torch.Tensor) -> torch.Tensor:
        """``atomic_numbers``: (n_atoms,) int64 -> (n_atoms, dim)."""
        if atomic_numbers.numel() and int(atomic_numbers.max()) > self.max_atomic_number:
            raise ValueError(
                f"atomic number {int(atomic_numbers.max())} exceeds the model's "
                f"max_atomic_number={self.max_atomic_number}"
            )
        return self.table(atomic_numbers)


class NoiseLevelEmbedding(nn.Module):
    """Embedding of ``s = log(sigma / Å)``: fixed Fourier features, then a SiLU MLP.

    The features are ``sin(w_k s), cos(w_k s)`` with ``n_frequencies`` geometrically
    spaced angular frequencies from 0.05 to 2 per unit of ``log(sigma)``; over the
    schedule range (sigma from 1e-3 to 10 Å, ``s`` in [-6.9, 2.3]) the lowest frequency
    is nearly linear in ``s`` and the highest resolves a factor of about 2 in sigma.
    """

    def __init__(self, dim: int, n_frequencies: int = 8) -> None:
        super().__init__()
        self.register_buffer(
            "frequencies",
            torch.logspace(
                torch.log10(torch.tensor(0.05)), torch.log10(torch.tensor(2.0)), n_frequencies
            ).to(torch.get_default_dtype()),
        )
        self.mlp = nn.Sequential(
            nn.Linear(2 * n_frequencies, dim), nn.SiLU(), nn.Linear(dim, dim), nn.SiLU()
        )

    def forward(self, sigma: torch.Tensor) -> torch.Tensor:
        """``sigma``: (n_crystals,) Å, positive -> (n_crystals, dim)."""
        s = torch.log(sigma)[:, None] * self.frequencies
        return self.mlp(torch.cat([torch.sin(s), torch.cos(s)], dim=1))
