"""Noise levels and the order in which the sampler visits them.

Levels
------
The variance-exploding (VE) sampler uses ``n_levels`` noise levels, geometric from
``sigma_max`` down to ``sigma_min`` (Å), and one extra clean level ``sigma = 0`` at the end:

    position k = 0, 1, ..., n_levels - 1, n_levels
    sigma_k    = sigma_max, ..., sigma_min, 0

A *reverse step* ``k -> k + 1`` is one predictor update (paper eqn 4) from ``sigma_k`` to
``sigma_{k+1}`` followed by ``M`` Langevin corrector updates at ``sigma_{k+1}``. The last
reverse step, ``sigma_min -> 0``, has no predictor noise and no corrector (the Langevin
step is undefined at ``sigma = 0``): it is the denoising step ``x + sigma_min^2 * score``.
In the paper's notation (``sigma_1 = sigma_min, ..., sigma_T = sigma_max`` and
``t = T, ..., 1``) position ``k`` is ``t = T - k`` and the clean level is ``sigma_0 = 0``,
so there are ``T`` predictor steps and ``T - 1`` corrector blocks.

RePaint resampling (inpainting)
-------------------------------
With jump length ``j`` and ``r`` passes, the positions ``k = j, 2j, 3j, ...`` with
``k < n_levels`` are *jump points*. The first ``r - 1`` times the sampler arrives at a
jump point ``k`` by a reverse step, it jumps back to ``k - j`` by adding forward VE noise
``sqrt(sigma_{k-j}^2 - sigma_k^2) z`` (exactly ``j`` forward diffusion steps in one draw)
and denoises again. Every block ``(k - j, k]`` is therefore traversed ``r`` times, except
a final partial block that ends at the clean level (traversed once): there is never a
jump back from the final clean state. ``j = 1`` is the paper's Algorithm 2 (``r`` passes
at every level, none at ``t = 1``); this is the schedule of Lugmayr et al. (RePaint,
2022) anchored at the noisy end instead of the clean end. The paper prints the
re-noising variance as ``sigma_{t-1}^2 - sigma_{t-2}^2``; the forward step that undoes a
reverse step ``t -> t - 1`` has variance ``sigma_t^2 - sigma_{t-1}^2``, which we use.
"""

from __future__ import annotations

import dataclasses
import math

import torch

__all__ = [
    "SamplerStep",
    "geometric_sigmas",
    "level_sigmas",
    "sampler_schedule",
    "start_position",
]


def geometric_sigmas(
    sigma_max: float,
    sigma_min: float,
    n_levels: int,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """``n_levels`` noise levels (Å), geometric from ``sigma_max`` down to ``sigma_min``.

    ``sigmas[0] == sigma_max`` and ``sigmas[-1] == sigma_min``; ``n_levels == 1`` gives
    ``[sigma_max]`` and requires ``sigma_max == sigma_min``.
    """
    if not isinstance(n_levels, int) or n_levels < 1:
        raise ValueError(f"n_levels must be a positive integer, got {n_levels!r}")
    if not (math.isfinite(sigma_min) and sigma_min > 0):
        raise ValueError(f"sigma_min must be a positive finite number (Å), got {sigma_min!r}")
    if not (math.isfinite(sigma_max) and sigma_max >= sigma_min):
        raise ValueError(
            f"sigma_max must be finite and >= sigma_min = {sigma_min!r} (Å), got {sigma_max!r}"
        )
    if n_levels == 1:
        if sigma_max != sigma_min:
            raise ValueError(
                f"n_levels = 1 needs sigma_max == sigma_min, got {sigma_max!r} and {sigma_min!r}"
            )
        return torch.tensor([sigma_max], dtype=dtype)
    exponents = torch.linspace(0.0, 1.0, n_levels, dtype=torch.float64)
    sigmas = sigma_max * (sigma_min / sigma_max) ** exponents
    sigmas[0], sigmas[-1] = sigma_max, sigma_min  # exact end points
    return sigmas.to(dtype)


def level_sigmas(sigma_max: float, sigma_min: float, n_levels: int) -> list[float]:
    """The ``n_levels + 1`` sigmas (Å) of positions ``0..n_levels``: geometric, then 0."""
    return [*geometric_sigmas(sigma_max, sigma_min, n_levels).tolist(), 0.0]


@dataclasses.dataclass(frozen=True)
class SamplerStep:
    """One move of the sampler between level positions (see module docstring).

    ``target > source`` is a reverse (denoising) step, ``target < source`` a RePaint jump
    back to a noisier level.
    """

    source: int
    target: int

    @property
    def is_reverse(self) -> bool:
        return self.target > self.source


def start_position(sigmas: list[float], start_sigma: float | None) -> int:
    """First level position whose sigma is <= ``start_sigma`` (Å), never the clean level;
    ``None``: 0 (``sigma_max``). ``sigmas``: :func:`level_sigmas`."""
    if start_sigma is None:
        return 0
    below = [k for k, s in enumerate(sigmas[:-1]) if s <= start_sigma * (1 + 1e-12)]
    return below[0] if below else len(sigmas) - 2


def sampler_schedule(
    n_levels: int, resample_passes: int = 1, jump_length: int = 1, start: int = 0
) -> list[SamplerStep]:
    """The ordered moves from position ``start`` (0: ``sigma_max``) to position
    ``n_levels`` (clean).

    ``resample_passes = 1`` gives the plain reverse chain of Algorithm 1: ``n_levels``
    reverse steps. Otherwise RePaint resampling as described in the module docstring,
    with the jump points ``start + j, start + 2j, ...`` (a partial start never jumps
    back above its first level).
    """
    for name, value in (
        ("n_levels", n_levels),
        ("resample_passes", resample_passes),
        ("jump_length", jump_length),
    ):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if isinstance(start, bool) or not isinstance(start, int) or not 0 <= start < n_levels:
        raise ValueError(f"start must be an integer in [0, n_levels) = [0, {n_levels}), "
                         f"got {start!r}")
    remaining = {
        k: resample_passes - 1 for k in range(start + jump_length, n_levels, jump_length)
    }
    steps: list[SamplerStep] = []
    k = start
    while k < n_levels:
        steps.append(SamplerStep(k, k + 1))
        k += 1
        if remaining.get(k, 0) > 0:
            remaining[k] -= 1
            steps.append(SamplerStep(k, k - jump_length))
            k -= jump_length
    return steps
