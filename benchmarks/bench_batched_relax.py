"""Batched vs one-by-one CHGNet relaxation on CPU: structures per second and agreement.

Modes, all on the same generated-like structures (6-14 atoms) with ``RelaxSettings()``
(the campaign's fmax, step limit, filter and optimiser), CHGNet loaded before timing:

* ``one_by_one_1proc``: :class:`Relaxer` in this process, 1 torch thread.
* ``one_by_one_2proc``: 2 worker processes with a :class:`Relaxer` each, 1 thread each,
  structures handed out one at a time (what the campaign's 2 relaxation actors do).
* ``batched_1proc_1thread`` / ``batched_1proc_2threads``: :class:`BatchRelaxer` in this
  process with 1 or 2 torch threads (2 threads: the first ``--n-two-threads`` only).
* ``batched_2proc``: 2 worker processes, each a :class:`BatchRelaxer` on half the list.

Reported per mode: wall time (s), structures per second (wall), CPU seconds per structure
(summed over processes; less sensitive to other jobs on the machine), steps, and the
largest |final energy difference| against ``one_by_one_1proc`` in meV/atom (structures ok
in both; converged in both, and all). Usage::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/bench_batched_relax.py \\
        --n 20 --output benchmarks/results/batched_relax.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pymatgen.core import Lattice, Structure

from chggen_kernels import testing

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stamp import stamp  # noqa: E402

#: Compositions of the random ("generated-like") cells, species listed per site.
RANDOM_CELLS = (
    ["Li"] * 5 + ["Si"] * 2,
    ["Li"] * 4 + ["Si"] * 4,
    ["Li"] * 8 + ["Si"] * 4,
    ["Li"] * 7 + ["Si"] * 3,
    ["Li"] * 8 + ["Si"] * 2,
    ["Li"] * 2 + ["Si"] * 4,
    ["Zn"] * 3 + ["P"] + ["S"] * 4,
    ["Zn"] * 2 + ["P"] * 2 + ["S"] * 6,
    ["Li"] * 3 + ["P"] + ["S"] * 4,
    ["Zn"] * 3 + ["S"] * 3,
)


def _antifluorite(a: float, cation: str, anion: str) -> Structure:
    """Antifluorite A2X (Fm-3m), conventional cell of 12 atoms; a in Å."""
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), [anion, cation],
                                     [[0, 0, 0], [0.25, 0.25, 0.25]])


def prototypes() -> list[Structure]:
    """Known prototypes of 8-12 atoms in the Li-Si and Zn-P-S systems (ideal positions)."""
    cscl = Structure(Lattice.cubic(3.0), ["Li", "Si"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    return [
        testing.diamond(5.43),
        testing.diamond(5.41, ("Zn", "S")),
        testing.rock_salt(5.1, ("Zn", "S")),
        _antifluorite(5.70, "Li", "S"),
        testing.wurtzite(3.82, 6.26, 0.375, ("Zn", "S")) * (2, 1, 1),
        testing.bcc(3.44, "Li") * (2, 2, 1),
        cscl * (2, 2, 1),
        testing.wurtzite(3.9, 6.3, 0.375, ("Li", "Si")) * (1, 1, 2),
        _antifluorite(6.0, "Li", "Si"),
        testing.rock_salt(5.2, ("Li", "P")),
    ]


def _rattled(structure: Structure, rng: np.random.Generator) -> Structure:
    """Volume x U(0.92, 1.12), every atom moved 0.1 Å in a random direction."""
    s = structure.copy()
    s.scale_lattice(s.volume * rng.uniform(0.92, 1.12))
    step = rng.normal(size=(len(s), 3))
    step *= 0.1 / np.linalg.norm(step, axis=1, keepdims=True)
    return Structure(s.lattice, s.species, s.cart_coords + step, coords_are_cartesian=True)


def _random_cell(species: list[str], rng: np.random.Generator, min_d: float = 2.0) -> Structure:
    """A random triclinic cell (17 Å^3/atom), atoms placed one at a time at random
    positions no closer than ``min_d`` Å to those already placed (any periodic image)."""
    lattice = testing.random_triclinic(rng, len(species), species, volume_per_atom=17.0).lattice
    for _ in range(100):
        placed = Structure(lattice, [], [])
        for name in species:
            for _ in range(2000):
                frac = rng.uniform(size=3)
                if not placed or min(placed.lattice.get_all_distances(
                        [frac], placed.frac_coords)[0]) >= min_d:
                    placed.append(name, frac)
                    break
        if len(placed) == len(species):
            return placed
    raise RuntimeError(f"no random cell of {species} without pairs below {min_d} Å")


def benchmark_structures(n: int, seed: int = 0) -> list[Structure]:
    """``n`` generated-like structures: rattled prototypes and random cells, alternating."""
    rng = np.random.default_rng(seed)
    protos = prototypes()
    out: list[Structure] = []
    for i in range(n):
        if i % 2 == 0:
            out.append(_rattled(protos[(i // 2) % len(protos)], rng))
        else:
            out.append(_random_cell(list(RANDOM_CELLS[(i // 2) % len(RANDOM_CELLS)]), rng))
    return out


# ---------------------------------------------------------------------- workers
_WORKER: dict[str, Any] = {}


def _init_worker(batched: bool, ready: Any) -> None:
    import torch

    from chggen_kernels.relax import BatchRelaxer, Relaxer, RelaxSettings

    torch.set_num_threads(1)
    settings = RelaxSettings(n_threads=1)
    _WORKER["relaxer"] = BatchRelaxer(settings) if batched else Relaxer(settings)
    ready.wait()  # both workers and the parent: CHGNet is loaded everywhere


def _work(structures: list[Structure]) -> tuple[list[dict[str, Any]], float]:
    cpu = time.process_time()
    results = _WORKER["relaxer"].relax_many(structures)
    return [_summary(r) for r in results], time.process_time() - cpu


def _summary(result: Any) -> dict[str, Any]:
    return {"status": result.status, "failure_reason": result.failure_reason,
            "energy": result.energy_relaxed_per_atom, "n_steps": result.n_steps,
            "converged": result.converged, "n_atoms": result.n_atoms}


# ---------------------------------------------------------------------- modes
def run_in_process(relaxer: Any, structures: Sequence[Structure], threads: int
                   ) -> tuple[list[dict[str, Any]], float, float]:
    """(summaries, wall s, CPU s) of ``relaxer.relax_many`` with ``threads`` torch threads."""
    import dataclasses

    relaxer.settings = dataclasses.replace(relaxer.settings, n_threads=threads)
    t0, c0 = time.perf_counter(), time.process_time()
    results = relaxer.relax_many(structures)
    return [_summary(r) for r in results], time.perf_counter() - t0, time.process_time() - c0


def run_two_processes(structures: Sequence[Structure], batched: bool
                      ) -> tuple[list[dict[str, Any]], float, float]:
    """Two worker processes: one structure per task (one by one) or half each (batched)."""
    ctx = mp.get_context("spawn")
    ready = ctx.Barrier(3)
    with ctx.Pool(2, initializer=_init_worker, initargs=(batched, ready)) as pool:
        ready.wait()
        chunks = ([list(structures[0::2]), list(structures[1::2])] if batched
                  else [[s] for s in structures])
        t0 = time.perf_counter()
        outputs = pool.map(_work, chunks, chunksize=1)
        wall = time.perf_counter() - t0
    cpu = sum(c for _, c in outputs)
    if batched:
        even, odd = outputs[0][0], outputs[1][0]
        summaries = [even[i // 2] if i % 2 == 0 else odd[i // 2] for i in range(len(structures))]
    else:
        summaries = [out[0][0] for out in outputs]
    return summaries, wall, cpu


def agreement(reference: list[dict[str, Any]], other: list[dict[str, Any]]) -> dict[str, Any]:
    """Largest |ΔE_final| in meV/atom over structures ok in both (and converged in both)."""
    both = [(a, b) for a, b in zip(reference, other, strict=True)
            if a["status"] == b["status"] == "ok"]
    conv = [(a, b) for a, b in both if a["converged"] and b["converged"]]

    def worst(pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> float | None:
        return max((abs(a["energy"] - b["energy"]) * 1000 for a, b in pairs), default=None)

    return {"n_ok_both": len(both), "n_converged_both": len(conv),
            "max_abs_dE_meV_per_atom_converged": worst(conv),
            "max_abs_dE_meV_per_atom_all_ok": worst(both),
            "status_mismatches": sum(a["status"] != b["status"]
                                     for a, b in zip(reference, other, strict=True)),
            "failure_reasons_equal": all(a["failure_reason"] == b["failure_reason"]
                                         for a, b in zip(reference, other, strict=True))}


def _row(name: str, summaries: list[dict[str, Any]], wall: float, cpu: float,
         extra: dict[str, Any] | None = None) -> dict[str, Any]:
    n = len(summaries)
    return {"mode": name, "n_structures": n, "wall_s": round(wall, 2),
            "structures_per_s": round(n / wall, 4), "cpu_s": round(cpu, 2),
            "cpu_s_per_structure": round(cpu / n, 3),
            "n_ok": sum(s["status"] == "ok" for s in summaries),
            "n_converged": sum(bool(s["converged"]) for s in summaries),
            "total_steps": sum(int(s["n_steps"]) for s in summaries),
            "load_avg_1min_after": round(os.getloadavg()[0], 2), **(extra or {})}


def _run_round(modes: dict[str, Callable[[], tuple[list[dict[str, Any]], float, float]]],
               names: list[str], batch: Any, round_index: int) -> list[dict[str, Any]]:
    """Run the named modes once, in this order; rows with agreement vs one by one."""
    rows, summaries = [], {}
    for name in names:
        print(f"round {round_index}: {name} ...", flush=True)
        forwards = batch.n_forwards
        summaries[name], wall, cpu = modes[name]()
        extra = {"round": round_index}
        if name.startswith("batched_1proc"):
            extra["batched_forwards"] = batch.n_forwards - forwards
        rows.append(_row(name, summaries[name], wall, cpu, extra))
        print(f"  {rows[-1]}", flush=True)
    for row in rows:
        other = summaries[row["mode"]]
        row["agreement_vs_one_by_one_1proc"] = agreement(
            summaries["one_by_one_1proc"][: len(other)], other)
    return rows


def _summary_table(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per mode over rounds: best and median structures/s (wall), median CPU s/structure."""
    out = []
    for name in dict.fromkeys(r["mode"] for r in rows):
        mine = [r for r in rows if r["mode"] == name]
        rates = [r["structures_per_s"] for r in mine]
        out.append({"mode": name, "n_structures": mine[0]["n_structures"],
                    "rounds": len(mine), "structures_per_s_best": max(rates),
                    "structures_per_s_median": float(np.median(rates)),
                    "cpu_s_per_structure_median": float(np.median(
                        [r["cpu_s_per_structure"] for r in mine])),
                    "max_abs_dE_meV_per_atom": max(
                        (r["agreement_vs_one_by_one_1proc"]["max_abs_dE_meV_per_atom_all_ok"]
                         or 0.0) for r in mine)})
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=20, help="structures (default 20)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--modes", nargs="*", default=None, help="subset of the modes")
    parser.add_argument("--n-two-threads", type=int, default=4,
                        help="structures for batched_1proc_2threads, the first ones of the "
                             "list (2 threads on a shared 2-core machine are ~10x slower)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="rounds over all modes, the order reversed every other round "
                             "(other jobs on a shared machine change the load; default 2)")
    parser.add_argument("--output", type=Path, default=None, help="JSON results file")
    args = parser.parse_args(argv)

    import torch

    from chggen_kernels.relax import BatchRelaxer, Relaxer, RelaxSettings

    structures = benchmark_structures(args.n, args.seed)
    settings = RelaxSettings()
    one = Relaxer(settings)
    batch = BatchRelaxer(settings, model=one.calculator.model)
    modes: dict[str, Callable[[], tuple[list[dict[str, Any]], float, float]]] = {
        "one_by_one_1proc": lambda: run_in_process(one, structures, 1),
        "batched_1proc_1thread": lambda: run_in_process(batch, structures, 1),
        "one_by_one_2proc": lambda: run_two_processes(structures, batched=False),
        "batched_1proc_2threads": lambda: run_in_process(
            batch, structures[: args.n_two_threads], 2),
        "batched_2proc": lambda: run_two_processes(structures, batched=True),
    }
    rows = []
    for round_index in range(args.rounds):
        names = [n for n in modes if not args.modes or n in args.modes
                 or n == "one_by_one_1proc"]
        rows += _run_round(modes, names[::-1] if round_index % 2 else names, batch,
                           round_index)
    report = {
        "stamp": stamp(argv, __file__),
        "what": "CHGNet relaxation throughput on CPU: one by one (1 and 2 processes) vs "
                "BatchRelaxer (one batched forward per FIRE step)",
        "settings": settings.to_dict(), "max_batch_atoms": batch.max_batch_atoms,
        "structures": {"n": len(structures), "seed": args.seed,
                       "atoms": [len(s) for s in structures],
                       "formulas": [s.composition.reduced_formula for s in structures]},
        "torch": torch.__version__,
        "modes": rows,
        "summary": _summary_table(rows),
    }
    text = json.dumps(report, indent=2)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
