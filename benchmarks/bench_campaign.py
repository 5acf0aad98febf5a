"""Campaign benchmarks: Ray pipeline vs a sequential loop, relaxation scaling, driver memory.

1. ``throughput``: the same small Li-Si campaign (the 12 cells of 4-6 atoms, one
   unconditional candidate each, ``--candidates`` rounded up to a multiple of 12) run
   (a) by a plain loop in one process (load the model, CHGNet and the hull, generate
   everything in batches, relax one candidate after the other with torch using
   ``--sequential-threads`` threads, write one Parquet file per task) and (b) by the Ray pipeline
   (1 sampler actor, ``--workers`` relaxation actors of 1 CPU each). Ratio =
   sequential wall time / Ray wall time, model loading included on both sides, Ray's own
   start (``ray.init``) excluded; ``throughput_ratio_after_loading`` leaves model loading
   out on both sides (the steady state of a long campaign). Target >= 1.7 on 2 cores.
2. ``scaling``: the relaxation stage alone: the same pre-generated candidates relaxed by
   1 and by 2 relaxation actors (already started). Ratio = t(1) / t(2); target >= 1.8.
3. ``memory``: driver peak RSS for campaigns of ``--memory-sizes`` candidates (fake
   runner from tests/: no model, instant relaxation; each size in a fresh process). The driver keeps
   at most ``max_candidates_in_flight`` candidates, so the peak must not grow with size.

Every relaxation runs exactly ``--relax-steps`` FIRE steps (fmax 1e-4 eV/Å is never
reached), so that candidates cost the same and ratios measure parallelism, not luck.
The score model is ``--checkpoint`` (default: an untrained 5k-parameter model written on
the fly; only timing matters here) with ``--levels`` noise levels and 1 corrector step.

    taskset -c 0,1 python benchmarks/bench_campaign.py            # all three, 2 cores
    python benchmarks/bench_campaign.py --which memory --memory-sizes 250 1000 4000

Writes JSON to ``--output`` (default benchmarks/results/campaign.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from stamp import stamp, stamped  # noqa: E402


def _machine() -> dict[str, Any]:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "python": platform.python_version(),
        "cpus_available": cpus,
        "load_average_1min": os.getloadavg()[0],
    }


def _campaign(args: argparse.Namespace, output: Path, checkpoint: str, workers: int):
    from campaign.config.model import validate_config

    return validate_config(
        {
            "name": "bench",
            "compositions": {"chemical_systems": ["Li-Si"]},
            "atoms_per_cell": {"min": 4, "max": 6},
            "samples_per_task": 1,
            "seed_blocks": max(1, -(-args.candidates // 12)),  # 12 cells with 4-6 atoms
            "sampler": {"n_levels": args.levels, "n_corrector_steps": 1},
            "relax": {"fmax": 1e-4, "max_steps": args.relax_steps},
            "model": {"checkpoint": checkpoint},
            "output": str(output),
            "resources": {"relax_actors": workers, "cpus_per_relax_actor": 1},
        }
    )


def _specs(config) -> list:
    from campaign.jobs.tasks import task_specs, unconditional_tasks
    from campaign.stages.resources import checkpoint_volume_prior

    prior = checkpoint_volume_prior(config.model.checkpoint)
    return [s for t in unconditional_tasks(config)
            for s in task_specs(t, config.seed, prior.volume_per_atom(t.composition))]


def sequential_campaign(config, specs: list, threads: int) -> dict[str, Any]:
    """Generate, then relax one by one, in this process (the baseline)."""
    import torch

    from campaign.distributed.workers import runner_settings
    from campaign.engine.store import ResultStore
    from campaign.stages.runner import build_runner

    torch.set_num_threads(threads)
    started = time.perf_counter()
    runner = build_runner(runner_settings(config, threads))
    runner.load()
    loaded = time.perf_counter()
    generated = []
    batch: list = []
    for spec in specs + [None]:
        if spec is None or sum(s.n_atoms for s in batch) + spec.n_atoms > 512:
            generated += runner.generate(batch) if batch else []
            batch = []
        if spec is not None:
            batch.append(spec)
    store = ResultStore(config.output)
    records = [runner.relax_and_score(candidate) for candidate in generated]
    for record in records:
        store.write_task(record.task_id, [record])
    end = time.perf_counter()
    rows = [r.to_dict() for r in records]
    return {"wall_s": end - started, "work_s": end - loaded, "records": rows}


def bench_throughput(args: argparse.Namespace, checkpoint: str, work: Path) -> dict[str, Any]:
    import ray

    from campaign.distributed.driver import run_campaign
    from campaign.engine.ray_toolkit import init_ray
    from campaign.engine.store import read_results

    seq_config = _campaign(args, work / "sequential", checkpoint, args.workers)
    specs = _specs(seq_config)
    sequential = sequential_campaign(seq_config, specs, threads=args.sequential_threads)
    ray_config = _campaign(args, work / "ray", checkpoint, args.workers)  # same tasks
    init_ray("local", num_cpus=args.workers)  # chggen run's Ray: 127.0.0.1 only
    try:
        started = time.perf_counter()
        summary = run_campaign(ray_config, progress=False)
        ray_wall = time.perf_counter() - started
    finally:
        ray.shutdown()
    table = read_results(ray_config.output)
    seq = {r["candidate_id"]: r for r in sequential["records"]}
    same = [
        abs(row.e_d - seq[row.candidate_id]["e_d"]) < 1e-3
        for row in table.itertuples()
        if row.candidate_id in seq and row.e_d == row.e_d and seq[row.candidate_id]["e_d"]
    ]
    n_ray = summary.candidates_written
    n_seq = len(sequential["records"])
    ray_work = ray_wall - summary.actor_start_s
    return {
        "sequential_torch_threads": args.sequential_threads,
        "candidates_sequential": len(sequential["records"]),
        "candidates_ray": n_ray,
        "sequential_wall_s": round(sequential["wall_s"], 2),
        "ray_wall_s": round(ray_wall, 2),
        "sequential_candidates_per_min": round(60 * len(specs) / sequential["wall_s"], 2),
        "ray_candidates_per_min": round(60 * n_ray / ray_wall, 2),
        "throughput_ratio": round((n_ray / ray_wall) / (n_seq / sequential["wall_s"]), 3),
        "sequential_model_loading_s": round(sequential["wall_s"] - sequential["work_s"], 2),
        "ray_actor_start_s": round(summary.actor_start_s, 2),
        "throughput_ratio_after_loading": round(
            (n_ray / ray_work) / (n_seq / sequential["work_s"]), 3
        ),
        "target": 1.7,
        "e_d_agreeing_within_1meV": f"{sum(same)}/{len(same)}",
    }


def bench_scaling(args: argparse.Namespace, checkpoint: str, work: Path) -> dict[str, Any]:
    import ray

    from campaign.distributed.workers import RelaxWorker, SamplerWorker, runner_settings
    from campaign.engine.ray_toolkit import init_ray
    from campaign.stages.runner import build_runner

    config = _campaign(args, work / "scaling", checkpoint, 2)
    specs = _specs(config)
    sampler = SamplerWorker(build_runner, runner_settings(config), 2, False)
    candidates = sampler.runner.generate(specs)
    init_ray("local", num_cpus=2)
    try:
        refs = [ray.put(c) for c in candidates]
        times = {}
        for n_actors in (1, 2):
            actors = [
                ray.remote(RelaxWorker).options(num_cpus=1).remote(
                    build_runner, runner_settings(config, 1), 1)
                for _ in range(n_actors)
            ]
            ray.get([a.ready.remote() for a in actors])
            started = time.perf_counter()
            load = [0] * n_actors
            pending: dict[Any, int] = {}
            queue = list(refs)
            while queue or pending:
                while queue and min(load) < 2:
                    i = load.index(min(load))
                    pending[actors[i].relax.remote(queue.pop(0))] = i
                    load[i] += 1
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    load[pending.pop(ref)] -= 1
                    ray.get(ref)
            times[n_actors] = time.perf_counter() - started
            for a in actors:
                ray.kill(a)
    finally:
        ray.shutdown()
    return {
        "candidates": len(candidates),
        "relax_steps_each": args.relax_steps,
        "wall_s_1_actor": round(times[1], 2),
        "wall_s_2_actors": round(times[2], 2),
        "scaling_ratio": round(times[1] / times[2], 3),
        "target": 1.8,
    }


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def memory_child(n_candidates: int, output: str) -> dict[str, Any]:
    """One campaign of ``n_candidates`` fake candidates; peak and sampled driver RSS."""
    import ray

    from campaign.config.model import validate_config
    from campaign.distributed.driver import run_campaign
    from campaign.engine.ray_toolkit import init_ray
    from tests.campaign.fake_runner import FakeRunnerFactory, register_by_value

    samples: list[float] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            samples.append(_rss_mb())
            stop.wait(0.25)

    config = validate_config(
        {
            "compositions": {"chemical_systems": ["Li-Si"]},
            "atoms_per_cell": {"min": 4, "max": 6},  # 12 cells
            "samples_per_task": 10,
            "seed_blocks": max(1, n_candidates // 120),
            "output": output,
            "volume_per_atom": 20.0,
            "resources": {"relax_actors": 2, "max_candidates_in_flight": 64},
        }
    )
    init_ray("local", num_cpus=2)
    register_by_value()
    rss_after_init = _rss_mb()
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    started = time.perf_counter()
    summary = run_campaign(config, progress=False, runner_factory=FakeRunnerFactory())
    elapsed = time.perf_counter() - started
    stop.set()
    watcher.join()
    ray.shutdown()
    quarter = max(1, len(samples) // 4)
    return {
        "candidates": summary.candidates_written,
        "wall_s": round(elapsed, 1),
        "rss_mb_after_ray_init": round(rss_after_init, 1),
        "rss_mb_first_quarter_max": round(max(samples[:quarter]), 1),
        "rss_mb_last_quarter_max": round(max(samples[-quarter:]), 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_candidates_in_flight": summary.peak_in_flight,
    }


def bench_memory(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    runs = []
    for size in args.memory_sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--memory-child", str(size), str(work / f"mem{size}")],
            capture_output=True, text=True, check=True, cwd=ROOT,
        )  # fmt: skip
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    peaks = [r["peak_rss_mb"] for r in runs]
    return {
        "runner": "tests.campaign.fake_runner.FakeRunnerFactory",
        "runs": runs,
        "peak_rss_growth_mb_smallest_to_largest": round(peaks[-1] - peaks[0], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--which", nargs="+", default=["throughput", "scaling", "memory"])
    parser.add_argument("--candidates", type=int, default=12)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--sequential-threads", type=int, default=2,
        help="torch threads of the sequential loop (default 2: every core of a 2-core box)",
    )  # fmt: skip
    parser.add_argument("--levels", type=int, default=20)
    parser.add_argument("--relax-steps", type=int, default=40)
    parser.add_argument("--checkpoint", default="", help="score model (default: untrained)")
    parser.add_argument("--memory-sizes", type=int, nargs="+", default=[250, 1000])
    parser.add_argument("--output", default=str(ROOT / "benchmarks/results/campaign.json"))
    parser.add_argument("--memory-child", nargs=2, metavar=("N", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        print(json.dumps(memory_child(int(args.memory_child[0]), args.memory_child[1])))
        return
    results: dict[str, Any] = {"machine": _machine(), "settings": {
        k: v for k, v in vars(args).items() if k not in ("memory_child", "output")}}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        checkpoint = args.checkpoint
        if not checkpoint and {"throughput", "scaling"} & set(args.which):
            from chggen_kernels.training.tiny import write_untrained_checkpoint

            checkpoint = str(write_untrained_checkpoint(work / "untrained.pt"))
        for name in args.which:
            started = time.perf_counter()
            if name == "throughput":
                results[name] = bench_throughput(args, checkpoint, work)
            elif name == "scaling":
                results[name] = bench_scaling(args, checkpoint, work)
            elif name == "memory":
                results[name] = bench_memory(args, work)
            else:
                raise SystemExit(f"unknown benchmark {name!r}")
            results[name]["bench_wall_s"] = round(time.perf_counter() - started, 1)
            print(name, json.dumps(results[name]), flush=True)
    results["machine"]["load_average_1min_end"] = os.getloadavg()[0]
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(stamped(results, stamp()), indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
