"""``chggen benchmark hosts --guest Li``: can a method put the guests back into their host?

Per known crystal holding the guest (and another element): every guest site is removed,
the framework kept as it is (the known cell, primitive unless ``cell="given"``), and each
method places the same number of guests back, ``n_samples`` candidates per method:

* ``inpaint`` / ``inpaint-symmetric``: chggen's inpainting into the framework as given
  (``chggen inpaint``; symmetric: guests on Wyckoff orbits of the framework);
* ``random``: guests at random positions ``min_distance`` Å from every atom;
* ``voronoi``: guests on Voronoi vertices of the framework (see
  :mod:`chggen_kernels.benchmark.baselines`; the installed pymatgen has no interstitial
  generator).

Each candidate is relaxed twice, as XtalPaint does: guests only (framework atoms and cell
fixed), then everything; the generated, guests-relaxed and relaxed structures are each
matched with the original and their energies compared with the relaxed original's (LES).
A stage counts only when its structure has no two atoms closer than 1 Å (the screening of
the chggen chain).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from typing import Any

from pymatgen.core import Element, Structure

from campaign.jobs.benchmark import HOST_METHODS
from campaign.jobs.benchmark.csp import known_cell, reference_row, task_seed
from campaign.jobs.benchmark.known_input import BenchmarkInputError, Compound
from campaign.jobs.benchmark.store import BenchmarkStore, Task, schema
from chggen_kernels.benchmark.baselines import GUEST_MIN_DISTANCE

__all__ = ["HOST_METHODS", "HOSTS_SCHEMA", "HostSettings", "host_scores", "run_hosts_task"]

MIN_DISTANCE_AFTER = 1.0  # Å, as relax_and_score screens chggen candidates
_STAGE_COLUMNS = [(f"{c}_{s}", t) for s in ("generated", "guests_relaxed", "relaxed")
                  for c, t in (("energy", "float"), ("valid", "bool"), ("matched", "bool"),
                               ("matched_strict", "bool"), ("rms", "float"),
                               ("rms_angstrom", "float"))]
HOSTS_SCHEMA = schema([
    ("task_id", "str"), ("compound_id", "str"), ("formula", "str"), ("n_atoms", "int"),
    ("method", "str"), ("sample_index", "int"), ("candidate_id", "str"),
    ("guest_species", "str"), ("n_guest", "int"), ("label", "str"), ("status", "str"),
    ("failure_reason", "str"), *_STAGE_COLUMNS, ("guests_relax_steps", "int"),
    ("relax_steps", "int"), ("spacegroup_relaxed", "int"), ("t_sample_s", "float"),
    ("t_relax_s", "float"), ("model_checkpoint", "str"), ("structure_generated", "str"),
    ("structure_guests_relaxed", "str"), ("structure_relaxed", "str"),
], "benchmark-hosts")


@dataclasses.dataclass(frozen=True)
class HostSettings:
    """What changes the candidates (stored in the folder's manifest); distances in Å. The
    defaults here are ``chggen benchmark hosts``'s (its options read them)."""

    guest: str = "Li"
    n_samples: int = 4
    seed: int = 0
    cell: str = "primitive"
    min_distance: float = GUEST_MIN_DISTANCE

    def __post_init__(self) -> None:
        if not Element.is_valid_symbol(self.guest):
            raise BenchmarkInputError(f"--guest must be an element symbol, got {self.guest!r}")
        if self.n_samples < 1:
            raise BenchmarkInputError(f"--n-samples must be >= 1, got {self.n_samples}")
        if self.cell not in ("primitive", "given"):
            raise BenchmarkInputError(f"--cell must be 'primitive' or 'given', got {self.cell!r}")
        if not self.min_distance > 0:
            raise BenchmarkInputError(f"--min-distance must be > 0 Å, got {self.min_distance}")


@dataclasses.dataclass(frozen=True)
class _Candidate:
    structure: Structure | None
    reason: str | None
    label: str | None
    candidate_id: str
    t_sample_s: float = 0.0
    model_checkpoint: str | None = None


def _min_distance(structure: Structure) -> float:
    from chggen_kernels.benchmark.baselines import min_interatomic_distance

    return min_interatomic_distance(structure)


def _candidates(chain: Any, host: Any, method: str, settings: HostSettings, seed: int,
                prefix: str) -> list[_Candidate]:
    from chggen_kernels.benchmark import random_guest_structures, voronoi_guest_structures

    n = settings.n_samples
    if method in ("inpaint", "inpaint-symmetric"):
        out = []
        for g in chain.host_candidates(host, n, seed, method == "inpaint-symmetric"):
            structure = Structure.from_dict(g.structure) if g.structure is not None else None
            label = g.spec.wyckoff_letters or g.spec.symmetric_fallback
            out.append(_Candidate(structure, g.failure_reason, label, g.spec.candidate_id,
                                  g.t_sample_s, g.model_checkpoint))
        return out
    t0 = time.perf_counter()
    if method == "random":
        built = random_guest_structures(host.framework, host.guest_counts, n, seed,
                                        min_distance=settings.min_distance)
    elif method == "voronoi":
        built = voronoi_guest_structures(host.framework, host.guest_counts, n, seed,
                                         min_distance=settings.min_distance)
    else:
        raise BenchmarkInputError(f"--methods: unknown method {method!r}")
    share = (time.perf_counter() - t0) / max(1, n)
    return [_Candidate(b.structure, b.failure_reason, b.label, f"{prefix}-{k:03d}", share)
            for k, b in enumerate(built)]


def _stage(row: dict[str, Any], stage: str, structure: Structure | None,
           energy: float | None, matcher: Any) -> None:
    valid = structure is not None and energy is not None and \
        _min_distance(structure) >= MIN_DISTANCE_AFTER
    match = matcher.match(structure)
    row |= {f"energy_{stage}": energy, f"valid_{stage}": valid,
            f"matched_{stage}": match.matched, f"matched_strict_{stage}": match.strict,
            f"rms_{stage}": match.rms,
            f"rms_angstrom_{stage}": match.rms_angstrom}


def _evaluate(chain: Any, row: dict[str, Any], structure: Structure, guest: str,
              matcher: Any) -> None:
    """Guests-only then full relaxation of one candidate; fills the stage columns."""
    from chggen_kernels.symmetry import final_symmetry

    fixed = [i for i, site in enumerate(structure) if site.specie.symbol != guest]
    first = chain.relax_guests(structure, fixed)
    _stage(row, "generated", structure, first.energy_initial_per_atom, matcher)
    row |= {"guests_relax_steps": first.n_steps, "t_relax_s": first.t_relax_s}
    if first.status != "ok":
        row["failure_reason"] = f"guests-only relaxation: {first.failure_reason}"
        return
    middle = first.structure_relaxed
    row["structure_guests_relaxed"] = json.dumps(middle.as_dict())
    _stage(row, "guests_relaxed", middle, first.energy_relaxed_per_atom, matcher)
    full = chain.relax(middle)
    row |= {"relax_steps": full.n_steps, "t_relax_s": first.t_relax_s + full.t_relax_s}
    if full.status != "ok":
        row["failure_reason"] = f"relaxation: {full.failure_reason}"
        return
    relaxed = full.structure_relaxed
    row["structure_relaxed"] = json.dumps(relaxed.as_dict())
    row["spacegroup_relaxed"] = final_symmetry(relaxed).number
    _stage(row, "relaxed", relaxed, full.energy_relaxed_per_atom, matcher)
    if not row["valid_relaxed"]:
        row["failure_reason"] = (f"screening: relaxed structure has atoms closer than "
                                 f"{MIN_DISTANCE_AFTER} Å")
        return
    row["status"] = "ok"


def run_hosts_task(chain: Any, task: Task, settings: HostSettings) -> list[dict[str, Any]]:
    """Rows of one task: the reference relaxation, or ``n_samples`` candidates of one
    method; a candidate that fails at any point is a failed row."""
    from chggen_kernels.benchmark import KnownMatcher
    from chggen_kernels.hosts import HostError, read_host

    if task.method == "reference":
        return reference_row(chain, task, settings.cell)
    known = known_cell(task.compound, settings.cell)
    guest = settings.guest
    n_guest = sum(1 for site in known if site.specie.symbol == guest)
    seed = task_seed(settings.seed, task.compound.compound_id, task.method)
    base = {"task_id": task.task_id, "compound_id": task.compound.compound_id,
            "formula": task.compound.formula, "n_atoms": len(known), "method": task.method,
            "guest_species": guest, "n_guest": n_guest, "status": "failed"}
    try:
        host = read_host(known, {guest: n_guest}, label=task.compound.compound_id)
        candidates = _candidates(chain, host, task.method, settings, seed, task.task_id)
    except HostError as exc:
        return [base | {"sample_index": k, "candidate_id": f"{task.task_id}-{k:03d}",
                        "failure_reason": f"host: {exc}"} for k in range(settings.n_samples)]
    matcher = KnownMatcher(task.compound.structure)
    rows = []
    for k, c in enumerate(candidates):
        row = base | {"sample_index": k, "candidate_id": c.candidate_id, "label": c.label,
                      "t_sample_s": c.t_sample_s, "failure_reason": c.reason,
                      "model_checkpoint": c.model_checkpoint}
        if c.structure is not None:
            row["structure_generated"] = json.dumps(c.structure.as_dict())
            try:
                _evaluate(chain, row, c.structure, guest, matcher)
            except Exception as exc:  # one bad candidate is a failed row, never a crash
                row |= {"status": "failed", "failure_reason": f"{type(exc).__name__}: {exc}"}
        rows.append({name: row.get(name) for name in HOSTS_SCHEMA.names})
    return rows


def host_scores(store: BenchmarkStore, compounds: Sequence[Compound], methods: Sequence[str],
               energy_tol: float) -> tuple[list[Any], list[dict[str, Any]]]:
    """Scores per (host, method) with finished parts, and every candidate row."""
    from campaign.jobs.benchmark.store import collect_scores
    from chggen_kernels.benchmark import score_host

    return collect_scores(store, compounds, methods, energy_tol, score_host)
