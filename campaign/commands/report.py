"""``chggen report DIR``: figures, 3D views and one self-contained HTML page of a results
folder (works offline: the viewer, figures and CIFs are inlined)."""

from __future__ import annotations

import argparse

from campaign.commands import print_notes, value_errors_are_input
from chggen_kernels.errors import InputError

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="figures and an HTML report of a results folder",
        description="Draw the figures of a results folder (symmetry success rate versus "
        "atoms per cell, relaxation and E_d distributions, the hull of every binary, "
        "ternary and quaternary system with the candidates, space groups) and write them "
        "with the ranked table of unique candidates, an interactive 3D view (3Dmol.js, "
        "inlined) and the CIF of each, and the run's provenance into one self-contained "
        "HTML page that works offline (DIR/_report/index.html; CIFs also in "
        "DIR/_report/cif/).",
    )
    p.add_argument("directory", help="results folder written by chggen run / chggen scan")
    p.add_argument("--out", default=None, help="output folder (default DIR/_report)")
    p.add_argument("--top", type=int, default=20,
                   help="rows of the ranked table, each with a 3D view and a CIF (default 20)")
    p.add_argument("--cells", type=int, default=6,
                   help="static unit-cell pictures of the best candidates, shown where WebGL "
                   "is unavailable (default 6; 0: none)")
    p.add_argument("--hull", default="auto",
                   help="reference hull for the hull figures: auto (the run's), "
                   "offline, mp or a file (CSV formula,energy_per_atom in eV/atom)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from campaign.report import build_report
    from campaign.report.hull import hull_source_from_spec

    if args.hull != "auto":  # refused before anything is read, by the kernels' one parser
        try:
            hull_source_from_spec(args.hull)
        except ValueError as exc:
            raise InputError(f"--hull {args.hull!r}: {exc}") from None
    with value_errors_are_input():
        result = build_report(args.directory, args.out, top=args.top, n_cells=args.cells,
                              hull=args.hull)
    print_notes(result.notes)
    size = result.html_path.stat().st_size / 1e6
    print(f"wrote {result.html_path} ({size:.1f} MB, {len(result.figures)} figures, "
          f"{len(result.cifs)} candidates in 3D, CIFs in {result.output_dir / 'cif'})")
    return 0
