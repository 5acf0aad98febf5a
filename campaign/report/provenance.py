"""Where a report's numbers come from: code, model, potential, hull, settings, dates,
machine, and what failed.

Read from the results table (``model_checkpoint``, ``hull_source``,
``hull_known_compounds``, ``sampler_settings``, ``created_at``, ``status``,
``failure_reason``) and from the folder's own files (``_fingerprint.json``,
``_campaign.yaml``, ``_configs/``, ``_runs/*.json``, ``_quarantine/``,
``_hull_coverage.json``). What the folder
does not record (the CHGNet version the run used, the machine it ran on) is said so, with
the values of the machine that built the report.
"""

from __future__ import annotations

import datetime
import html
import importlib.metadata
import json
import os
import platform
import socket
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["collect_provenance", "git_commit", "render_provenance"]

_MAX_FILE_CHARS = 20_000  # of a settings file shown in the page


def git_commit(path: str | Path | None = None) -> str | None:
    """The commit of the git checkout holding ``path`` (default: this package), or
    ``None`` (not a checkout, no git). Read-only: ``git rev-parse HEAD``."""
    where = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        done = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"],
                              capture_output=True, text=True, timeout=5,
                              env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"})
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and len(commit) >= 7 else None


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _read_text(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    if len(text) > _MAX_FILE_CHARS:
        text = text[:_MAX_FILE_CHARS] + f"\n... ({len(text) - _MAX_FILE_CHARS} more characters)"
    return text


def _counts(values: pd.Series) -> str:
    counts = values.dropna().astype(str).value_counts()
    if counts.empty:
        return "not recorded"
    return "; ".join(f"{value} ({n} rows)" for value, n in counts.items())


def _coverage_warnings(table: pd.DataFrame) -> list[str]:
    ok = table[table["status"] == "ok"]
    warnings = []
    if "hull_known_compounds" in ok.columns:
        bare = ok[(ok["hull_known_compounds"] == 0) & ok["chemsys"].str.contains("-")]
        for chemsys, group in bare.groupby("chemsys"):
            warnings.append(f"{chemsys}: the hull holds no compound of this system; E_d of "
                            f"its {len(group)} candidates is a formation energy")
    no_e_d = int((ok["e_d"].isna()).sum())
    if no_e_d:
        warnings.append(f"{no_e_d} successful candidates have no E_d (run without a hull?)")
    return warnings


def _hull_gaps(directory: Path) -> list[str]:
    """The gaps of the campaign's hull recorded before it ran (``_hull_coverage.json``,
    :func:`campaign.distributed.preflight.write_hull_coverage`), one line each."""
    path = directory / "_hull_coverage.json"
    if not path.is_file():
        return []
    try:
        messages = json.loads(path.read_text(encoding="utf-8")).get("messages", [])
    except (OSError, ValueError, AttributeError):
        return ["_hull_coverage.json: unreadable"]
    return [str(m) for m in messages] if isinstance(messages, list) else []


def _sampler_line(fingerprint: dict[str, Any] | None, table: pd.DataFrame) -> str:
    sampler = (fingerprint or {}).get("sampler")
    if not sampler:
        texts = table["sampler_settings"].dropna()
        try:
            sampler = json.loads(texts.iloc[0]) if len(texts) else None
        except (TypeError, ValueError):
            sampler = None
    if not isinstance(sampler, dict):
        return "not recorded"
    keys = ("preset", "method", "n_levels", "n_corrector_steps", "snr", "sigma_min",
            "sigma_max", "inpaint_n_levels", "inpaint_n_corrector_steps", "start_sigma",
            "resample_passes", "jump_length")
    return ", ".join(f"{k} {sampler[k]}" for k in keys if k in sampler)


def _runs(directory: Path) -> tuple[str, list[str]]:
    runs = sorted((directory / "_runs").glob("*.json"))
    if not runs:
        return "no run summaries (_runs/) in the folder", []
    lines, warnings = [], []
    for path in runs:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            warnings.append(f"_runs/{path.name}: unreadable")
            continue
        nodes = sorted(set((data.get("nodes") or {}).get("actor_nodes", {}).values()))
        lines.append(f"{path.stem}: {data.get('candidates_written', '?')} candidates in "
                     f"{float(data.get('elapsed_s', 0.0)):.0f} s"
                     + (f" on nodes {', '.join(nodes)}" if nodes else "")
                     + (" (interrupted)" if data.get("interrupted") else ""))
        if data.get("parts_quarantined"):
            warnings.append(f"{path.stem}: {data['parts_quarantined']} bad parts quarantined")
        if data.get("hosts_without_framework"):
            warnings.append(f"{path.stem}: {data['hosts_without_framework']} hosts without "
                            "a framework to inpaint")
    return "; ".join(lines), warnings


def _failures(table: pd.DataFrame, limit: int = 12) -> str:
    failed = table[table["status"] != "ok"]
    if failed.empty:
        return "none"
    reasons = failed["failure_reason"].fillna("no reason recorded").astype(str)
    counts = reasons.value_counts().head(limit)
    more = len(reasons.unique()) - len(counts)
    return "; ".join(f"{n} x {reason}" for reason, n in counts.items()) + (
        f"; ... {more} other reasons" if more > 0 else "")


def collect_provenance(directory: str | Path, table: pd.DataFrame, *,
                       report_hull: str = "", notes: Sequence[str] = ()) -> dict[str, Any]:
    """The provenance of a report: ``items`` (label, text) pairs, ``warnings`` and
    ``files`` (name, text) of the folder's settings files."""
    from chggen_kernels import __version__

    directory = Path(directory)
    fingerprint_text = _read_text(directory / "_fingerprint.json")
    try:
        fingerprint = json.loads(fingerprint_text)["values"] if fingerprint_text else None
    except (ValueError, KeyError, TypeError):
        fingerprint = None
    commit = git_commit()
    ok = int((table["status"] == "ok").sum())
    created = table["created_at"].dropna().astype(str)
    runs_line, run_warnings = _runs(directory)
    chgnet = _version("chgnet")
    hull_line = _counts(table["hull_source"])
    if fingerprint and fingerprint.get("hull"):
        hull_line += f"; folder fingerprint: {fingerprint['hull']}"
    if report_hull:
        hull_line += f"; figures and entry ids of this report: {report_hull}"
    model_line = _counts(table["model_checkpoint"])
    if fingerprint and fingerprint.get("checkpoint_sha256"):
        model_line += f"; checkpoint sha256 {fingerprint['checkpoint_sha256']}"
    n_configs = len(list((directory / "_configs").glob("*"))) if (
        directory / "_configs").is_dir() else 0
    quarantined = sorted(p.name for p in (directory / "_quarantine").glob("*")) if (
        directory / "_quarantine").is_dir() else []
    warnings = [*_coverage_warnings(table), *_hull_gaps(directory), *run_warnings, *notes]
    if quarantined:
        warnings.append(f"_quarantine/ holds {len(quarantined)} files set aside on resume")
    items = [
        ("chggen", f"{__version__}" + (f", git commit {commit} (the code that built this "
                                       "report)" if commit else ", not run from a git checkout")
         + (f" (folder written by {fingerprint['chggen_version']})"
            if fingerprint and fingerprint.get("chggen_version") else "")),
        ("score model", model_line),
        ("MLIP", f"CHGNet {chgnet or '(not installed)'} (the version installed where this "
                 "report was built; the rows do not record the run's)"),
        ("hull source", hull_line),
        ("sampler", _sampler_line(fingerprint, table)),
        ("candidates", f"{len(table)} rows: {ok} ok, {len(table) - ok} failed"),
        ("failure reasons", _failures(table)),
        ("dates", (f"candidates written {created.min()} to {created.max()}" if len(created)
                   else "candidates carry no dates")
         + f"; report built {datetime.datetime.now(datetime.UTC).isoformat(timespec='seconds')}"),
        ("runs", runs_line + (f"; {n_configs} configurations kept in _configs/"
                              if n_configs else "")),
        ("machine", f"report built on {socket.gethostname()} ({os.cpu_count()} CPUs, "
                    f"{platform.system()} {platform.machine()}, Python "
                    f"{platform.python_version()}); the folder does not record the run's "
                    "machines beyond the Ray node ids above"),
    ]
    files = [(name, text) for name in ("_campaign.yaml", "_fingerprint.json",
                                       "_hull_coverage.json")
             if (text := _read_text(directory / name)) is not None]
    return {"items": items, "warnings": warnings, "files": files}


def render_provenance(provenance: dict[str, Any]) -> str:
    """The provenance block of the page (HTML)."""
    rows = "".join(f"<tr><th>{html.escape(label)}</th><td>{html.escape(text)}</td></tr>"
                   for label, text in provenance["items"])
    warnings = provenance["warnings"]
    warn = ("<p><b>Coverage and other warnings</b></p><ul class=\"warnings\">"
            + "".join(f"<li>{html.escape(w)}</li>" for w in warnings) + "</ul>"
            if warnings else "<p>No coverage warnings.</p>")
    files = "".join(f"<details><summary>{html.escape(name)}</summary>"
                    f"<pre>{html.escape(text)}</pre></details>"
                    for name, text in provenance["files"])
    return (f'<section id="provenance"><h2>Provenance</h2><table class="facts prov">{rows}'
            f"</table>{warn}{files}</section>")
