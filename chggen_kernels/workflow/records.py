"""Plain records passed between workflow stages (and, by the campaign, between actors).

They hold only JSON-friendly values (structures as pymatgen ``as_dict()``), so they
pickle cheaply and map one-to-one onto the campaign's Parquet columns.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any, Literal

__all__ = [
    "CANDIDATE_MODES",
    "INPAINT_MODES",
    "START_MODES",
    "CandidateRecord",
    "CandidateSpec",
    "GeneratedCandidate",
    "failed_row",
    "format_composition",
    "spec_columns",
    "spec_row",
    "utc_now",
]

CANDIDATE_MODES = ("unconditional", "inpaint", "inpaint-symmetric", "symmetric", "template",
                   "template-symmetric")
#: Modes that start from a structure stored in the spec (chggen_kernels.workflow.starts).
START_MODES = ("symmetric", "template", "template-symmetric")
#: Modes that inpaint guests into the frameworks of unconditional hosts.
INPAINT_MODES = ("inpaint", "inpaint-symmetric")
Mode = Literal["unconditional", "inpaint", "inpaint-symmetric", "symmetric", "template",
               "template-symmetric"]


def format_composition(composition: dict[str, int]) -> str:
    """Cell composition as a formula string with elements in alphabetical order, e.g. 'Li10Si4'."""
    return "".join(f"{el}{n}" for el, n in sorted(composition.items()) if n)


@dataclasses.dataclass(frozen=True)
class CandidateSpec:
    """What to generate: one crystal of a given cell composition.

    ``composition`` counts atoms in the cell (e.g. ``{"Li": 10, "Si": 4}``). For
    ``mode == "inpaint"``, ``host`` is the refined framework (pymatgen ``as_dict()``),
    ``guest_species``/``n_guest`` say what to place into it, and the lattice fields are
    those of the host. ``mode == "inpaint-symmetric"`` is inpainting with the guests tied
    to Wyckoff orbits of the host's space group: ``wyckoff_letters`` names the positions
    (e.g. ``"Li:4a,8c"``), or ``symmetric_fallback`` says why the spec is sampled by
    ordinary inpainting (see :mod:`chggen_kernels.workflow.symmetric`).
    ``framework_method`` / ``framework_symprec`` (Å) say how the host was refined
    (:class:`~chggen_kernels.symmetry.FrameworkRefinement`; None for a host used as given).
    ``mode == "symmetric"`` / ``"template"`` start from ``start`` (a crystal on Wyckoff
    orbits / a substituted known structure; :mod:`chggen_kernels.workflow.starts`).
    """

    candidate_id: str
    task_id: str
    composition: dict[str, int]
    mode: Mode
    seed: int
    lattice_family: str | None = None
    lattice_ratio: str | None = None
    volume_per_atom_prior: float | None = None  # Å^3/atom
    parent_id: str | None = None
    guest_species: tuple[str, ...] = ()
    n_guest: int = 0
    host: dict[str, Any] | None = None
    spacegroup_framework: int | None = None
    wyckoff_letters: str | None = None
    symmetric_fallback: str | None = None
    framework_method: str | None = None
    framework_symprec: float | None = None  # Å
    start: dict[str, Any] | None = None  # symmetric / template: the start (as_dict())
    start_from: str | None = None  # where the start came from (or why the mode fell back)
    spacegroup_start: int | None = None  # symmetric: the space group drawn

    def __post_init__(self) -> None:
        if self.mode not in CANDIDATE_MODES:
            raise ValueError(f"mode must be one of {CANDIDATE_MODES}, got {self.mode!r}")
        if self.mode in INPAINT_MODES and self.host is None:
            raise ValueError(f"candidate {self.candidate_id}: mode {self.mode!r} needs a host")
        if self.mode in START_MODES and self.start is None:
            raise ValueError(f"candidate {self.candidate_id}: mode {self.mode!r} needs a start")
        if not self.composition or any(n < 0 for n in self.composition.values()):
            raise ValueError(
                f"candidate {self.candidate_id}: composition must be non-empty with "
                f"non-negative counts, got {self.composition}"
            )

    @property
    def n_atoms(self) -> int:
        return int(sum(self.composition.values()))


@dataclasses.dataclass(frozen=True)
class GeneratedCandidate:
    """Output of the sampling stage for one spec (``structure`` is pymatgen ``as_dict()``)."""

    spec: CandidateSpec
    status: Literal["ok", "failed"]
    structure: dict[str, Any] | None
    failure_reason: str | None
    t_sample_s: float
    sampler_settings: dict[str, Any]
    model_checkpoint: str


@dataclasses.dataclass
class CandidateRecord:
    """One row of the results table (energies eV/atom, lengths Å, structures as JSON text).

    Field names are the Parquet column names; ``campaign`` builds its pyarrow schema
    from this class, so adding a field here adds a column there.
    """

    candidate_id: str
    task_id: str
    formula: str  # reduced formula, e.g. "Li5Si2"
    composition: str  # cell composition, e.g. "Li10Si4"
    chemsys: str  # e.g. "Li-Si"
    n_atoms: int
    mode: str
    parent_id: str | None
    guest_species: str | None  # comma-separated, e.g. "Li"
    n_guest: int
    lattice_family: str | None
    lattice_ratio: str | None
    volume_per_atom_prior: float | None
    seed: int
    status: str  # "ok" | "failed"
    failure_reason: str | None
    spacegroup_generated: int | None
    spacegroup_framework: int | None
    spacegroup_relaxed: int | None
    spacegroup_symbol_relaxed: str | None
    is_symmetric: bool | None
    energy_generated_per_atom: float | None
    energy_relaxed_per_atom: float | None
    delta_e_relax: float | None
    rmsd_relax: float | None
    relax_steps: int | None
    relax_converged: bool | None
    e_d: float | None
    e_above_hull: float | None
    decomposition: str | None
    hull_source: str | None
    structure_generated: str | None  # pymatgen Structure JSON
    structure_relaxed: str | None  # pymatgen Structure JSON
    cif_relaxed: str | None
    model_checkpoint: str | None
    sampler_settings: str | None  # JSON
    t_sample_s: float | None
    t_relax_s: float | None
    created_at: str  # ISO 8601, UTC
    wyckoff_letters: str | None = None  # inpaint-symmetric: e.g. "Li:4a,8c"
    symmetric_fallback: str | None = None  # inpaint-symmetric sampled as plain inpainting: why
    # compounds of the candidate's chemical system in the hull; 0: E_d is a formation energy
    hull_known_compounds: int | None = None
    # how the host framework was refined: "spglib" or "twofold" (the ladder's second pass,
    # chggen_kernels.pseudosymmetry), at framework_symprec Å; None for a user's host as given
    framework_method: str | None = None
    framework_symprec: float | None = None
    # relative volume change of the relaxation, relaxed / generated - 1 (-0.35: the cell
    # lost 35 % of its volume); rmsd_relax alone can hide a collapse
    delta_v_relax: float | None = None
    # the hull holds an entry of the candidate's reduced formula; False: E_d is not measured
    # against any known phase of this composition (chggen_kernels.thermo.coverage)
    hull_known_composition: bool | None = None
    # symmetric / template: where the start came from ("sg 194, learned (...)", "template
    # mp-7845 Zn3As2 (As->P, similarity 0.93)") or why the mode fell back
    start_from: str | None = None
    spacegroup_start: int | None = None  # symmetric: the space group of the start
    # the hull entries behind e_d: JSON list of {formula, source_id, fraction,
    # energy_per_atom} (chggen_kernels.thermo.energy.products_to_json)
    decomposition_products: str | None = None
    # against the shipped known-phase structures (chggen_kernels.thermo.novelty):
    # "known-phase" (then known_phase_id names it), "known-composition" or "new-composition"
    novelty: str | None = None
    known_phase_id: str | None = None
    # the potential that relaxed the candidate (chggen_kernels.relax.potentials): its name
    # (chgnet, sevennet, an entry point, module:factory), package version and the SHA-256
    # of its weights file (of the factory's source file for entry points and factories)
    mlip: str | None = None
    mlip_version: str | None = None
    mlip_weights_sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def utc_now() -> str:
    """The ``created_at`` stamp: ISO 8601, UTC, seconds."""
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def spec_columns(spec: CandidateSpec) -> dict[str, Any]:
    """The results columns a spec determines (ids, composition, lattice, guests, seed)."""
    from pymatgen.core import Composition

    composition = Composition(spec.composition)
    return {
        "candidate_id": spec.candidate_id, "task_id": spec.task_id,
        "formula": composition.reduced_formula,
        "composition": format_composition(spec.composition),
        "chemsys": "-".join(sorted(el.symbol for el in composition.elements)),
        "n_atoms": spec.n_atoms, "mode": spec.mode, "parent_id": spec.parent_id,
        "guest_species": ",".join(spec.guest_species) or None, "n_guest": spec.n_guest,
        "lattice_family": spec.lattice_family, "lattice_ratio": spec.lattice_ratio,
        "volume_per_atom_prior": spec.volume_per_atom_prior, "seed": spec.seed,
        "spacegroup_framework": spec.spacegroup_framework,
        "wyckoff_letters": spec.wyckoff_letters, "symmetric_fallback": spec.symmetric_fallback,
        "framework_method": spec.framework_method,
        "framework_symprec": spec.framework_symprec,
        "start_from": spec.start_from, "spacegroup_start": spec.spacegroup_start,
    }


def spec_row(spec: CandidateSpec, **known: Any) -> dict[str, Any]:
    """Every results column: null, then what ``spec`` determines, the ``created_at`` stamp
    and ``known`` (unknown column names are an error)."""
    values: dict[str, Any] = {f.name: None for f in dataclasses.fields(CandidateRecord)}
    values |= spec_columns(spec) | {"created_at": utc_now()}
    unknown = set(known) - set(values)
    if unknown:
        raise ValueError(f"results row: unknown columns {sorted(unknown)}")
    return values | known


def failed_row(spec: CandidateSpec, reason: str, **known: Any) -> CandidateRecord:
    """A failed results row for a candidate that never got a real one (``known`` fills
    further columns, e.g. ``model_checkpoint``; the rest is null)."""
    return CandidateRecord(**spec_row(spec, **known, status="failed", failure_reason=reason))
