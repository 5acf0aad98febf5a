"""How well the corrector step rules sample a known distribution (exact analytic score).

Target: every atom independently follows a periodic mixture of two isotropic Gaussians
(width 0.1 Å) at fractional sites A = (1/4, 1/4, 1/4) and B = (3/4, 3/4, 3/4) of a 4 Å
cubic cell, weights 0.7 / 0.3. For each sampler configuration we report the observed
fraction at A (binomial sd given), the mean squared displacement from the nearest site
relative to the width^2 (per axis), and the sensitivity of the dynamics: how many atoms
end more than 1e-6 Å away when the score is multiplied by (1 + 1e-13) (a chaotic sampler
cannot reproduce a seed across devices or batch layouts).

    python benchmarks/bench_sampler_bias.py          # JSON to results/sampler_bias.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from chggen_kernels.crystal import CrystalBatch
from chggen_kernels.sampling import SamplerSettings, periodic_gaussian_mixture_score, sample

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stamp import stamp  # noqa: E402

CELL = torch.eye(3, dtype=torch.float64) * 4.0
SITES = torch.tensor([[0.25, 0.25, 0.25], [0.75, 0.75, 0.75]], dtype=torch.float64)
WIDTH = 0.1


def _measure(score, batch: CrystalBatch, settings: SamplerSettings) -> dict:
    t0 = time.perf_counter()
    out = sample(score, batch, settings, seeds=0).batch
    wall = time.perf_counter() - t0
    d = out.frac_positions()[:, None, :] - SITES
    d = (d - torch.round(d)) @ CELL
    nearest = d.norm(dim=2).argmin(dim=1)
    disp = d[torch.arange(len(nearest)), nearest]
    perturbed = sample(lambda b, s: score(b, s) * (1 + 1e-13), batch, settings, seeds=0).batch
    diff = (out.positions - perturbed.positions) @ torch.linalg.inv(CELL)
    shift = ((diff - torch.round(diff)) @ CELL).norm(dim=1)
    n = batch.n_atoms
    return {
        **{k: settings.to_dict()[k] for k in ("n_levels", "n_corrector_steps", "snr")},
        "corrector_step_rule": settings.corrector_step_rule,
        "fraction_at_A": float((nearest == 0).double().mean()),
        "binomial_sd": (0.7 * 0.3 / n) ** 0.5,
        "msd_over_width2": float((disp**2).mean()) / WIDTH**2,
        "max_distance_from_site_A": float(disp.norm(dim=1).max()),
        "atoms_moved_by_1e-13_score_perturbation": int((shift > 1e-6).sum()),
        "wall_s": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crystals", type=int, default=400)
    parser.add_argument("--atoms", type=int, default=4)
    parser.add_argument("--levels", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--output", type=Path, default=Path(__file__).parent / "results" / "sampler_bias.json"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    n = args.crystals * args.atoms
    batch = CrystalBatch(
        positions=torch.zeros((n, 3), dtype=torch.float64),
        lattices=CELL.expand(args.crystals, 3, 3).clone(),
        atomic_numbers=torch.full((n,), 3, dtype=torch.long),
        crystal_index=torch.arange(args.crystals).repeat_interleave(args.atoms),
    )
    score = periodic_gaussian_mixture_score(SITES, torch.tensor([0.7, 0.3]), WIDTH)
    configs = [
        (0, "per_atom"),
        (1, "per_atom"),
        (1, "per_crystal"),
        (5, "per_atom"),
        (5, "per_crystal"),
    ]
    rows = []
    for m, rule in configs:
        settings = SamplerSettings.from_preset(  # every level corrected
            "reference", n_levels=args.levels, n_corrector_steps=m, corrector_step_rule=rule)
        row = _measure(score, batch, settings)
        rows.append(row)
        print(json.dumps(row), flush=True)
    report = {
        "stamp": stamp(),
        "target": {"fraction_at_A": 0.7, "site_width_A": WIDTH, "cell_A": 4.0},
        "atoms": n,
        "atoms_per_crystal": args.atoms,
        "note": "snr 0.4, sigma 10 -> 0.01 Å; msd_over_width2 of an exact sampler is "
        "about 0.99 (the final noise-free step returns E[x0 | x_sigma_min])",
        "results": rows,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
