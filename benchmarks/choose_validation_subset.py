"""The validation subset the generation mode is chosen on (never the test split).

    python benchmarks/choose_validation_subset.py /tmp/known_build/val.parquet \\
        --out /tmp/val_subset.parquet

From the validation split of `chggen data build --sources known` (the command in
benchmarks/build_wyckoff_prior.py), one crystal per formula, primitive cells of at most
20 atoms; a seeded shuffle (seed 0) then takes ``--per-class`` crystals of fewer than 10
atoms and as many of 10-20 atoms. Writes them in the training-data format
``chggen benchmark csp KNOWN --set all`` reads and prints their ids; the ids are
committed in benchmarks/results/ with the run's results.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np


def main(argv: list[str] | None = None) -> int:
    import pandas as pd
    from pymatgen.core import Structure

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("val", help="val.parquet of a --sources known data build")
    p.add_argument("--out", required=True)
    p.add_argument("--per-class", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    frame = pd.read_parquet(args.val).drop_duplicates("formula")
    order = np.random.default_rng(args.seed).permutation(len(frame))
    small, large = [], []
    for i in order:
        row = frame.iloc[int(i)]
        n = len(Structure.from_dict(json.loads(row["structure"])).get_primitive_structure())
        bucket = small if n < 10 else large if n <= 20 else None
        if bucket is not None and len(bucket) < args.per_class:
            bucket.append(int(i))
        if len(small) == len(large) == args.per_class:
            break
    chosen = frame.iloc[small + large]
    chosen.to_parquet(args.out)
    print(json.dumps([{"structure_id": r.structure_id, "formula": r.formula}
                      for r in chosen.itertuples()]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
