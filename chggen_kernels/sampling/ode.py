"""Probability-flow ODE step of the VE SDE (Heun's second-order method, EDM style).

The VE SDE ``dx = sqrt(d sigma^2 / dt) dW`` has the probability-flow ODE

    dx / dsigma = -sigma * score(x, sigma)        (x in Å, sigma in Å, score in Å^-1)

whose solution carries the noisy marginal at ``sigma_max`` into the data distribution
at ``sigma = 0`` with no noise added. One level step ``sigma_f -> sigma_t`` with
``h = sigma_t - sigma_f`` (negative) is Heun's method (Karras et al. 2022, Algorithm 1):

    d_1 = -sigma_f score(x, sigma_f)
    x'  = x + h d_1                                   (Euler proposal)
    d_2 = -sigma_t score(x', sigma_t)
    x   = x + h (d_1 + d_2) / 2

and the last step to ``sigma_t = 0`` is the Euler step alone, ``x + sigma_f^2 score``
(the same denoising step as the predictor-corrector sampler). Positions are wrapped into
the cell after every update (the score is periodic).

Inpainting (RePaint): the host atoms of the proposal ``x'`` are reset to
``x0_host + sigma_t z`` before ``d_2`` is evaluated and kept in the result, so the host
sits at the level's noise exactly as after the ancestral predictor. With an orbit
constraint the proposal and the result are projected on the orbits (``project``).

Optional stochastic churn (Karras et al. 2022, Algorithm 2): before the step the noise
is raised from ``sigma_f`` to ``sigma_hat = min(sigma_f (1 + churn), sigma_max)`` by adding
``sqrt(sigma_hat^2 - sigma_f^2) z`` Å to every atom, and the step starts at ``sigma_hat``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from chggen_kernels.sampling.steps import (
    SamplerState,
    ScoreFn,
    host_reset_update,
    non_finite_crystals,
)

__all__ = ["heun_update"]

Project = Callable[[torch.Tensor], torch.Tensor]


def heun_update(
    state: SamplerState,
    score_fn: ScoreFn,
    sigma_from: float,
    sigma_to: float,
    project: Project | None = None,
    churn: float = 0.0,
    sigma_cap: float = math.inf,
) -> tuple[torch.Tensor, int]:
    """One Heun step of the probability-flow ODE from ``sigma_from`` to ``sigma_to`` (Å).

    Returns the new wrapped positions (Å; host atoms at ``x0_host + sigma_to z``) and the
    number of score evaluations (2, or 1 for ``sigma_to = 0``). ``project`` maps positions
    onto the orbit constraint (identity when ``None``); ``churn`` and ``sigma_cap`` (Å)
    as in the module docstring. A crystal whose Euler proposal is non-finite gets
    non-finite result rows, so the sampler's failure guard drops it at this level; the
    other crystals are unaffected.
    """
    keep = project if project is not None else (lambda x: x)
    sigma_hat = min(sigma_from * (1.0 + churn), sigma_cap) if sigma_to > 0 else sigma_from
    if sigma_hat > sigma_from:
        std = math.sqrt(sigma_hat**2 - sigma_from**2)
        churned = keep(state.wrapped(state.batch.positions + std * state.normal_noise()))
        state = state.with_positions(churned)
        sigma_from = sigma_hat
    x = state.batch.positions
    step = sigma_to - sigma_from  # h < 0
    d1 = -sigma_from * state.score(score_fn, sigma_from)
    euler = keep(host_reset_update(state, state.wrapped(x + step * d1), sigma_to))
    if sigma_to == 0:
        return euler, 1
    bad = non_finite_crystals(state, euler)
    bad_atoms = None
    if bad:
        index = state.batch.crystal_index
        bad_atoms = torch.isin(index, torch.as_tensor(bad, device=index.device)).unsqueeze(1)
        euler = torch.where(bad_atoms, x, euler)  # finite input for the second evaluation
    proposal = state.with_positions(euler)
    d2 = -sigma_to * proposal.score(score_fn, sigma_to)
    heun = state.keep_hosts(x + 0.5 * step * (d1 + d2), euler)
    heun = keep(state.wrapped(heun))
    if bad_atoms is not None:
        heun = torch.where(bad_atoms, torch.full_like(heun, math.nan), heun)
    return heun, 2
