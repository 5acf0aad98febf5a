"""``chggen data build``: build a CHGNet-relaxed training set (see docs/training_data.md).

    chggen data build --chemsys Li-Si Zn-P-S Li-P-S --sources prototypes random --out DIR
    chggen data build --sources known --known known_crystals.parquet --out DIR
        [--chemsys ...] [--max-atoms N] [--min-distance D] [--single-point]
        [--val-fraction F] [--test-fraction F] [--test-formulas F ...]
        [--files PATH] [--random-per-system N] [--ehull-max E]
        [--fmax F] [--max-steps N] [--workers N] [--limit N] [--seed S]
        [--no-undecorated] [--relaxed-cache PATH] [--read-cache PATH ...]

Every default (``chggen data build --help``) is a field default of
:class:`campaign.jobs.data.options.BuildOptions` (relaxation: ``RelaxSettings``).

Writes to DIR: ``relaxed.jsonl`` (the relaxation cache, unless ``--relaxed-cache`` names
another file), ``train.parquet``, ``reference_hull.json``, ``manifest.json``, ``build.yaml``.
Running the same command again resumes: cached candidates are not relaxed again.
Exit codes: 0 success, 2 bad input, 130 interrupted (the cache keeps every finished record).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from campaign.commands.options import int_at_least

__all__ = ["register", "run_data_build"]



def _chemsys(value: str) -> str:
    from chggen_kernels.datasets import parse_chemsys

    try:
        return "-".join(parse_chemsys(value))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _non_negative_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and number >= 0):
        raise argparse.ArgumentTypeError(f"{value!r} is not a finite number >= 0")
    return number


def _positive_float(value: str) -> float:
    number = _non_negative_float(value)
    if number == 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number > 0")
    return number


def register(sub: argparse._SubParsersAction) -> None:
    from campaign.commands.options import default_of, shown
    from campaign.jobs.data.options import SOURCES, BuildOptions

    def default(name: str) -> object:  # BuildOptions' default, the one definition
        return default_of(BuildOptions, name)

    def text(name: str) -> str:
        return shown(default(name))

    data = sub.add_parser("data", help="training data: build a CHGNet-relaxed training set")
    data_sub = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    data.set_defaults(func=lambda args: (data.print_help(), 2)[1])
    p = data_sub.add_parser(
        "build", help="relax candidates from prototypes / random crystals / MP / files, "
        "keep those near their own hull, deduplicate, write Parquet + reference hull")
    p.add_argument("--chemsys", nargs="+", default=[], type=_chemsys,
                   help="chemical systems, e.g. Li-Si Zn-P-S Li-P-S (subsystems included); "
                   "required except for --sources known, where it limits the elements")
    p.add_argument("--sources", nargs="+", default=["prototypes", "random"], choices=SOURCES,
                   help="candidate sources (default: prototypes random)")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--files", type=Path, default=None,
                   help="folder of CIF/POSCAR/.vasp files, or an .extxyz file (source 'files')")
    p.add_argument("--known", type=Path, default=None,
                   help="known structures (Parquet or JSON of pymatgen structures with "
                   "provenance columns; source 'known'), e.g. ../shared/data/"
                   "known_crystals.parquet")
    p.add_argument("--templates", type=Path, default=None,
                   help="known-structures file (e.g. a --sources known build's train.parquet) "
                   "whose structures get their cations replaced by --substitute (source "
                   "'substituted')")
    p.add_argument("--substitute", nargs="+", default=[],
                   help="elements of --chemsys that replace a template's other elements, "
                   "e.g. Zn for Zn-P-S from every P-S compound of the templates")
    p.add_argument("--analogues", nargs="+", default=[], metavar="EL=ANALOGUE,...",
                   help="source 'substituted': elements that may stand in for a system "
                   "element in a template, e.g. P=As,Sb S=O,Se,Te (thioarsenates, "
                   "phosphates and selenides become thiophosphates)")
    p.add_argument("--min-distance", type=_non_negative_float, default=default("min_distance"),
                   help="known source: drop crystals with two atoms closer than this, Å "
                   f"(default {text('min_distance')})")
    p.add_argument("--val-fraction", type=_non_negative_float, default=default("val_fraction"),
                   help="known source: share of formulas in the validation split (default "
                   f"{text('val_fraction')})")
    p.add_argument("--test-fraction", type=_non_negative_float,
                   default=default("test_fraction"),
                   help="known source: share of formulas held out for testing (default "
                   f"{text('test_fraction')})")
    p.add_argument("--test-formulas", nargs="+", default=[],
                   help="known source: formulas always held out in the test split")
    p.add_argument("--single-point", action="store_true",
                   help="known source: CHGNet single-point energies and an energy-above-"
                   "hull filter (--ehull-max) against the file's own structures")
    p.add_argument("--random-per-system", type=int_at_least(0),
                   default=default("random_per_system"),
                   help="pyxtal random crystals per chemical system (default "
                   f"{text('random_per_system')})")
    p.add_argument("--max-atoms", type=int_at_least(1), default=default("max_atoms"),
                   help=f"most sites per candidate cell (default {text('max_atoms')})")
    p.add_argument("--ehull-max", type=_non_negative_float, default=default("ehull_max"),
                   help="keep relaxed structures at most this far above the set's own "
                   f"hull, eV/atom (default {text('ehull_max')})")
    p.add_argument("--mp-ehull-max", type=_non_negative_float, default=default("mp_ehull_max"),
                   help="Materials Project energy above hull cut, eV/atom (default "
                   f"{text('mp_ehull_max')})")
    p.add_argument("--fmax", type=_positive_float, default=default("fmax"),
                   help=f"relaxation force threshold, eV/Å (default {text('fmax')})")
    p.add_argument("--max-steps", type=int_at_least(1), default=default("max_steps"),
                   help=f"most optimiser steps per relaxation (default {text('max_steps')})")
    p.add_argument("--workers", type=int_at_least(1), default=default("workers"),
                   help="relaxation workers; 1 relaxes in this process, more use Ray "
                   f"actors with one CPU each (default {text('workers')})")
    p.add_argument("--limit", type=int_at_least(1), default=None,
                   help="only the first N candidates (smallest cells first, systems "
                   "interleaved)")
    p.add_argument("--seed", type=int_at_least(0), default=default("seed"),
                   help=f"seed of the random crystals (default {text('seed')})")
    p.add_argument("--no-undecorated", dest="undecorated", action="store_false",
                   help="leave out the AFLOW prototypes with their own species")
    p.add_argument("--drop-unreferenced", dest="keep_unreferenced", action="store_false",
                   help="drop relaxed structures whose chemical system has no relaxed "
                   "elemental reference (default: keep them, energy above hull unknown)")
    p.add_argument("--hull-references", type=Path, default=None,
                   help="hull file (reference JSON or CSV, e.g. the shipped "
                   "chggen_kernels/data/reference_hull.json) whose entries join the "
                   "set's own hull, e.g. elemental ground states too large to relax here")
    p.add_argument("--relaxed-cache", type=Path, default=None,
                   help="relaxation cache to read and append to (default OUT/relaxed.jsonl)")
    p.add_argument("--read-cache", type=Path, nargs="+", default=[],
                   help="further caches to reuse records from (read only; used records "
                   "are copied into the build's cache)")
    p.add_argument("--retry-failed", action="store_true",
                   help="relax again candidates whose cached record failed")
    p.add_argument("--no-relax", action="store_true",
                   help="relax nothing; build the outputs from the cache as it is")
    p.add_argument("--address", default=None,
                   help="Ray cluster to join (default: a private local Ray)")
    p.set_defaults(func=run_data_build)


def run_data_build(args: argparse.Namespace) -> int:
    from campaign.jobs.data.build import BuildOptions, DataBuildError, run_build
    from chggen_kernels.datasets import MPSourceError

    try:
        opts = BuildOptions(
            chemsys=tuple(args.chemsys), sources=tuple(dict.fromkeys(args.sources)),
            out=args.out, files=args.files, random_per_system=args.random_per_system,
            max_atoms=args.max_atoms, ehull_max=args.ehull_max, mp_ehull_max=args.mp_ehull_max,
            fmax=args.fmax, max_steps=args.max_steps, workers=args.workers, limit=args.limit,
            seed=args.seed, undecorated=args.undecorated,
            keep_unreferenced=args.keep_unreferenced, hull_references=args.hull_references,
            relaxed_cache=args.relaxed_cache,
            read_cache=tuple(args.read_cache), retry_failed=args.retry_failed,
            no_relax=args.no_relax,
            address=args.address, known=args.known, min_distance=args.min_distance,
            val_fraction=args.val_fraction, test_fraction=args.test_fraction,
            test_formulas=tuple(args.test_formulas), single_point=args.single_point,
            templates=args.templates, substitute=tuple(args.substitute),
            analogues=tuple(args.analogues),
        )
        if opts.workers > 1 and not opts.no_relax:
            try:
                import ray  # noqa: F401
            except ImportError:
                raise DataBuildError(f"--workers = {opts.workers}: more than 1 needs Ray (pip "
                                     "install 'chggen[campaign]'); "
                                     "use --workers 1") from None
        summary = run_build(opts)
    except MPSourceError as err:  # no key / no mp-api: bad input before any work
        raise DataBuildError(str(err)) from None
    return 130 if summary.interrupted else 0
