"""Paired comparison of two methods on the same compounds: McNemar's exact test.

For each compound both methods either find the known crystal (match@k) or not. Only the
discordant compounds carry information: ``b`` found by the method only, ``c`` by the
baseline only. Under the null hypothesis (equal chances) ``b ~ Binomial(b + c, 1/2)``;
the exact two-sided p-value is ``min(1, 2 * P(X <= min(b, c)))``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

__all__ = ["mcnemar_exact", "paired_against"]


def mcnemar_exact(b: int, c: int) -> float:
    """Exact two-sided McNemar p-value for ``b`` and ``c`` discordant pairs."""
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be >= 0, got {b}, {c}")
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_against(scores: Sequence[Any], baseline: str, k: int) -> dict[str, Any]:
    """Per method: compounds both were run on, found by the method only (``b``), by
    ``baseline`` only (``c``), by both, and McNemar's exact p at match@``k``."""
    found = {(s.method, s.compound_id): s.matched_at(k) for s in scores}
    base = {cid: hit for (m, cid), hit in found.items() if m == baseline}
    out: dict[str, Any] = {}
    if not base:
        return out
    for method in dict.fromkeys(s.method for s in scores):
        if method == baseline:
            continue
        pairs = [(hit, base[cid]) for (m, cid), hit in found.items()
                 if m == method and cid in base]
        b = sum(x and not y for x, y in pairs)
        c = sum(y and not x for x, y in pairs)
        out[method] = {"k": k, "n_compounds": len(pairs), "method_only": b,
                       "baseline_only": c, "both": sum(x and y for x, y in pairs),
                       "p_mcnemar": mcnemar_exact(b, c)}
    return out
