"""Plain records passed between workflow stages (and, by the campaign, between actors).

One typed record travels from plan to row: a :class:`CandidateSpec` (its host framework a
:class:`Cell` of plain arrays), the :class:`GeneratedCandidate` (the sampled crystal a
:class:`Cell`), then the :class:`CandidateRecord` (structures as pymatgen JSON text, the
campaign's Parquet columns). pymatgen / ASE objects are built only at the edges: loading
a host (:func:`~chggen_kernels.workflow.stages.inpainting_specs`), relaxing and writing a
row (:mod:`~chggen_kernels.workflow.scoring`). The records pickle cheaply (numpy arrays,
no per-site dicts).
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from pymatgen.core import Structure

__all__ = [
    "CANDIDATE_MODES",
    "FIRST_STAGE_MODES",
    "INPAINT_MODES",
    "START_MODES",
    "CandidateRecord",
    "CandidateSpec",
    "Cell",
    "GeneratedCandidate",
    "as_cell",
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
#: Modes of first-stage candidates (whole crystals), the hosts that inpainting may follow.
FIRST_STAGE_MODES = ("unconditional", *START_MODES)
#: Modes that inpaint guests into the frameworks of first-stage hosts.
INPAINT_MODES = ("inpaint", "inpaint-symmetric")
Mode = Literal["unconditional", "inpaint", "inpaint-symmetric", "symmetric", "template",
               "template-symmetric"]


def format_composition(composition: dict[str, int]) -> str:
    """Cell composition as a formula string with elements in alphabetical order, e.g. 'Li10Si4'."""
    return "".join(f"{el}{n}" for el, n in sorted(composition.items()) if n)


@dataclasses.dataclass(frozen=True, eq=False)
class Cell:
    """One periodic crystal as plain arrays: what the stages hand each other.

    ``lattice``: lattice vectors as rows, Å, (3, 3) float64; ``numbers``: atomic numbers,
    (N,) int64; ``coords``: (N, 3) float64 positions, fractional or, with
    ``cartesian=True``, Cartesian in Å (the sampler's output is kept as it comes, so that
    :meth:`to_structure` builds exactly the Structure the earlier code built).
    """

    lattice: np.ndarray
    numbers: np.ndarray
    coords: np.ndarray
    cartesian: bool = False

    def __post_init__(self) -> None:  # own copies: the record does not share memory
        lattice = np.array(self.lattice, dtype=np.float64)
        numbers = np.array(self.numbers, dtype=np.int64)
        coords = np.array(self.coords, dtype=np.float64)
        if lattice.shape != (3, 3) or numbers.ndim != 1 or coords.shape != (len(numbers), 3):
            raise ValueError(f"Cell: lattice (3, 3), numbers (N,) and coords (N, 3) expected, "
                             f"got {lattice.shape}, {numbers.shape} and {coords.shape}")
        object.__setattr__(self, "lattice", lattice)
        object.__setattr__(self, "numbers", numbers)
        object.__setattr__(self, "coords", coords)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Cell):
            return NotImplemented
        return (self.cartesian == other.cartesian and np.array_equal(self.lattice, other.lattice)
                and np.array_equal(self.numbers, other.numbers)
                and np.array_equal(self.coords, other.coords))

    __hash__ = None  # type: ignore[assignment]  # mutable arrays inside, like a dict host

    def __len__(self) -> int:
        return len(self.numbers)

    def cart_coords(self) -> np.ndarray:
        """Cartesian positions, Å: for fractional coords computed site by site as pymatgen's
        ``Structure.cart_coords`` does (bit for bit the same numbers)."""
        if self.cartesian:
            return self.coords
        if not len(self.numbers):
            return np.empty((0, 3), dtype=np.float64)
        return np.array([np.dot(f, self.lattice) for f in self.coords])

    def volume(self) -> float:
        """Cell volume, Å^3 (pymatgen's ``Lattice.volume``)."""
        from pymatgen.core import Lattice

        return float(Lattice(self.lattice).volume)

    def composition(self) -> dict[str, int]:
        """Atoms per element symbol, in order of first appearance."""
        from pymatgen.core import Element

        counts: dict[str, int] = {}
        for z in self.numbers.tolist():
            symbol = Element.from_Z(z).symbol
            counts[symbol] = counts.get(symbol, 0) + 1
        return counts

    def to_structure(self) -> Structure:
        """The pymatgen Structure (plain elements) of this cell: for an edge only."""
        from pymatgen.core import Lattice, Structure

        return Structure(Lattice(self.lattice), self.numbers.tolist(), self.coords,
                         coords_are_cartesian=self.cartesian)

    @classmethod
    def from_structure(cls, structure: Structure) -> Cell:
        """Lattice, atomic numbers and fractional coordinates of an ordered Structure."""
        return cls(structure.lattice.matrix, np.array(structure.atomic_numbers, dtype=np.int64),
                   structure.frac_coords)

    @classmethod
    def from_dict(cls, structure: Mapping[str, Any]) -> Cell:
        """From a pymatgen ``Structure.as_dict()`` (the host of specs made before the
        record carried arrays)."""
        from pymatgen.core import Structure

        return cls.from_structure(Structure.from_dict(dict(structure)))

    def as_dict(self) -> dict[str, Any]:
        """pymatgen ``Structure.as_dict()`` of :meth:`to_structure` (for export)."""
        return self.to_structure().as_dict()


def as_cell(value: Cell | Mapping[str, Any] | None) -> Cell | None:
    """``value`` as a :class:`Cell`: a legacy ``Structure.as_dict()`` is converted once."""
    if value is None or isinstance(value, Cell):
        return value
    if isinstance(value, Mapping):
        return Cell.from_dict(value)
    raise TypeError(f"a host must be a Cell or a Structure.as_dict(), got {type(value).__name__}")


@dataclasses.dataclass(frozen=True)
class CandidateSpec:
    """What to generate: one crystal of a given cell composition.

    ``composition`` counts atoms in the cell (e.g. ``{"Li": 10, "Si": 4}``). For
    ``mode == "inpaint"``, ``host`` is the refined framework (a :class:`Cell`; a pymatgen
    ``as_dict()``, as specs held it before, is converted on construction and unpickling),
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
    host: Cell | None = None
    spacegroup_framework: int | None = None
    wyckoff_letters: str | None = None
    symmetric_fallback: str | None = None
    framework_method: str | None = None
    framework_symprec: float | None = None  # Å
    start: dict[str, Any] | None = None  # symmetric / template: the start (as_dict())
    start_from: str | None = None  # where the start came from (or why the mode fell back)
    spacegroup_start: int | None = None  # symmetric: the space group drawn

    def __post_init__(self) -> None:
        if self.host is not None and not isinstance(self.host, Cell):
            object.__setattr__(self, "host", as_cell(self.host))
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

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickling: a spec stored with a dict host gets its :class:`Cell`."""
        state = dict(state)
        if state.get("host") is not None and not isinstance(state["host"], Cell):
            state["host"] = as_cell(state["host"])
        self.__dict__.update(state)

    @property
    def n_atoms(self) -> int:
        return int(sum(self.composition.values()))


@dataclasses.dataclass(frozen=True)
class GeneratedCandidate:
    """Output of the sampling stage for one spec.

    ``crystal`` is the sampled crystal (a Cartesian :class:`Cell`, what ``generate``
    gives); ``structure`` a pymatgen ``as_dict()`` from producers that start from a
    Structure (user structures, benchmark starts). Either may be set; ``crystal`` wins.
    """

    spec: CandidateSpec
    status: Literal["ok", "failed"]
    structure: dict[str, Any] | None
    failure_reason: str | None
    t_sample_s: float
    sampler_settings: dict[str, Any]
    model_checkpoint: str
    crystal: Cell | None = None

    @property
    def has_structure(self) -> bool:
        """Whether a structure came out (``crystal`` or ``structure`` set)."""
        return self.crystal is not None or self.structure is not None

    def generated_structure(self) -> Structure | None:
        """The generated crystal as a pymatgen Structure (built on each call; ``None``
        without one)."""
        if self.crystal is not None:
            return self.crystal.to_structure()
        if self.structure is not None:
            from pymatgen.core import Structure

            return Structure.from_dict(self.structure)
        return None


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
        """The row as a dict of its columns (every value a scalar or a string: no copy)."""
        return {name: getattr(self, name) for name in _RECORD_FIELDS}


_RECORD_FIELDS = tuple(f.name for f in dataclasses.fields(CandidateRecord))


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
