"""Write the structures of the offline hull's known phases into the package, with provenance.

    python benchmarks/ship_known_phases.py ../shared/data/known_crystals.parquet

Every entry of the offline hull (``chggen_kernels/data/hull_known_phases.json``: one known
phase per composition, its collection and source id) is looked up in the known-structures
file by (collection, source id) and its structure written to
``chggen_kernels/data/known_phase_structures.json.gz``
(:mod:`chggen_kernels.thermo.known_structures`). Every source of that file allows
redistribution with attribution (the AFLOW prototypes under the GPL-3.0, kept as such).
The file must stay under 5 MB together with ``benchmark_sets.json.gz``; it is read back,
its ids and formulas checked against the hull, and the rows per source printed for
``chggen_kernels/data/NOTICE.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chggen_kernels.datasets import read_known_structures  # noqa: E402
from chggen_kernels.thermo.known_structures import (  # noqa: E402
    KNOWN_PHASE_STRUCTURES,
    KnownPhase,
    read_known_phase_structures,
    write_known_phase_structures,
)

HULL = ROOT / "chggen_kernels" / "data" / "hull_known_phases.json"
BENCHMARK_SETS = ROOT / "chggen_kernels" / "data" / "benchmark_sets.json.gz"
LIMIT_BYTES = 5_000_000


#: Elemental phases the known data lacks, which chggen's hull builds itself
#: (chggen_kernels.thermo.build_reference), with experimental lattice constants in Å.
FCC_PROTOTYPES = {"fcc Yb": ("Yb", 5.485)}


def chggen_prototype(source_id: str) -> KnownPhase:
    """A prototype phase of chggen's own hull (collection ``chggen``)."""
    from chggen_kernels.thermo.build_reference import fcc

    element, a = FCC_PROTOTYPES[source_id]
    return KnownPhase(source_id, "chggen", "chggen prototype (no known phase in the data)",
                      "BSD-3-Clause (chggen)", fcc(element, a))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("known", help="the known-structures file (../shared/data/...)")
    args = p.parse_args(argv)
    hull = json.loads(HULL.read_text())["entries"]
    wanted = {(e["collection"], e["source_id"]): e["formula"] for e in hull}
    phases = {}
    for row in read_known_structures(args.known, []):
        key = (row.source, row.source_id)
        if key in wanted and key not in phases:
            phases[key] = KnownPhase(row.source_id, row.source, row.origin, row.licence,
                                     row.structure)
    for key in [k for k in wanted if k[0] == "chggen" and k not in phases]:
        phases[key] = chggen_prototype(key[1])
    missing = set(wanted) - set(phases)
    if missing:
        raise SystemExit(f"not in {args.known}: {sorted(missing)[:5]} ({len(missing)})")
    ordered = [phases[key] for key in sorted(phases, key=lambda k: (wanted[k], k))]
    description = ("Structures (source cells) of the known phases of chggen's offline hull, "
                   f"one per composition; from {Path(args.known).name}")
    n = write_known_phase_structures(KNOWN_PHASE_STRUCTURES, ordered, description)
    back = read_known_phase_structures()
    bad = [p.source_id for p, (key, formula) in zip(back, sorted(wanted.items(),
           key=lambda kv: (kv[1], kv[0])), strict=True)
           if (p.collection, p.source_id) != key or p.formula != formula]
    if bad:
        raise SystemExit(f"read back differs from the hull for {bad[:5]} ({len(bad)})")
    size = KNOWN_PHASE_STRUCTURES.stat().st_size
    total = size + BENCHMARK_SETS.stat().st_size
    print(f"wrote {n} structures to {KNOWN_PHASE_STRUCTURES} ({size:,} bytes; with the "
          f"benchmark sets {total:,} bytes)")
    if total > LIMIT_BYTES:
        raise SystemExit(f"shipped structures take {total:,} bytes, over {LIMIT_BYTES:,}")
    for (source, licence), count in sorted(Counter((p.collection, p.licence)
                                                   for p in ordered).items()):
        print(f"  {source}: {count} ({licence})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
