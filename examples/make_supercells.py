"""Doubled-cell copies of a training Parquet (e.g. a substituted build's train.parquet).

    python examples/make_supercells.py build_subst/train.parquet --out build_subst_x2.parquet \\
        --max-atoms 24 --exclude-formulas ZnP2S6 Zn2P2S7

Every crystal of at most ``max_atoms / 2`` sites is doubled along its shortest lattice
vector (``chggen_kernels.datasets.doubled_cell``); the other columns are kept, the id gets
``-x2``. ``--exclude-formulas`` leaves out compositions (reduced formulas) that an
evaluation measures, so their larger cells are not trained on. ``--require-groups`` keeps
only crystals holding at least one element of every comma-separated group, e.g. the
polyanion compounds of a known build: ``--require-groups P,As,Sb,V,Nb,Ta,Si,Ge O,S,Se,Te``
(a tetrahedral former and a chalcogen). Pass the output to
``examples/train_default_model.py --extra-data``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd
from pymatgen.core import Composition, Structure

from chggen_kernels.datasets import doubled_cell


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="training-format Parquet")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--max-atoms", type=int, default=24, help="largest doubled cell")
    parser.add_argument("--exclude-formulas", nargs="*", default=[])
    parser.add_argument("--require-groups", nargs="*", default=[],
                        help="comma-separated element groups; a crystal needs one of each")
    args = parser.parse_args(argv)
    excluded = {Composition(f).reduced_formula for f in args.exclude_formulas}
    groups = [set(g.split(",")) for g in args.require_groups]
    table = pd.read_parquet(args.data)
    rows = []
    for row in table.to_dict("records"):
        structure = Structure.from_dict(json.loads(row["structure"]))
        if structure.composition.reduced_formula in excluded:
            continue
        symbols = {el.symbol for el in structure.composition.elements}
        if any(not symbols & group for group in groups):
            continue
        doubled = doubled_cell(structure, args.max_atoms)
        if doubled is None:
            continue
        row |= {"structure": json.dumps(doubled.as_dict()),
                "structure_id": f"{row['structure_id']}-x2"}
        if "n_atoms" in row:
            row["n_atoms"] = len(doubled)
        if "cell_formula" in row:
            row["cell_formula"] = doubled.composition.formula
        rows.append(row)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=table.columns).to_parquet(args.out)
    print(f"wrote {args.out}: {len(rows)} doubled cells of {len(table)} crystals "
          f"({len(excluded)} formulas excluded)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
