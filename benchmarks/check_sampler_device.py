"""Sampler on an accelerator: do the same seeds give the same crystals as on the CPU?

Noise is drawn on the CPU from each crystal's own generator, so with the exact analytic
mixture score (float64) a crystal sampled on CUDA differs from the CPU run only through
floating-point differences of the score, amplified by the dynamics; both corrector step
rules are compared. Also runs the default model twice with the same seeds on the device
(small inpainting request) for run-to-run reproducibility. Prints and writes JSON.

    python benchmarks/check_sampler_device.py --device cuda \\
        --output benchmarks/results/sampler_device_check.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from chggen_kernels.crystal import CrystalBatch
from chggen_kernels.model import ScoreModel, cpu_default_config
from chggen_kernels.sampling import (
    CORRECTOR_STEP_RULES,
    SamplerSettings,
    periodic_gaussian_mixture_score,
    sample,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stamp import stamp  # noqa: E402


def _periodic_distance(diff: torch.Tensor, lattice: torch.Tensor) -> torch.Tensor:
    """Length (Å) of position differences taken modulo the (cubic) cell."""
    frac = diff @ torch.linalg.inv(lattice)
    return ((frac - torch.round(frac)) @ lattice).norm(dim=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--crystals", type=int, default=64)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    lattice = torch.eye(3, dtype=torch.float64) * 4.0
    n_crystals, n_atoms = args.crystals, 4
    n = n_crystals * n_atoms
    mask = (torch.arange(n) % n_atoms) >= 2  # two host, two guest atoms per crystal
    g = torch.Generator().manual_seed(0)
    batch = CrystalBatch(
        positions=torch.rand((n, 3), generator=g, dtype=torch.float64) @ lattice,
        lattices=lattice.expand(n_crystals, 3, 3).clone(),
        atomic_numbers=torch.full((n,), 3, dtype=torch.long),
        crystal_index=torch.arange(n_crystals).repeat_interleave(n_atoms),
        mask=mask,
    )
    sites = torch.tensor([[0.25, 0.25, 0.25], [0.75, 0.75, 0.75]], dtype=torch.float64)
    score = periodic_gaussian_mixture_score(sites, torch.tensor([0.7, 0.3]), width=0.1)
    report: dict = {"device": args.device}
    for rule in CORRECTOR_STEP_RULES:
        settings = SamplerSettings.from_preset(
            "reference",
            n_levels=40,
            n_corrector_steps=2,
            resample_passes=2,
            jump_length=5,
            corrector_step_rule=rule,
        )
        runs = {}
        for name, b in (("cpu", batch), ("device", batch.to(args.device))):
            t0 = time.perf_counter()
            runs[name] = sample(score, b, settings, seeds=0).batch.positions.cpu()
            report[f"analytic_{rule}_wall_s_{name}"] = time.perf_counter() - t0
        shift = _periodic_distance(runs["cpu"] - runs["device"], lattice)
        report[f"analytic_{rule}_cpu_vs_device_max_shift_A"] = float(shift.max())
        report[f"analytic_{rule}_atoms_shifted_over_1e-6_A"] = int((shift > 1e-6).sum())

    torch.manual_seed(0)
    model = ScoreModel(cpu_default_config())
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    model = model.to(args.device, torch.float32).eval()
    b32 = batch.to(args.device, torch.float32)
    host = ~b32.mask
    for rule in CORRECTOR_STEP_RULES:
        settings = SamplerSettings.from_preset("reference", n_levels=20, n_corrector_steps=1,
                                               corrector_step_rule=rule)
        t0 = time.perf_counter()
        first = sample(model, b32, settings, seeds=0)
        report[f"model_{rule}_wall_s"] = time.perf_counter() - t0
        second = sample(model, b32, settings, seeds=0)
        report[f"model_{rule}_failed"] = int(first.failed.sum())
        shift = (first.batch.positions[host] - b32.wrap().positions[host]).abs().max()
        report[f"model_{rule}_max_host_shift_A"] = float(shift)
        rerun = _periodic_distance(
            (first.batch.positions - second.batch.positions).double().cpu(), lattice
        )
        report[f"model_{rule}_same_seed_rerun_max_shift_A"] = float(rerun.max())
    text = json.dumps({"stamp": stamp(), **report}, indent=2)
    print(text)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()
