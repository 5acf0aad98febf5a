"""``chggen top DIR``: the best candidates of a results folder, ranked by E_d (eV/atom)."""

from __future__ import annotations

import argparse
import re
from typing import TYPE_CHECKING, Any

from campaign.commands.options import int_at_least
from chggen_kernels.errors import RunFailedError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "decomposition_text",
    "novelty_text",
    "rank_candidates",
    "register",
    "run",
    "start_text",
]

COLUMNS = [
    "candidate_id", "formula", "composition", "mode", "spacegroup_relaxed",
    "spacegroup_symbol_relaxed", "is_symmetric", "e_d", "e_above_hull",
    "energy_relaxed_per_atom", "n_atoms", "status", "structure_relaxed", "rmsd_relax",
    "delta_v_relax", "decomposition", "decomposition_products", "novelty", "known_phase_id",
    "start_from", "spacegroup_start",
]  # fmt: skip
START_WIDTH = 24  # characters of the table's start column at most
_TEMPLATE = re.compile(r"^template (\S+) (\S+) \(")  # "template mp-7845 Zn3As2 (As->P, ..."
_SPACEGROUP = re.compile(r"^sg (\d+),")  # "sg 194, learned (...)"


class EmptyResults(RunFailedError, ValueError):
    """Nothing to rank; the message says why."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("top", help="print the best candidates of a results folder")
    p.add_argument("directory", help="results folder written by chggen run / chggen scan")
    p.add_argument("-n", "--top", dest="n", type=int_at_least(1), default=20,
                   help="how many candidates (default 20)")
    p.add_argument(
        "--max-ed", type=float, default=None, help="keep E_d <= this (eV/atom), e.g. 0.03"
    )
    p.add_argument("--symmetric", action="store_true", help="keep space groups above P-1 only")
    p.set_defaults(func=run)


def rank_candidates(
    directory: str, n: int = 20, max_e_d: float | None = None, symmetric: bool = False
) -> pd.DataFrame:
    """Successful candidates sorted by E_d (eV/atom), lowest first; failed rows excluded."""
    from campaign.engine.store import NotAResultsFolderError, read_results

    table = read_results(directory, columns=COLUMNS)
    if table.empty:
        raise NotAResultsFolderError(f"results folder {str(directory)!r} holds no candidates "
                                     "yet (no part-*.parquet files with rows)")
    succeeded = table[table["status"] == "ok"]
    if succeeded.empty:
        raise EmptyResults(
            f"{directory}: all {len(table)} candidates failed (see the failure_reason column)"
        )
    ok = succeeded[succeeded["e_d"].notna()]
    if ok.empty:
        raise EmptyResults(
            f"{directory}: none of the {len(succeeded)} successful candidates has an E_d "
            "(campaign run with hull source 'none'?)"
        )
    if max_e_d is not None:
        ok = ok[ok["e_d"] <= max_e_d]
    if symmetric:
        ok = ok[ok["is_symmetric"].fillna(False).astype(bool)]
    # the order of report and export (campaign.report.load.rank_successful): E_d, then
    # the relaxed energy per atom, then the id
    ranked = ok.sort_values(["e_d", "energy_relaxed_per_atom", "candidate_id"],
                            na_position="last").reset_index(drop=True)
    return group_duplicates(ranked, n)


def group_duplicates(ranked: pd.DataFrame, n: int | None = None) -> pd.DataFrame:
    """One row per distinct structure, in rank order, at most ``n``: relaxed structures
    that StructureMatcher finds equivalent (the tolerances of ``chggen report`` and
    ``export``: :class:`~chggen_kernels.analysis.MatchSettings`) are one row, its best
    member, with ``n_duplicates`` (the other members) and ``duplicate_ids`` (their ids,
    best first). A row without a relaxed structure stands alone."""
    from campaign.report.load import parse_structure
    from chggen_kernels.analysis import MatchSettings, duplicate_groups

    has = [isinstance(t, str) and bool(t) for t in ranked["structure_relaxed"]]
    rows = [i for i, h in enumerate(has) if h]
    structures = [parse_structure(ranked.at[i, "structure_relaxed"],
                                  str(ranked.at[i, "candidate_id"])) for i in rows]
    labels = dict(zip(rows, (rows[k] if k >= 0 else -1 for k in duplicate_groups(
        structures, MatchSettings())), strict=True))
    members: dict[int, list[str]] = {}
    order = []
    for i in range(len(ranked)):
        label = labels.get(i, i)
        if label == i:
            order.append(i)
        elif label >= 0:
            members.setdefault(label, []).append(str(ranked.at[i, "candidate_id"]))
    unique = ranked.iloc[order[:n] if n is not None else order].copy().reset_index(drop=True)
    kept = order[:n] if n is not None else order
    unique["n_duplicates"] = [len(members.get(i, [])) for i in kept]
    unique["duplicate_ids"] = [",".join(members.get(i, [])) for i in kept]
    return unique


def novelty_text(row: Any) -> str:
    """``known phase (mp-27705)``, ``known composition, new structure``, ``new
    composition`` or ``unknown`` (a row of a chggen before the label)."""
    from chggen_kernels.thermo.novelty import describe_novelty

    return describe_novelty(row.get("novelty"), row.get("known_phase_id"))


def decomposition_text(row: Any) -> str:
    """The products behind E_d with their hull source ids, ``0.75 Li2Si (mp-27705) +
    0.25 Si (Si-22)`` (a row of an older chggen: its ``decomposition`` text, no ids)."""
    from chggen_kernels.thermo.energy import format_products, products_from_json

    products = products_from_json(row.get("decomposition_products"))
    if products:
        return format_products(products)
    text = row.get("decomposition")
    return text if isinstance(text, str) else ""


def start_text(row: Any) -> str:
    """The start of a symmetric or template candidate in a few characters: the
    template's id and formula (``mp-7845 Zn3As2``), the space group drawn (``sg 194``),
    ``no template`` for a template mode that fell back, ``fell back`` for a symmetric
    start sampled unconditionally, else the row's ``start_from``
    cut to :data:`START_WIDTH`; ``""`` without one (other modes, older folders)."""
    text = row.get("start_from")
    if not isinstance(text, str) or not text.strip():
        return ""
    fallback = row.get("symmetric_fallback")
    if row.get("mode") == "unconditional" and isinstance(fallback, str) and fallback:
        short = "fell back"  # a symmetric start that could not be drawn: unconditional
    elif match := _TEMPLATE.match(text):
        short = f"{match.group(1)} {match.group(2)}"
    elif match := _SPACEGROUP.match(text):
        short = f"sg {match.group(1)}"
    elif text.startswith("template:"):
        short = "no template"
    else:
        short = text.strip()
    return short if len(short) <= START_WIDTH else short[:START_WIDTH - 3] + "..."


def format_table(ranked: pd.DataFrame) -> str:
    """The ranked rows as a text table; a ``start`` column (:func:`start_text`) only
    when a row has a ``start_from``."""
    import pandas as pd

    shown = pd.DataFrame(
        {
            "rank": range(1, len(ranked) + 1),
            "candidate_id": ranked["candidate_id"],
            "formula": ranked["formula"],
            "cell": ranked["composition"],
            "mode": ranked["mode"],
            "space_group": [
                f"{s} ({int(n)})" if isinstance(s, str) else "?"
                for s, n in zip(
                    ranked["spacegroup_symbol_relaxed"],
                    ranked["spacegroup_relaxed"].fillna(0),
                    strict=True,
                )
            ],
            "E_d_eV_per_atom": ranked["e_d"].map(lambda v: f"{v:+.4f}"),
            "E_hull_eV_per_atom": ranked["e_above_hull"].map(
                lambda v: "" if pd.isna(v) else f"{v:.4f}"
            ),
            "RMSD_A": ranked["rmsd_relax"].map(lambda v: "" if pd.isna(v) else f"{v:.2f}"),
            "dV_relax": ranked["delta_v_relax"].map(
                lambda v: "" if pd.isna(v) else f"{100 * v:+.0f}%"),
            "copies": (ranked["n_duplicates"] + 1 if "n_duplicates" in ranked
                       else [1] * len(ranked)),
            "known": [novelty_text(row) for _, row in ranked.iterrows()],
            "decomposition": [decomposition_text(row) for _, row in ranked.iterrows()],
        }
    )
    starts = [start_text(row) for _, row in ranked.iterrows()]
    if any(starts):
        shown.insert(shown.columns.get_loc("mode") + 1, "start", starts)
    return shown.to_string(index=False)


def run(args: argparse.Namespace) -> int:

    ranked = rank_candidates(args.directory, args.n, args.max_ed, args.symmetric)
    if ranked.empty:
        print("no candidate passes the filters (--max-ed / --symmetric)")
        return 0
    print(format_table(ranked))
    return 0
