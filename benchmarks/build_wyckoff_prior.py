"""Learn the shipped Wyckoff prior from the training split of the shipped model's data.

    chggen data build --sources known --known ../shared/data/known_crystals.parquet \\
        --out /tmp/known_build --max-atoms 20 --test-formulas Li2Si Zn3P2 Li3P Li2PS3
    python benchmarks/build_wyckoff_prior.py /tmp/known_build/train.parquet

Reads every training crystal (never the validation or test split), counts its
(space group, Wyckoff labels) assignment per stoichiometry type at 0.1 Å and keeps lattice
shapes per crystal family (:func:`chggen_kernels.wyckoff.prior.learn_wyckoff_prior`), and
writes ``chggen_kernels/data/wyckoff_prior.json.gz`` (counts and shapes only, no
structures). Prints the types and crystals counted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chggen_kernels.wyckoff.prior import WYCKOFF_PRIOR, learn_wyckoff_prior  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    import pandas as pd
    from pymatgen.core import Structure

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("train", help="train.parquet of a `chggen data build --sources known`")
    p.add_argument("--out", default=str(WYCKOFF_PRIOR))
    args = p.parse_args(argv)
    frame = pd.read_parquet(args.train, columns=["structure"])
    t0 = time.perf_counter()
    structures = (Structure.from_dict(json.loads(text)) for text in frame["structure"])
    prior = learn_wyckoff_prior(structures, description=(
        f"(space group, Wyckoff labels) counts per stoichiometry type and lattice shapes per "
        f"crystal family of the {len(frame)} crystals of {Path(args.train).name}"))
    prior.save(args.out)
    n = sum(c for v in prior.assignments.values() for _, _, c in v)
    print(f"{n} crystals, {len(prior.assignments)} stoichiometry types, "
          f"{sum(len(v) for v in prior.assignments.values())} assignments, shapes "
          f"{ {k: len(v) for k, v in prior.shapes.items()} } -> {args.out} "
          f"({Path(args.out).stat().st_size:,} bytes, {time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
