"""Sampler throughput with the default CPU score model: atom-steps per second and the share
of sampler time spent in the model's forward pass.

Crystals: ``--atoms`` (default 20) atoms of Li/Si at 18 Å^3/atom in random, slightly
skewed cells; batches of 1, 8 and 64 crystals in one ``sample`` call. Model:
``ScoreModel(cpu_default_config())`` with its parameters perturbed (a fresh model outputs
exactly zero), float32, eval mode. Sampler: ``--levels`` levels with ``--correctors``
corrector steps (few levels: timing only; the cost per step does not depend on T).

Definitions:
* score evaluations = calls to the score function (T predictor + (T - 1) M corrector);
* atom-steps = atoms in the batch x score evaluations;
* throughput = atom-steps / wall time of ``sample`` (best of ``--repeats``);
* model share = time inside the model's forward / wall time of ``sample``
  (CUDA synchronised around every forward on a GPU).

Writes JSON (``--output``, default benchmarks/results/sampler.json); results for each
device are kept under their own key, so CPU and GPU runs can share the file; each keeps
its own ``stamp``, and the file's top-level ``stamp`` is the last run's.

    python benchmarks/bench_sampler.py --threads 2
    python benchmarks/bench_sampler.py --device cuda
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from chggen_kernels.crystal import CrystalBatch
from chggen_kernels.model import ScoreModel, cpu_default_config
from chggen_kernels.sampling import SamplerSettings, sample

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stamp import stamp  # noqa: E402

VOLUME_PER_ATOM = 18.0  # Å^3


def make_batch(n_crystals: int, n_atoms: int, device: str, seed: int = 0) -> CrystalBatch:
    """``n_crystals`` random Li-Si crystals of ``n_atoms`` atoms (positions are resampled)."""
    g = torch.Generator().manual_seed(seed)
    arrays = []
    for _ in range(n_crystals):
        lattice = torch.eye(3, dtype=torch.float64) + 0.1 * torch.rand((3, 3), generator=g)
        scale = (VOLUME_PER_ATOM * n_atoms / torch.linalg.det(lattice)) ** (1 / 3)
        lattice = lattice * scale
        frac = torch.rand((n_atoms, 3), generator=g, dtype=torch.float64)
        numbers = torch.where(torch.rand(n_atoms, generator=g) < 0.6, 3, 14)
        arrays.append(((frac @ lattice).numpy(), lattice.numpy(), numbers.numpy()))
    return CrystalBatch.from_arrays(arrays, dtype=torch.float32, device=device)


class TimedModel:
    """Score function that accumulates the wall time spent in the model's forward."""

    def __init__(self, model: ScoreModel, device: str) -> None:
        self.model = model
        self.cuda = device.startswith("cuda")
        self.seconds = 0.0
        self.calls = 0

    def __call__(self, batch: CrystalBatch, sigma: torch.Tensor) -> torch.Tensor:
        if self.cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = self.model(batch, sigma)
        if self.cuda:
            torch.cuda.synchronize()
        self.seconds += time.perf_counter() - t0
        self.calls += 1
        return out


def build_model(device: str, seed: int = 0) -> ScoreModel:
    torch.manual_seed(seed)
    model = ScoreModel(cpu_default_config())
    with torch.no_grad():
        for p in model.parameters():  # a fresh model outputs zero: make it a generic one
            p.add_(0.1 * torch.randn_like(p))
    return model.to(device=device, dtype=torch.float32).eval()


def run_one(model: ScoreModel, n_crystals: int, args: argparse.Namespace) -> dict:
    batch = make_batch(n_crystals, args.atoms, args.device)
    settings = SamplerSettings.from_preset(  # every level corrected, as measured before
        "reference", n_levels=args.levels, n_corrector_steps=args.correctors,
        max_atoms_per_batch=None)
    timed = TimedModel(model, args.device)
    sample(timed, batch, settings, seeds=0)  # warm-up (allocator, e3nn code paths)
    walls, shares = [], []
    for r in range(args.repeats):
        timed.seconds, timed.calls = 0.0, 0
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        result = sample(timed, batch, settings, seeds=1000 * (r + 1))
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        wall = time.perf_counter() - t0
        walls.append(wall)
        shares.append(timed.seconds / wall)
    best = min(range(len(walls)), key=walls.__getitem__)
    atom_steps = batch.n_atoms * result.n_score_calls
    return {
        "n_crystals": n_crystals,
        "n_atoms": batch.n_atoms,
        "score_evaluations": result.n_score_calls,
        "atom_steps": atom_steps,
        "wall_s_best": walls[best],
        "wall_s_median": statistics.median(walls),
        "atom_steps_per_s": atom_steps / walls[best],
        "model_forward_share": shares[best],
        "model_forward_share_median": statistics.median(shares),
        "failed": int(result.failed.sum()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--atoms", type=int, default=20)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--levels", type=int, default=5)
    parser.add_argument("--correctors", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--output", type=Path, default=Path(__file__).parent / "results" / "sampler.json"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = build_model(args.device)
    rows = []
    for n in args.batches:
        row = run_one(model, n, args)
        rows.append(row)
        print(
            f"B={n:3d}: {row['atom_steps_per_s']:9.0f} atom-steps/s, "
            f"model share {row['model_forward_share']:.1%}, wall {row['wall_s_best']:.2f} s",
            flush=True,
        )
    by_batch = {r["n_crystals"]: r for r in rows}
    summary = {}
    if 1 in by_batch and 64 in by_batch:
        summary["throughput_ratio_b64_over_b1"] = (
            by_batch[64]["atom_steps_per_s"] / by_batch[1]["atom_steps_per_s"]
        )
    summary["min_model_forward_share"] = min(r["model_forward_share"] for r in rows)
    device_name = (
        torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else "cpu"
    )
    entry = {
        "stamp": stamp(),
        "device": args.device,
        "device_name": device_name,
        "torch": torch.__version__,
        "threads": args.threads,
        "model": model.describe(),
        "dtype": "float32",
        "atoms_per_crystal": args.atoms,
        "volume_per_atom_A3": VOLUME_PER_ATOM,
        "sampler": {"n_levels": args.levels, "n_corrector_steps": args.correctors},
        "repeats": args.repeats,
        "results": rows,
        "summary": summary,
        "definitions": {
            "atom_steps": "atoms in the batch x score-function evaluations",
            "atom_steps_per_s": "atom_steps / wall time of sample() (best of repeats)",
            "model_forward_share": "time inside ScoreModel.forward / wall time of sample()",
        },
    }
    print(json.dumps(summary, indent=2))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    existing = json.loads(args.output.read_text()) if args.output.exists() else {}
    key = "cuda" if args.device.startswith("cuda") else "cpu"
    existing[key] = entry
    existing = {"stamp": entry["stamp"], **{k: v for k, v in existing.items() if k != "stamp"}}
    args.output.write_text(json.dumps(existing, indent=2) + "\n")


if __name__ == "__main__":
    main()
