"""Batched VE predictor-corrector sampling (paper Algorithm 1) and RePaint inpainting
(Algorithm 2) driven by any score function.

``sample(score_fn, batch, settings, seeds)`` samples every crystal of ``batch`` (any
sizes, compositions, lattices) at once: the score function is called once per update on
the whole still-active batch. Without ``batch.mask`` every atom is generated
(Algorithm 1). With a mask, ``True`` atoms (guests) are generated and ``False`` atoms
(host) are conditioned on: RePaint with ``settings.resample_passes`` passes and jump
length ``settings.jump_length`` (see :mod:`chggen_kernels.sampling.schedule`).

``settings.method = "ode"`` replaces the ancestral predictor by a Heun step of the
probability-flow ODE (:mod:`chggen_kernels.sampling.ode`); ``settings.start_sigma`` starts
inpainting at an intermediate level (:func:`~chggen_kernels.sampling.schedule.start_position`).

Failure guard: a crystal whose positions become non-finite is frozen at its last finite
positions, marked failed with the level position of the step that failed, and dropped
from the batch; the others go on.

Optional orbit constraint (symmetric inpainting, :mod:`chggen_kernels.wyckoff`): the score
function is wrapped so that each orbit gets its symmetrised score, and after every position
update (initial draw, predictor, host reset, corrector, RePaint jump back) each orbit is
regenerated from its representative. Without a constraint nothing of this runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch

from chggen_kernels.crystal import CrystalBatch
from chggen_kernels.sampling.batches import check_seeds, split_by_budget
from chggen_kernels.sampling.ode import heun_update
from chggen_kernels.sampling.schedule import (
    SamplerStep,
    level_sigmas,
    sampler_schedule,
    start_position,
)
from chggen_kernels.sampling.settings import SamplerSettings
from chggen_kernels.sampling.steps import (
    SamplerState,
    ScoreFn,
    corrector_update,
    host_reset_update,
    init_state,
    jump_back_update,
    non_finite_crystals,
    predictor_update,
)

if TYPE_CHECKING:  # pragma: no cover
    from pymatgen.core import Structure

    from chggen_kernels.wyckoff.constraint import BoundOrbits, OrbitConstraint

__all__ = ["SampleResult", "Trajectory", "sample"]


@dataclasses.dataclass(frozen=True, eq=False)
class Trajectory:
    """Recorded frames of one crystal (for pictures).

    Attributes:
        levels: ``(n_frames,)`` level position of each frame (0 = ``sigma_max``,
            ``n_levels`` = clean); RePaint revisits appear as repeated levels.
        sigmas: ``(n_frames,)`` noise level of each frame in Å.
        positions: ``(n_frames, n_atoms, 3)`` wrapped Cartesian positions in Å (CPU).
    """

    levels: torch.Tensor
    sigmas: torch.Tensor
    positions: torch.Tensor


@dataclasses.dataclass(frozen=True, eq=False)
class SampleResult:
    """Output of :func:`sample`, crystals in the order of the request.

    Attributes:
        batch: the request with generated positions (Å, wrapped into the cell); lattices,
            species and mask unchanged. A failed crystal keeps its last finite positions.
        failed: ``(n_crystals,)`` bool, positions became non-finite.
        failed_level: ``(n_crystals,)`` int64, level position (index into
            :func:`~chggen_kernels.sampling.schedule.level_sigmas`, 0 = ``sigma_max``) of
            the step at which the crystal failed; -1 where it did not fail.
        seeds: the seed of each crystal.
        settings: ``SamplerSettings.to_dict()`` of the run.
        inpainting: whether the request had a mask (RePaint) or not (Algorithm 1).
        n_score_calls: calls made to the score function (all batches together).
        trajectories: one :class:`Trajectory` per crystal, or ``None`` when not recorded.
    """

    batch: CrystalBatch
    failed: torch.Tensor
    failed_level: torch.Tensor
    seeds: tuple[int, ...]
    settings: dict[str, Any]
    inpainting: bool
    n_score_calls: int
    trajectories: tuple[Trajectory, ...] | None = None

    def structures(self) -> list[Structure | None]:
        """One pymatgen ``Structure`` per crystal; ``None`` for failed crystals."""
        from chggen_kernels.crystal import to_structure

        failed = self.failed.tolist()
        return [None if failed[i] else to_structure(self.batch, i) for i in range(len(failed))]

    def records(self) -> list[dict[str, Any]]:
        """Per-crystal provenance: seed, failure, inpainting flag and sampler settings."""
        failed = self.failed.tolist()
        levels = self.failed_level.tolist()
        return [
            {
                "seed": self.seeds[i],
                "failed": failed[i],
                "failed_level": levels[i] if failed[i] else None,
                "inpainting": self.inpainting,
                "sampler_settings": dict(self.settings),
            }
            for i in range(len(failed))
        ]


def sample(
    score_fn: ScoreFn,
    batch: CrystalBatch,
    settings: SamplerSettings | None = None,
    seeds: Sequence[int] | int = 0,
    constraint: OrbitConstraint | None = None,
    progress: Callable[[int, int], None] | None = None,
    from_given_sigma: float | None = None,
) -> SampleResult:
    """Generate positions for every crystal of ``batch`` with the score function.

    Args:
        score_fn: ``score_fn(batch, sigma) -> (n_atoms, 3)`` score in Å^-1, ``sigma``
            ``(n_crystals,)`` in Å (a ``ScoreModel`` or an analytic score).
        batch: crystals to sample (lattices in Å and species are kept). Without a mask
            every atom is generated; with ``batch.mask`` only ``True`` atoms are, and the
            ``False`` atoms' given positions are the host (inpainting).
        settings: sampler settings (``None``: the :class:`SamplerSettings` defaults).
        seeds: one non-negative seed per crystal, or an int ``s`` meaning ``s + i`` for
            crystal ``i``. A crystal's result depends only on its seed, its own data, the
            settings and the score function, not on the other crystals or the batch split
            (for a score function that treats crystals independently).
        constraint: optional :class:`~chggen_kernels.wyckoff.OrbitConstraint` (one entry
            per crystal) tying generated atoms to symmetry orbits; ``None`` (default) runs
            the plain sampler, unchanged.
        progress: optional ``progress(done, total)`` called after every reverse step
            (noise level) with the steps done and the total over all budget batches.
        from_given_sigma: partial denoising of given structures (template starts, as
            SDEdit / DiffCSP++ do): every atom starts at its given position plus Gaussian
            noise of the first level at or below this sigma (Å), and the reverse process
            runs from that level. Only without a mask (every atom generated).
    """
    settings = SamplerSettings() if settings is None else settings
    recorded = settings.to_dict() | ({"from_given_sigma": from_given_sigma}
                                     if from_given_sigma is not None else {})
    settings = settings.for_batch(batch.mask is not None)
    n_crystals = batch.n_crystals
    seeds = check_seeds(seeds, n_crystals)
    if constraint is not None:
        constraint.check(batch)
    counts = batch.atoms_per_crystal.tolist()
    chunks = split_by_budget(counts, settings.max_atoms_per_batch)
    inpainting = batch.mask is not None
    sigmas = level_sigmas(settings.sigma_max, settings.sigma_min, settings.n_levels)
    start, schedule = _start_and_schedule(settings, sigmas, inpainting, from_given_sigma)

    positions = batch.positions.clone()
    failed_level = torch.full((n_crystals,), -1, dtype=torch.long)
    frames: list[list[tuple[int, float, torch.Tensor]]] = [[] for _ in range(n_crystals)]
    offsets = batch.offsets.tolist()
    n_calls = 0
    n_reverse = sum(step.is_reverse for step in schedule)
    ticker = None if progress is None else _Ticker(progress, n_reverse * len(chunks))
    with torch.no_grad():
        for chunk_ids in chunks:
            chunk = batch if len(chunks) == 1 else batch[chunk_ids]
            state = init_state(chunk, [seeds[i] for i in chunk_ids], sigmas[start], chunk_ids,
                               from_given=from_given_sigma is not None)
            run = _ChunkRun(score_fn, settings, sigmas, positions, failed_level, frames, offsets,
                            constraint, ticker)
            state = run.constrain(state, state.batch.positions)
            run.execute(state, schedule, start)
            n_calls += run.n_calls

    trajectories = None
    if settings.record_every is not None:
        trajectories = tuple(_stack_frames(f) for f in frames)
    return SampleResult(
        batch=batch.replace(positions=positions),
        failed=failed_level >= 0,
        failed_level=failed_level,
        seeds=tuple(seeds),
        settings=recorded,
        inpainting=inpainting,
        n_score_calls=n_calls,
        trajectories=trajectories,
    )


def _start_and_schedule(settings: SamplerSettings, sigmas: list[float], inpainting: bool,
                        from_given_sigma: float | None) -> tuple[int, list[SamplerStep]]:
    """The level the reverse process starts at (inpainting: ``start_sigma``; partial
    denoising: ``from_given_sigma``, Å; else sigma_max) and the moves from there."""
    if from_given_sigma is not None and inpainting:
        raise ValueError("from_given_sigma: partial denoising needs a batch without a mask")
    start = start_position(sigmas, settings.start_sigma if inpainting else from_given_sigma)
    schedule = sampler_schedule(settings.n_levels, settings.resample_passes if inpainting
                                else 1, settings.jump_length, start)
    return start, schedule


class _Ticker:
    """Counts reverse steps over all budget batches for the ``progress`` callback."""

    def __init__(self, callback: Callable[[int, int], None], total: int) -> None:
        self.callback, self.total, self.done = callback, total, 0

    def tick(self) -> None:
        self.done += 1
        self.callback(self.done, self.total)

    def finish_chunk(self, reverse_steps: int) -> None:
        """A chunk whose crystals all failed early: count its skipped steps as done."""
        if reverse_steps:
            self.done += reverse_steps
            self.callback(self.done, self.total)


class _ChunkRun:
    """Runs the schedule on one budget-sized batch, writing results into shared outputs."""

    def __init__(
        self,
        score_fn: ScoreFn,
        settings: SamplerSettings,
        sigmas: list[float],
        positions: torch.Tensor,
        failed_level: torch.Tensor,
        frames: list[list[tuple[int, float, torch.Tensor]]],
        offsets: list[int],
        constraint: OrbitConstraint | None = None,
        ticker: _Ticker | None = None,
    ) -> None:
        self.score_fn = score_fn
        self.ticker = ticker
        self.constraint = constraint
        self._bound: tuple[list[int], BoundOrbits] | None = None
        self.settings = settings
        self.sigmas = sigmas
        self.positions = positions
        self.failed_level = failed_level
        self.frames = frames
        self.offsets = offsets
        self.n_calls = 0
        # cap of the corrector step (Å^2): a displacement of order sigma_max
        self.max_step = 0.5 * settings.sigma_max**2

    def execute(self, state: SamplerState, schedule: list[SamplerStep], start: int = 0) -> None:
        self._record(state, start)
        left = sum(step.is_reverse for step in schedule)
        for step in schedule:
            if state.n_active == 0:
                break
            if step.is_reverse:
                state = self._reverse_step(state, step)
                left -= 1
                if self.ticker is not None:
                    self.ticker.tick()
                if step.target % self._record_every == 0 or step.target == len(self.sigmas) - 1:
                    self._record(state, step.target)
            else:
                new = jump_back_update(state, self.sigmas[step.source], self.sigmas[step.target])
                state = self._accept(state, self._project(state, new), step.source)
        if self.ticker is not None:
            self.ticker.finish_chunk(left)
        self._store(state, state.batch.positions)

    @property
    def _record_every(self) -> int:
        every = self.settings.record_every
        return every if every is not None else len(self.sigmas) + 1

    def _reverse_step(self, state: SamplerState, step: SamplerStep) -> SamplerState:
        sigma_from, sigma_to = self.sigmas[step.source], self.sigmas[step.target]
        if self.settings.method == "ode":
            new, calls = heun_update(state, self._score_fn(state), sigma_from, sigma_to,
                                     lambda x: self._project(state, x), self.settings.churn,
                                     self.settings.sigma_max)
            self.n_calls += calls
        else:
            new = predictor_update(state, self._score_fn(state), sigma_from, sigma_to)
            self.n_calls += 1
            new = host_reset_update(state, new, sigma_to)
        state = self._accept(state, self._project(state, new), step.source)
        if sigma_to == 0:
            return state
        ceiling = self.settings.corrector_sigma_max
        if ceiling is not None and sigma_to > ceiling:
            return state
        for _ in range(self.settings.n_corrector_steps):
            if state.n_active == 0:
                break
            new = corrector_update(
                state,
                self._score_fn(state),
                sigma_to,
                self.settings.snr,
                self.max_step,
                self.settings.corrector_step_rule,
            )
            self.n_calls += 1
            state = self._accept(state, self._project(state, new), step.source)
        return state

    # ------------------------------------------------------------------ constraint
    def _bound_for(self, state: SamplerState) -> BoundOrbits:
        ids = state.crystal_ids.tolist()
        if self._bound is None or self._bound[0] != ids:
            assert self.constraint is not None
            self._bound = (ids, self.constraint.bind(state.batch, ids))
        return self._bound[1]

    def _score_fn(self, state: SamplerState) -> ScoreFn:
        """The score function, symmetrised over the orbits when there is a constraint."""
        if self.constraint is None:
            return self.score_fn
        bound = self._bound_for(state)

        def symmetric(batch: CrystalBatch, sigma: torch.Tensor) -> torch.Tensor:
            score = self.score_fn(batch, sigma)
            if not isinstance(score, torch.Tensor) or tuple(score.shape) != (batch.n_atoms, 3):
                return score  # SamplerState.score names the problem
            return bound.symmetrize_score(score)

        return symmetric

    def _project(self, state: SamplerState, new: torch.Tensor) -> torch.Tensor:
        if self.constraint is None:
            return new
        return self._bound_for(state).project(new)

    def constrain(self, state: SamplerState, positions: torch.Tensor) -> SamplerState:
        """``state`` with ``positions`` projected on the orbits (no-op without constraint)."""
        if self.constraint is None:
            return state
        return state.with_positions(self._project(state, positions))

    def _accept(self, state: SamplerState, new: torch.Tensor, level: int) -> SamplerState:
        """Take the update; freeze and drop crystals whose new positions are non-finite."""
        bad = non_finite_crystals(state, new)
        if bad:
            failed = state.keep(bad)  # last finite positions of the failed crystals
            self._store(failed, failed.batch.positions)
            self.failed_level[failed.crystal_ids] = level
            keep = sorted(set(range(state.n_active)) - set(bad))
            return state.with_positions(new).keep(keep)
        return state.with_positions(new)

    def _store(self, state: SamplerState, positions: torch.Tensor) -> None:
        counts = state.atom_counts
        start = 0
        for crystal, n in zip(state.crystal_ids.tolist(), counts, strict=True):
            a = self.offsets[crystal]
            self.positions[a : a + n] = positions[start : start + n].to(self.positions.device)
            start += n

    def _record(self, state: SamplerState, level: int) -> None:
        if self.settings.record_every is None:
            return
        pos = state.batch.positions.detach().cpu()
        start = 0
        for crystal, n in zip(state.crystal_ids.tolist(), state.atom_counts, strict=True):
            self.frames[crystal].append((level, self.sigmas[level], pos[start : start + n]))
            start += n


def _stack_frames(frames: list[tuple[int, float, torch.Tensor]]) -> Trajectory:
    return Trajectory(
        levels=torch.tensor([f[0] for f in frames], dtype=torch.long),
        sigmas=torch.tensor([f[1] for f in frames], dtype=torch.float64),
        positions=torch.stack([f[2] for f in frames]),
    )
