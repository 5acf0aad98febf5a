"""Seeds and atom-budget batches of a sampler request."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["check_seeds", "split_by_budget"]


def check_seeds(seeds: Sequence[int] | int, n_crystals: int) -> list[int]:
    if isinstance(seeds, bool):
        raise ValueError(f"seeds must be an int or one int per crystal, got {seeds!r}")
    if isinstance(seeds, int):
        seeds = [seeds + i for i in range(n_crystals)]
    seeds = list(seeds)
    if len(seeds) != n_crystals:
        raise ValueError(f"got {len(seeds)} seeds for {n_crystals} crystals; need one per crystal")
    for i, s in enumerate(seeds):
        if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s < 2**63:
            raise ValueError(f"seed of crystal {i} must be an integer in [0, 2**63), got {s!r}")
    return seeds


def split_by_budget(counts: list[int], budget: int | None) -> list[list[int]]:
    """Consecutive groups of crystals with at most ``budget`` atoms each."""
    if budget is None:
        return [list(range(len(counts)))]
    chunks: list[list[int]] = []
    current: list[int] = []
    total = 0
    for i, n in enumerate(counts):
        if n > budget:
            raise ValueError(
                f"crystal {i} has {n} atoms, more than max_atoms_per_batch = {budget}; "
                "raise the budget (a crystal is never split)"
            )
        if current and total + n > budget:
            chunks.append(current)
            current, total = [], 0
        current.append(i)
        total += n
    chunks.append(current)
    return chunks
