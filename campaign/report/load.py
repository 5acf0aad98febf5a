"""Reading a results folder for reports: the table, its structures, and a clear error when
there is nothing to show (no candidates yet, or every candidate failed)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from campaign.report.modes import mode_order
from chggen_kernels.errors import RunFailedError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from pymatgen.core import Structure

__all__ = [
    "ReportError",
    "default_output_dir",
    "load_candidates",
    "parse_structure",
    "rank_successful",
    "summary_counts",
]


class ReportError(RunFailedError, ValueError):
    """A results folder cannot be reported on; the message says why and what to do."""


def default_output_dir(directory: str | Path, name: str) -> Path:
    """``DIR/_<name>``: beside the data, and ignored by Parquet dataset readers
    (``pandas.read_parquet(DIR)`` skips names starting with ``_``)."""
    return Path(directory) / f"_{name}"


def _failure_summary(table: pd.DataFrame, limit: int = 3) -> str:
    reasons = table["failure_reason"].fillna("no reason recorded").astype(str)
    # Group messages by their stage prefix ("relaxation: ...") so counts are meaningful.
    heads = reasons.str.split(":", n=1).str[0].str.strip()
    top = heads.value_counts().head(limit)
    return "; ".join(f"{n} x {reason!r}" for reason, n in top.items())


def load_candidates(
    directory: str | Path, columns: Iterable[str] | None = None, require_success: bool = True
) -> pd.DataFrame:
    """All rows of a results folder (failed ones too) as a pandas DataFrame.

    Raises:
        ReportError: the folder does not exist, holds no candidates yet, or (with
            ``require_success``) every candidate failed (the message counts the most
            common failure reasons).
    """
    from campaign.engine.store import ResultsError, read_results

    cols = None if columns is None else list(dict.fromkeys([*columns, "status", "failure_reason"]))
    try:
        table = read_results(directory, columns=cols)
    except ResultsError as exc:
        raise ReportError(str(exc)) from None
    if table.empty:
        from campaign.engine.store import NotAResultsFolderError

        raise NotAResultsFolderError(
            f"results folder {str(directory)!r} holds no candidates yet (no part-*.parquet "
            "files with rows); run 'chggen scan' or 'chggen run' first"
        )
    ok = table["status"] == "ok"
    if require_success and not ok.any():
        raise ReportError(
            f"results folder {str(directory)!r}: all {len(table)} candidates failed, nothing "
            f"to report (most common reasons: {_failure_summary(table)}); see the "
            "failure_reason column"
        )
    return table


def rank_successful(table: pd.DataFrame) -> pd.DataFrame:
    """Successful candidates with a relaxed structure, lowest E_d (eV/atom) first.

    Candidates without E_d (no hull) come last, ordered by relaxed energy (eV/atom).
    """
    ok = table[(table["status"] == "ok") & table["structure_relaxed"].notna()]
    return ok.sort_values(
        ["e_d", "energy_relaxed_per_atom", "candidate_id"], na_position="last"
    ).reset_index(drop=True)


def parse_structure(text: str | None, label: str = "") -> Structure | None:
    """A pymatgen ``Structure`` from its JSON text (``None`` for an empty cell).

    Raises:
        ReportError: the text is not a pymatgen structure (names ``label``).
    """
    from pymatgen.core import Structure

    if text is None or (isinstance(text, float) and text != text):
        return None
    try:
        return Structure.from_dict(json.loads(text))
    except Exception as exc:  # json / pymatgen raise many types
        raise ReportError(
            f"candidate {label!r}: cannot read its structure JSON ({type(exc).__name__}: {exc})"
        ) from None


def summary_counts(table: pd.DataFrame, e_d_threshold: float = 0.030) -> dict[str, Any]:
    """Headline numbers of a run: candidates, failures, per mode (first-stage modes before
    inpainting, :data:`~campaign.report.modes.MODE_ORDER`) the symmetric share and the
    share with E_d < 0 and E_d < ``e_d_threshold`` (eV/atom), all among successful
    candidates."""
    ok = table[table["status"] == "ok"]
    out: dict[str, Any] = {
        "candidates": int(len(table)),
        "ok": int(len(ok)),
        "failed": int((table["status"] != "ok").sum()),
        "chemsys": sorted(set(table["chemsys"].dropna())),
        "by_mode": {},
    }
    groups = {str(mode): group for mode, group in ok.groupby("mode")}
    for mode in mode_order(groups):  # first-stage modes, then inpainting
        group = groups[mode]
        e_d = group["e_d"].dropna()
        symmetric = group["is_symmetric"].dropna().astype(bool)
        out["by_mode"][str(mode)] = {
            "ok": int(len(group)),
            "symmetric_rate": float(symmetric.mean()) if len(symmetric) else None,
            "e_d_below_0": int((e_d < 0).sum()),
            "e_d_below_threshold": int((e_d < e_d_threshold).sum()),
            "e_d_median": float(e_d.median()) if len(e_d) else None,
        }
    if out["failed"]:
        out["failure_reasons"] = _failure_summary(table[table["status"] != "ok"], limit=5)
    return out
