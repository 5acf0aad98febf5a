"""Fast stand-in stages (no score model, no CHGNet) for tests, benchmarks and dry runs.

Select them in a campaign file to check a cluster set-up without loading any model::

    stages:
      module: campaign.fake_stages
      options: {relax_seconds: 0.1}

Everything is deterministic in the candidate seed: structures are random positions in a
cubic cell of 20 Å^3/atom; E_d is drawn uniformly from [-0.05, 0.25] eV/atom; the relaxed
space group from (1, 2, 12, 166, 225). Options inject faults:

* ``fail_ids``: candidates whose relaxation returns a failed record;
* ``generate_fail_ids``: candidates whose sampling fails;
* ``crash_once_ids`` + ``marker_dir``: the relaxation worker process kills itself
  (SIGKILL) the first time it meets one of these candidates (a marker file remembers);
* ``relax_seconds`` / ``sample_seconds``: time per candidate, slept or, with
  ``busy=True``, spent computing (so that CPU parallelism is measurable).
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from campaign.compositions import parse_formula
from campaign.stage_api import Stages, failed_record, utc_now
from chggen_kernels.workflow.records import CandidateRecord, CandidateSpec, GeneratedCandidate

__all__ = ["make_stages"]

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
        structure = Structure.from_dict(spec.host)
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


def make_stages(
    relax_seconds: float = 0.0,
    sample_seconds: float = 0.0,
    busy: bool = False,
    fail_ids: Sequence[str] = (),
    generate_fail_ids: Sequence[str] = (),
    crash_once_ids: Sequence[str] = (),
    marker_dir: str | None = None,
) -> Stages:
    """Fake stages with the given timings and injected faults (see module docstring)."""
    fail = frozenset(fail_ids)
    generate_fail = frozenset(generate_fail_ids)
    crash_once = frozenset(crash_once_ids)
    if crash_once and not marker_dir:
        raise ValueError("fake stages: crash_once_ids needs marker_dir")

    def load_score_model(checkpoint: str, device: str) -> tuple[Any, str]:
        return None, f"fake:{checkpoint or 'shipped'}@{_node_name()}/{device}"

    def generate(
        score_fn: Any,
        specs: Sequence[CandidateSpec],
        sampler_settings: Any,
        model_checkpoint: str = "",
    ) -> list[GeneratedCandidate]:
        out = []
        for spec in specs:
            t0 = time.perf_counter()
            _spend(sample_seconds, busy)
            failed = spec.candidate_id in generate_fail
            out.append(
                GeneratedCandidate(
                    spec=spec,
                    status="failed" if failed else "ok",
                    structure=None if failed else _random_structure(spec),
                    failure_reason="fake: sampling failed" if failed else None,
                    t_sample_s=time.perf_counter() - t0,
                    sampler_settings=dict(sampler_settings),
                    model_checkpoint=model_checkpoint,
                )
            )
        return out

    def relax_and_score(candidate: GeneratedCandidate, relaxer: Any, hull: Any) -> CandidateRecord:
        spec = candidate.spec
        if spec.candidate_id in crash_once:
            marker = Path(str(marker_dir)) / f"crashed-{spec.candidate_id}"
            if not marker.exists():
                marker.write_text(str(os.getpid()))
                os.kill(os.getpid(), signal.SIGKILL)
        provenance = {
            "model_checkpoint": candidate.model_checkpoint,
            "sampler_settings": json.dumps(candidate.sampler_settings, sort_keys=True),
            "t_sample_s": candidate.t_sample_s,
        }
        if candidate.status != "ok":
            return failed_record(spec, candidate.failure_reason or "sampling failed", **provenance)
        t0 = time.perf_counter()
        _spend(relax_seconds, busy)
        if spec.candidate_id in fail:
            return failed_record(spec, "fake: relaxation failed", **provenance)
        rng = random.Random(spec.seed + 1)
        e_d = rng.uniform(-0.05, 0.25)
        spacegroup, symbol = rng.choice(_SPACEGROUPS)
        structure = json.dumps(candidate.structure)
        record = failed_record(spec, "", **provenance)  # shared spec columns
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
        record.hull_source = str(hull.get("source")) if isinstance(hull, dict) else None
        record.structure_generated = record.structure_relaxed = structure
        record.t_relax_s = time.perf_counter() - t0
        record.created_at = utc_now()
        return record

    def inpainting_specs(
        record: CandidateRecord, guest_species: Sequence[str], n_samples: int, seed: int
    ) -> list[CandidateSpec]:
        from pymatgen.core import Structure

        if record.status != "ok" or (record.spacegroup_relaxed or 1) <= 2:
            return []  # the framework "stays P1"
        host = Structure.from_dict(json.loads(str(record.structure_relaxed)))
        n_guest = sum(1 for site in host if site.specie.symbol in guest_species)
        host.remove_species(list(guest_species))
        composition = parse_formula(record.composition)  # host + the same guests again
        return [
            CandidateSpec(
                candidate_id=f"{record.candidate_id}-inpaint-{i}",
                task_id=record.task_id,
                composition=composition,
                mode="inpaint",
                seed=seed + i,
                lattice_family=record.lattice_family,
                lattice_ratio=record.lattice_ratio,
                parent_id=record.candidate_id,
                guest_species=tuple(guest_species),
                n_guest=n_guest,
                host=host.as_dict(),
                spacegroup_framework=record.spacegroup_relaxed,
            )
            for i in range(n_samples)
        ]

    def make_relaxer(relax_settings: Mapping[str, Any], n_threads: int) -> Any:
        return {**dict(relax_settings), "n_threads": n_threads}

    def make_hull(source: str, elements: Sequence[str]) -> Any:
        return {"source": source, "elements": list(elements)}

    def make_sampler_settings(values: Mapping[str, Any]) -> Any:
        return dict(values)

    return Stages(
        generate=generate,
        relax_and_score=relax_and_score,
        inpainting_specs=inpainting_specs,
        load_score_model=load_score_model,
        make_relaxer=make_relaxer,
        make_hull=make_hull,
        make_sampler_settings=make_sampler_settings,
        uses_torch=False,
    )
