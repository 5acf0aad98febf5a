"""Cell compositions of a campaign: chemical systems, composition lines, explicit formulas.

A *cell composition* counts atoms in one simulation cell, e.g. ``{"Li": 10, "Si": 4}``
(14 atoms). Every function here returns cell compositions as plain ``dict[str, int]``
sorted deterministically (atoms per cell, then formula), so task ids and task order do
not depend on dictionary or set iteration order.
"""

from __future__ import annotations

import itertools
import math
import operator
import re
from collections.abc import Iterable, Iterator, Sequence

from pymatgen.core import Composition
from pymatgen.core.periodic_table import Element

from chggen_kernels.chemsys import ChemicalSystemError
from chggen_kernels.chemsys import parse_chemsys as _parse_chemsys
from chggen_kernels.errors import InputError

__all__ = [
    "CompositionError",
    "Constraint",
    "cell_compositions",
    "chemsys_compositions",
    "enumeration_size",
    "formula_multiples",
    "guest_fraction",
    "line_compositions",
    "parse_chemsys",
    "parse_constraint",
    "parse_formula",
]

_OPERATORS = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
_CONSTRAINT_RE = re.compile(
    r"^\s*(?P<left>[A-Z][a-z]?)\s*(?P<op>>=|<=|==|!=|>|<)\s*"
    r"(?:(?P<factor>\d+(?:\.\d+)?)\s*\*\s*)?(?P<right>[A-Z][a-z]?|\d+(?:\.\d+)?)\s*$"
)


_ZERO_COUNT_RE = re.compile(r"[A-Z][a-z]?0+(?![.\d])")


class CompositionError(InputError):
    """A chemical system, formula or constraint is unusable; the message names it."""


def _check_element(symbol: str, where: str) -> str:
    if not Element.is_valid_symbol(symbol):
        raise CompositionError(f"{where}: {symbol!r} is not a chemical element")
    return symbol


def parse_chemsys(chemsys: str) -> tuple[str, ...]:
    """Elements of a chemical system written as ``"Li-Si"`` (sorted, unique).

    The kernel parser (:func:`chggen_kernels.chemsys.parse_chemsys`, repeated elements
    rejected); its errors are raised as :class:`CompositionError` with the same message.
    """
    try:
        return _parse_chemsys(str(chemsys))
    except ChemicalSystemError as err:
        raise CompositionError(str(err)) from None


def parse_formula(formula: str) -> dict[str, int]:
    """Integer atom counts of a formula such as ``"Li5Si2"`` or ``"Zn3(PS4)2"``."""
    text = str(formula).strip()
    if not text:
        raise CompositionError("formula '': empty")
    zero = _ZERO_COUNT_RE.search(text)
    if zero:
        raise CompositionError(f"formula {formula!r}: atom counts must be positive integers, "
                               f"got {zero.group(0)}")
    try:
        amounts = Composition(text).get_el_amt_dict()
    except Exception as exc:  # pymatgen raises several types for bad formulas
        raise CompositionError(f"formula {formula!r}: not a chemical formula ({exc})") from None
    counts: dict[str, int] = {}
    for el, amount in amounts.items():
        if amount <= 0 or abs(amount - round(amount)) > 1e-8:
            raise CompositionError(
                f"formula {formula!r}: atom counts must be positive integers, got {el}{amount:g}"
            )
        counts[_check_element(str(el), f"formula {formula!r}")] = int(round(amount))
    if not counts:
        raise CompositionError(f"formula {formula!r}: no elements")
    return dict(sorted(counts.items()))


class Constraint:
    """An inequality between atom counts of a cell, e.g. ``"Li > Si"`` or ``"Li >= 2*Si"``."""

    def __init__(self, text: str) -> None:
        match = _CONSTRAINT_RE.match(str(text))
        if match is None:
            raise CompositionError(
                f"constraint {text!r}: expected 'A op B', 'A op k*B' or 'A op number' with op "
                f"one of {', '.join(_OPERATORS)} (e.g. 'Li > Si')"
            )
        self.text = str(text).strip()
        self.left = _check_element(match["left"], f"constraint {text!r}")
        self.op = _OPERATORS[match["op"]]
        self.factor = float(match["factor"]) if match["factor"] else 1.0
        right = match["right"]
        if right[0].isdigit():
            self.right_element: str | None = None
            self.right_number = float(right)
        else:
            self.right_element = _check_element(right, f"constraint {text!r}")
            self.right_number = 0.0

    @property
    def elements(self) -> tuple[str, ...]:
        return (self.left,) + ((self.right_element,) if self.right_element else ())

    def __call__(self, counts: dict[str, int]) -> bool:
        left = counts.get(self.left, 0)
        right = counts.get(self.right_element, 0) if self.right_element else self.right_number
        return bool(self.op(left, self.factor * right))

    def __repr__(self) -> str:
        return f"Constraint({self.text!r})"


def parse_constraint(text: str) -> Constraint:
    return Constraint(text)


def _counts_with_sum(n_parts: int, total: int) -> Iterator[tuple[int, ...]]:
    """All tuples of ``n_parts`` integers >= 1 summing to ``total``."""
    if n_parts == 1:
        if total >= 1:
            yield (total,)
        return
    for first in range(1, total - n_parts + 2):
        for rest in _counts_with_sum(n_parts - 1, total - first):
            yield (first, *rest)


def chemsys_compositions(chemsys: str, min_atoms: int, max_atoms: int) -> list[dict[str, int]]:
    """Every cell composition containing all elements of ``chemsys`` with ``min..max`` atoms."""
    elements = parse_chemsys(chemsys)
    out = []
    for total in range(max(min_atoms, len(elements)), max_atoms + 1):
        for counts in _counts_with_sum(len(elements), total):
            out.append(dict(zip(elements, counts, strict=True)))
    return out


def line_compositions(
    end_members: Sequence[str],
    min_atoms: int,
    max_atoms: int,
    include_end_members: bool = False,
) -> list[dict[str, int]]:
    """Cells ``x1*A + x2*B + ...`` of integer multiples of the end-member formulas.

    Interior points only (every ``x_i >= 1``) unless ``include_end_members``; e.g.
    ``["ZnS", "P2S5"]`` with at most 13 atoms gives ZnP2S6 (9 atoms), Zn2P2S7 (11) and
    Zn3P2S8 (13).
    """
    members = [parse_formula(f) for f in end_members]
    sizes = [sum(m.values()) for m in members]
    ranges = [range(0, max_atoms // s + 1) for s in sizes]
    out = []
    for xs in itertools.product(*ranges):
        n_nonzero = sum(1 for x in xs if x)
        if n_nonzero == 0 or (n_nonzero < len(xs) and not include_end_members):
            continue
        total = sum(x * s for x, s in zip(xs, sizes, strict=True))
        if not min_atoms <= total <= max_atoms:
            continue
        counts: dict[str, int] = {}
        for x, member in zip(xs, members, strict=True):
            for el, n in member.items():
                if x:
                    counts[el] = counts.get(el, 0) + x * n
        out.append(counts)
    return out


def formula_multiples(formula: str, min_atoms: int, max_atoms: int) -> list[dict[str, int]]:
    """Cells ``Z * formula`` (Z = 1, 2, ...) whose atom count lies in ``min..max``."""
    unit = parse_formula(formula)
    size = sum(unit.values())
    return [
        {el: z * n for el, n in unit.items()}
        for z in range(1, max_atoms // size + 1)
        if min_atoms <= z * size <= max_atoms
    ]


def enumeration_size(
    *,
    chemical_systems: Iterable[str] = (),
    lines: Iterable[tuple[Sequence[str], bool]] = (),
    formulas: Iterable[str] = (),
    cells: Iterable[str] = (),
    min_atoms: int,
    max_atoms: int,
) -> int:
    """How many compositions :func:`cell_compositions` would visit for these sources,
    counted without visiting them (so a size limit is checked before the work): per
    chemical system of k elements the cells with every element present,
    sum over n of C(n-1, k-1); per line the grid of end-member multiples it walks; per
    formula its multiples; plus the explicit cells."""
    total = 0
    for chemsys in chemical_systems:
        k = len(parse_chemsys(chemsys))
        total += sum(math.comb(n - 1, k - 1) for n in range(max(min_atoms, k), max_atoms + 1))
    for end_members, _ in lines:
        sizes = [sum(parse_formula(f).values()) for f in end_members]
        total += math.prod(max_atoms // s + 1 for s in sizes)
    for formula in formulas:
        total += max_atoms // sum(parse_formula(formula).values())
    return total + sum(1 for _ in cells)


def _key(counts: dict[str, int]) -> tuple[int, str]:
    return (sum(counts.values()), "".join(f"{el}{n}" for el, n in sorted(counts.items())))


def cell_compositions(
    *,
    chemical_systems: Iterable[str] = (),
    lines: Iterable[tuple[Sequence[str], bool]] = (),
    formulas: Iterable[str] = (),
    cells: Iterable[str] = (),
    constraints: Iterable[str] = (),
    min_atoms: int,
    max_atoms: int,
) -> list[dict[str, int]]:
    """Union of all composition sources, filtered by ``constraints``, unique and sorted.

    ``cells`` are exact cell compositions (not filtered by the atom range); the other
    sources are enumerated within ``min_atoms..max_atoms``.
    """
    found: dict[tuple[int, str], dict[str, int]] = {}
    candidates: list[dict[str, int]] = []
    for chemsys in chemical_systems:
        candidates += chemsys_compositions(chemsys, min_atoms, max_atoms)
    for end_members, include_end_members in lines:
        candidates += line_compositions(end_members, min_atoms, max_atoms, include_end_members)
    for formula in formulas:
        candidates += formula_multiples(formula, min_atoms, max_atoms)
    candidates += [parse_formula(c) for c in cells]
    rules = [parse_constraint(c) for c in constraints]
    for counts in candidates:
        counts = dict(sorted(counts.items()))
        if all(rule(counts) for rule in rules):
            found.setdefault(_key(counts), counts)
    return [found[k] for k in sorted(found)]


def guest_fraction(counts: dict[str, int], guest_species: Sequence[str]) -> float:
    """Fraction of the cell's atoms that belong to ``guest_species`` (0..1)."""
    total = sum(counts.values())
    return sum(counts.get(g, 0) for g in guest_species) / total if total else math.nan
