"""The best unique candidates of a run: ranked by E_d, duplicates merged across the run."""

from __future__ import annotations

from typing import TYPE_CHECKING

from campaign.report.load import parse_structure, rank_successful
from chggen_kernels.analysis import MatchSettings, duplicate_groups

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["unique_candidates"]


def unique_candidates(
    table: pd.DataFrame,
    top: int | None = None,
    *,
    max_e_d: float | None = None,
    symmetric_only: bool = False,
    settings: MatchSettings | None = None,
) -> pd.DataFrame:
    """The ``top`` best structurally distinct successful candidates.

    Successful rows with a relaxed structure are filtered (``max_e_d`` in eV/atom keeps
    E_d <= it; ``symmetric_only`` keeps space groups above P-1), ranked by E_d (lowest
    first; rows without E_d last, by energy), then grouped with StructureMatcher over the
    relaxed structures of the whole run. Each group is represented by its best member.

    ``settings``: StructureMatcher tolerances (default :class:`MatchSettings`).

    Returns the representatives in rank order with extra columns ``rank`` (1, 2, ...),
    ``n_duplicates`` (other members of the group) and ``duplicate_ids`` (their candidate
    ids, comma-separated, best first). Empty when nothing passes the filters.
    """
    ranked = rank_successful(table)
    if max_e_d is not None:
        ranked = ranked[ranked["e_d"] <= max_e_d]
    if symmetric_only:
        ranked = ranked[ranked["is_symmetric"].fillna(False).astype(bool)]
    ranked = ranked.reset_index(drop=True)
    structures = [
        parse_structure(text, cid)
        for text, cid in zip(ranked["structure_relaxed"], ranked["candidate_id"], strict=True)
    ]
    labels = duplicate_groups(structures, settings or MatchSettings(), max_groups=top)
    members: dict[int, list[str]] = {}
    for i, label in enumerate(labels):
        if label >= 0 and label != i:
            members.setdefault(label, []).append(str(ranked.at[i, "candidate_id"]))
    order = [i for i, label in enumerate(labels) if label == i]
    unique = ranked.iloc[order].copy().reset_index(drop=True)
    unique.insert(0, "rank", range(1, len(unique) + 1))
    unique["n_duplicates"] = [len(members.get(i, [])) for i in order]
    unique["duplicate_ids"] = [",".join(members.get(i, [])) for i in order]
    return unique
