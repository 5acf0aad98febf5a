"""Noise conditioning of the score model: log(sigma) embedding versus none (reference).

Trains the same score model twice per seed on the same tiny synthetic crystals (rock salt,
CsCl, bcc, fcc, diamond, wurtzite, cubic perovskite with a few species and lattice
constants), with identical seeds, batches, noise and steps; only
``ScoreModelConfig.noise_conditioning`` differs. Validation: held-out crystals, fixed
stratified noise, EMA weights, DSM loss (eqn 6, weight sigma^2) per half-decade sigma bin.
Because both modes see the *same* validation noise, the per-bin differences are paired.

Runs the (mode, seed) jobs in parallel processes and writes the JSON after every
validation, so a run cut short still leaves comparable numbers (the summary uses the last
step that every job reached).

    python benchmarks/bench_noise_conditioning.py --out bench_noise.json \
        --steps 1500 --seeds 0 1 2 --workers 6 --threads 2
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stamp import stamp  # noqa: E402

MODES = ("log_sigma", "none")
PROTOTYPES = ("rocksalt", "cscl", "bcc", "fcc", "diamond", "wurtzite", "perovskite")


def _import_kernels_without_package_init() -> None:
    """Let ``chggen_kernels.model`` / ``.training`` import where pymatgen is missing (the
    GPU machines): the package ``__init__`` pulls in pymatgen-based stages this benchmark
    does not use, so register the package by path and skip its ``__init__``."""
    import importlib.util
    import sys
    import types

    if importlib.util.find_spec("pymatgen") is not None or "chggen_kernels" in sys.modules:
        return
    root = Path(__file__).resolve().parents[1] / "chggen_kernels"
    package = types.ModuleType("chggen_kernels")
    package.__path__ = [str(root)]
    sys.modules["chggen_kernels"] = package


def _job(args: tuple[str, int, dict[str, Any], str]) -> None:
    mode, seed, opts, partial_path = args
    import torch

    torch.set_num_threads(opts["threads"])
    _import_kernels_without_package_init()
    from chggen_kernels.crystal import CrystalBatch
    from chggen_kernels.model import ScoreModel, cpu_default_config
    from chggen_kernels.training import Trainer, TrainSettings
    from chggen_kernels.training.tiny import tiny_crystal_arrays, tiny_model_config

    train = CrystalBatch.from_arrays(
        tiny_crystal_arrays(opts["n_train"], prototypes=PROTOTYPES, seed=1000 + seed))
    val = CrystalBatch.from_arrays(  # the same validation crystals for every job
        tiny_crystal_arrays(opts["n_val"], prototypes=PROTOTYPES, seed=9999))
    settings = TrainSettings(
        n_steps=opts["steps"], batch_size=opts["batch_size"], lr=opts["lr"],
        warmup_steps=opts["warmup"], ema_decay=opts["ema_decay"], val_every=opts["val_every"],
        log_every=opts["val_every"], grad_clip=1.0, val_noise_draws=opts["val_draws"],
        n_sigma_bins=6, seed=seed, sigma_min=0.01, sigma_max=10.0,
    )
    builder = tiny_model_config if opts["model"] == "tiny" else cpu_default_config
    config = builder(noise_conditioning=mode)
    torch.manual_seed(seed)
    model = ScoreModel(config)
    trainer = Trainer(model, train, val, settings, device=opts["device"])
    record: dict[str, Any] = {"mode": mode, "seed": seed, "n_parameters":
                              sum(p.numel() for p in model.parameters()), "curve": []}
    start = time.time()

    def dump() -> None:
        tmp = f"{partial_path}.tmp"
        Path(tmp).write_text(json.dumps(record))
        os.replace(tmp, partial_path)

    def on_event(r: dict[str, Any]) -> None:
        if r["event"] == "val":
            record["curve"].append({"step": r["step"], "loss": r["loss"],
                                    "loss_by_sigma": r["loss_by_sigma"],
                                    "wall_s": round(time.time() - start, 1)})
            dump()

    v0 = trainer.validate()
    record["curve"].append({"step": 0, "loss": v0.loss, "loss_by_sigma": v0.loss_by_sigma,
                            "wall_s": 0.0})
    dump()
    trainer.run(on_event)


def _decades(by_bin: dict[str, float]) -> dict[str, float]:
    """Merge half-decade bins into decades by their lower edge (equal sample counts per
    bin: the validation noise is stratified and ``val_draws`` is a multiple of 6)."""
    groups: dict[int, list[float]] = {}
    for label, value in by_bin.items():
        lower = float(label.split("[")[1].split(",")[0])
        groups.setdefault(math.floor(math.log10(lower) + 1e-9), []).append(value)
    return {f"sigma[{10.0**k:g},{10.0**(k + 1):g}" + (")" if k < 0 else "]"): sum(v) / len(v)
            for k, v in sorted(groups.items())}


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Compare the modes at the last validation step every job reached."""
    common = min(r["curve"][-1]["step"] for r in records)
    at: dict[str, list[dict[str, Any]]] = {m: [] for m in MODES}
    for r in records:
        point = next(p for p in r["curve"] if p["step"] == common)
        at[r["mode"]].append(point)
    out: dict[str, Any] = {"step": common}
    for mode, points in at.items():
        if not points:
            continue
        n = len(points)
        bins = {k: sum(p["loss_by_sigma"][k] for p in points) / n for k in points[0]
                ["loss_by_sigma"]}
        out[mode] = {"loss": sum(p["loss"] for p in points) / n, "loss_by_sigma": bins,
                     "loss_by_decade": _decades(bins), "per_seed": [p["loss"] for p in points]}
    if all(m in out for m in MODES):
        out["better"] = min(MODES, key=lambda m: out[m]["loss"])
        out["relative_difference_none_vs_log_sigma"] = (
            out["none"]["loss"] / out["log_sigma"]["loss"] - 1.0
        )
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="bench_noise_conditioning.json")
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--model", choices=("cpu_default", "tiny"), default="cpu_default")
    p.add_argument("--n-train", type=int, default=140)
    p.add_argument("--n-val", type=int, default=28)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--ema-decay", type=float, default=0.99)
    p.add_argument("--val-every", type=int, default=100)
    p.add_argument("--val-draws", type=int, default=12)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    if args.val_draws % 6:
        p.error("--val-draws must be a multiple of 6 (two strata per half-decade bin)")
    opts = {"steps": args.steps, "model": args.model, "n_train": args.n_train,
            "n_val": args.n_val, "batch_size": args.batch_size, "lr": args.lr,
            "warmup": args.warmup, "ema_decay": args.ema_decay, "val_every": args.val_every,
            "val_draws": args.val_draws, "threads": args.threads, "device": args.device}
    out = Path(args.out)
    partial = [str(out.with_name(f".{out.stem}.{m}.{s}.json")) for s in args.seeds for m in MODES]
    jobs = [(m, s, opts, partial[i]) for i, (s, m) in
            enumerate((s, m) for s in args.seeds for m in MODES)]
    start = time.time()
    ctx = mp.get_context("spawn")
    with ctx.Pool(args.workers) as pool:
        pending = pool.map_async(_job, jobs)
        while not pending.ready():
            pending.wait(20)
            _write(out, opts, args.seeds, partial, time.time() - start)
        pending.get()
    _write(out, opts, args.seeds, partial, time.time() - start)
    print(json.dumps(json.loads(out.read_text())["summary"], indent=1))


def _write(out: Path, opts: dict[str, Any], seeds: list[int], partial: list[str],
           wall: float) -> None:
    records = [json.loads(Path(f).read_text()) for f in partial if Path(f).exists()]
    result: dict[str, Any] = {"stamp": stamp(), "options": opts, "seeds": seeds,
                              "wall_s": round(wall, 1), "runs": records}
    if len(records) == len(partial):
        result["summary"] = summarise(records)
    out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
