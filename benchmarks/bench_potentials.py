"""CHGNet against SevenNet (or any two potentials) side by side, on CPU.

    python benchmarks/bench_potentials.py --known-build /tmp/known_build \\
        [--potentials chgnet sevennet] [--n-relax 60] [--csp] [--csp-k 20] \\
        [--csp-methods random inpaint-symmetric] [--work runs/bench_potentials] \\
        [--json benchmarks/results/potentials.json]
    python benchmarks/bench_potentials.py --known-build /tmp/known_build --smoke --csp

(a) Relaxation of held-out known crystals from their DFT structures: ``--n-relax``
crystals (at least 50 for the full run) of the test split of ``--known-build`` (the
committed data-build command below; the folder is built when it holds no ``test.parquet``),
drawn with a fixed seed, each relaxed by every potential with the run's relaxation
settings (``RelaxSettings()``: FIRE + FrechetCellFilter, fmax 0.1 eV/Å, 500 steps, one
torch thread). Per crystal and potential: E_relaxed (eV/atom), the volume error against
the DFT cell (%), the RMSD from the DFT structure (Å), optimiser steps and the CPU seconds
of the relaxation (``time.process_time``; the potential is loaded and warmed up before, not
counted). Per pair: E_relaxed(second) - E_relaxed(first). Both SevenNet-0 and CHGNet are
trained on MPtrj, so their energies are on about the same scale, but E_d never mixes
them (docs/potentials.md).

(b) With ``--csp``: the CSP benchmark's default set (``chggen benchmark csp``, the shipped
set) with ``--csp-methods`` (random search and the best chggen mode) and ``--mlip`` per
potential, each in its own folder under ``--work`` (resumable: rerun the same command to
go on; part (a) resumes too, from ``relax.jsonl``). match@k, found-as-lowest, E_best -
E_known (the known crystal relaxed with the same potential) and CPU per compound.

The known-crystal build (the committed data-build command, as for the shipped model's test
split; ``test.parquet`` is the held-out split)::

    chggen data build --sources known --known /work/shared/data/known_crystals.parquet \\
        --out DIR --max-atoms 20 --test-formulas Li2Si Zn3P2 Li3P Li2PS3

Writes ``--json`` stamped (``benchmarks/stamp.py``: commit, command, machine, date, load)
with a markdown table under ``"table"``.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from stamp import stamp  # noqa: E402

KNOWN = "/work/shared/data/known_crystals.parquet"
BUILD = ["chggen", "data", "build", "--sources", "known", "--known", KNOWN, "--max-atoms",
         "20", "--test-formulas", "Li2Si", "Zn3P2", "Li3P", "Li2PS3"]
SEED = 0


# ------------------------------------------------------------------ (a) relaxation
def test_split(build: Path) -> Path:
    """``build/test.parquet``, building the folder first when it has none."""
    path = build / "test.parquet"
    if not path.is_file():
        print(f"building the known-crystal split into {build}", file=sys.stderr, flush=True)
        subprocess.run([*BUILD, "--out", str(build)], check=True)
    return path


def held_out(path: Path, n: int, max_atoms: int) -> list[Any]:
    """``n`` crystals of the test split (at most ``max_atoms`` atoms), drawn with a fixed
    seed from the crystals sorted by id, so that every run takes the same ones."""
    from chggen_kernels.training.parquet import read_training_parquet

    crystals = [c for _, _, c in read_training_parquet(path)
                if not isinstance(c, Exception) and len(c.structure) <= max_atoms]
    crystals.sort(key=lambda c: c.structure_id)
    random.Random(SEED).shuffle(crystals)
    return crystals[:n]


def _warm(relaxer: Any) -> None:
    from pymatgen.core import Lattice, Structure

    relaxer.relax(Structure(Lattice.cubic(4.05), ["Al"] * 4,
                            [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]))


def relax_all(potentials: list[str], crystals: list[Any], log_path: Path, fmax: float,
              max_steps: int) -> list[dict[str, Any]]:
    """One row per crystal and potential, read from ``log_path`` when done before (the
    JSON-lines log makes the run resumable), else relaxed now and appended."""
    from chggen_kernels.relax import Relaxer, RelaxSettings

    done: dict[tuple[str, str], dict[str, Any]] = {}
    if log_path.is_file():
        for line in log_path.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                done[(row["mlip"], row["structure_id"])] = row
    rows = []
    log_path.parent.mkdir(parents=True, exist_ok=True)
    for mlip in potentials:
        todo = [c for c in crystals if (mlip, c.structure_id) not in done]
        relaxer = None
        if todo:
            t0 = time.perf_counter()
            relaxer = Relaxer(RelaxSettings(mlip=mlip, fmax=fmax, max_steps=max_steps))
            _warm(relaxer)
            print(f"{mlip}: loaded in {time.perf_counter() - t0:.1f} s; relaxing "
                  f"{len(todo)} crystals", file=sys.stderr, flush=True)
        for k, crystal in enumerate(crystals, 1):
            key = (mlip, crystal.structure_id)
            if key not in done:
                structure = crystal.structure
                cpu0, wall0 = time.process_time(), time.perf_counter()
                result = relaxer.relax(structure)  # type: ignore[union-attr]
                cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
                v_dft = float(structure.volume)
                row = {
                    "mlip": mlip, "structure_id": crystal.structure_id,
                    "formula": structure.composition.reduced_formula,
                    "n_atoms": len(structure), "status": result.status,
                    "failure_reason": result.failure_reason,
                    "energy_initial_per_atom": result.energy_initial_per_atom,
                    "energy_relaxed_per_atom": result.energy_relaxed_per_atom,
                    "volume_dft": v_dft, "volume_relaxed": result.volume_relaxed,
                    "volume_error_pct": None if result.volume_relaxed is None else
                    100.0 * (result.volume_relaxed - v_dft) / v_dft,
                    "rmsd_from_dft": result.rmsd, "steps": result.n_steps,
                    "converged": result.converged, "cpu_s": cpu, "wall_s": wall}
                with log_path.open("a") as handle:
                    handle.write(json.dumps(row) + "\n")
                done[key] = row
                print(f"{mlip} {k}/{len(crystals)} {row['formula']} ({row['n_atoms']} atoms): "
                      f"{row['status']}, {row['steps']} steps, {cpu:.2f} CPU s",
                      file=sys.stderr, flush=True)
            rows.append(done[key])
    return rows


def _stats(values: list[float]) -> dict[str, Any]:
    xs = [x for x in values if x is not None and math.isfinite(x)]
    if not xs:
        return {"n": 0}
    return {"n": len(xs), "mean": statistics.fmean(xs), "median": statistics.median(xs),
            "min": min(xs), "max": max(xs)}


def summarise_relax(potentials: list[str], rows: list[dict[str, Any]]) -> dict[str, Any]:
    by = {(r["mlip"], r["structure_id"]): r for r in rows}
    ids = sorted({r["structure_id"] for r in rows})
    out: dict[str, Any] = {"n_crystals": len(ids), "per_potential": {}, "pairs": {}}
    for mlip in potentials:
        mine = [by[(mlip, i)] for i in ids if (mlip, i) in by]
        ok = [r for r in mine if r["status"] == "ok"]
        out["per_potential"][mlip] = {
            "n": len(mine), "n_ok": len(ok),
            "failures": sorted({str(r["failure_reason"]).split(":")[0]
                                for r in mine if r["status"] != "ok"}),
            "cpu_s_per_structure": _stats([r["cpu_s"] for r in mine]),
            "wall_s_per_structure": _stats([r["wall_s"] for r in mine]),
            "steps": _stats([r["steps"] for r in ok]),
            "abs_volume_error_pct": _stats([abs(r["volume_error_pct"]) for r in ok]),
            "volume_error_pct": _stats([r["volume_error_pct"] for r in ok]),
            "rmsd_from_dft_A": _stats([r["rmsd_from_dft"] for r in ok]),
            "converged": sum(bool(r["converged"]) for r in ok)}
    for a, b in zip(potentials, potentials[1:], strict=False):
        both = [(by[(a, i)], by[(b, i)]) for i in ids
                if (a, i) in by and (b, i) in by and by[(a, i)]["status"] == "ok"
                and by[(b, i)]["status"] == "ok"]
        out["pairs"][f"{b} - {a}"] = {
            "n": len(both),
            "energy_relaxed_diff_eV_per_atom": _stats(
                [rb["energy_relaxed_per_atom"] - ra["energy_relaxed_per_atom"]
                 for ra, rb in both]),
            "abs_energy_relaxed_diff_eV_per_atom": _stats(
                [abs(rb["energy_relaxed_per_atom"] - ra["energy_relaxed_per_atom"])
                 for ra, rb in both]),
            "cpu_ratio_median": _ratio([rb["cpu_s"] for _, rb in both],
                                       [ra["cpu_s"] for ra, _ in both])}
    return out


def _ratio(top: list[float], bottom: list[float]) -> float | None:
    if not top or not bottom or not statistics.median(bottom):
        return None
    return statistics.median(top) / statistics.median(bottom)


# ------------------------------------------------------------------ (b) CSP
def run_csp(potentials: list[str], work: Path, k: int, methods: list[str],
            limit: int | None, threads: int) -> dict[str, Any]:
    """``chggen benchmark csp`` (the shipped default set) per potential, resumable."""
    out: dict[str, Any] = {}
    for mlip in potentials:
        folder = work / f"csp_{mlip.replace(':', '.')}"
        argv = [sys.executable, "-m", "campaign.cli", "benchmark", "csp", "--k", str(k),
                "--methods", *methods, "--mlip", mlip, "--out", str(folder),
                "--threads", str(threads)]
        if limit is not None:
            argv += ["--limit", str(limit)]
        print(" ".join(argv[2:]), file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        done = subprocess.run(argv, cwd=ROOT, stdout=subprocess.DEVNULL)
        summary = json.loads((folder / "summary.json").read_text())
        methods_out = {}
        for method, m in summary["scores"]["methods"].items():
            methods_out[method] = {
                "n_compounds": m["n_compounds"], "n_candidates": m["n_candidates"],
                "n_ok": m["n_ok"], "match_at_k": m["match_at_k_max"],
                "found_as_lowest": m["found_as_lowest"],
                "best_minus_reference_eV_per_atom": m["best_minus_reference"],
                "cpu": m["cpu"]}
        out[mlip] = {"command": " ".join(["chggen", *argv[4:]]), "exit_code": done.returncode,
                     "wall_s_this_run": time.perf_counter() - t0, "folder": str(folder),
                     "k": k, "methods": methods_out, "run": summary.get("run")}
    return out


# ------------------------------------------------------------------ table
def _f(x: Any, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def table(relax: dict[str, Any], csp: dict[str, Any] | None) -> str:
    lines = ["| potential | crystals ok | CPU s / structure (median) | steps (median) | "
             "abs volume error vs DFT, % (median / mean) | RMSD from DFT, Å (median) |",
             "|---|---|---|---|---|---|"]
    for mlip, s in relax["per_potential"].items():
        lines.append(
            f"| {mlip} | {s['n_ok']}/{s['n']} | {_f(s['cpu_s_per_structure'].get('median'), 2)}"
            f" | {_f(s['steps'].get('median'), 0)} | "
            f"{_f(s['abs_volume_error_pct'].get('median'), 2)} / "
            f"{_f(s['abs_volume_error_pct'].get('mean'), 2)} | "
            f"{_f(s['rmsd_from_dft_A'].get('median'), 3)} |")
    for pair, p in relax["pairs"].items():
        e = p["energy_relaxed_diff_eV_per_atom"]
        lines.append(f"\nE_relaxed({pair}) over {p['n']} crystals: median {_f(e.get('median'))}"
                     f", mean {_f(e.get('mean'))} eV/atom; median |difference| "
                     f"{_f(p['abs_energy_relaxed_diff_eV_per_atom'].get('median'))} eV/atom; "
                     f"CPU ratio (median) {_f(p['cpu_ratio_median'], 2)}")
    if csp:
        lines += ["", "| potential | method | compounds | match@k | found-as-lowest | "
                  "median E_best - E_known (eV/atom) | CPU s / compound |",
                  "|---|---|---|---|---|---|---|"]
        for mlip, c in csp.items():
            for method, m in c["methods"].items():
                match, low = m["match_at_k"], m["found_as_lowest"]
                lines.append(
                    f"| {mlip} | {method} | {m['n_compounds']} | {match['k']}: "
                    f"{match['hits']}/{match['n']} | {low['hits']}/{low['n']} | "
                    f"{_f(m['best_minus_reference_eV_per_atom'].get('median'))} | "
                    f"{_f(m['cpu'].get('cpu_s_per_compound'), 0)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--known-build", type=Path, required=True,
                   help="the data-build folder of the known crystals (built if it holds no "
                   "test.parquet)")
    p.add_argument("--potentials", nargs="+", default=["chgnet", "sevennet"])
    p.add_argument("--n-relax", type=int, default=60, help="held-out crystals to relax")
    p.add_argument("--max-atoms", type=int, default=20)
    p.add_argument("--fmax", type=float, default=None, help="eV/Å (default RelaxSettings')")
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--csp", action="store_true", help="also the CSP benchmark's default set")
    p.add_argument("--csp-k", type=int, default=20)
    p.add_argument("--csp-methods", nargs="+", default=["random", "inpaint-symmetric"])
    p.add_argument("--csp-limit", type=int, default=None, help="first N compounds only")
    p.add_argument("--threads", type=int, default=1, help="torch threads of the CSP runs")
    p.add_argument("--smoke", action="store_true",
                   help="3 crystals; CSP on 1 compound with k = 2 (proves the script runs)")
    p.add_argument("--work", type=Path, default=ROOT / "runs" / "bench_potentials",
                   help="resumable state: relax.jsonl and the CSP folders (default "
                   "runs/bench_potentials, not tracked)")
    p.add_argument("--json", type=Path, default=None,
                   help="default benchmarks/results/potentials.json "
                   "(potentials_smoke.json with --smoke)")
    args = p.parse_args(argv)
    from chggen_kernels.relax import RelaxSettings

    if args.smoke:
        args.n_relax, args.csp_k = min(args.n_relax, 3), min(args.csp_k, 2)
        args.csp_limit = 1 if args.csp_limit is None else args.csp_limit
        args.work = args.work.with_name(args.work.name + "_smoke")
    fmax = RelaxSettings.fmax if args.fmax is None else args.fmax
    steps = RelaxSettings.max_steps if args.max_steps is None else args.max_steps
    t0 = time.perf_counter()
    crystals = held_out(test_split(args.known_build), args.n_relax, args.max_atoms)
    rows = relax_all(args.potentials, crystals, args.work / "relax.jsonl", fmax, steps)
    relax = summarise_relax(args.potentials, rows)
    csp = None
    if args.csp:
        csp = run_csp(args.potentials, args.work, args.csp_k, args.csp_methods,
                      args.csp_limit, args.threads)
    from chggen_kernels.relax.potentials import resolve_potential

    result = {
        "stamp": stamp(argv, script=__file__),
        "what": "CHGNet vs SevenNet (potentials side by side): relaxation of held-out known "
                "crystals from their DFT structures, and the CSP default set",
        "smoke": args.smoke,
        "potentials": {m: resolve_potential(m).record() | {
            "description": resolve_potential(m).description} for m in args.potentials},
        "settings": {"fmax": fmax, "max_steps": steps, "n_threads": 1,
                     "known_build": str(args.known_build), "data_build_command":
                     " ".join([*BUILD, "--out", str(args.known_build)]),
                     "n_relax": args.n_relax, "max_atoms": args.max_atoms, "seed": SEED},
        "relaxation": relax,
        "crystals": rows,
        "csp": csp,
        "wall_s": time.perf_counter() - t0,
    }
    result["table"] = table(relax, csp)
    path = args.json or ROOT / "benchmarks" / "results" / (
        "potentials_smoke.json" if args.smoke else "potentials.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(result["table"])
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
