"""Sampler state and the single updates of the VE predictor-corrector / RePaint samplers.

Every update takes a :class:`SamplerState` (the still-active crystals of one batch) and
returns new Cartesian positions (Å), already wrapped into the cell; the caller checks
them for non-finite values and stores them with :meth:`SamplerState.with_positions`.
Lattices and species never change.

Randomness: crystal ``c`` owns one CPU ``torch.Generator`` seeded with its seed, and
every draw for its atoms comes from that generator, in the same order whatever else is
in the batch. Noise is drawn on the CPU and moved to the batch's device, so a seed gives
the same noise on every device.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import torch

from chggen_kernels.crystal import CrystalBatch

__all__ = [
    "ScoreFn",
    "SamplerState",
    "corrector_update",
    "host_reset_update",
    "init_state",
    "jump_back_update",
    "non_finite_crystals",
    "predictor_update",
]

ScoreFn = Callable[[CrystalBatch, torch.Tensor], torch.Tensor]
"""``score_fn(batch, sigma) -> (n_atoms, 3)`` score in Å^-1; ``sigma``: (n_crystals,) Å."""


@dataclasses.dataclass(frozen=True, eq=False)
class SamplerState:
    """The still-active crystals of one sampler batch.

    Attributes:
        batch: the active crystals with their current, wrapped positions (Å).
        crystal_ids: ``(n_active,)`` int64 CPU tensor, index of each crystal in the request.
        given_positions: ``(n_atoms, 3)`` the positions given in the request (Å); for host
            atoms these are ``x0_host`` of the paper's eqn 7.
        guest: ``(n_atoms, 1)`` bool, ``True`` for atoms that are generated; ``None`` when
            every atom is generated (unconditional sampling, no host).
        generators: one CPU generator per active crystal.
        atom_counts: atoms per active crystal (Python ints, for the noise draws).
        inverse_lattices: ``(n_atoms, 3, 3)`` inverse lattice of each atom's crystal (Å^-1).
    """

    batch: CrystalBatch
    crystal_ids: torch.Tensor
    given_positions: torch.Tensor
    guest: torch.Tensor | None
    generators: list[torch.Generator]
    atom_counts: list[int]
    inverse_lattices: torch.Tensor

    @property
    def n_active(self) -> int:
        return len(self.generators)

    def with_positions(self, positions: torch.Tensor) -> SamplerState:
        """The same state with new positions (Å)."""
        return dataclasses.replace(self, batch=self.batch.replace(positions=positions))

    def keep(self, local: Sequence[int]) -> SamplerState:
        """Only the active crystals with local indices ``local`` (drops failed crystals)."""
        local = list(local)
        offsets = self.batch.offsets.tolist()
        atoms = torch.cat(
            [torch.arange(offsets[c], offsets[c + 1]) for c in local]
            or [torch.zeros(0, dtype=torch.long)]
        ).to(self.batch.device)
        return SamplerState(
            batch=self.batch[local],
            crystal_ids=self.crystal_ids[local],
            given_positions=self.given_positions[atoms],
            guest=None if self.guest is None else self.guest[atoms],
            generators=[self.generators[c] for c in local],
            atom_counts=[self.atom_counts[c] for c in local],
            inverse_lattices=self.inverse_lattices[atoms],
        )

    # ------------------------------------------------------------------ helpers
    def normal_noise(self) -> torch.Tensor:
        """Standard normal ``(n_atoms, 3)``, each crystal's rows from its own generator."""
        dtype = self.batch.dtype
        parts = [
            torch.randn((n, 3), generator=g, dtype=dtype)
            for g, n in zip(self.generators, self.atom_counts, strict=True)
        ]
        return torch.cat(parts).to(self.batch.device, non_blocking=True)

    def uniform_fractions(self) -> torch.Tensor:
        """Uniform ``[0, 1)`` ``(n_atoms, 3)``, each crystal's rows from its own generator."""
        dtype = self.batch.dtype
        parts = [
            torch.rand((n, 3), generator=g, dtype=dtype)
            for g, n in zip(self.generators, self.atom_counts, strict=True)
        ]
        return torch.cat(parts).to(self.batch.device, non_blocking=True)

    def wrapped(self, positions: torch.Tensor) -> torch.Tensor:
        """Cartesian positions (Å) wrapped into each atom's cell (fractional in [0, 1))."""
        frac = torch.einsum("ni,nij->nj", positions, self.inverse_lattices)
        frac = torch.remainder(frac, 1.0)
        return torch.einsum("ni,nij->nj", frac, self.batch.atom_lattices)

    def sigma_vector(self, sigma: float) -> torch.Tensor:
        """``(n_active,)`` tensor filled with ``sigma`` (Å), as the score function expects."""
        return torch.full((self.n_active,), sigma, dtype=self.batch.dtype, device=self.batch.device)

    def score(self, score_fn: ScoreFn, sigma: float) -> torch.Tensor:
        """Call ``score_fn`` once on the whole active batch; check the shape it returns."""
        score = score_fn(self.batch, self.sigma_vector(sigma))
        expected = (self.batch.n_atoms, 3)
        if not isinstance(score, torch.Tensor) or tuple(score.shape) != expected:
            got = tuple(score.shape) if isinstance(score, torch.Tensor) else type(score).__name__
            raise ValueError(f"score_fn returned {got}; expected a tensor of shape {expected}")
        return score.to(self.batch.dtype)

    def keep_hosts(self, proposed: torch.Tensor, host: torch.Tensor) -> torch.Tensor:
        """``proposed`` for guest atoms and ``host`` for host atoms (paper eqn 8)."""
        if self.guest is None:
            return proposed
        return torch.where(self.guest, proposed, host)


def init_state(
    batch: CrystalBatch, seeds: Sequence[int], sigma_max: float, crystal_ids: Sequence[int],
    from_given: bool = False,
) -> SamplerState:
    """The state at ``sigma_max``: generated atoms uniform in the cell, hosts noised.

    Generated (guest) atoms start uniform in fractional coordinates: for ``sigma_max``
    much larger than the cell, the wrapped VE prior ``N(x0, sigma_max^2)`` is uniform
    whatever ``x0`` is (the reference draws N(0, 1) fractional coordinates and wraps,
    which is not uniform). Host atoms start at ``x0_host + sigma_max z`` (paper eqn 7).
    ``from_given``: every atom starts at its given position plus ``sigma_max z`` (partial
    denoising of a template start).
    """
    generators = []
    for seed in seeds:
        g = torch.Generator(device="cpu")
        g.manual_seed(int(seed))
        generators.append(g)
    guest = None if batch.mask is None else batch.mask.unsqueeze(1)
    state = SamplerState(
        batch=batch,
        crystal_ids=torch.as_tensor(list(crystal_ids), dtype=torch.long),
        given_positions=batch.positions,
        guest=guest,
        generators=generators,
        atom_counts=batch.atoms_per_crystal.tolist(),
        inverse_lattices=torch.linalg.inv(batch.lattices)[batch.crystal_index],
    )
    if from_given:
        noised = batch.positions + sigma_max * state.normal_noise()
        return state.with_positions(state.wrapped(noised))
    uniform = batch.cartesian(state.uniform_fractions())
    if guest is not None:
        host = batch.positions + sigma_max * state.normal_noise()
        uniform = state.keep_hosts(uniform, host)
    return state.with_positions(state.wrapped(uniform))


def predictor_update(
    state: SamplerState, score_fn: ScoreFn, sigma_from: float, sigma_to: float
) -> torch.Tensor:
    """Ancestral VE predictor (paper eqn 4) from ``sigma_from`` to ``sigma_to`` (Å).

    ``x + (s_f^2 - s_t^2) score(x, s_f) + sqrt(s_t^2 (s_f^2 - s_t^2) / s_f^2) z``; with
    ``sigma_to = 0`` this is the noise-free denoising step (no draw).
    """
    x = state.batch.positions
    variance_drop = sigma_from**2 - sigma_to**2
    proposed = x + variance_drop * state.score(score_fn, sigma_from)
    if sigma_to > 0:
        std = math.sqrt(sigma_to**2 * variance_drop / sigma_from**2)
        proposed = proposed + std * state.normal_noise()
    return state.wrapped(proposed)


def host_reset_update(state: SamplerState, positions: torch.Tensor, sigma: float) -> torch.Tensor:
    """Host atoms to ``x0_host + sigma z`` (eqn 7), guests kept (eqn 8); no-op without host."""
    if state.guest is None:
        return positions
    host = state.given_positions
    if sigma > 0:
        host = host + sigma * state.normal_noise()
    return state.wrapped(state.keep_hosts(positions, host))


def corrector_update(
    state: SamplerState,
    score_fn: ScoreFn,
    sigma: float,
    snr: float,
    max_step: float,
    rule: str = "per_atom",
) -> torch.Tensor:
    """One Langevin corrector step at ``sigma`` (Å) with a signal-to-noise step rule.

    ``x_i + eps_i score_i + sqrt(2 eps_i) z_i`` with, for ``rule = "per_atom"`` (paper),
    ``eps_i = 2 (sqrt(3) snr / |score_i|)^2`` (Å^2) for every atom ``i``, or for
    ``rule = "per_crystal"`` one ``eps = 2 snr^2 3 N / sum_i |score_i|^2`` for the ``N``
    atoms of a crystal. Where the score norm is (near) zero the rules give an unbounded
    step; ``eps`` is capped at ``max_step`` (Å^2), a jump far beyond any cell. Host atoms
    are held (conditional Langevin on the guests; their positions were set by
    :func:`host_reset_update` for this level).
    """
    x = state.batch.positions
    score = state.score(score_fn, sigma)
    norm2 = (score * score).sum(dim=1)
    if rule == "per_crystal":
        index = state.batch.crystal_index
        total = torch.zeros(state.n_active, dtype=x.dtype, device=x.device)
        total.index_add_(0, index, norm2)
        norm2 = (total / state.batch.atoms_per_crystal.to(x.dtype))[index]
    elif rule != "per_atom":
        raise ValueError(f"unknown corrector step rule {rule!r}")
    numerator = 6.0 * snr**2
    eps = (numerator / torch.clamp(norm2, min=numerator / max_step)).unsqueeze(1)
    proposed = x + eps * score + torch.sqrt(2.0 * eps) * state.normal_noise()
    return state.wrapped(state.keep_hosts(proposed, x))


def jump_back_update(state: SamplerState, sigma_low: float, sigma_high: float) -> torch.Tensor:
    """RePaint jump from ``sigma_low`` to ``sigma_high`` (Å): ``x + sqrt(s_h^2 - s_l^2) z``.

    Applied to every atom: host atoms then sit at the higher noise level as well.
    """
    std = math.sqrt(sigma_high**2 - sigma_low**2)
    return state.wrapped(state.batch.positions + std * state.normal_noise())


def non_finite_crystals(state: SamplerState, positions: torch.Tensor) -> list[int]:
    """Local indices of the active crystals with a non-finite coordinate in ``positions``."""
    finite = torch.isfinite(positions).all(dim=1)
    if bool(finite.all()):
        return []
    bad = torch.zeros(state.n_active, dtype=torch.long, device=positions.device)
    bad.index_add_(0, state.batch.crystal_index, (~finite).long())
    return torch.nonzero(bad).flatten().tolist()
