"""Choose the default sets of ``chggen benchmark`` from a held-out test split.

    python benchmarks/choose_benchmark_set.py /work/known_build/test.parquet \
        --out campaign/jobs/benchmark/default_set.py \
        --extended-out campaign/jobs/benchmark/extended_set.py

The rule (:func:`chggen_kernels.benchmark.choose_benchmark_set`): every crystal of the
target systems (Li-Si, Zn-P-S, Li-P-S and their subsystems) with at most 20 atoms, plus a
seeded random sample of other formulas (CSP: 6; hosts: 5 more Li compounds). Only ids,
formulas, atom counts and source ids are written (never structures). Sizes are set by the
cost: about an hour on 2 CPU cores at k = 5 (docs/benchmark.md).

``--extended-out`` also writes ``EXTENDED_CSP`` (``chggen benchmark csp --set extended``),
chosen by :func:`chggen_kernels.benchmark.selection.choose_extended_set` from the same
split: the default CSP set, then a seeded quota sample (at least 20 compounds of three or more
elements, at least half of the set with 10-20 atoms in the primitive cell), 60 in all,
one crystal per formula. Atom counts there are the primitive cell's (what the benchmark runs).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from campaign.jobs.benchmark.csp import known_cell  # noqa: E402
from campaign.jobs.benchmark.known_input import read_known  # noqa: E402
from chggen_kernels.benchmark import choose_benchmark_set  # noqa: E402
from chggen_kernels.benchmark.selection import choose_extended_set  # noqa: E402

HEADER = '''"""The default benchmark sets (written by benchmarks/choose_benchmark_set.py).

Chosen from the held-out test split of the known-structures build ({source}, {n}
crystals) by :func:`chggen_kernels.benchmark.choose_benchmark_set`: every target-system
crystal (Li-Si, Zn-P-S, Li-P-S) with at most {max_atoms} atoms, plus a random sample (seed
{seed}) of the other formulas; for the host benchmark only crystals holding Li and another
element.
Ids and formulas only: the structures stay in the data file.
"""

from chggen_kernels.benchmark import SetEntry

__all__ = ["CSP_DEFAULT", "HOSTS_DEFAULT"]

'''

EXTENDED_HEADER = '''"""The extended CSP set (written by benchmarks/choose_benchmark_set.py).

``chggen benchmark csp --set extended``. Chosen from the held-out test split of the
known-structures build ({source}, {n} crystals) by
:func:`chggen_kernels.benchmark.selection.choose_extended_set` (seed {seed}): the default
CSP set, one crystal per formula ({n_default} of its {n_csp} crystals), then a seeded quota
sample of the other formulas: at least {min_ternary} compounds of three or more elements, at least
{share:g} of the set with {lo}-{hi} atoms in the primitive cell, {total} crystals in all, one
per formula (its lowest id). Never tuned to a benchmark result. ``n_atoms`` is the
primitive cell's (the cell the benchmark runs). Ids and formulas only: the structures are in
chggen_kernels/data/benchmark_sets.json.gz (benchmarks/ship_benchmark_sets.py).
"""

from chggen_kernels.benchmark import SetEntry

__all__ = ["EXTENDED_CSP"]

'''


def _block(name: str, entries: list) -> str:
    lines = [f"{name}: tuple[SetEntry, ...] = ("]
    pad = " " * 13
    for e in entries:
        tail = f"{pad}{e.reason!r}, {e.source_id!r}),"
        if len(tail) > 100:  # ruff's line length
            tail = f"{pad}{e.reason!r},\n{pad}{e.source_id!r}),"
        lines.append(f"    SetEntry({e.structure_id!r}, {e.formula!r}, {e.n_atoms},\n{tail}")
    return "\n".join(lines + [")", ""])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("test_split", help="held-out test split (training-format Parquet)")
    p.add_argument("--out", default=None, help="module to write (default: print)")
    p.add_argument("--csp-random", type=int, default=6)
    p.add_argument("--hosts-random", type=int, default=5)
    p.add_argument("--max-atoms", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--guest", default="Li")
    p.add_argument("--extended-out", default=None,
                   help="module of the extended CSP set to write (default: print it when "
                   "--out is not given either)")
    p.add_argument("--extended-n", type=int, default=60)
    p.add_argument("--extended-min-ternary", type=int, default=20)
    p.add_argument("--extended-min-large-share", type=float, default=0.5)
    args = p.parse_args(argv)
    compounds = read_known(args.test_split)
    entries = [(c.compound_id, c.formula, c.n_atoms, c.elements, c.source_id)
               for c in compounds]
    csp = choose_benchmark_set(entries, n_random=args.csp_random, max_atoms=args.max_atoms,
                               seed=args.seed)
    hosts = choose_benchmark_set(entries, n_random=args.hosts_random,
                                 max_atoms=args.max_atoms, seed=args.seed, require=args.guest)
    text = HEADER.format(source=Path(args.test_split).name, n=len(compounds),
                         max_atoms=args.max_atoms, seed=args.seed)
    text += _block("CSP_DEFAULT", csp) + "\n" + _block("HOSTS_DEFAULT", hosts)
    if args.out:
        Path(args.out).write_text(text)
    else:
        print(text)
    if args.extended_out or not args.out:
        primitive = [(c.compound_id, c.formula, len(known_cell(c, "primitive")), c.elements,
                      c.source_id) for c in compounds]
        n_default = len({e.formula for e in csp})
        extended = choose_extended_set(
            primitive, n=args.extended_n, min_ternary=args.extended_min_ternary,
            min_large_share=args.extended_min_large_share, seed=args.seed,
            include=[e.structure_id for e in csp])
        why = {e.structure_id: f"default CSP set, {e.reason}" for e in csp}
        extended = [dataclasses.replace(e, reason=why.get(e.structure_id, e.reason))
                    for e in extended]
        ext = EXTENDED_HEADER.format(
            source=Path(args.test_split).name, n=len(compounds), seed=args.seed,
            n_default=n_default, n_csp=len(csp), min_ternary=args.extended_min_ternary,
            share=args.extended_min_large_share, lo=10, hi=args.max_atoms,
            total=len(extended)) + _block("EXTENDED_CSP", extended)
        if args.extended_out:
            Path(args.extended_out).write_text(ext)
        else:
            print(ext)
    return 0


if __name__ == "__main__":
    sys.exit(main())
