"""``chggen export DIR``: the best unique candidates as CIF, POSCAR or r2SCAN VASP inputs."""

from __future__ import annotations

import argparse

from campaign.commands import print_notes, value_errors_are_input
from campaign.commands.options import int_at_least

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="write the best unique candidates for DFT (CIF, POSCAR, r2SCAN inputs)",
        description="Rank the successful candidates by E_d, merge structures that "
        "StructureMatcher finds equivalent across the whole run, and write the best ones: "
        "cif (CIF files), poscar (POSCAR files) or vasp (r2SCAN relaxation inputs from "
        "pymatgen's MPScanRelaxSet; POTCAR.spec instead of POTCAR).",
    )
    p.add_argument("directory", help="results folder written by chggen run / chggen scan")
    p.add_argument("-n", "--top", dest="top", type=int_at_least(1), default=10,
                   help="how many unique candidates (default 10)")
    p.add_argument("--format", dest="fmt", choices=("cif", "poscar", "vasp", "extxyz", "zip"),
                   default="cif", help="cif, poscar, vasp (r2SCAN inputs), extxyz (one file, "
                   "the row's fields in each frame), zip (CIFs + index.csv); default cif")
    p.add_argument("--out", default=None, help="output folder (default DIR/_export/FORMAT)")
    p.add_argument("--max-ed", type=float, default=None,
                   help="keep E_d <= this (eV/atom), e.g. 0.03")
    p.add_argument("--symmetric", action="store_true", help="keep space groups above P-1 only")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from campaign.report import export_candidates

    with value_errors_are_input():
        result = export_candidates(args.directory, args.out, top=args.top, fmt=args.fmt,
                                   max_e_d=args.max_ed, symmetric_only=args.symmetric)
    print_notes(result.notes)
    print(f"wrote {result.n_candidates} candidates ({args.fmt}) to {result.output_dir}")
    return 0
