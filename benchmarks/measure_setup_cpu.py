"""The CPU a ``chggen benchmark csp`` task does not count: its warm-up, measured cold.

    python benchmarks/measure_setup_cpu.py benchmarks/results/csp_extended.json \
        --out benchmarks/results/csp_extended_setup_cpu.json

Before a task's clock starts, the benchmark's chain warms up what the method needs once per
worker process (``InProcessChain.warm_up``): the space groups compatible with the
composition (random search and ``symmetric``, pyxtal's tables) and the template library's
known phases of the composition's stoichiometry type (template modes: their primitive
cells). In a run these are shared by the compounds of a type; here each compound of the
summary pays them alone, from cold caches and a fresh library (an upper bound), and the
CPU seconds per match of those methods are given with that added. Process time, one
thread.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from stamp import stamp, stamped  # noqa: E402

from campaign.jobs.benchmark import GROUP_TABLE_METHODS, TEMPLATE_METHODS  # noqa: E402


def cold_setup_seconds(composition: dict[str, int], phases: list) -> dict[str, float]:
    """CPU seconds of the compatible-group scan and of preparing a fresh template library
    for ``composition`` (caches cleared first)."""
    from chggen_kernels.templates import TemplateLibrary
    from chggen_kernels.wyckoff import crystals

    crystals._compatible.cache_clear()
    crystals.centring_multiplicity.cache_clear()
    t0 = time.process_time()
    crystals.compatible_space_groups(composition)
    groups = time.process_time() - t0
    library = TemplateLibrary(phases)
    t0 = time.process_time()
    library.prepare(composition)
    return {"groups_s": groups, "templates_s": time.process_time() - t0}


def main(argv: list[str] | None = None) -> int:
    from campaign.jobs.benchmark.csp import known_cell
    from campaign.jobs.benchmark.known_input import read_known, shipped_sets_path
    from chggen_kernels.thermo.known_structures import read_known_phase_structures

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("summary", type=Path, help="summary.json of a benchmark csp run")
    parser.add_argument("--out", type=Path, help="JSON to write (stamped)")
    args = parser.parse_args(argv)
    summary = json.loads(args.summary.read_text())
    k = int(summary["scores"]["k_max"])
    compounds = {c.compound_id: c for c in read_known(shipped_sets_path())}
    phases = read_known_phase_structures()
    per_compound = []
    for entry in summary["compounds"]:
        cell = known_cell(compounds[entry["compound_id"]], "primitive")
        composition = {el.symbol: int(n) for el, n in cell.composition.items()}
        per_compound.append({"compound_id": entry["compound_id"], "formula": entry["formula"],
                             **cold_setup_seconds(composition, phases)})
    setup = {c["compound_id"]: c for c in per_compound}
    methods = {}
    for method in summary["scores"]["methods"]:
        rows = [r for r in summary["scores"]["compounds"]
                if r["method"] == method and r.get("cpu_s") is not None]
        found = sum(r["first_match"] is not None and r["first_match"] <= k for r in rows)
        key = "templates_s" if method in TEMPLATE_METHODS else \
            "groups_s" if method in GROUP_TABLE_METHODS else None
        added = sum(setup[r["compound_id"]][key] for r in rows) if key else 0.0
        cpu = sum(float(r["cpu_s"]) for r in rows)
        methods[method] = {
            "compounds": len(rows), "found_at_k": found, "setup_counted": key,
            "cpu_s_per_match": cpu / found if found else None,
            "cpu_s_per_match_with_setup": (cpu + added) / found if found else None}
        print(f"{method}: {methods[method]['cpu_s_per_match']} -> "
              f"{methods[method]['cpu_s_per_match_with_setup']} CPU s per match@{k}")
    result = {"benchmark": "csp_setup_cpu", "summary": str(args.summary), "k": k,
              "groups_s_total": sum(c["groups_s"] for c in per_compound),
              "templates_s_total": sum(c["templates_s"] for c in per_compound),
              "methods": methods, "per_compound": per_compound}
    if args.out is not None:
        data = stamped(result, stamp(argv))
        args.out.write_text(json.dumps(data, indent=1, allow_nan=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
