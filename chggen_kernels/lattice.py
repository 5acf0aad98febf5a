"""Lattice search: random Bravais lattices at a fixed volume, and a volume-per-atom prior.

CHGGen starts every unconditional generation from a random Bravais lattice of volume
``V = N * V0`` (N atoms, V0 the volume per atom in Å^3/atom). Seven families are used, with
the reference angles (degrees) and axis ratios ``(b/a, c/a)``:

==============  ==========================  =========================================
family          angles (alpha, beta, gamma)  free axis ratios
==============  ==========================  =========================================
cubic           90, 90, 90                  none (a = b = c)
tetragonal      90, 90, 90                  c/a (a = b)
orthorhombic    90, 90, 90                  b/a, c/a
monoclinic      90, 100, 90                 b/a, c/a
triclinic       80, 85, 100                 b/a, c/a
hexagonal       90, 90, 120                 c/a (a = b)
rhombohedral    60, 60, 60                  none (a = b = c)
==============  ==========================  =========================================

Every family conserves the volume exactly (up to floating point): the cell is built with
unit ``a`` and then scaled isotropically to the requested volume. (The reference code's
hexagonal formula does not conserve the volume; this one does.)

Lattices are returned as 3x3 arrays of *row* vectors in Å (``cartesian = frac @ lattice``).

The volume prior (:class:`VolumePrior`) gives V0 for a composition as the
composition-weighted mean of per-element volumes fitted by non-negative least squares on
known structures (``V_cell ≈ sum_i n_i v_i``); elements outside the fit fall back to the
volume per atom of the elemental solid (pymatgen's ``Element.molar_volume``) and, where
pymatgen has none, to :data:`DEFAULT_VOLUME_PER_ATOM` = 20 Å^3/atom.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from pymatgen.core import Composition, Element, Structure

__all__ = [
    "DEFAULT_VOLUME_PER_ATOM",
    "FAMILY_ANGLES",
    "LATTICE_FAMILIES",
    "REFERENCE_AXIS_RATIOS",
    "LatticeSample",
    "VolumePrior",
    "bravais_lattice",
    "elemental_volume",
    "fit_volume_prior",
    "sample_lattice",
]

#: Bravais lattice families in a fixed order (sampling picks uniformly among them).
LATTICE_FAMILIES: tuple[str, ...] = (
    "cubic",
    "tetragonal",
    "orthorhombic",
    "monoclinic",
    "triclinic",
    "hexagonal",
    "rhombohedral",
)

#: Cell angles (alpha, beta, gamma) in degrees of each family (reference settings).
FAMILY_ANGLES: dict[str, tuple[float, float, float]] = {
    "cubic": (90.0, 90.0, 90.0),
    "tetragonal": (90.0, 90.0, 90.0),
    "orthorhombic": (90.0, 90.0, 90.0),
    "monoclinic": (90.0, 100.0, 90.0),
    "triclinic": (80.0, 85.0, 100.0),
    "hexagonal": (90.0, 90.0, 120.0),
    "rhombohedral": (60.0, 60.0, 60.0),
}

#: Which of the axis ratios (b/a, c/a) each family leaves free.
_FREE_RATIOS: dict[str, tuple[bool, bool]] = {
    "cubic": (False, False),
    "tetragonal": (False, True),
    "orthorhombic": (True, True),
    "monoclinic": (True, True),
    "triclinic": (True, True),
    "hexagonal": (False, True),
    "rhombohedral": (False, False),
}

#: Axis ratios the reference samples from.
REFERENCE_AXIS_RATIOS: tuple[float, ...] = (0.5, 0.75, 1.0, 1.25, 1.5)

#: Last-resort volume per atom (Å^3/atom) for an element with no fit and no pymatgen data.
DEFAULT_VOLUME_PER_ATOM = 20.0

_CM3_PER_MOL_TO_A3_PER_ATOM = 1e24 / 6.02214076e23


@dataclasses.dataclass(frozen=True)
class LatticeSample:
    """One sampled lattice: family, the 3x3 row-vector matrix (Å) and the ratios (b/a, c/a)."""

    family: str
    lattice: np.ndarray
    ratios: tuple[float, float]

    @property
    def volume(self) -> float:
        """Cell volume in Å^3."""
        return float(abs(np.linalg.det(self.lattice)))


def _check_family(family: str) -> None:
    if family not in FAMILY_ANGLES:
        allowed = ", ".join(LATTICE_FAMILIES)
        raise ValueError(f"unknown lattice family {family!r}; allowed: {allowed}")


def _check_positive(name: str, value: float) -> None:
    if not (isinstance(value, int | float | np.integer | np.floating) and math.isfinite(value)
            and value > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")


def bravais_lattice(
    family: str,
    n_atoms: int,
    volume_per_atom: float,
    ratios: tuple[float, float] | None = None,
) -> np.ndarray:
    """Lattice (3x3 row vectors, Å) of ``family`` with volume ``n_atoms * volume_per_atom``.

    Args:
        family: one of :data:`LATTICE_FAMILIES`.
        n_atoms: number of atoms in the cell (positive).
        volume_per_atom: V0 in Å^3/atom (positive).
        ratios: axis ratios ``(b/a, c/a)``; ``None`` means ``(1, 1)``. A ratio that the
            family fixes (b/a for tetragonal/hexagonal, both for cubic/rhombohedral) must be 1.

    The matrix is lower-triangular: a along x, b in the xy plane.
    """
    _check_family(family)
    if not isinstance(n_atoms, int | np.integer) or isinstance(n_atoms, bool) or n_atoms <= 0:
        raise ValueError(f"n_atoms must be a positive integer, got {n_atoms!r}")
    _check_positive("volume_per_atom", volume_per_atom)
    b_ratio, c_ratio = (1.0, 1.0) if ratios is None else (float(ratios[0]), float(ratios[1]))
    _check_positive("ratios[0] (b/a)", b_ratio)
    _check_positive("ratios[1] (c/a)", c_ratio)
    free_b, free_c = _FREE_RATIOS[family]
    for free, name, value in ((free_b, "ratios[0] (b/a)", b_ratio), (free_c, "ratios[1] (c/a)",
                                                                      c_ratio)):
        if not free and value != 1.0:
            raise ValueError(f"{family} lattices fix {name} to 1, got {value!r}")

    alpha, beta, gamma = (math.radians(x) for x in FAMILY_ANGLES[family])
    ca, cb, cg, sg = math.cos(alpha), math.cos(beta), math.cos(gamma), math.sin(gamma)
    # Unit-a cell in lower-triangular form: a along x, b in the xy plane.
    a_vec = np.array([1.0, 0.0, 0.0])
    b_vec = b_ratio * np.array([cg, sg, 0.0])
    cx = cb
    cy = (ca - cb * cg) / sg
    cz = math.sqrt(1.0 - cx * cx - cy * cy)
    c_vec = c_ratio * np.array([cx, cy, cz])
    unit = np.stack([a_vec, b_vec, c_vec])
    target = n_atoms * float(volume_per_atom)
    scale = (target / np.linalg.det(unit)) ** (1.0 / 3.0)
    return unit * scale


def sample_lattice(
    n_atoms: int,
    volume_per_atom: float,
    rng: np.random.Generator | int | None,
    *,
    families: Sequence[str] = LATTICE_FAMILIES,
    axis_ratios: Sequence[float] | None = REFERENCE_AXIS_RATIOS,
    ratio_range: tuple[float, float] = (1.0, 1.5),
) -> LatticeSample:
    """Draw a random Bravais lattice of volume ``n_atoms * volume_per_atom`` (Å^3).

    The family is drawn uniformly from ``families``; each free axis ratio is drawn
    uniformly from ``axis_ratios`` (reference set), or from ``uniform(*ratio_range)`` when
    ``axis_ratios`` is ``None``. Ratios a family fixes are recorded as 1.0.
    Deterministic for a given seed / generator state.
    """
    rng = np.random.default_rng(rng)
    if not families:
        raise ValueError("families must name at least one lattice family")
    for family in families:
        _check_family(family)
    if axis_ratios is not None:
        if len(axis_ratios) == 0:
            raise ValueError("axis_ratios must be non-empty (or None for a uniform range)")
        for r in axis_ratios:
            _check_positive("axis_ratios entry", r)
    else:
        lo, hi = ratio_range
        _check_positive("ratio_range[0]", lo)
        if not hi >= lo:
            raise ValueError(f"ratio_range must be (low, high) with high >= low, got {ratio_range}")
    family = str(families[int(rng.integers(len(families)))])

    def draw() -> float:
        if axis_ratios is not None:
            return float(axis_ratios[int(rng.integers(len(axis_ratios)))])
        return float(rng.uniform(*ratio_range))

    free_b, free_c = _FREE_RATIOS[family]
    # Always draw two numbers so the generator advances identically for every family.
    b_draw, c_draw = draw(), draw()
    ratios = (b_draw if free_b else 1.0, c_draw if free_c else 1.0)
    lattice = bravais_lattice(family, n_atoms, volume_per_atom, ratios)
    return LatticeSample(family=family, lattice=lattice, ratios=ratios)


# ---------------------------------------------------------------------- volume prior
def _as_composition(composition: Composition | str | Mapping[str, float]) -> Composition:
    try:
        comp = Composition(composition)
    except Exception as exc:  # pymatgen raises several types for bad formulas
        raise ValueError(f"invalid composition {composition!r}: {exc}") from exc
    dummies = [el.symbol for el in comp.elements if not isinstance(el, Element)]
    if dummies:
        raise ValueError(f"invalid composition {composition!r}: {dummies} are not elements")
    if comp.num_atoms <= 0:
        raise ValueError(f"composition {composition!r} has no atoms")
    return comp


def elemental_volume(symbol: str) -> float | None:
    """Volume per atom (Å^3/atom) of the elemental solid from pymatgen, or None if unknown."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        molar = Element(symbol).molar_volume
    if molar is None:
        return None
    return float(molar) * _CM3_PER_MOL_TO_A3_PER_ATOM


@dataclasses.dataclass(frozen=True)
class VolumePrior:
    """Per-element volumes (Å^3/atom) giving V0 for any composition.

    Attributes:
        element_volumes: fitted volume per atom of each element, Å^3/atom.
        overrides: volume per atom (Å^3/atom) for specific compositions, keyed by reduced
            formula (e.g. ``{"Li2Si": 19.5}``); these win over the element sum.
        use_elemental_fallback: for an element not in ``element_volumes``, use the
            elemental solid's volume per atom (pymatgen ``molar_volume``).
        default_volume: last resort for an element with neither (Å^3/atom).
    """

    element_volumes: Mapping[str, float]
    overrides: Mapping[str, float] = dataclasses.field(default_factory=dict)
    use_elemental_fallback: bool = True
    default_volume: float = DEFAULT_VOLUME_PER_ATOM

    def __post_init__(self) -> None:
        for symbol, v in self.element_volumes.items():
            if not Element.is_valid_symbol(symbol):
                raise ValueError(f"element_volumes: {symbol!r} is not an element symbol")
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"element_volumes[{symbol!r}] must be >= 0, got {v!r}")
        for formula, v in self.overrides.items():
            _check_positive(f"overrides[{formula!r}]", v)
        _check_positive("default_volume", self.default_volume)
        normalised = {
            _as_composition(f).reduced_formula: float(v) for f, v in self.overrides.items()
        }
        object.__setattr__(self, "overrides", normalised)
        object.__setattr__(self, "element_volumes",
                           {k: float(v) for k, v in self.element_volumes.items()})

    def element_volume(self, symbol: str) -> float:
        """Volume per atom (Å^3/atom) used for one element."""
        if symbol in self.element_volumes:
            return self.element_volumes[symbol]
        if self.use_elemental_fallback:
            v = elemental_volume(symbol)
            if v is not None:
                return v
        return self.default_volume

    def volume_per_atom(self, composition: Composition | str | Mapping[str, float]) -> float:
        """V0 in Å^3/atom: the override for this reduced formula, else sum_i x_i v_i."""
        comp = _as_composition(composition)
        override = self.overrides.get(comp.reduced_formula)
        if override is not None:
            return override
        return float(sum(comp.get_atomic_fraction(el) * self.element_volume(el.symbol)
                         for el in comp.elements))

    def with_override(self, composition: Composition | str, volume_per_atom: float) -> VolumePrior:
        """A copy with V0 for ``composition`` fixed to ``volume_per_atom`` (Å^3/atom)."""
        overrides = dict(self.overrides)
        overrides[_as_composition(composition).reduced_formula] = volume_per_atom
        return dataclasses.replace(self, overrides=overrides)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {
            "element_volumes": dict(self.element_volumes),
            "overrides": dict(self.overrides),
            "use_elemental_fallback": self.use_elemental_fallback,
            "default_volume": self.default_volume,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VolumePrior:
        """Inverse of :meth:`to_dict`."""
        if "element_volumes" not in data:
            raise ValueError("VolumePrior dict needs an 'element_volumes' field")
        return cls(
            element_volumes=dict(data["element_volumes"]),
            overrides=dict(data.get("overrides", {})),
            use_elemental_fallback=bool(data.get("use_elemental_fallback", True)),
            default_volume=float(data.get("default_volume", DEFAULT_VOLUME_PER_ATOM)),
        )


def fit_volume_prior(
    structures: Iterable[Structure],
    **prior_kwargs: Any,
) -> VolumePrior:
    """Fit per-element volumes (Å^3/atom) by non-negative least squares.

    Solves ``min sum_s (V_s / N_s - sum_i x_si v_i)^2`` over ``v >= 0`` (each structure's
    equation divided by its atom count so large cells do not dominate; for exact data this
    is the same solution as ``V_cell = sum_i n_i v_i``). ``prior_kwargs`` go to
    :class:`VolumePrior` (``overrides``, ``default_volume``, ...).
    """
    from scipy.optimize import nnls

    rows: list[Composition] = []
    volumes: list[float] = []
    for i, s in enumerate(structures):
        if not isinstance(s, Structure):
            raise TypeError(f"structures[{i}] is a {type(s).__name__}, not a pymatgen Structure")
        if len(s) == 0:
            raise ValueError(f"structures[{i}] ({s.formula}) has no atoms")
        rows.append(s.composition)
        volumes.append(s.volume / len(s))
    if not rows:
        raise ValueError("fit_volume_prior needs at least one structure")
    symbols = sorted({el.symbol for c in rows for el in c.elements})
    a = np.array([[c.get_atomic_fraction(sym) for sym in symbols] for c in rows])
    v, _ = nnls(a, np.array(volumes))
    return VolumePrior(element_volumes=dict(zip(symbols, v.tolist(), strict=True)), **prior_kwargs)
