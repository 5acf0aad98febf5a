"""One self-contained HTML page: figures embedded as base64 PNG data URIs, the ranked
table of unique candidates, a card with an interactive 3D view per candidate, the
provenance of the run, the headline numbers. The viewer (3Dmol.js) is inlined; the page
loads no external file, script or font and works offline."""

from __future__ import annotations

import base64
import dataclasses
import html
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["FigureBlock", "TABLE_COLUMNS", "data_uri", "render_page"]

# (column, header, format) of the ranked table
TABLE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("rank", "rank", "{}"),
    ("candidate_id", "candidate", "{}"),
    ("formula", "formula", "{}"),
    ("composition", "cell", "{}"),
    ("mode", "mode", "{}"),
    ("spacegroup_symbol_relaxed", "space group", "{}"),
    ("spacegroup_relaxed", "no.", "{:.0f}"),
    ("e_d", "E_d (eV/atom)", "{:+.4f}"),
    ("e_above_hull", "E_hull (eV/atom)", "{:.4f}"),
    ("energy_relaxed_per_atom", "E (eV/atom)", "{:.4f}"),
    ("delta_e_relax", "ΔE relax (eV/atom)", "{:.3f}"),
    ("rmsd_relax", "RMSD (Å)", "{:.3f}"),
    ("delta_v_relax", "ΔV relax", "{:+.3f}"),
    ("n_duplicates", "duplicates", "{}"),
    ("known", "known phase?", "{}"),
)

_STYLE = """
body { font-family: sans-serif; margin: 2em; max-width: 1200px; color: #222; }
h1 { font-size: 1.5em; white-space: normal; overflow: visible; overflow-wrap: anywhere;
     word-break: break-word; text-overflow: clip; }
h2 { font-size: 1.2em; margin-top: 1.5em; } h3 { font-size: 1em; margin: 0 0 0.4em 0; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: right; }
th { background: #f0f0f0; } td.text { text-align: left; } td.links { white-space: nowrap; }
figure { display: inline-block; margin: 0.5em; vertical-align: top; max-width: 100%; }
figure img { max-width: 100%; height: auto; }
div.wide { max-width: 100%; overflow-x: auto; }
figcaption { font-size: 0.8em; max-width: 640px; color: #444; }
.note { color: #8a5a00; font-size: 0.9em; }
.cells figure { width: 260px; } .cells img { width: 250px; }
.card { border: 1px solid #ccc; border-radius: 4px; padding: 0.6em; margin: 0.8em 0; }
.card h3 { overflow-wrap: anywhere; }
.card-body { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
.viewer-box { width: 340px; }
.viewer3d { width: 340px; height: 340px; position: relative; border: 1px solid #ddd; }
.viewer-box.failed .viewer3d { display: none; }
.viewer-box.ready img.fallback { display: none; }
.viewer-box img.fallback { width: 250px; }
.toggles { font-size: 0.85em; margin-top: 0.3em; } .viewer-note { color: #8a5a00; }
table.facts { font-size: 0.85em; flex: 1 1 380px; }
table.facts th { text-align: left; white-space: nowrap; vertical-align: top; }
table.facts td { text-align: left; overflow-wrap: anywhere; }
span.src { color: #666; font-size: 0.9em; }
pre { white-space: pre-wrap; font-size: 0.8em; background: #f7f7f7; padding: 0.5em; }
ul.warnings { color: #8a5a00; }
"""


@dataclasses.dataclass(frozen=True)
class FigureBlock:
    """A figure of the page: PNG bytes (``None``: not produced, ``note`` says why)."""

    title: str
    caption: str
    png: bytes | None
    note: str = ""


def data_uri(png: bytes) -> str:
    """``data:image/png;base64,...`` for embedding a PNG in an ``img`` tag."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _cell(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    try:
        return html.escape(fmt.format(value))
    except (ValueError, TypeError):
        return html.escape(str(value))


def _table(ranked: pd.DataFrame, links: Mapping[int, str] | None = None) -> str:
    columns = [c for c in TABLE_COLUMNS if c[0] in ranked.columns]
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h, _ in columns)
    if links:
        head += "<th>links</th>"
    rows = []
    for record in ranked.to_dict("records"):
        cells = []
        for name, _, fmt in columns:
            css = ' class="text"' if isinstance(record[name], str) else ""
            cells.append(f"<td{css}>{_cell(record[name], fmt)}</td>")
        if links:
            cells.append(f'<td class="links">{links.get(int(record["rank"]), "")}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f'<div class="wide"><table class="ranked"><thead><tr>{head}</tr></thead><tbody>' + \
        "\n".join(rows) + "</tbody></table></div>"


def _summary(summary: Mapping[str, Any]) -> str:
    lines = [
        f"<li>{summary['candidates']} candidates: {summary['ok']} relaxed and scored, "
        f"{summary['failed']} failed</li>",
        f"<li>chemical systems: {html.escape(', '.join(summary.get('chemsys', [])) or '?')}"
        "</li>",
    ]
    for mode, s in summary.get("by_mode", {}).items():
        rate = "n/a" if s["symmetric_rate"] is None else f"{100 * s['symmetric_rate']:.1f}%"
        median = "n/a" if s["e_d_median"] is None else f"{s['e_d_median']:+.3f} eV/atom"
        lines.append(
            f"<li><b>{html.escape(mode)}</b>: {s['ok']} candidates, symmetric {rate}, "
            f"E_d &lt; 0: {s['e_d_below_0']}, E_d &lt; 30 meV/atom: "
            f"{s['e_d_below_threshold']}, median E_d {median}</li>"
        )
    if summary.get("failure_reasons"):
        lines.append(f"<li>most common failures: {html.escape(summary['failure_reasons'])}</li>")
    return "<ul>" + "\n".join(lines) + "</ul>"


def _figure(block: FigureBlock) -> str:
    if block.png is None:
        return (f"<p class=\"note\">{html.escape(block.title)}: "
                f"{html.escape(block.note or 'no data')}</p>")
    return (f'<figure><img src="{data_uri(block.png)}" alt="{html.escape(block.title)}">'
            f"<figcaption><b>{html.escape(block.title)}.</b> {html.escape(block.caption)}"
            "</figcaption></figure>")


def render_page(
    title: str,
    summary: Mapping[str, Any],
    figures: Sequence[FigureBlock],
    ranked: pd.DataFrame,
    cells: Sequence[FigureBlock] = (),
    notes: Sequence[str] = (),
    *,
    cards: str = "",
    links: Mapping[int, str] | None = None,
    provenance: str = "",
    scripts: Sequence[str] = (),
) -> str:
    """The report page as one HTML string (UTF-8, everything embedded).

    ``cards``: the candidate cards (HTML), ``links``: the cell of the ranked table that
    points to each rank's card and CIF, ``provenance``: the provenance block (HTML),
    ``scripts``: JavaScript inlined at the end of the page, in order.
    """
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<h2>Summary</h2>",
        _summary(summary),
        *[f'<p class="note">{html.escape(n)}</p>' for n in notes],
        "<h2>Figures</h2>",
        *[_figure(b) for b in figures],
        f"<h2>Best unique candidates ({len(ranked)})</h2>",
        "<p>Ranked by decomposition energy E_d; structures equivalent under pymatgen's "
        "StructureMatcher are merged across the whole run (the best one is shown, the "
        "others counted as duplicates).</p>",
        _table(ranked, links) if len(ranked) else '<p class="note">no candidate to rank</p>',
    ]
    if cards:
        parts += ["<h2>Top candidates in 3D</h2>",
                  "<p>Drag to rotate, scroll to zoom. Atoms of the cell, their images on the "
                  "cell's faces and the atoms outside bonded to one inside; bonds up to 1.15 "
                  "x the sum of the covalent radii; polyhedra around each atom that is not of "
                  "the most electronegative element.</p>", cards]
    elif cells:
        parts += ["<h2>Unit cells of the top candidates</h2>", '<div class="cells">',
                  *[_figure(b) for b in cells], "</div>"]
    if provenance:
        parts.append(provenance)
    parts += [f"<script>{script}</script>" for script in scripts]
    parts.append("</body></html>")
    return "\n".join(parts)
