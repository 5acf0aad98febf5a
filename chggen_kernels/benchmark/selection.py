"""How the default benchmark sets are chosen from a held-out test split.

:func:`choose_benchmark_set` keeps every crystal of the target chemical systems (the ones
chggen is built for: Li-Si, Zn-P-S, Li-P-S and their subsystems) and adds a seeded random
sample of the other formulas (one crystal per formula, the first in file order), all with
at most ``max_atoms`` atoms per cell. ``require`` keeps only crystals holding that element
(the guest of the host benchmark) together with at least one other element. The rule is a
pure function of the entries and the seed, so the shipped lists can be checked against it.

:func:`choose_extended_set` picks the larger CSP set (``chggen benchmark csp --set
extended``): the default CSP set's crystals, then a seeded quota sample of the other
formulas of the same split (ternary and larger compounds first, then cells of 10-20 atoms,
then any), one crystal per formula.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from chggen_kernels.datasets.sources import DEFAULT_MAX_ATOMS

__all__ = ["TARGET_SYSTEMS", "SetEntry", "choose_benchmark_set", "choose_extended_set",
           "in_systems"]

TARGET_SYSTEMS = ("Li-Si", "P-S-Zn", "Li-P-S")


@dataclasses.dataclass(frozen=True)
class SetEntry:
    """One crystal of a benchmark set and why it is there."""

    structure_id: str
    formula: str
    n_atoms: int
    reason: str
    source_id: str = ""


def in_systems(elements: Sequence[str], systems: Sequence[str]) -> str | None:
    """The first of ``systems`` (``"Li-Si"``) containing every element, else None."""
    have = set(elements)
    return next((s for s in systems if have <= set(s.split("-"))), None)


def choose_benchmark_set(
    entries: Sequence[tuple[str, str, int, Sequence[str], str]],
    *,
    n_random: int,
    max_atoms: int = DEFAULT_MAX_ATOMS,
    seed: int = 0,
    systems: Sequence[str] = TARGET_SYSTEMS,
    require: str | None = None,
) -> list[SetEntry]:
    """Target-system crystals, then ``n_random`` others (see the module docstring).

    ``entries`` are ``(structure_id, reduced formula, atoms per cell, elements,
    source_id)`` in file order.
    """
    if n_random < 0 or max_atoms < 1:
        raise ValueError(f"n_random must be >= 0 and max_atoms >= 1, got {n_random}, "
                         f"{max_atoms}")
    usable = [e for e in entries if e[2] <= max_atoms and (
        require is None or (require in e[3] and len(set(e[3])) > 1))]
    chosen = []
    for sid, formula, n, elements, source_id in usable:
        system = in_systems(elements, systems)
        if system is not None:
            chosen.append(SetEntry(sid, formula, n, f"target system {system}", source_id))
    taken = {c.formula for c in chosen}
    others: dict[str, tuple[str, str, int, Sequence[str], str]] = {}
    for e in usable:
        if e[1] not in taken and e[1] not in others:
            others[e[1]] = e
    names = sorted(others)
    rng = np.random.default_rng(seed)
    picked = sorted(rng.choice(len(names), size=min(n_random, len(names)), replace=False)
                    .tolist()) if names else []
    why = f"random sample (seed {seed}) of the other formulas"
    for i in picked:
        sid, formula, n, _, source_id = others[names[i]]
        chosen.append(SetEntry(sid, formula, n, why, source_id))
    return chosen


Entry = tuple[str, str, int, Sequence[str], str]


def choose_extended_set(
    entries: Sequence[Entry],
    *,
    n: int = 60,
    min_ternary: int = 20,
    min_large_share: float = 0.5,
    small_max: int = 9,
    large: tuple[int, int] = (10, 20),
    seed: int = 0,
    include: Sequence[str] = (),
    include_reason: str = "default CSP set",
) -> list[SetEntry]:
    """The extended CSP set: ``n`` crystals of ``entries``, one per reduced formula.

    ``entries`` are ``(structure_id, reduced formula, atoms in the primitive cell,
    elements, source_id)`` of a held-out test split (the benchmark runs primitive cells,
    so sizes are the primitive cell's). Crystals of more than ``large[1]`` atoms are left
    out. The rule, a pure function of ``entries`` and ``seed`` (it never looks at any
    benchmark result, so it cannot be tuned to a method):

    1. ``include`` (structure ids, e.g. the default CSP set's), in that order; an id whose
       formula is already taken is skipped (the default set's second LiP);
    2. every other formula is represented by its crystal of lowest ``structure_id`` (ids
       are content hashes, so this does not depend on the file order); these are sorted
       by id and shuffled with ``numpy.random.default_rng(seed)``;
    3. in that shuffled order, quotas are filled in turn: compounds of three or more
       elements until there are ``min_ternary``, then cells of ``large[0]``-``large[1]``
       atoms until they are ``ceil(min_large_share * n)``, then any formula until there
       are ``n``. Cells of at most ``small_max`` atoms are the small class.

    Raises:
        ValueError: bad arguments, an ``include`` id not in ``entries``, or too few
            formulas to meet a quota.
    """
    lo, hi = large
    if n < 1 or min_ternary < 0 or not 0 <= min_large_share <= 1 or not 1 <= small_max < lo \
            or lo > hi:
        raise ValueError(f"need n >= 1, min_ternary >= 0, 0 <= min_large_share <= 1 and "
                         f"1 <= small_max < large[0] <= large[1], got n={n}, "
                         f"min_ternary={min_ternary}, min_large_share={min_large_share}, "
                         f"small_max={small_max}, large={large}")
    if min_ternary > n:
        raise ValueError(f"min_ternary {min_ternary} is more than n {n}")
    by_id = {e[0]: e for e in entries}
    usable = [e for e in entries if e[2] <= hi]
    chosen: list[SetEntry] = []
    taken: set[str] = set()
    for sid in include:
        if sid not in by_id:
            raise ValueError(f"include id {sid!r} is not among the entries")
        e = by_id[sid]
        if e[1] not in taken and e[2] <= hi:
            chosen.append(SetEntry(e[0], e[1], e[2], include_reason, e[4]))
            taken.add(e[1])
    first: dict[str, Entry] = {}
    for e in sorted(usable, key=lambda e: e[0]):
        if e[1] not in taken and e[1] not in first:
            first[e[1]] = e
    pool = sorted(first.values(), key=lambda e: e[0])
    order = [pool[i] for i in np.random.default_rng(seed).permutation(len(pool)).tolist()]
    n_elements = {e[0]: len(set(e[3])) for e in (*usable, *(by_id[s] for s in include))}

    def is_ternary(sid: str) -> bool:
        return n_elements[sid] >= 3

    def is_large(size: int) -> bool:
        return lo <= size <= hi

    need_large = math.ceil(min_large_share * n)
    quotas = [
        ("three or more elements",
         lambda e: is_ternary(e[0]),
         lambda: sum(is_ternary(c.structure_id) for c in chosen) < min_ternary),
        (f"{lo}-{hi} atoms",
         lambda e: is_large(e[2]),
         lambda: sum(is_large(c.n_atoms) for c in chosen) < need_large),
        ("any formula", lambda e: True, lambda: len(chosen) < n),
    ]
    for what, fits, wanted in quotas:
        for e in order:
            if len(chosen) >= n or not wanted():
                break
            if e[1] not in taken and fits(e):
                chosen.append(SetEntry(e[0], e[1], e[2],
                                       f"seeded sample (seed {seed}): {what}", e[4]))
                taken.add(e[1])
        if wanted():
            raise ValueError(f"too few formulas for the quota '{what}' of the extended set "
                             f"({len(chosen)} chosen of {n})")
    return chosen
