"""Radial features of an edge: Bessel basis times a smooth polynomial cutoff envelope."""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

__all__ = [
    "BesselBasis",
    "PolynomialEnvelope",
    "RadialEmbedding",
    "RadialMLP",
    "normalized_activation",
]

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


_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "silu": torch.nn.functional.silu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
}
_NUMPY_ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "silu": lambda z: z / (1.0 + np.exp(-z)),
    "tanh": np.tanh,
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
}


@functools.cache
def _second_moment_scale(name: str) -> float:
    """``1 / sqrt(E[f(z)^2])`` for ``z ~ N(0, 1)`` by 100-point Gauss-Hermite quadrature."""
    z, w = np.polynomial.hermite_e.hermegauss(100)
    moment = float(np.sum(w * _NUMPY_ACTIVATIONS[name](z) ** 2) / np.sum(w))
    return 1.0 / math.sqrt(moment)


def normalized_activation(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """Activation ``name`` ('silu', 'tanh', 'sigmoid') rescaled to unit second moment on
    unit Gaussian input (keeps feature variances O(1) through the layers)."""
    act = _ACTIVATIONS[name]
    scale = _second_moment_scale(name)

    def normalized(x: torch.Tensor) -> torch.Tensor:
        return act(x) * scale

    return normalized


class RadialMLP(nn.Module):
    """Bias-free MLP with normalised SiLU: radial features -> tensor-product weights.

    Without biases a zero input gives a zero output, so edges whose radial features
    vanish (at the cutoff, through the envelope) carry no message: the network is
    continuous when a neighbour crosses the cutoff. Weights are N(0, 1) and every layer
    divides by sqrt(fan_in).
    """

    def __init__(self, sizes: list[int]) -> None:
        super().__init__()
        self.weights = nn.ParameterList(
            nn.Parameter(torch.randn(n_in, n_out)) for n_in, n_out in itertools.pairwise(sizes)
        )
        self.scales = [1.0 / math.sqrt(n_in) for n_in in sizes[:-1]]
        self.activation = normalized_activation("silu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = len(self.weights) - 1
        for k, (w, scale) in enumerate(zip(self.weights, self.scales, strict=True)):
            x = (x @ w) * scale
            if k < last:
                x = self.activation(x)
        return x
