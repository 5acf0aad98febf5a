"""Write the structures of the shipped benchmark sets into the package, with provenance.

    python benchmarks/ship_benchmark_sets.py ../shared/data/known_crystals.parquet

The default CSP and host sets (`campaign/jobs/benchmark/default_set.py`) and the extended CSP
set (`campaign/jobs/benchmark/extended_set.py`; ids only, both chosen by
`benchmarks/choose_benchmark_set.py`) are looked up by their structure ids in the
known-structures file and written to `chggen_kernels/data/benchmark_sets.json.gz`
(gzip JSON, one row per structure with source, source id, origin and licence, in the
format `chggen_kernels.datasets.read_known_structures` reads, so the ids are the same), so
that `chggen benchmark csp [--set extended]` runs on a fresh install. Every source of the
known-structures file allows redistribution with attribution (the AFLOW prototypes under
the GPL-3.0, kept as such). The file is read back and its ids checked; the rows per source
are printed for `chggen_kernels/data/NOTICE.md` (attributions).
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from campaign.jobs.benchmark.default_set import CSP_DEFAULT, HOSTS_DEFAULT  # noqa: E402
from campaign.jobs.benchmark.extended_set import EXTENDED_CSP  # noqa: E402
from chggen_kernels.datasets import read_known_structures  # noqa: E402

OUT = ROOT / "chggen_kernels" / "data" / "benchmark_sets.json.gz"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("known", help="the known-structures file (../shared/data/...)")
    args = p.parse_args(argv)
    wanted = {e.structure_id for e in (*CSP_DEFAULT, *HOSTS_DEFAULT, *EXTENDED_CSP)}
    rows = [r for r in read_known_structures(args.known, []) if r.structure_id in wanted]
    missing = wanted - {r.structure_id for r in rows}
    if missing:
        raise SystemExit(f"not in {args.known}: {sorted(missing)}")
    data = {"what": "structures of the shipped benchmark sets (chggen benchmark csp/hosts)",
            "structures": [{"source": r.source, "source_id": r.source_id, "origin": r.origin,
                            "licence": r.licence, "structure": json.dumps(r.structure.as_dict())}
                           for r in sorted(rows, key=lambda r: r.structure_id)]}
    with gzip.open(OUT, "wt", encoding="utf-8") as handle:
        json.dump(data, handle)
    back = {r.structure_id for r in read_known_structures(OUT, [])}
    if back != wanted:
        raise SystemExit(f"{OUT.name} read back gives other ids: {sorted(back ^ wanted)[:5]}")
    print(f"wrote {len(rows)} structures to {OUT} ({OUT.stat().st_size:,} bytes); the ids "
          "read back are the sets' ids")
    for (source, licence), count in sorted(Counter((r.source, r.licence) for r in rows)
                                           .items()):
        print(f"  {source}: {count} ({licence})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
