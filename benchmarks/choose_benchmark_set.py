"""Choose the default sets of ``chggen benchmark`` from a held-out test split.

    python benchmarks/choose_benchmark_set.py /work/known_build/test.parquet \
        --out campaign/benchmark/default_set.py

The rule (:func:`chggen_kernels.benchmark.choose_benchmark_set`): every crystal of the
target systems (Li-Si, Zn-P-S, Li-P-S and their subsystems) with at most 20 atoms, plus a
seeded random sample of other formulas (CSP: 6; hosts: 5 more Li compounds). Only ids,
formulas, atom counts and source ids are written (never structures). Sizes are set by the
cost: about an hour on 2 CPU cores at k = 5 (docs/benchmark.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from campaign.benchmark.known_input import read_known  # noqa: E402
from chggen_kernels.benchmark import choose_benchmark_set  # noqa: E402

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


def _block(name: str, entries: list) -> str:
    lines = [f"{name}: tuple[SetEntry, ...] = ("]
    for e in entries:
        lines.append(f"    SetEntry({e.structure_id!r}, {e.formula!r}, {e.n_atoms},\n"
                     f"             {e.reason!r}, {e.source_id!r}),")
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
