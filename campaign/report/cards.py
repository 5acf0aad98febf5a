"""One card per top candidate: its interactive 3D view beside its row, and its CIF.

The CIF of each ranked candidate is written to ``<report>/cif/<rank>_<formula>_<id>.cif``
and embedded in the page as a ``data:`` URI (the page's links download it; the page
needs no file beside it). The card's facts: formula, cell, space group, E_d and E_hull,
the decomposition products with the hull entry ids behind them (the row's own
``decomposition_products``; for rows of an older chggen, looked up in the report's hull),
whether it is a known phase (``novelty``, ``known_phase_id``), mode (and host, guests),
where a symmetric or template start came from (``start_from``: a template candidate of a
"new composition" is still a known phase's structure type, substituted), relaxation
Delta E, the volume change on relaxation (relaxed / generated volume - 1) and the RMSD.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from campaign.report.load import parse_structure
from campaign.report.viewer import scene_json, structure_scene

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from pymatgen.core import Structure

__all__ = [
    "CandidateCard",
    "candidate_cards",
    "cif_text",
    "render_cards",
    "start_text",
    "volume_change",
]


@dataclasses.dataclass(frozen=True)
class CandidateCard:
    """What the page shows of one ranked candidate."""

    rank: int
    candidate_id: str
    title: str
    facts: tuple[tuple[str, str], ...]  # (label, HTML) pairs, already escaped
    scene: dict[str, Any] | None
    cif_name: str
    cif_uri: str
    picture: bytes | None = None  # static picture, shown when WebGL is unavailable

    @property
    def anchor(self) -> str:
        return f"candidate-{self.rank}"


def cif_text(row: Any, structure: Structure) -> str:
    """The row's stored CIF (``cif_relaxed``) or one written from its relaxed structure
    (pymatgen ``CifWriter``, P1, all sites)."""
    stored = getattr(row, "cif_relaxed", None)
    if isinstance(stored, str) and stored.strip():
        return stored
    from pymatgen.io.cif import CifWriter

    return str(CifWriter(structure))


def volume_change(row: Any) -> float | None:
    """Relaxed over generated cell volume minus one: the row's ``delta_v_relax`` where it
    has one, else from its two structures (``None`` without both)."""
    stored = getattr(row, "delta_v_relax", None)
    if stored is not None and stored == stored:  # not NaN
        return float(stored)
    generated = parse_structure(getattr(row, "structure_generated", None), row.candidate_id)
    relaxed = parse_structure(getattr(row, "structure_relaxed", None), row.candidate_id)
    if generated is None or relaxed is None or generated.volume <= 0:
        return None
    return float(relaxed.volume / generated.volume - 1.0)


def _number(value: Any, fmt: str, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return html.escape(fmt.format(value) + (f" {unit}" if unit else ""))


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        return "n/a"
    return html.escape(str(value))


def _decomposition(row: Any, sources: Sequence[tuple[str, str]]) -> str:
    from chggen_kernels.thermo.energy import products_from_json

    products = products_from_json(getattr(row, "decomposition_products", None))
    if products:
        sources = [(f"{p.fraction:.4g} {p.formula}", p.source_id) for p in products]
    if not sources:
        text = _text(getattr(row, "decomposition", None))
        hull = getattr(row, "hull_source", None)
        return text + (f' <span class="src">(against {html.escape(hull)}; entry ids only '
                       "when the report uses the same hull)</span>"
                       if isinstance(hull, str) and text != "n/a" else "")
    items = []
    for term, entry_id in sources:
        source = f' <span class="src">[{html.escape(entry_id)}]</span>' if entry_id else ""
        items.append(html.escape(term) + source)
    return " + ".join(items)


def _novelty(row: Any) -> str:
    """``known phase Li2Si (mp-27705)``, ``known composition, new structure``, ``new
    composition`` or ``unknown`` (a row of a chggen before the label)."""
    from chggen_kernels.thermo.novelty import describe_novelty

    return describe_novelty(getattr(row, "novelty", None), getattr(row, "known_phase_id", None),
                            getattr(row, "formula", None))


def start_text(row: Any) -> str | None:
    """Where a symmetric or template candidate's start came from: the row's
    ``start_from`` (e.g. ``template mp-7845 Zn3As2 (As->P, similarity 0.93)``), with the
    start's space group where the text does not name it; ``None`` for other modes and
    for rows of a chggen before the column."""
    text = getattr(row, "start_from", None)
    if not isinstance(text, str) or not text.strip():
        return None
    number = getattr(row, "spacegroup_start", None)
    if number is None or number != number or text.startswith(f"sg {int(number)},"):
        return text
    return f"{text}; start in space group {int(number)}"


def _facts(row: Any, dv: float | None, sources: Sequence[tuple[str, str]],
           cif_name: str, cif_uri: str) -> tuple[tuple[str, str], ...]:
    sg = row.spacegroup_symbol_relaxed
    number = row.spacegroup_relaxed
    space_group = "n/a" if not isinstance(sg, str) else html.escape(
        sg + ("" if number is None or number != number else f" ({int(number)})"))
    mode = _text(row.mode)
    parent = getattr(row, "parent_id", None)
    if isinstance(parent, str) and parent:
        mode += f", host {html.escape(parent)}"
    guests = getattr(row, "guest_species", None)
    if isinstance(guests, str) and guests:
        mode += f", guests {html.escape(guests)}"
    start = start_text(row)
    return (
        ("formula", f"{_text(row.formula)} (cell {_text(row.composition)}, "
                    f"{int(row.n_atoms)} atoms)"),
        ("space group", space_group),
        ("E_d", _number(row.e_d, "{:+.4f}", "eV/atom")),
        ("E_hull", _number(row.e_above_hull, "{:.4f}", "eV/atom")),
        ("decomposition", _decomposition(row, sources)),
        ("known phase?", html.escape(_novelty(row))),
        ("mode", mode),
        *((("start", html.escape(start)),) if start else ()),
        ("relaxation ΔE", _number(row.delta_e_relax, "{:+.4f}", "eV/atom")),
        ("relaxation ΔV", "n/a" if dv is None else html.escape(f"{100 * dv:+.1f} %")),
        ("RMSD", _number(row.rmsd_relax, "{:.3f}", "Å")),
        ("duplicates", _text(getattr(row, "duplicate_ids", "") or "none")),
        ("CIF", f'<a download="{html.escape(cif_name)}" href="{cif_uri}">'
                f"{html.escape(cif_name)}</a>"),
    )


def candidate_cards(
    unique: pd.DataFrame,
    out: Path,
    *,
    safe_name: Callable[[str], str],
    sources: Callable[[Any], Sequence[tuple[str, str]]] | None = None,
    pictures: Mapping[int, bytes] | None = None,
) -> list[CandidateCard]:
    """A card per ranked candidate of ``unique`` (:func:`unique_candidates` rows), its
    CIF written to ``out/cif``; ``sources(row)`` gives the hull entry ids of its
    decomposition, ``pictures`` static pictures by rank."""
    cards = []
    for row in unique.itertuples(index=False):
        structure = parse_structure(row.structure_relaxed, row.candidate_id)
        if structure is None:
            continue
        cif = cif_text(row, structure)
        name = f"{int(row.rank):02d}_{safe_name(row.formula)}_{safe_name(row.candidate_id)}.cif"
        path = out / "cif" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(cif, encoding="utf-8")
        uri = "data:chemical/x-cif;base64," + base64.b64encode(cif.encode()).decode("ascii")
        sg = row.spacegroup_symbol_relaxed if isinstance(row.spacegroup_symbol_relaxed,
                                                         str) else "?"
        title = f"#{int(row.rank)} {row.formula} ({sg}), {row.candidate_id}"
        cards.append(CandidateCard(
            rank=int(row.rank), candidate_id=str(row.candidate_id), title=title,
            facts=_facts(row, volume_change(row), sources(row) if sources else (), name, uri),
            scene=structure_scene(structure), cif_name=name, cif_uri=uri,
            picture=(pictures or {}).get(int(row.rank))))
    return cards


def _card(card: CandidateCard) -> str:
    from campaign.report.html import data_uri

    scene_id = f"scene-{card.rank}"
    picture = (f'<img src="{data_uri(card.picture)}" class="fallback" '
               f'alt="unit cell of {html.escape(card.candidate_id)}">' if card.picture else "")
    rows = "".join(f"<tr><th>{html.escape(label)}</th><td>{value}</td></tr>"
                   for label, value in card.facts)
    scene = card.scene or {}
    polyhedra = ("" if scene.get("polyhedra") else " (none: one element)"
                 if scene.get("anion") is None else " (none: fewer than 4 ligands)")
    return (
        f'<div class="card" id="{card.anchor}"><h3>{html.escape(card.title)}</h3>'
        f'<div class="card-body"><div class="viewer-box" data-scene="{scene_id}">'
        f'<div class="viewer3d" title="drag to rotate, scroll to zoom"></div>'
        f'<div class="toggles"><label><input type="checkbox" class="bonds" checked> bonds'
        f'</label> <label><input type="checkbox" class="polyhedra"> polyhedra{polyhedra}'
        f'</label></div><div class="viewer-note"></div>{picture}</div>'
        f'<table class="facts">{rows}</table></div>'
        f'<script type="application/json" id="{scene_id}">{scene_json(card.scene or {})}'
        "</script></div>"
    )


def render_cards(cards: Sequence[CandidateCard]) -> str:
    """The cards as HTML (each with its scene as inline JSON)."""
    return '<div class="cards">' + "\n".join(_card(c) for c in cards) + "</div>"
