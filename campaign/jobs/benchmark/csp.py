"""``chggen benchmark csp``: does a method find the known crystal from its composition?

Per compound (the known cell, reduced to its primitive cell unless ``cell="given"``),
every method gets the cell composition and atom count only and spends ``k`` CHGNet
relaxations:

* ``random``: AIRSS-style random search (pyxtal, random compatible space groups, the same
  volume prior), relaxed and screened like every chggen candidate; ``random-prior``: the
  same with space group and Wyckoff positions drawn from the learned prior;
* ``symmetric``: crystals drawn on Wyckoff orbits from the learned prior and denoised on
  them by the score model; ``template`` / ``template-raw``: known structures of the same
  stoichiometry type, substituted (never a polymorph of the target formula), denoised
  from ``TEMPLATE_SIGMA`` / relaxed as they are;
* ``unconditional``: ``k`` unconditional chggen candidates;
* ``inpaint`` / ``inpaint-symmetric``: ``ceil(k/2)`` unconditional candidates whose refined
  frameworks receive the guests back (ordinary / on Wyckoff orbits), lowest energy first,
  up to the remaining budget; relaxations left over when too few frameworks refine
  (or the compound has one element, or no guest) go to more unconditional candidates.

Candidates are numbered in the order the relaxations were spent (``budget_index``), which
is the order match@k counts them in. The guest of the inpainting methods is ``guest`` or,
for ``"auto"``, Li when present, else the most electropositive element.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import time
from collections.abc import Sequence
from typing import Any

from pymatgen.core import Element, Structure

from campaign.jobs.benchmark import CSP_METHODS, TEMPLATE_METHODS
from campaign.jobs.benchmark.known_input import BenchmarkInputError, Compound
from campaign.jobs.benchmark.store import BenchmarkStore, Task, schema
from chggen_kernels.benchmark.baselines import RANDOM_SEARCH_MIN_DISTANCE
from chggen_kernels.datasets.sources import DEFAULT_MAX_ATOMS

__all__ = ["CSP_METHODS", "CSP_SCHEMA", "CspSettings", "csp_scores", "guest_for",
           "known_cell", "reference_row", "run_csp_task", "task_seed"]

CSP_SCHEMA = schema([
    ("task_id", "str"), ("compound_id", "str"), ("formula", "str"), ("n_atoms", "int"),
    ("method", "str"), ("budget_index", "int"), ("candidate_id", "str"),
    ("candidate_mode", "str"), ("label", "str"), ("parent_id", "str"), ("status", "str"),
    ("failure_reason", "str"), ("energy_per_atom", "float"),
    ("energy_generated_per_atom", "float"), ("matched", "bool"),
    ("matched_strict", "bool"), ("rms", "float"),
    ("rms_angstrom", "float"), ("spacegroup_relaxed", "int"),
    ("spacegroup_symbol_relaxed", "str"), ("relax_steps", "int"), ("seed", "int"),
    ("t_sample_s", "float"), ("t_relax_s", "float"), ("model_checkpoint", "str"),
    ("structure_generated", "str"), ("structure_relaxed", "str"),
    ("cpu_task_s", "float"), ("start_from", "str"), ("spacegroup_start", "int"),
    ("n_atoms_known", "int"),
], "benchmark-csp")


@dataclasses.dataclass(frozen=True)
class CspSettings:
    """What changes the candidates (stored in the folder's manifest). The defaults here are
    ``chggen benchmark csp``'s (its options read them)."""

    k: int = 20
    seed: int = 0
    cell: str = "primitive"
    guest: str = "auto"
    random_min_distance: float = RANDOM_SEARCH_MIN_DISTANCE  # Å, AIRSS close contacts
    z: str = "given"  # "free": formula units not given, 1..z_max_atoms atoms round-robin
    z_max_atoms: int = DEFAULT_MAX_ATOMS

    def __post_init__(self) -> None:
        if self.k < 1:
            raise BenchmarkInputError(f"--k must be >= 1, got {self.k}")
        if self.cell not in ("primitive", "given"):
            raise BenchmarkInputError(f"--cell must be 'primitive' or 'given', got {self.cell!r}")
        if self.guest != "auto" and not Element.is_valid_symbol(self.guest):
            raise BenchmarkInputError(f"--guest must be 'auto' or an element, got {self.guest!r}")
        if self.z not in ("given", "free"):
            raise BenchmarkInputError(f"--z must be 'given' or 'free', got {self.z!r}")
        if not self.random_min_distance > 0:
            raise BenchmarkInputError(f"--min-distance must be > 0 Å, got "
                                      f"{self.random_min_distance}")


def task_seed(seed: int, compound_id: str, method: str) -> int:
    """A seed per (compound, method), independent of the order tasks run in."""
    digest = hashlib.sha256(f"{seed}:{compound_id}:{method}".encode()).hexdigest()
    return int(digest[:8], 16) % (2**31 - 1)


def known_cell(compound: Compound, cell: str) -> Structure:
    """The known crystal as given, or its primitive cell (pymatgen, 0.25 Å)."""
    if cell == "given":
        return compound.structure
    return compound.structure.get_primitive_structure()


def guest_for(structure: Structure, guest: str) -> str | None:
    """The inpainting guest: ``guest``; ``"auto"``: Li, else the lowest-electronegativity
    element; None for a one-element crystal or a guest the crystal lacks."""
    elements = sorted(el.symbol for el in structure.composition.elements)
    if len(elements) < 2:
        return None
    if guest != "auto":
        return guest if guest in elements else None
    if "Li" in elements:
        return "Li"
    return min(elements, key=lambda el: (Element(el).X if not math.isnan(Element(el).X)
                                         else 99.0, el))


def _structure(text: str | None) -> Structure | None:
    return None if text is None else Structure.from_dict(json.loads(text))


def reference_row(chain: Any, task: Task, cell: str) -> list[dict[str, Any]]:
    """The CHGNet relaxation of the known crystal (its energy is the reference)."""
    from chggen_kernels.benchmark import KnownMatcher

    known = known_cell(task.compound, cell)
    result = chain.relax(known)
    match = KnownMatcher(task.compound.structure).match(result.structure_relaxed)
    return [{
        "task_id": task.task_id, "compound_id": task.compound.compound_id,
        "formula": task.compound.formula, "n_atoms": len(known),
        "source_id": task.compound.source_id, "status": result.status,
        "failure_reason": result.failure_reason,
        "energy_per_atom": result.energy_relaxed_per_atom,
        "energy_initial_per_atom": result.energy_initial_per_atom,
        "relax_steps": result.n_steps, "relaxed_matches_known": match.matched,
        "rms_relaxed_vs_known": match.rms, "t_relax_s": result.t_relax_s,
    }]


def _row(task: Task, index: int, record: Any, matcher: Any, label: str | None,
         mode: str) -> dict[str, Any]:
    relaxed = _structure(record.structure_relaxed) if record.status == "ok" else None
    match = matcher.match(relaxed)
    return {
        "task_id": task.task_id, "compound_id": task.compound.compound_id,
        "formula": record.formula, "n_atoms": record.n_atoms, "method": task.method,
        "budget_index": index, "candidate_id": record.candidate_id, "candidate_mode": mode,
        "label": label, "parent_id": record.parent_id, "status": record.status,
        "failure_reason": record.failure_reason,
        "energy_per_atom": record.energy_relaxed_per_atom,
        "energy_generated_per_atom": record.energy_generated_per_atom,
        "matched": match.matched, "matched_strict": match.strict, "rms": match.rms,
        "rms_angstrom": match.rms_angstrom,
        "spacegroup_relaxed": record.spacegroup_relaxed,
        "spacegroup_symbol_relaxed": record.spacegroup_symbol_relaxed,
        "relax_steps": record.relax_steps, "seed": record.seed,
        "t_sample_s": record.t_sample_s, "t_relax_s": record.t_relax_s,
        "model_checkpoint": record.model_checkpoint,
        "structure_generated": record.structure_generated,
        "structure_relaxed": record.structure_relaxed,
        "start_from": getattr(record, "start_from", None),
        "spacegroup_start": getattr(record, "spacegroup_start", None),
    }


def _chggen_records(chain: Any, method: str, composition: dict[str, int], guest: str | None,
                    k: int, seed: int) -> list[Any]:
    if method == "unconditional":
        return chain.unconditional(composition, k, seed)
    n_first = math.ceil(k / 2)
    first = chain.unconditional(composition, n_first, seed)
    inpainted = chain.inpaint(first, [guest], k - n_first, seed, method) if guest else []
    fill = k - n_first - len(inpainted)
    extra = chain.unconditional(composition, fill, seed + 1) if fill > 0 else []
    return list(first) + list(inpainted) + list(extra)


def run_csp_task(chain: Any, task: Task, settings: CspSettings) -> list[dict[str, Any]]:
    """Rows of one task: the reference relaxation, or ``settings.k`` candidates of one
    method (never raises for a failing candidate: it is a failed row). Every candidate row
    carries ``cpu_task_s``: the CPU seconds of this process (all threads) for the whole
    task, structure generation, sampling and relaxation included."""
    if task.method == "reference":
        return reference_row(chain, task, settings.cell)
    if task.method not in CSP_METHODS:
        raise BenchmarkInputError(f"--methods: unknown method {task.method!r}")
    known = known_cell(task.compound, settings.cell)
    if hasattr(chain, "warm_up"):
        chain.warm_up({el.symbol: int(n) for el, n in known.composition.items()}, task.method)
    cpu0 = time.process_time()
    rows = _free_z_rows(chain, task, settings, known) if settings.z == "free" else \
        _method_rows(chain, task, settings, known)
    cpu = time.process_time() - cpu0
    return [row | {"cpu_task_s": cpu, "n_atoms_known": len(known)} for row in rows]


def formula_unit_budgets(formula_unit: dict[str, int], k: int, max_atoms: int
                         ) -> list[tuple[int, int]]:
    """``(Z, candidates)`` for a search that is not told the atom count: the ``k``
    relaxations go round-robin to Z = 1, 2, ... formula units up to ``max_atoms`` atoms."""
    per_unit = sum(formula_unit.values())
    zs = list(range(1, max(1, max_atoms // per_unit) + 1))
    return [(z, len(range(i, k, len(zs)))) for i, z in enumerate(zs) if i < k]


def _free_z_rows(chain: Any, task: Task, settings: CspSettings, known: Structure
                 ) -> list[dict[str, Any]]:
    """The method run at every Z of :func:`formula_unit_budgets`, its rows interleaved
    round-robin (budget index in that order: the k-th relaxation spent)."""
    reduced, _ = known.composition.get_reduced_composition_and_factor()
    unit = {el.symbol: int(n) for el, n in reduced.items()}
    parts = []
    for z, n in formula_unit_budgets(unit, settings.k, settings.z_max_atoms):
        parts.append(_method_rows(chain, task, dataclasses.replace(settings, k=n), known,
                                  {el: c * z for el, c in unit.items()}, salt=f"z{z}"))
    rows = [row for group in itertools.zip_longest(*parts) for row in group if row]
    return [row | {"budget_index": i + 1} for i, row in enumerate(rows)]


def _method_rows(chain: Any, task: Task, settings: CspSettings, known: Structure,
                 composition: dict[str, int] | None = None, salt: str = ""
                 ) -> list[dict[str, Any]]:
    """The candidate rows of one method searching ``composition`` (default: the known
    cell's, ``known``: its primitive or given cell)."""
    from chggen_kernels.benchmark import KnownMatcher, random_search_structures

    if composition is None:
        composition = {el.symbol: int(n) for el, n in known.composition.items()}
    seed = task_seed(settings.seed, task.compound.compound_id + salt, task.method)
    matcher = KnownMatcher(task.compound.structure)
    if task.method in ("random", "random-prior"):
        prior = chain.wyckoff_prior() if task.method == "random-prior" else None
        built = random_search_structures(composition, settings.k,
                                         chain.volume_per_atom(composition), seed,
                                         min_distance=settings.random_min_distance,
                                         prior=prior)
        records = chain.score_structures(composition, [b.structure for b in built], seed,
                                         [b.failure_reason for b in built])
        return [_row(task, i + 1, r, matcher, b.wyckoff_letters or b.label, "random-search")
                | {"spacegroup_start": b.spacegroup,
                   "start_from": None if b.spacegroup is None else f"sg {b.spacegroup}"}
                for i, (r, b) in enumerate(zip(records, built, strict=True))]
    if task.method == "symmetric":
        records = chain.symmetric(composition, settings.k, seed,
                                  min_distance=settings.random_min_distance)
    elif task.method in TEMPLATE_METHODS:
        records = chain.template(composition, settings.k, seed,
                                 denoise=task.method != "template-raw",
                                 symmetric=task.method == "template-symmetric")
    else:
        guest = guest_for(known, settings.guest)
        records = _chggen_records(chain, task.method, composition, guest, settings.k, seed)
    return [_row(task, i + 1, r, matcher,
                 r.wyckoff_letters or r.symmetric_fallback or r.lattice_family, r.mode)
            for i, r in enumerate(records)]


def csp_scores(store: BenchmarkStore, compounds: Sequence[Compound], methods: Sequence[str],
               energy_tol: float) -> tuple[list[Any], list[dict[str, Any]]]:
    """Scores per (compound, method) with finished parts, and every candidate row."""
    from campaign.jobs.benchmark.store import collect_scores
    from chggen_kernels.benchmark import score_csp_compound

    return collect_scores(store, compounds, methods, energy_tol, score_csp_compound)
