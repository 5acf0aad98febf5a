"""Combinations of Wyckoff positions whose orbit sizes add up to a guest count.

A *choice* gives every guest species a multiset of Wyckoff positions of the framework's
table; the orbit sizes in the cell (:attr:`WyckoffSite.n_in_cell`) of a species' positions
add up to its guest count. A position without free parameter (a fixed point) holds at
most one orbit, over all species together; positions with free parameters can be used
repeatedly (different parameter values). Fixed points closer than ``min_host_distance``
(Å) to a host atom, or whose own members are closer than that to each other, are left out.

When the combinations are few (at most ``max_combinations``) all are returned; otherwise
``max_combinations`` distinct ones are drawn uniformly (exact counting by dynamic
programming), deterministically from ``seed``. The order is shuffled by ``seed`` too.

Text form (results column ``wyckoff_letters``): ``"Li:4a,8c,8c"``, species separated by
``";"``, ITA labels in ITA order.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import re
from collections.abc import Mapping, Sequence

import numpy as np

from chggen_kernels.wyckoff.tables import WyckoffError, WyckoffTable

__all__ = [
    "DEFAULT_MAX_COMBINATIONS",
    "WyckoffChoice",
    "format_choice",
    "parse_choice",
    "usable_sites",
    "wyckoff_combinations",
]

#: Most combinations of Wyckoff positions tried per host (the one definition of this default).
DEFAULT_MAX_COMBINATIONS = 64
_ENUMERATE_LIMIT = 20_000  # above this many combinations, draw instead of listing
_LABEL = re.compile(r"^(\d+)([A-Za-z])$")


@dataclasses.dataclass(frozen=True)
class WyckoffChoice:
    """Wyckoff positions (ITA labels, with repeats) for each guest species."""

    species: tuple[str, ...]
    labels: tuple[tuple[str, ...], ...]

    def as_dict(self) -> dict[str, tuple[str, ...]]:
        return dict(zip(self.species, self.labels, strict=True))

    def __str__(self) -> str:
        return format_choice(self)


def format_choice(choice: WyckoffChoice) -> str:
    """``"Li:4a,8c,8c;Mg:2b"``."""
    return ";".join(f"{el}:{','.join(labels)}"
                    for el, labels in zip(choice.species, choice.labels, strict=True))


def parse_choice(text: str) -> WyckoffChoice:
    """Inverse of :func:`format_choice`; a malformed text raises :class:`WyckoffError`."""
    species, labels = [], []
    for part in str(text).split(";"):
        element, sep, rest = part.partition(":")
        items = tuple(x.strip() for x in rest.split(",")) if sep else ()
        if not element.strip() or not items or not all(_LABEL.match(x) for x in items):
            raise WyckoffError(
                f"wyckoff_letters {text!r}: expected 'Element:label,label;...' with ITA "
                "labels such as '4a', e.g. 'Li:4a,8c'"
            )
        species.append(element.strip())
        labels.append(items)
    if len(set(species)) != len(species):
        raise WyckoffError(f"wyckoff_letters {text!r}: a species appears twice")
    return WyckoffChoice(tuple(species), tuple(labels))


def _min_distance(frac_a: np.ndarray, frac_b: np.ndarray, lattice: np.ndarray,
                  same: bool) -> float:
    """Smallest periodic distance (Å) between points of a and b (a != b pairs if ``same``)."""
    if len(frac_a) == 0 or len(frac_b) == 0:
        return float("inf")
    d = frac_a[:, None, :] - frac_b[None, :, :]
    d -= np.round(d)
    images = np.array(list(itertools.product((-1, 0, 1), repeat=3)), dtype=float)
    cart = (d[:, :, None, :] + images) @ lattice  # (a, b, 27, 3)
    dist = np.linalg.norm(cart, axis=-1).min(axis=-1)
    if same:
        dist = dist + np.where(np.eye(len(frac_a), dtype=bool), np.inf, 0.0)
    return float(dist.min())


def usable_sites(table: WyckoffTable, host_frac: np.ndarray | None = None,
                 min_host_distance: float = 1.0) -> tuple[list[int], dict[str, str]]:
    """Indices of the table's sites a guest may use, and why the others may not.

    Fixed points (``dof == 0``) closer than ``min_host_distance`` (Å) to a host atom
    (``host_frac``: ``(n, 3)`` fractional coordinates in the table's cell) or with members
    closer than that to each other are excluded; ``min_host_distance = 0`` keeps all.
    """
    if not min_host_distance >= 0:
        raise WyckoffError(f"min_host_distance must be >= 0 Å, got {min_host_distance!r}")
    host = np.zeros((0, 3)) if host_frac is None else np.asarray(host_frac, dtype=float)
    keep, excluded = [], {}
    for i, site in enumerate(table.sites):
        if site.dof == 0 and min_host_distance > 0:
            points = site.orbit()
            to_host = _min_distance(points, host, table.lattice, same=False)
            within = _min_distance(points, points, table.lattice, same=True)
            if to_host < min_host_distance:
                excluded[site.label] = f"{to_host:.2f} Å from a host atom"
                continue
            if within < min_host_distance:
                excluded[site.label] = f"members {within:.2f} Å apart"
                continue
        keep.append(i)
    return keep, excluded


class _Counter:
    """Solutions of sum_i c_i m_i = n (c_i <= 1 for fixed points) by dynamic programming."""

    def __init__(self, sizes: Sequence[int], fixed: Sequence[bool]) -> None:
        self.sizes, self.fixed = tuple(sizes), tuple(fixed)

    @functools.cache  # noqa: B019 - one small counter per call
    def count(self, i: int, remaining: int) -> int:
        if remaining == 0:
            return 1
        if i == len(self.sizes):
            return 0
        return sum(self.count(i + 1, remaining - c * self.sizes[i])
                   for c in self._options(i, remaining))

    def _options(self, i: int, remaining: int) -> range:
        top = remaining // self.sizes[i]
        return range(min(top, 1) + 1) if self.fixed[i] else range(top + 1)

    def enumerate(self, i: int, remaining: int):
        if remaining == 0:
            yield (0,) * (len(self.sizes) - i)
            return
        if i == len(self.sizes):
            return
        for c in self._options(i, remaining):
            if self.count(i + 1, remaining - c * self.sizes[i]):
                for rest in self.enumerate(i + 1, remaining - c * self.sizes[i]):
                    yield (c, *rest)

    def draw(self, n: int, rng: np.random.Generator) -> tuple[int, ...]:
        counts, remaining = [], n
        for i in range(len(self.sizes)):
            options = list(self._options(i, remaining))
            weights = np.array([float(self.count(i + 1, remaining - c * self.sizes[i]))
                                for c in options])
            c = options[int(rng.choice(len(options), p=weights / weights.sum()))]
            counts.append(c)
            remaining -= c * self.sizes[i]
        return tuple(counts)


def _labels(table: WyckoffTable, sites: Sequence[int], counts: Sequence[int]) -> tuple[str, ...]:
    return tuple(table.sites[s].label for s, c in zip(sites, counts, strict=True)
                 for _ in range(c))


def wyckoff_combinations(
    table: WyckoffTable,
    guest_counts: Mapping[str, int],
    *,
    max_combinations: int = DEFAULT_MAX_COMBINATIONS,
    seed: int = 0,
    host_frac: np.ndarray | None = None,
    min_host_distance: float = 1.0,
) -> list[WyckoffChoice]:
    """Choices of Wyckoff positions reaching ``guest_counts`` (``[]`` when none can).

    Args:
        table: the framework's Wyckoff table (its cell is the guests' cell).
        guest_counts: guests per species in the cell, e.g. ``{"Li": 10}``; species order is
            kept.
        max_combinations: most choices returned (>= 1).
        seed: seeds the draw and the shuffle.
        host_frac, min_host_distance: fixed points to leave out (see :func:`usable_sites`).
    """
    if isinstance(max_combinations, bool) or not isinstance(max_combinations, int) \
            or max_combinations < 1:
        raise WyckoffError(f"max_combinations must be an integer >= 1, got {max_combinations!r}")
    species = tuple(guest_counts)
    for el, n in guest_counts.items():
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            raise WyckoffError(f"guest count of {el} must be an integer >= 1, got {n!r}")
    sites, _ = usable_sites(table, host_frac, min_host_distance)
    counter = _Counter([table.sites[s].n_in_cell for s in sites],
                       [table.sites[s].dof == 0 for s in sites])
    fixed = np.array([table.sites[s].dof == 0 for s in sites], dtype=bool)
    rng = np.random.default_rng([int(seed), 17])
    totals = [counter.count(0, int(guest_counts[el])) for el in species]
    if 0 in totals:
        return []

    def disjoint(parts: Sequence[tuple[int, ...]]) -> bool:
        used = np.sum([np.array(p)[fixed] for p in parts], axis=0) if fixed.any() else 0
        return bool(np.all(used <= 1))

    chosen: list[tuple[tuple[int, ...], ...]] = []
    if int(np.prod([float(t) for t in totals])) <= _ENUMERATE_LIMIT:
        per_species = [list(counter.enumerate(0, int(guest_counts[el]))) for el in species]
        every = [p for p in itertools.product(*per_species) if disjoint(p)]
        order = rng.permutation(len(every))[:max_combinations]
        chosen = [every[i] for i in order]
    else:  # too many to list: distinct uniform draws (species drawn independently)
        seen: set[tuple[tuple[int, ...], ...]] = set()
        for _ in range(20 * max_combinations):
            parts = tuple(counter.draw(int(guest_counts[el]), rng) for el in species)
            if parts not in seen and disjoint(parts):
                seen.add(parts)
                chosen.append(parts)
                if len(chosen) == max_combinations:
                    break
    return [WyckoffChoice(species, tuple(_labels(table, sites, p) for p in parts))
            for parts in chosen]
