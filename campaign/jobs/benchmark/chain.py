"""The benchmark's one door into the chain's middle layer (stage runner, local chain).

Everything ``chggen benchmark`` needs from ``campaign.stages.runner`` (the
:class:`~campaign.stages.runner.StageRunner`), ``campaign.jobs.chain``,
``campaign.stages.resources`` and the workflow planning goes through
:class:`InProcessChain` (interface: :class:`BenchmarkChain`); nothing else under
``campaign/jobs/benchmark`` imports them. A change
of the middle layer rewires this file only. The chain wraps any
:class:`~campaign.stages.runner.Runner`, so a runner that submits to the Ray campaign's actors
can stand in for the in-process one.

Units: Å, Å^3/atom, eV/atom.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from campaign.jobs.benchmark import GROUP_TABLE_METHODS, TEMPLATE_METHODS
from chggen_kernels.relax import RelaxSettings
from chggen_kernels.wyckoff.combinations import DEFAULT_MAX_COMBINATIONS

if TYPE_CHECKING:  # pragma: no cover
    from pymatgen.core import Structure

    from chggen_kernels.hosts import HostSpec
    from chggen_kernels.relax import RelaxResult
    from chggen_kernels.workflow import CandidateRecord, GeneratedCandidate

__all__ = ["BenchmarkChain", "ChainOptions", "InProcessChain", "build_chain", "chain_errors",
           "check_options"]


class BenchmarkChain(Protocol):
    """What the benchmark drivers call (records are ``CandidateRecord``; energies eV/atom)."""

    model_label: str

    def volume_per_atom(self, composition: Mapping[str, int]) -> float: ...

    def relax(self, structure: Structure) -> RelaxResult: ...

    def relax_guests(self, structure: Structure, fixed: Sequence[int]) -> RelaxResult: ...

    def unconditional(self, composition: Mapping[str, int], n: int, seed: int
                      ) -> list[CandidateRecord]: ...

    def inpaint(self, records: Sequence[CandidateRecord], guests: Sequence[str], n: int,
                seed: int, mode: str) -> list[CandidateRecord]: ...

    def score_structures(self, composition: Mapping[str, int],
                         structures: Sequence[Structure | None], seed: int,
                         reasons: Sequence[str | None]) -> list[CandidateRecord]: ...

    def host_candidates(self, host: HostSpec, n: int, seed: int, symmetric: bool
                        ) -> list[GeneratedCandidate]: ...

    def symmetric(self, composition: Mapping[str, int], n: int, seed: int,
                  min_distance: float = 1.0) -> list[CandidateRecord]: ...

    def template(self, composition: Mapping[str, int], n: int, seed: int, denoise: bool,
                 symmetric: bool = False) -> list[CandidateRecord]: ...

    def wyckoff_prior(self) -> Any: ...

    def warm_up(self, composition: Mapping[str, int], method: str) -> None: ...


@dataclasses.dataclass(frozen=True)
class ChainOptions:
    """How to build an :class:`InProcessChain` (picklable: worker processes get a copy).

    ``sampler`` overrides :class:`~chggen_kernels.sampling.SamplerSettings` fields on top
    of the checkpoint's trained sigma range; ``fmax`` in eV/Å.
    """

    checkpoint: str | None = None
    device: str = "cpu"
    sampler: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    fmax: float = RelaxSettings.fmax
    max_steps: int = RelaxSettings.max_steps
    threads: int | None = None
    max_combinations: int = DEFAULT_MAX_COMBINATIONS
    mlip: str = RelaxSettings.mlip

    def relax_settings(self) -> Any:
        from chggen_kernels.relax import RelaxSettings

        return RelaxSettings(fmax=self.fmax, max_steps=self.max_steps, device=self.device,
                             mlip=self.mlip)


def chain_errors() -> tuple[type[Exception], ...]:
    """Exceptions of the chain layer that mean bad input (exit code 2)."""
    from campaign.stages.resources import HullInputError, ModelNotAvailableError

    return ModelNotAvailableError, HullInputError


def check_options(options: ChainOptions) -> None:
    """Refuse bad sampler / relaxation settings before any model is loaded (ValueError)."""
    from chggen_kernels.sampling import SamplerSettings

    SamplerSettings.from_dict(dict(options.sampler))
    options.relax_settings()
    from chggen_kernels.relax.potentials import check_potential_name

    check_potential_name(options.mlip)  # PotentialError (an InputError, a ValueError): one line
    if options.threads is not None and options.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {options.threads}")
    if options.max_combinations < 1:
        raise ValueError(f"--max-wyckoff-combinations must be >= 1, got "
                         f"{options.max_combinations}")
    if not math.isfinite(options.fmax):
        raise ValueError(f"--fmax must be finite, got {options.fmax}")


@dataclasses.dataclass
class InProcessChain:
    """The benchmark's view of a stage runner (``runner``: generate, relax_and_score,
    inpainting_specs) plus a relaxer for structures that are no candidates (the known
    crystals, the guests-only stage).

    ``guest_relaxer(fixed)`` returns a relaxer that moves only the atoms not in ``fixed``
    (default: :func:`~chggen_kernels.benchmark.guests_only_relaxer` around
    ``relaxer.calculator``). The runner should have no hull: the benchmark compares the
    potential's energies (CHGNet unless ``ChainOptions.mlip``) with the known structure's
    relaxed with the same potential, not E_d.
    """

    runner: Any
    relaxer: Any
    volume_prior: Any = None
    max_combinations: int = DEFAULT_MAX_COMBINATIONS
    guest_relaxer: Callable[[Sequence[int]], Any] | None = None
    prior: Any = None  # WyckoffPrior; None: the shipped one, loaded on first use
    templates: Any = None  # TemplateLibrary; None: the shipped known phases, on first use

    @property
    def model_label(self) -> str:
        return str(getattr(self.runner, "model_label", ""))

    def volume_per_atom(self, composition: Mapping[str, int]) -> float:
        from campaign.stages.resources import resolve_volume_per_atom

        return resolve_volume_per_atom(composition, None, self.volume_prior)[0]

    def relax(self, structure: Structure) -> RelaxResult:
        return self.relaxer.relax(structure)

    def relax_guests(self, structure: Structure, fixed: Sequence[int]) -> RelaxResult:
        if self.guest_relaxer is not None:
            return self.guest_relaxer(fixed).relax(structure)
        from chggen_kernels.benchmark import guests_only_relaxer

        return guests_only_relaxer(self.relaxer.calculator, self.relaxer.settings,
                                   fixed).relax(structure)

    def _run(self, specs: Sequence[Any]) -> list[CandidateRecord]:
        from campaign.jobs.chain import run_specs

        return run_specs(self.runner, list(specs))

    def unconditional(self, composition: Mapping[str, int], n: int, seed: int
                      ) -> list[CandidateRecord]:
        """``n`` unconditional candidates (random Bravais lattices at the volume prior)."""
        from campaign.jobs.chain import plan_unconditional

        if n < 1:
            return []
        return self._run(plan_unconditional(composition, n, seed,
                                            self.volume_per_atom(composition)))

    def inpaint(self, records: Sequence[CandidateRecord], guests: Sequence[str], n: int,
                seed: int, mode: str) -> list[CandidateRecord]:
        """Up to ``n`` candidates inpainting ``guests`` into the refined frameworks of the
        successful ``records`` (best first), one host after the other in turn; fewer (or
        none) when few frameworks refine to a space group above P-1."""
        from chggen_kernels.workflow import inpainting_task_id, select_hosts

        if n < 1 or not guests:
            return []
        per_host = []
        for host in select_hosts([r.to_dict() for r in records], None):
            task_id = inpainting_task_id(mode, host["candidate_id"], list(guests), n, seed,
                                         self.max_combinations)
            per_host.append(self.runner.inpainting_specs(
                host, list(guests), n, task_id=task_id, campaign_seed=seed, mode=mode,
                max_combinations=self.max_combinations, max_atoms=None))
        specs = []
        for k in range(n):
            specs += [host_specs[k] for host_specs in per_host if k < len(host_specs)]
        return self._run(specs[:n])

    def score_structures(self, composition: Mapping[str, int],
                         structures: Sequence[Structure | None], seed: int,
                         reasons: Sequence[str | None]) -> list[CandidateRecord]:
        """Relax and score given structures (the random-search baseline) exactly as
        generated candidates are; ``None`` structures become failed rows with ``reasons``."""
        from chggen_kernels.workflow import CandidateSpec, GeneratedCandidate

        counts = {el: int(c) for el, c in sorted(composition.items()) if c}
        task_id = f"random-{seed}"
        out = []
        for k, (structure, reason) in enumerate(zip(structures, reasons, strict=True)):
            spec = CandidateSpec(candidate_id=f"{task_id}-r{k:03d}", task_id=task_id,
                                 composition=counts, mode="unconditional", seed=seed + k,
                                 lattice_family="random-search",
                                 volume_per_atom_prior=self.volume_per_atom(counts))
            generated = GeneratedCandidate(
                spec, "ok" if structure is not None else "failed",
                None if structure is None else structure.as_dict(),
                None if structure is not None else reason or "random search: no structure",
                0.0, {}, "random-search")
            out.append(generated)
        return self._relax(out)  # failed in, failed out

    def _relax(self, generated: Sequence[GeneratedCandidate]) -> list[CandidateRecord]:
        """Relax and score sampled candidates as ``run_specs`` does (batches of
        ``CANDIDATES_PER_RELAX_CALL``), so every method pays the same per relaxation."""
        from campaign.stages.runner import CANDIDATES_PER_RELAX_CALL

        out: list[CandidateRecord] = []
        for start in range(0, len(generated), CANDIDATES_PER_RELAX_CALL):
            out += self.runner.relax_and_score_many(
                list(generated[start:start + CANDIDATES_PER_RELAX_CALL]))
        return out

    def wyckoff_prior(self) -> Any:
        """The learned Wyckoff prior (the shipped one unless given)."""
        if self.prior is None:
            from chggen_kernels.wyckoff.prior import WyckoffPrior

            self.prior = WyckoffPrior.load()
        return self.prior

    def warm_up(self, composition: Mapping[str, int], method: str) -> None:
        """Load what ``method`` needs once per process (the prior, the template library
        and its stoichiometry type, pyxtal's group tables), so no task's CPU time pays
        for what the first task of a worker happened to load."""
        if method in GROUP_TABLE_METHODS:
            from chggen_kernels.wyckoff.crystals import compatible_space_groups

            compatible_space_groups(composition)
        if method in ("random-prior", "symmetric", *TEMPLATE_METHODS):
            self.wyckoff_prior()
        if method in TEMPLATE_METHODS:
            self.template_library().prepare(composition)

    def template_library(self) -> Any:
        """Template starts from the shipped known-phase structures unless given."""
        if self.templates is None:
            from chggen_kernels.templates import TemplateLibrary
            from chggen_kernels.thermo.known_structures import read_known_phase_structures

            self.templates = TemplateLibrary(read_known_phase_structures())
        return self.templates

    def symmetric(self, composition: Mapping[str, int], n: int, seed: int,
                  min_distance: float = 1.0) -> list[CandidateRecord]:
        """``n`` candidates drawn on Wyckoff orbits from the learned prior and denoised on
        them (``--mode symmetric``). ``SYMMETRIC_OVERSAMPLING`` times as many are sampled
        and the first ``n`` whose atoms stay ``min_distance`` Å apart are relaxed (AIRSS's
        close-contact rejection, after sampling; the sampling CPU time counts)."""
        from chggen_kernels.workflow.starts import symmetric_start_specs

        if n < 1:
            return []
        n_draw = math.ceil(SYMMETRIC_OVERSAMPLING * n)
        specs = symmetric_start_specs(f"symmetric-{seed}", composition, n_draw, seed,
                                      self.volume_per_atom(composition), self.wyckoff_prior(),
                                      min_distance=min_distance)
        chosen = separated_first(self.runner.generate(specs), n, min_distance)
        return self._relax(chosen)

    def template(self, composition: Mapping[str, int], n: int, seed: int, denoise: bool,
                 symmetric: bool = False) -> list[CandidateRecord]:
        """``n`` template starts, most similar first; ``denoise``: noised to
        ``TEMPLATE_SIGMA`` and denoised by the score model (``--mode template``; with
        ``symmetric`` on the template's own orbits, ``template-symmetric``), else relaxed
        as they are (repeats of a template noised, not denoised)."""
        from chggen_kernels.workflow.starts import template_start_specs

        specs = template_start_specs(f"template-{seed}", composition, n, seed,
                                     self.volume_per_atom(composition),
                                     self.template_library(), self.wyckoff_prior(),
                                     symmetric=symmetric)
        if denoise or any(spec.start is None for spec in specs):
            return self._run(specs)  # a fallback without starts is sampled
        return self._relax([raw_start(spec) for spec in specs])

    def host_candidates(self, host: HostSpec, n: int, seed: int, symmetric: bool
                        ) -> list[GeneratedCandidate]:
        """``n`` sampled (not relaxed) candidates placing ``host``'s guests into its
        framework as given; ``symmetric``: guests on Wyckoff orbits."""
        from campaign.jobs.chain import host_specs

        specs = host_specs(host, n, seed, symmetric=symmetric,
                           max_combinations=self.max_combinations)
        # the host benchmark (campaign.jobs.benchmark.hosts) reads ``structure`` (as_dict()):
        # exported here, at the benchmark's edge
        return [dataclasses.replace(g, structure=g.crystal.as_dict())
                if g.crystal is not None and g.structure is None else g
                for g in self.runner.generate(specs)]


#: Symmetric samples drawn per candidate relaxed (the rest are rejected for close contacts).
SYMMETRIC_OVERSAMPLING = 1.5


def separated_first(generated: Sequence[GeneratedCandidate], n: int, min_distance: float
                    ) -> list[GeneratedCandidate]:
    """The first ``n`` of ``generated``: sampled structures whose atoms are at least
    ``min_distance`` Å apart first, in order, then the other sampled ones, then failures."""
    from chggen_kernels.wyckoff.crystals import min_interatomic_distance

    def rank(g: GeneratedCandidate) -> int:
        structure = g.generated_structure() if g.status == "ok" else None
        if structure is None:
            return 2
        return 0 if min_interatomic_distance(structure) >= min_distance else 1

    ranks = [rank(g) for g in generated]
    order = sorted(range(len(generated)), key=lambda i: (ranks[i], i))
    return [generated[i] for i in order[:n]]


def raw_start(spec: Any) -> GeneratedCandidate:
    """A start relaxed without the score model: as it is for a template's first use, with
    Gaussian noise of ``TEMPLATE_SIGMA`` Å (seeded by the spec) for a repeat."""
    import numpy as np
    from pymatgen.core import Structure

    from chggen_kernels.templates import TEMPLATE_SIGMA
    from chggen_kernels.workflow import GeneratedCandidate

    structure = Structure.from_dict(spec.start)
    if spec.start_from and ", repeat " in spec.start_from:
        noise = np.random.default_rng(spec.seed).normal(size=(len(structure), 3))
        structure = Structure(structure.lattice, structure.species,
                              structure.cart_coords + TEMPLATE_SIGMA * noise,
                              coords_are_cartesian=True)
    return GeneratedCandidate(spec, "ok", structure.as_dict(), None, 0.0, {}, "no-model")


def build_chain(options: ChainOptions) -> InProcessChain:
    """The stage runner of ``options`` (the score model: ``options.checkpoint`` or the
    shipped one; CHGNet; no hull), loaded at once, and a relaxer sharing its CHGNet."""
    import torch

    from campaign.stages.resources import load_relaxer
    from campaign.stages.runner import RunnerSettings, build_runner

    if options.threads is not None:
        torch.set_num_threads(options.threads)
    relax = options.relax_settings()
    runner = build_runner(RunnerSettings(checkpoint=options.checkpoint or "",
                                         sampler=dict(options.sampler), relax=relax,
                                         hull="none", device=options.device))
    runner.load()
    return InProcessChain(runner=runner, relaxer=load_relaxer(relax),
                          volume_prior=runner.volume_prior,
                          max_combinations=options.max_combinations)
