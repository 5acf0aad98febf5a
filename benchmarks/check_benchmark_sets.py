"""Check that the shipped benchmark sets follow from the data by the committed rules.

    python benchmarks/check_benchmark_sets.py \
        --known ../shared/data/known_crystals.parquet \
        --out benchmarks/results/benchmark_sets_reproduce.json

Rebuilds the held-out split with the committed ``chggen data build --sources known``
command (``BUILD_ARGUMENTS``; or takes an existing build with ``--split``), runs the set
rules of ``benchmarks/choose_benchmark_set.py`` on its ``test.parquet`` and compares the
chosen ids and formulas with ``CSP_DEFAULT``, ``HOSTS_DEFAULT`` and ``EXTENDED_CSP`` as
shipped. Exit code 1 when a set differs. About two minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from campaign.jobs.benchmark.default_set import CSP_DEFAULT, HOSTS_DEFAULT  # noqa: E402
from campaign.jobs.benchmark.extended_set import EXTENDED_CSP  # noqa: E402

BUILD_ARGUMENTS = ("--sources", "known", "--max-atoms", "20",
                   "--test-formulas", "Li2Si", "Zn3P2", "Li3P", "Li2PS3")


def build_split(known: Path, out: Path) -> list[str]:
    """Run the committed split build into ``out``; the command line run."""
    command = ["chggen", "data", "build", "--known", str(known), *BUILD_ARGUMENTS,
               "--out", str(out)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return command


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def compare(name: str, chosen: tuple, shipped: tuple) -> dict:
    """Ids and formulas of one set, as chosen now and as shipped."""
    now = [(e.structure_id, e.formula) for e in chosen]
    then = [(e.structure_id, e.formula) for e in shipped]
    return {"set": name, "n_shipped": len(then), "n_chosen": len(now),
            "identical": now == then,
            "only_chosen": sorted(set(now) - set(then)),
            "only_shipped": sorted(set(then) - set(now))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--known", type=Path, default=ROOT.parent / "shared" / "data"
                        / "known_crystals.parquet", help="known_crystals.parquet")
    parser.add_argument("--split", type=Path, default=None,
                        help="an existing build (its test.parquet) instead of rebuilding")
    parser.add_argument("--out", type=Path, default=None, help="JSON to write")
    args = parser.parse_args(argv)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        split = args.split
        command = None
        if split is None:
            split = tmp_path / "split"
            command = build_split(args.known, split)
        test = split / "test.parquet"
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "choose_benchmark_set.py"),
                        str(test), "--out", str(tmp_path / "default_set.py"),
                        "--extended-out", str(tmp_path / "extended_set.py")],
                       check=True, stdout=subprocess.DEVNULL)
        default = _load(tmp_path / "default_set.py", "chosen_default_set")
        extended = _load(tmp_path / "extended_set.py", "chosen_extended_set")
        sets = [compare("CSP_DEFAULT", default.CSP_DEFAULT, CSP_DEFAULT),
                compare("HOSTS_DEFAULT", default.HOSTS_DEFAULT, HOSTS_DEFAULT),
                compare("EXTENDED_CSP", extended.EXTENDED_CSP, EXTENDED_CSP)]
        digest = hashlib.sha256(test.read_bytes()).hexdigest()
    result = {"benchmark": "benchmark_sets_reproduce", "build_command": command,
              "split": None if args.split is None else str(args.split),
              "test_parquet_sha256": digest, "sets": sets,
              "all_identical": all(s["identical"] for s in sets),
              "elapsed_s": round(time.monotonic() - t0, 1)}
    for s in sets:
        print(f"{s['set']}: {s['n_chosen']} chosen, {s['n_shipped']} shipped, "
              f"{'identical' if s['identical'] else 'DIFFERENT'}")
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0 if result["all_identical"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
