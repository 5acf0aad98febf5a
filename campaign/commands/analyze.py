"""``chggen analyze locality DIR``: locality-bias analysis (RDFs and coordination numbers
of generated structures against the training set; paper Fig. 2)."""

from __future__ import annotations

import argparse

from campaign.commands import print_notes, value_errors_are_input

__all__ = ["register", "run_locality"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="analyses of a results folder (locality)")
    analyses = p.add_subparsers(dest="analysis", metavar="ANALYSIS")
    loc = analyses.add_parser(
        "locality",
        help="RDFs and coordination numbers of generated vs training structures",
        description="Compare the local environments of the generated structures "
        "(structure_generated, before relaxation) with the training set: partial radial "
        "distribution functions per species pair and coordination-number distributions "
        "per element. Writes rdf.png, coordination.png and locality.json.",
    )
    loc.add_argument("directory", help="results folder written by chggen run / chggen scan")
    loc.add_argument("--reference", default=None,
                     help="training set: Parquet table with a 'structure' column, a folder "
                     "of Parquet/CIF/POSCAR files, or an extxyz file")
    loc.add_argument("--out", default=None, help="output folder (default DIR/_report/locality)")
    loc.add_argument("--structures", choices=("generated", "relaxed"), default="generated",
                     help="which structures of the run (default: generated)")
    loc.add_argument("--max-structures", type=int, default=200,
                     help="random subset per side (default 200)")
    loc.add_argument("--r-max", type=float, default=6.0, help="RDF range in Å (default 6)")
    loc.add_argument("--bin-width", type=float, default=0.05, help="RDF bin in Å (default 0.05)")
    loc.add_argument("--cn-method", choices=("crystalnn", "min_dist"), default="crystalnn")
    loc.add_argument("--seed", type=int, default=0)
    loc.set_defaults(func=run_locality)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def run_locality(args: argparse.Namespace) -> int:
    from campaign.report import analyze_locality
    from chggen_kernels.analysis import RDFSettings

    with value_errors_are_input():
        result = analyze_locality(
            args.directory, args.reference, args.out, which=args.structures,
            max_structures=args.max_structures,
            rdf=RDFSettings(r_max=args.r_max, bin_width=args.bin_width),
            cn_method=args.cn_method, seed=args.seed,
        )
    print_notes(result.notes)
    s = result.summary
    print(f"{s['n_generated']} {s['structures']} vs {s['n_training']} training structures; "
          f"wrote {result.output_dir}")
    return 0
