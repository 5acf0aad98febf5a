"""How the default benchmark sets are chosen from a held-out test split.

:func:`choose_benchmark_set` keeps every crystal of the target chemical systems (the ones
chggen is built for: Li-Si, Zn-P-S, Li-P-S and their subsystems) and adds a seeded random
sample of the other formulas (one crystal per formula, the first in file order), all with
at most ``max_atoms`` atoms per cell. ``require`` keeps only crystals holding that element
(the guest of the host benchmark) together with at least one other element. The rule is a
pure function of the entries and the seed, so the shipped lists can be checked against it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

__all__ = ["TARGET_SYSTEMS", "SetEntry", "choose_benchmark_set", "in_systems"]

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
    max_atoms: int = 20,
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
