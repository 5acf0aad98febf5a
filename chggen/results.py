"""The candidates one call of :mod:`chggen` returns: :class:`Results`.

A :class:`Results` wraps the results table, one row per candidate in the Parquet schema of
a results folder (the fields of
:class:`~chggen_kernels.workflow.records.CandidateRecord`, ``docs/columns.md``; energies in
eV/atom, lengths in Å, structures as pymatgen JSON), successful rows first in the one
ranking order (:func:`~chggen_kernels.workflow.rank_key`: E_d, then the relaxed energy per
atom, then the id), failed rows after them. :meth:`Results.best` groups duplicates as
``chggen top`` does; the exports reuse those of ``chggen export``.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chggen_kernels.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from ase import Atoms
    from pymatgen.core import Structure

__all__ = ["Results", "load_results"]

#: Rows shown by ``repr`` and in a notebook.
SHOWN_ROWS = 20


def _null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _rows(table: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of ``table`` as dicts, nulls as ``None``."""
    return [{k: (None if _null(v) else v) for k, v in row.items()}
            for row in table.to_dict("records")]


def _in_rank_order(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` in ranking order: successful rows by ``rank_key``, then the others by id."""
    from chggen_kernels.workflow import rank_key

    rows = _rows(table)
    ok = sorted((i for i, r in enumerate(rows) if r.get("status") == "ok"),
                key=lambda i: rank_key(rows[i]))
    rest = sorted((i for i, r in enumerate(rows) if r.get("status") != "ok"),
                  key=lambda i: str(rows[i].get("candidate_id")))
    return table.iloc[ok + rest].reset_index(drop=True)


def _schema_table(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Rows as a DataFrame of the Parquet schema (the dtypes ``load_results`` reads back),
    in ranking order."""
    import pyarrow as pa

    from campaign.engine.store import CANDIDATE_SCHEMA

    return _in_rank_order(pa.Table.from_pylist(list(rows), schema=CANDIDATE_SCHEMA).to_pandas())


def _e_d(value: Any) -> str:
    return "n/a" if _null(value) else f"{float(value):+.4f}"


class Results:
    """Candidates of one call, best first (see the module docstring).

    Attributes:
        table: the results rows (also ``df``), a pandas DataFrame of the Parquet schema;
            after :meth:`best`, with ``n_duplicates`` and ``duplicate_ids`` added.
        modes: the modes :meth:`best` ranks (``None``: every mode), e.g. ``("inpaint",)``
            after ``generate(..., mode="inpaint")``, which also keeps its hosts' rows.
        notes: lines about the run (hosts used, a fallback taken).
        folder: the results folder the rows were written to or read from, if any.
    """

    def __init__(self, table: pd.DataFrame, *, modes: Sequence[str] | None = None,
                 notes: Sequence[str] = (), folder: str | Path | None = None,
                 grouped: bool = False) -> None:
        self.table = table.reset_index(drop=True)
        self.modes = tuple(modes) if modes else None
        self.notes = tuple(notes)
        self.folder = Path(folder) if folder is not None else None
        self._grouped = grouped

    @classmethod
    def from_rows(cls, rows: Iterable[Any], **kwargs: Any) -> Results:
        """Results of ``CandidateRecord`` objects (or row mappings), ranked."""
        return cls(_schema_table(r.to_dict() if hasattr(r, "to_dict") else dict(r)
                                 for r in rows), **kwargs)

    @property
    def df(self) -> pd.DataFrame:
        """The results table (the same object as :attr:`table`)."""
        return self.table

    def __len__(self) -> int:
        return len(self.table)

    # ------------------------------------------------------------------ selections
    def _ok(self) -> pd.DataFrame:
        return self.table[self.table["status"] == "ok"].reset_index(drop=True)

    def _ranked(self) -> pd.DataFrame:
        ok = self._ok()
        if self.modes is not None:
            ok = ok[ok["mode"].isin(self.modes)].reset_index(drop=True)
        return ok

    def best(self, n: int = 1) -> Results:
        """The ``n`` best distinct successful candidates (of :attr:`modes`), ranked and
        grouped as ``chggen top`` does: relaxed structures that StructureMatcher finds
        equivalent are one row, the best member, with ``n_duplicates`` (the others) and
        ``duplicate_ids`` (their ids)."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise InputError(f"best(n): n must be an integer >= 1, got {n!r}")
        ranked = self._ranked()
        if self._grouped:
            unique = ranked.head(n)
        else:
            from campaign.commands.top import group_duplicates

            unique = group_duplicates(ranked, n)
        return Results(unique, modes=self.modes, notes=self.notes, folder=self.folder,
                       grouped=True)

    # ------------------------------------------------------------------ structures
    def _pairs(self, relaxed: bool = True) -> list[tuple[dict[str, Any], Structure]]:
        """(row with its ``rank``, structure) of the successful rows, in rank order."""
        from campaign.report.load import parse_structure

        column = "structure_relaxed" if relaxed else "structure_generated"
        pairs = []
        for rank, row in enumerate(_rows(self._ok()), start=1):
            structure = parse_structure(row[column], str(row["candidate_id"]))
            if structure is not None:
                pairs.append((row | {"rank": rank}, structure))
        return pairs

    def structures(self, relaxed: bool = True) -> list[Structure]:
        """pymatgen Structures of the successful candidates, in rank order (relaxed, or
        as generated with ``relaxed=False``); each carries ``properties`` ``candidate_id``,
        ``formula``, ``mode`` and ``e_d`` (eV/atom). Lattices and positions in Å."""
        out = []
        for row, structure in self._pairs(relaxed):
            structure.properties.update({key: row.get(key) for key in
                                         ("candidate_id", "formula", "mode", "e_d")})
            out.append(structure)
        return out

    def to_ase(self, relaxed: bool = True) -> list[Atoms]:
        """ASE Atoms of the successful candidates, in rank order, the row's fields (rank,
        id, formula, space group, E_d in eV/atom, ...) in each ``atoms.info``, as in the
        extxyz export."""
        from pymatgen.io.ase import AseAtomsAdaptor

        from campaign.report.export import _frame_info

        frames = []
        for row, structure in self._pairs(relaxed):
            atoms = AseAtomsAdaptor.get_atoms(structure)
            atoms.info.update(_frame_info(row))
            frames.append(atoms)
        return frames

    # ------------------------------------------------------------------ exports
    def to_cif(self, folder: str | Path, symprec: float | None = 0.1) -> list[Path]:
        """One CIF per successful candidate (relaxed, symmetrised at ``symprec`` Å),
        named ``NN_<formula>_sg<number>_<id>.cif`` as ``chggen export --format cif``
        names them, plus ``manifest.csv``; returns the CIF paths."""
        import pandas as pd

        from campaign.report.export import MANIFEST_COLUMNS, _stem, _write_cif

        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        pairs = self._pairs(relaxed=True)
        paths = []
        for row, structure in pairs:
            path = out / f"{_stem(row)}.cif"
            _write_cif(structure, path, symprec)
            paths.append(path)
        rows = [row for row, _ in pairs]
        manifest = pd.DataFrame([{c: row.get(c) for c in MANIFEST_COLUMNS if c in row}
                                 for row in rows])
        manifest["path"] = [p.name for p in paths]
        manifest.to_csv(out / "manifest.csv", index=False)
        return paths

    def to_extxyz(self, path: str | Path) -> Path:
        """All successful candidates (relaxed) as one extended-XYZ file, one frame each in
        rank order with the row's fields in its info (``chggen export --format extxyz``);
        read it back with ``ase.io.read(path, index=":")``."""
        from campaign.report.export import _write_extxyz

        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        pairs = self._pairs(relaxed=True)
        _write_extxyz([row for row, _ in pairs], [s for _, s in pairs], target)
        return target

    # ------------------------------------------------------------------ display
    def summary(self) -> str:
        """One line: candidates, successes per mode, hull, folder."""
        table = self.table
        status = table["status"] == "ok"
        modes = ", ".join(f"{int((status & (table['mode'] == m)).sum())}/"
                          f"{int((table['mode'] == m).sum())} {m}"
                          for m in dict.fromkeys(table["mode"]))
        noun = "candidate" if len(table) == 1 else "candidates"
        line = (f"{len(table)} {'distinct ' if self._grouped else ''}{noun}, "
                f"{int(status.sum())} ok" + (f" ({modes})" if modes else ""))
        hulls = sorted({str(h) for h in table.loc[status, "hull_source"].dropna()})
        if hulls:
            line += f"; hull {', '.join(hulls)}"
        if len(table) and not status.any():
            reasons = sorted({str(r or "?").split(":")[0] for r in table["failure_reason"]})
            line += f"; failures: {', '.join(reasons)} (see the failure_reason column)"
        if self.folder is not None:
            line += f"; folder {self.folder}"
        return line

    def _shown(self) -> pd.DataFrame:
        """The compact table of ``repr`` and notebooks: rank, id, formula, space group,
        E_d (eV/atom), mode, known phase?, and copies once grouped."""
        import pandas as pd

        from chggen_kernels.thermo.novelty import describe_novelty

        ranked = self._ranked().head(SHOWN_ROWS)
        shown = pd.DataFrame({
            "rank": range(1, len(ranked) + 1),
            "id": ranked["candidate_id"],
            "formula": ranked["formula"],
            "space group": [f"{s} ({int(n)})" if isinstance(s, str) and not _null(n) else "?"
                            for s, n in zip(ranked["spacegroup_symbol_relaxed"],
                                            ranked["spacegroup_relaxed"], strict=True)],
            "E_d (eV/atom)": [_e_d(v) for v in ranked["e_d"]],
            "mode": ranked["mode"],
            "known phase?": [describe_novelty(row.get("novelty"), row.get("known_phase_id"))
                             for _, row in ranked.iterrows()],
        })
        if self._grouped and "n_duplicates" in ranked:
            shown["copies"] = [int(n) + 1 for n in ranked["n_duplicates"]]
        return shown

    def _more(self) -> str:
        n = len(self._ranked())
        return f"... and {n - SHOWN_ROWS} more ranked candidates" if n > SHOWN_ROWS else ""

    def __repr__(self) -> str:
        lines = [f"<chggen.Results: {self.summary()}>", *self.notes]
        shown = self._shown()
        if len(shown):
            lines.append(shown.to_string(index=False))
        if self._more():
            lines.append(self._more())
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        parts = [f"<p><b>chggen.Results</b>: {html.escape(self.summary())}</p>"]
        parts += [f"<p>{html.escape(note)}</p>" for note in self.notes]
        shown = self._shown()
        if len(shown):
            parts.append(shown.to_html(index=False, escape=True, border=0))
        more = self._more() or ("" if self._grouped or not len(shown) else
                                "call .best(n) to group duplicate structures")
        if more:
            parts.append(f"<p><i>{html.escape(more)}</i></p>")
        return "\n".join(parts)


def load_results(folder: str | Path) -> Results:
    """The rows of a results folder (written by ``chggen scan``/``run``/``generate``, or
    by a call with ``out=``) as :class:`Results`. A folder that does not exist or holds
    a foreign file is refused with one line
    (:class:`~campaign.engine.store.NotAResultsFolderError`, an ``InputError``)."""
    from campaign.engine.store import read_results

    return Results(_in_rank_order(read_results(folder)), folder=folder)

