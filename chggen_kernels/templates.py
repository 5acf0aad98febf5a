"""Template starts: known structures of the same stoichiometry type, elements substituted.

What a chemist starts from: for a target cell composition, every known phase with the
same stoichiometry type (anonymous formula and atoms in the primitive cell, e.g. ``AB2|6``
for Li4Si2) is a template, except polymorphs of the target formula itself. The template's
elements are mapped onto the target's in anonymous order (same counts, then
electronegativity: the most cation-like element replaces the most cation-like one), the
cell is scaled to ``n_atoms * volume_per_atom`` Å^3 (the volume prior), and templates are
ranked by chemical similarity of the substitution:

    distance = mean over the mapped elements of |ΔX| + |Δr| / 1 Å

(X Pauling electronegativity, r pymatgen's atomic radius, Å), ``similarity = 1 / (1 +
distance)``; an element mapped onto itself costs nothing. ``--mode template`` then
noises each start partly (``TEMPLATE_SIGMA``) and lets the score model denoise it
(:func:`chggen_kernels.sampling.sample` with ``from_given_sigma``) before relaxation; the
benchmark's ``template-raw`` method relaxes the starts as they are.

Known phases come from the shipped structures of the offline hull
(:mod:`chggen_kernels.thermo.known_structures`), one per composition.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence

from pymatgen.core import Composition, Element, Structure

from chggen_kernels.thermo.known_structures import KnownPhase
from chggen_kernels.wyckoff.prior import anonymous_species, stoichiometry_type

__all__ = [
    "TEMPLATE_RANKINGS",
    "TEMPLATE_SIGMA",
    "TemplateLibrary",
    "TemplateStart",
    "prototype_key",
    "prototypes_first",
    "substitution_distance",
]

#: Noise level (Å) a template start is denoised from: 7.5 % of the trained sigma range
#: (0.01-10 Å), within the 5-10 % DiffCSP++ uses for template starts.
TEMPLATE_SIGMA = 0.75


@dataclasses.dataclass(frozen=True)
class TemplateStart:
    """One template start (the substituted, scaled primitive cell) and where it came from."""

    structure: Structure
    template_id: str  # the known phase's source id
    template_formula: str
    mapping: dict[str, str]  # template element -> target element
    similarity: float  # 1 / (1 + distance), 1 for the same elements
    prototype: str = ""  # space group and occupied orbits per anonymous species

    @property
    def label(self) -> str:
        """``"mp-1234 Li2Ge (Ge->Si, similarity 0.83)"``."""
        swaps = ",".join(f"{a}->{b}" for a, b in sorted(self.mapping.items()) if a != b)
        return f"{self.template_id} {self.template_formula} ({swaps or 'same elements'}, " \
               f"similarity {self.similarity:.2f})"


def _x(symbol: str) -> float:
    with warnings.catch_warnings():  # pymatgen warns for the noble gases
        warnings.simplefilter("ignore")
        x = Element(symbol).X
    return 2.0 if math.isnan(x) else float(x)  # noble gases: a mid value, never NaN


def _radius(symbol: str) -> float:
    r = Element(symbol).atomic_radius
    return 1.5 if r is None else float(r)


#: Rankings of the template starts: by chemical similarity alone, or one template per
#: prototype first (the most similar of each, prototypes in that order), then the second
#: of each, and so on.
TEMPLATE_RANKINGS = ("similarity", "prototypes")


def prototype_key(primitive: Structure, symprec: float = 0.1) -> str:
    """The structure type of a cell as text: its space group (spglib at ``symprec`` Å)
    and the Wyckoff letters its orbits occupy per anonymous species, e.g. ``"sg 225:
    A 4a; B 4b"``; ``"sg ?"`` where spglib finds nothing. Cells of one stoichiometry type
    with equal keys differ only in lattice ratios and free coordinates."""
    import spglib

    order = anonymous_species({el.symbol: int(n) for el, n in primitive.composition.items()})
    index = {el: chr(65 + i) for i, el in enumerate(order)}
    cell = (primitive.lattice.matrix, primitive.frac_coords,
            [site.specie.Z for site in primitive])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = spglib.get_symmetry_dataset(cell, symprec=symprec)
    if data is None:
        return "sg ?"
    orbits = Counter((index[primitive[i].specie.symbol], str(data.wyckoffs[i]))
                     for i in sorted({int(e) for e in data.equivalent_atoms}))
    parts = []
    for species in sorted({s for s, _ in orbits}):
        letters = sorted((w, n) for (s, w), n in orbits.items() if s == species)
        parts.append(f"{species} " + ",".join(f"{n}x{w}" if n > 1 else w for w, n in letters))
    return f"sg {int(data.number)}: {'; '.join(parts)}"


def prototypes_first(starts: Sequence[TemplateStart]) -> list[TemplateStart]:
    """``starts`` (most similar first) reordered: the first of each prototype, in the
    order the prototypes first appear, then the second of each, and so on."""
    groups: dict[str, list[TemplateStart]] = {}
    for start in starts:
        groups.setdefault(start.prototype, []).append(start)
    depth = max((len(g) for g in groups.values()), default=0)
    return [g[i] for i in range(depth) for g in groups.values() if i < len(g)]


def substitution_distance(mapping: Mapping[str, str]) -> float:
    """Mean ``|ΔX| + |Δr| / 1 Å`` over the mapped element pairs (see module)."""
    if not mapping:
        return 0.0
    return sum(abs(_x(a) - _x(b)) + abs(_radius(a) - _radius(b))
               for a, b in mapping.items()) / len(mapping)


class TemplateLibrary:
    """Known phases indexed by stoichiometry type (primitive cells computed on demand, once
    per anonymous formula asked for)."""

    def __init__(self, phases: Sequence[KnownPhase]) -> None:
        self._by_formula: dict[str, list[KnownPhase]] = {}
        for phase in phases:
            anonymous = phase.structure.composition.reduced_composition.anonymized_formula
            self._by_formula.setdefault(anonymous, []).append(phase)
        self._typed: dict[str, list[tuple[str, KnownPhase, Structure, str]]] = {}

    def _of_type(self, anonymous: str) -> list[tuple[str, KnownPhase, Structure, str]]:
        if anonymous not in self._typed:
            typed = []
            for phase in self._by_formula.get(anonymous, []):
                primitive = phase.structure.get_primitive_structure()
                counts = {el.symbol: int(n) for el, n in primitive.composition.items()}
                typed.append((stoichiometry_type(counts), phase, primitive,
                              prototype_key(primitive)))
            self._typed[anonymous] = typed
        return self._typed[anonymous]

    def prepare(self, composition: Mapping[str, int]) -> None:
        """Compute, once, the primitive cells of the known phases a composition's
        stoichiometry type is looked up among (what :meth:`starts` would do first)."""
        counts = {el: int(n) for el, n in composition.items() if n}
        self._of_type(Composition(counts).reduced_composition.anonymized_formula)

    def starts(self, composition: Mapping[str, int], volume_per_atom: float,
               exclude_formulas: Sequence[str] = (), ranking: str = "similarity"
               ) -> list[TemplateStart]:
        """Every template start for the primitive-cell ``composition``, scaled to
        ``volume_per_atom`` Å^3/atom, most similar first (ties: template id; ``ranking``
        ``"prototypes"``: :func:`prototypes_first`). Polymorphs of the target formula and
        of ``exclude_formulas`` (any way of writing them) are never used."""
        if ranking not in TEMPLATE_RANKINGS:
            raise ValueError(f"template ranking must be one of {TEMPLATE_RANKINGS}, got "
                             f"{ranking!r}")
        counts = {el: int(n) for el, n in composition.items() if n}
        target = Composition(counts)
        kind = stoichiometry_type(counts)
        excluded = {target.reduced_formula,
                    *(Composition(f).reduced_formula for f in exclude_formulas)}
        order = anonymous_species(counts)
        n_atoms = sum(counts.values())
        out = []
        for phase_kind, phase, primitive, prototype in self._of_type(
                target.reduced_composition.anonymized_formula):
            if phase_kind != kind or phase.formula in excluded:
                continue
            template_counts = {el.symbol: int(n) for el, n in primitive.composition.items()}
            mapping = dict(zip(anonymous_species(template_counts), order, strict=True))
            structure = Structure(primitive.lattice,
                                  [mapping[site.specie.symbol] for site in primitive],
                                  primitive.frac_coords)
            structure.scale_lattice(n_atoms * volume_per_atom)
            similarity = 1.0 / (1.0 + substitution_distance(mapping))
            out.append(TemplateStart(structure, phase.source_id, phase.formula, mapping,
                                     similarity, prototype))
        ranked = sorted(out, key=lambda t: (-t.similarity, t.template_id))
        return prototypes_first(ranked) if ranking == "prototypes" else ranked
