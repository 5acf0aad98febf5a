"""Neighbour list vs score-model forward pass on a realistic CPU batch.

Builds ``--n-crystals`` random triclinic crystals of ``--n-atoms`` atoms at 15-20 Å^3/atom,
then times (median of ``--repeats``) the periodic neighbour list at the model's cutoff and
neighbour cap, one inference forward pass of the model (which includes its own neighbour
list), and one forward + backward pass (a training step without the optimiser). Writes
JSON with wall-clock and process-CPU times (CPU time is less sensitive to other jobs on a
shared machine), the edge count, the parameter count and the neighbour/forward ratio.

    python benchmarks/bench_neighbors.py --out benchmarks/results/neighbors.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from chggen_kernels.crystal import CrystalBatch
from chggen_kernels.model import ScoreModel, cpu_default_config, gpu_preset_config
from chggen_kernels.neighbors import neighbor_list

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stamp import stamp  # noqa: E402

SPECIES = (3, 8, 14, 15, 16, 30)  # Li, O, Si, P, S, Zn


def random_batch(
    n_crystals: int, n_atoms: int, seed: int, dtype: torch.dtype = torch.float32
) -> CrystalBatch:
    """Random triclinic cells (angles 70-110 degrees) at 15-20 Å^3/atom."""
    rng = np.random.default_rng(seed)
    crystals = []
    for _ in range(n_crystals):
        a, b, c = rng.uniform(0.8, 1.25, 3)
        alpha, beta, gamma = np.radians(rng.uniform(70, 110, 3))
        cx = np.cos(beta)
        cy = (np.cos(alpha) - np.cos(beta) * np.cos(gamma)) / np.sin(gamma)
        lattice = np.array(
            [[a, 0, 0], [b * np.cos(gamma), b * np.sin(gamma), 0],
             [c * cx, c * cy, c * np.sqrt(max(1 - cx**2 - cy**2, 0.05))]]
        )
        volume = n_atoms * rng.uniform(15.0, 20.0)
        lattice *= (volume / np.linalg.det(lattice)) ** (1 / 3)
        frac = rng.uniform(size=(n_atoms, 3))
        crystals.append((frac @ lattice, lattice, rng.choice(SPECIES, n_atoms)))
    return CrystalBatch.from_arrays(crystals, dtype=dtype)


def timed(fn: Callable[[], object], repeats: int, sync: Callable[[], None]) -> dict[str, float]:
    """Median wall and process-CPU seconds of ``fn`` after one warm-up call."""
    fn()
    sync()
    wall, cpu = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        fn()
        sync()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return {"wall_s": statistics.median(wall), "cpu_s": statistics.median(cpu),
            "wall_min_s": min(wall)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/neighbors.json"))
    parser.add_argument("--n-crystals", type=int, default=64)
    parser.add_argument("--n-atoms", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--preset", choices=("cpu", "gpu"), default="cpu")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    config = cpu_default_config() if args.preset == "cpu" else gpu_preset_config()
    model = ScoreModel(config).to(device)
    batch = random_batch(args.n_crystals, args.n_atoms, args.seed).to(device)
    sigma = torch.full((batch.n_crystals,), 0.5, device=device)

    nl = neighbor_list(batch, config.cutoff, config.max_neighbors)
    neighbors = timed(lambda: neighbor_list(batch, config.cutoff, config.max_neighbors),
                      args.repeats, sync)
    with torch.no_grad():
        forward = timed(lambda: model(batch, sigma), args.repeats, sync)

    def train_step() -> None:
        model.zero_grad(set_to_none=True)
        model(batch, sigma).square().mean().backward()

    backward = timed(train_step, max(3, args.repeats // 2), sync)
    result = {
        "stamp": stamp(),
        "preset": args.preset,
        "config": config.to_dict(),
        "n_parameters": model.n_parameters,
        "n_crystals": batch.n_crystals,
        "n_atoms": batch.n_atoms,
        "n_edges": nl.n_edges,
        "edges_per_atom": nl.n_edges / batch.n_atoms,
        "volume_per_atom_A3": float(batch.volumes.sum() / batch.n_atoms),
        "threads": args.threads,
        "device": str(device),
        "repeats": args.repeats,
        "neighbor_list": neighbors,
        "forward_inference": forward,
        "forward_backward": backward,
        "neighbor_over_forward_wall": neighbors["wall_s"] / forward["wall_s"],
        "neighbor_over_forward_cpu": neighbors["cpu_s"] / forward["cpu_s"],
        "torch": torch.__version__,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "config"}, indent=2))


if __name__ == "__main__":
    main()
