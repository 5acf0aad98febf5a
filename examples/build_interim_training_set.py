"""Build the interim training table behind the shipped default score model.

Interim recipe (until ``chggen data build`` lands, see the data issue):

* every AFLOW prototype shipped with pymatgen (<= 20 sites) with its own species: real
  compounds at real volumes (``source = aflow``);
* the prototypes decorated into Li-Si, Zn-P-S and Li-P-S (with their subsystems): the
  CHGNet-relaxed structure where the background relaxation log has it
  (``source = decorated-chgnet``), otherwise the decorated cell scaled to the elemental
  volume prior, unrelaxed (``source = decorated-scaled``).

Usage::

    python examples/build_interim_training_set.py --relaxed relaxed.jsonl --out train.parquet
"""

from __future__ import annotations

import argparse
import collections
import json
from pathlib import Path

from pymatgen.core import Structure

from chggen_kernels.datasets import aflow_prototypes, decorated_prototypes
from chggen_kernels.lattice import VolumePrior
from chggen_kernels.training import TrainingCrystal, validate_crystal, write_training_parquet

CHEMICAL_SYSTEMS = ("Li-Si", "Zn-P-S", "Li-P-S")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--relaxed", type=Path, default=None,
                        help="JSONL of CHGNet-relaxed decorated prototypes (structure_id keyed)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    relaxed: dict[str, dict] = {}
    if args.relaxed and args.relaxed.exists():
        for line in args.relaxed.read_text().splitlines():
            rec = json.loads(line)
            if rec.get("status") == "ok":
                relaxed[rec["structure_id"]] = rec

    crystals: list[TrainingCrystal] = []
    seen: set[str] = set()
    counts: collections.Counter[str] = collections.Counter()
    for s in aflow_prototypes():
        seen.add(s.structure_id)
        crystals.append(TrainingCrystal(s.structure_id, s.structure, "aflow",
                                        provenance={"prototype": s.prototype or ""}))
        counts["aflow"] += 1
    prior = VolumePrior(element_volumes={})
    for chemsys in CHEMICAL_SYSTEMS:
        for s in decorated_prototypes(chemsys, prior):
            if s.structure_id in seen:
                continue
            seen.add(s.structure_id)
            rec = relaxed.get(s.structure_id)
            if rec is not None:
                structure = Structure.from_dict(rec["structure"])
                crystal = TrainingCrystal(s.structure_id, structure, "decorated-chgnet",
                                          energy_per_atom=rec["energy_per_atom"],
                                          provenance={"prototype": s.prototype or ""})
            else:
                crystal = TrainingCrystal(s.structure_id, s.structure, "decorated-scaled",
                                          provenance={"prototype": s.prototype or ""})
            try:
                validate_crystal(crystal)
            except ValueError as exc:
                counts["skipped"] += 1
                print(f"skipped {crystal.label}: {exc}")
                continue
            crystals.append(crystal)
            counts[crystal.source] += 1
    write_training_parquet(args.out, crystals)
    print(json.dumps({"written": len(crystals), **counts}))


if __name__ == "__main__":
    main()
