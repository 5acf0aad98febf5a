"""Radial features of an edge: Bessel basis times a smooth polynomial cutoff envelope."""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["BesselBasis", "PolynomialEnvelope", "RadialEmbedding"]

# Edge lengths are clamped from below to this value (Å) before dividing by them. The
# neighbour list never returns zero-length edges; this only guards overlapping atoms.
_MIN_EDGE_LENGTH = 1e-6


class BesselBasis(nn.Module):
    """``b_n(r) = sqrt(2 / c) sin(n pi r / c) / r`` for ``n = 1..n_basis`` (r, c in Å).

    The zeros of every function sit at the cutoff ``c``; the frequencies are fixed.
    """

    def __init__(self, cutoff: float, n_basis: int) -> None:
        super().__init__()
        self.cutoff = float(cutoff)
        self.register_buffer(
            "frequencies", torch.arange(1, n_basis + 1, dtype=torch.get_default_dtype()) * math.pi
            / self.cutoff
        )
        self.prefactor = math.sqrt(2.0 / self.cutoff)

    def forward(self, length: torch.Tensor) -> torch.Tensor:
        """``length``: (n_edges,) Å -> (n_edges, n_basis)."""
        r = length.clamp_min(_MIN_EDGE_LENGTH)[:, None]
        return self.prefactor * torch.sin(self.frequencies * r) / r


class PolynomialEnvelope(nn.Module):
    """Smooth cutoff ``u(x) = 1 - (p+1)(p+2)/2 x^p + p(p+2) x^(p+1) - p(p+1)/2 x^(p+2)``.

    ``x = r / cutoff``; ``u`` and its first ``p - 1`` derivatives vanish at ``x = 1``, and
    ``u = 0`` beyond the cutoff, so a neighbour entering the cutoff sphere changes the
    network output continuously.
    """

    def __init__(self, cutoff: float, exponent: int = 6) -> None:
        super().__init__()
        self.cutoff = float(cutoff)
        self.p = int(exponent)

    def forward(self, length: torch.Tensor) -> torch.Tensor:
        """``length``: (n_edges,) Å -> (n_edges,) envelope in [0, 1]."""
        p = self.p
        x = length / self.cutoff
        xp = x.pow(p)
        u = 1.0 - (p + 1) * (p + 2) / 2 * xp + p * (p + 2) * xp * x - p * (p + 1) / 2 * xp * x * x
        return torch.where(x < 1.0, u, torch.zeros_like(u))


class RadialEmbedding(nn.Module):
    """Bessel basis multiplied by the envelope: (n_edges,) Å -> (n_edges, n_basis)."""

    def __init__(self, cutoff: float, n_basis: int, envelope_exponent: int = 6) -> None:
        super().__init__()
        self.basis = BesselBasis(cutoff, n_basis)
        self.envelope = PolynomialEnvelope(cutoff, envelope_exponent)

    def forward(self, length: torch.Tensor) -> torch.Tensor:
        return self.basis(length) * self.envelope(length)[:, None]
