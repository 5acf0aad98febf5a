"""A fast stand-in stage runner (no score model, no CHGNet) for the campaign tests.

Injected as ``run_campaign(config, runner_factory=FakeRunnerFactory(...))``; Ray pickles the
factory by value (:func:`register_by_value`), so the actors need not import ``tests``.

Everything is deterministic in the candidate seed: structures are random positions in a
cubic cell of 20 Å^3/atom; E_d is drawn uniformly from [-0.05, 0.25] eV/atom; the relaxed
space group from (1, 2, 12, 166, 225). Options inject faults:

* ``fail_ids``: candidates whose relaxation returns a failed record;
* ``generate_fail_ids``: candidates whose sampling fails;
* ``crash_once_ids`` + ``marker_dir``: the relaxation worker process kills itself
  (SIGKILL) the first time it meets one of these candidates (a marker file remembers);
* ``sampler_crash_once_ids`` + ``marker_dir``: the same for the sampler actor, mid-batch
  (after the batch's earlier candidates were drawn, before any is returned);
* ``load_error``: loading the score model raises ``RuntimeError(load_error)`` (an actor
  that cannot start);
* ``relax_seconds`` / ``sample_seconds``: time per candidate, slept or, with
  ``busy=True``, spent computing (so that CPU parallelism is measurable).
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from campaign.config.compositions import parse_formula
from campaign.stages.runner import RunnerSettings, failed_row
from chggen_kernels.workflow import candidate_id, candidate_seed
from chggen_kernels.workflow.records import (
    CandidateRecord,
    CandidateSpec,
    Cell,
    GeneratedCandidate,
)

__all__ = ["FakeRunner", "FakeRunnerFactory", "register_by_value"]

_SPACEGROUPS = ((1, "P1"), (2, "P-1"), (12, "C2/m"), (166, "R-3m"), (225, "Fm-3m"))


def _spend(seconds: float, busy: bool) -> None:
    if seconds <= 0:
        return
    if not busy:
        time.sleep(seconds)
        return
    end = time.perf_counter() + seconds
    x = 0.0
    while time.perf_counter() < end:
        for i in range(2000):
            x += (i % 7) * 1e-9


def _random_structure(spec: CandidateSpec) -> dict[str, Any]:
    from pymatgen.core import Lattice, Structure

    rng = random.Random(spec.seed)
    if spec.mode != "unconditional" and spec.host is not None:
        structure = spec.host.to_structure()
        guests = list(spec.guest_species) or ["Li"]
        for i in range(spec.n_guest):
            structure.append(guests[i % len(guests)], [rng.random() for _ in range(3)])
        return structure.as_dict()
    species = [el for el, n in sorted(spec.composition.items()) for _ in range(n)]
    a = (20.0 * len(species)) ** (1 / 3)
    coords = [[rng.random() for _ in range(3)] for _ in species]
    return Structure(Lattice.cubic(a), species, coords).as_dict()


def _node_name() -> str:
    try:
        import ray

        if ray.is_initialized():
            return ray.get_runtime_context().get_node_id()[:12]
    except Exception:  # pragma: no cover - informational only
        pass
    return "local"


def register_by_value() -> None:
    """Let Ray pickle this module's classes by value (the workers cannot import tests/)."""
    import sys

    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


def _utc_now() -> str:
    import datetime

    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


class FakeRunnerFactory:
    """``factory(settings) -> FakeRunner`` with the given timings and faults (docstring)."""

    def __init__(self, relax_seconds: float = 0.0, sample_seconds: float = 0.0,
                 busy: bool = False, fail_ids: Sequence[str] = (),
                 generate_fail_ids: Sequence[str] = (), crash_once_ids: Sequence[str] = (),
                 sampler_crash_once_ids: Sequence[str] = (),
                 marker_dir: str | None = None, load_error: str | None = None,
                 relax_calls_log: str | None = None, relax_raise_ids: Sequence[str] = ()
                 ) -> None:
        if (crash_once_ids or sampler_crash_once_ids) and not marker_dir:
            raise ValueError("fake runner: crash_once_ids needs marker_dir")
        self.options = {"relax_seconds": relax_seconds, "sample_seconds": sample_seconds,
                        "busy": busy, "fail": frozenset(fail_ids),
                        "generate_fail": frozenset(generate_fail_ids),
                        "crash_once": frozenset(crash_once_ids),
                        "sampler_crash_once": frozenset(sampler_crash_once_ids),
                        "marker_dir": marker_dir, "load_error": load_error,
                        "relax_calls_log": relax_calls_log,
                        "relax_raise": frozenset(relax_raise_ids)}

    def __call__(self, settings: RunnerSettings) -> FakeRunner:
        return FakeRunner(settings, **self.options)


class FakeRunner:
    """The stage runner's interface with random structures and drawn energies."""

    def __init__(self, settings: RunnerSettings, *, relax_seconds: float, sample_seconds: float,
                 busy: bool, fail: frozenset[str], generate_fail: frozenset[str],
                 crash_once: frozenset[str], sampler_crash_once: frozenset[str],
                 marker_dir: str | None, load_error: str | None,
                 relax_calls_log: str | None, relax_raise: frozenset[str]) -> None:
        self.settings = settings
        self.relax_calls_log = relax_calls_log
        self.relax_raise = relax_raise
        self.relax_seconds, self.sample_seconds, self.busy = relax_seconds, sample_seconds, busy
        self.fail, self.generate_fail, self.crash_once = fail, generate_fail, crash_once
        self.sampler_crash_once = sampler_crash_once
        self.marker_dir = marker_dir
        self.load_error = load_error
        self.model_label = ""

    def load(self, *, model: bool = True, relaxer: bool = True) -> None:
        if model and self.load_error:
            raise RuntimeError(self.load_error)
        if model:
            self.model_label = (f"fake:{self.settings.checkpoint or 'shipped'}@{_node_name()}/"
                                f"{self.settings.device}")

    def generate(self, specs: Sequence[CandidateSpec], progress: Any = None
                 ) -> list[GeneratedCandidate]:
        out = []
        for spec in specs:
            if spec.candidate_id in self.sampler_crash_once:
                self._crash_once(f"sampler-crashed-{spec.candidate_id}")
            t0 = time.perf_counter()
            _spend(self.sample_seconds, self.busy)
            failed = spec.candidate_id in self.generate_fail
            out.append(GeneratedCandidate(
                spec=spec, status="failed" if failed else "ok",
                structure=None if failed else _random_structure(spec),
                failure_reason="fake: sampling failed" if failed else None,
                t_sample_s=time.perf_counter() - t0, sampler_settings=dict(self.settings.sampler),
                model_checkpoint=self.model_label))
        return out

    def relax_and_score_many(self, candidates: Sequence[GeneratedCandidate]
                             ) -> list[CandidateRecord]:
        """One by one; with ``relax_calls_log`` each call appends its candidate ids."""
        if self.relax_calls_log:
            with open(self.relax_calls_log, "a") as log:
                log.write(" ".join(c.spec.candidate_id for c in candidates) + "\n")
        broken = [c.spec.candidate_id for c in candidates if c.spec.candidate_id in
                  self.relax_raise]
        if broken:  # an actor call that raises (unlike the real runner, which never does)
            raise RuntimeError(f"fake: relaxation call raised for {broken[0]}")
        return [self.relax_and_score(c) for c in candidates]

    def relax_and_score(self, candidate: GeneratedCandidate) -> CandidateRecord:
        spec = candidate.spec
        if spec.candidate_id in self.crash_once:
            self._crash_once(f"crashed-{spec.candidate_id}")
        provenance = {"model_checkpoint": candidate.model_checkpoint,
                      "sampler_settings": json.dumps(candidate.sampler_settings, sort_keys=True),
                      "t_sample_s": candidate.t_sample_s}
        if candidate.status != "ok":
            return failed_row(spec, candidate.failure_reason or "sampling failed", **provenance)
        t0 = time.perf_counter()
        _spend(self.relax_seconds, self.busy)
        if spec.candidate_id in self.fail:
            return failed_row(spec, "fake: relaxation failed", **provenance)
        rng = random.Random(spec.seed + 1)
        e_d = rng.uniform(-0.05, 0.25)
        spacegroup, symbol = rng.choice(_SPACEGROUPS)
        structure = json.dumps(candidate.structure)
        record = failed_row(spec, "", **provenance)  # shared spec columns
        record.status, record.failure_reason = "ok", None
        record.spacegroup_generated = 1
        record.spacegroup_relaxed, record.spacegroup_symbol_relaxed = spacegroup, symbol
        record.is_symmetric = spacegroup > 2
        record.energy_generated_per_atom = -3.0 + e_d + 0.1
        record.energy_relaxed_per_atom = -3.0 + e_d
        record.delta_e_relax = 0.1
        record.rmsd_relax = 0.1
        record.relax_steps, record.relax_converged = 10, True
        record.e_d, record.e_above_hull = e_d, max(e_d, 0.0)
        record.decomposition = "fake"
        record.hull_source = self.settings.hull
        record.structure_generated = record.structure_relaxed = structure
        record.t_relax_s = time.perf_counter() - t0
        record.created_at = _utc_now()
        return record

    def _crash_once(self, name: str) -> None:
        """SIGKILL this process unless the marker ``name`` exists; it holds the pid."""
        marker = Path(str(self.marker_dir)) / name
        if not marker.exists():
            marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)

    def inpainting_specs(self, host: Any, guest_species: Sequence[str], n_samples: int, *,
                         task_id: str, campaign_seed: int, mode: str, max_combinations: int,
                         max_atoms: int | None) -> list[CandidateSpec]:
        from pymatgen.core import Structure

        if host.get("status") != "ok" or (host.get("spacegroup_relaxed") or 1) <= 2:
            return []  # the framework "stays P1"
        structure = Structure.from_dict(json.loads(str(host["structure_relaxed"])))
        n_guest = sum(1 for site in structure if site.specie.symbol in guest_species)
        structure.remove_species(list(guest_species))
        composition = parse_formula(host["composition"])  # host + the same guests again
        return [CandidateSpec(
            candidate_id=candidate_id(task_id, i), task_id=task_id, composition=composition,
            mode=mode, seed=candidate_seed(campaign_seed, task_id, i),
            lattice_family=host.get("lattice_family"), lattice_ratio=host.get("lattice_ratio"),
            parent_id=host["candidate_id"], guest_species=tuple(guest_species), n_guest=n_guest,
            host=Cell.from_structure(structure),
            spacegroup_framework=host.get("spacegroup_relaxed"),
            wyckoff_letters="Li:1a" if mode == "inpaint-symmetric" else None)
            for i in range(n_samples)]
