"""Train the shipped default score model within a wall-clock budget (GPU or CPU).

The same DSM trainer as ``chggen train``, with the step count chosen from a short
calibration so that a cosine schedule ends inside ``--budget-s`` seconds. The volume
prior stored in the checkpoint is fitted on the crystals whose volumes are real (the
AFLOW compounds and the CHGNet-relaxed decorations), not on the prior-scaled ones.

    python examples/train_default_model.py --data train.parquet --out DIR --budget-s 360
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from chggen_kernels.lattice import fit_volume_prior
from chggen_kernels.model import ScoreModel, ScoreModelConfig, cpu_default_config
from chggen_kernels.training import (
    Trainer,
    TrainSettings,
    load_training_data,
    split_train_val,
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--budget-s", type=float, default=360.0)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--model-json", default=None, help="ScoreModelConfig overrides (JSON)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    t_start = time.time()
    data = load_training_data(args.data, on_invalid="skip")
    crystals = list(data.crystals)
    real_volume = [c.structure for c in crystals if c.source != "decorated-scaled"]
    prior = fit_volume_prior(real_volume)
    config = cpu_default_config()
    if args.model_json:
        config = ScoreModelConfig.from_dict({**config.to_dict(), **json.loads(args.model_json)})
    train_idx, val_idx = split_train_val(len(crystals), 0.05, 0)
    train = [crystals[i].structure for i in train_idx]
    val = [crystals[i].structure for i in val_idx]
    log = open(args.out / "train_log.jsonl", "w")  # noqa: SIM115 - open for the whole run

    def settings(n_steps: int) -> TrainSettings:
        return TrainSettings(n_steps=n_steps, batch_size=args.batch_size, lr=2e-3,
                             warmup_steps=200, schedule="cosine", grad_clip=0.5,
                             ema_decay=0.999, val_every=max(100, n_steps // 12),
                             log_every=50, checkpoint_every=10**9, seed=0)

    torch.manual_seed(0)
    calib = Trainer(ScoreModel(config), train, val, settings(10**6), data.hash, args.device)
    for _ in range(5):
        calib.train_step()
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.time()
    for _ in range(40):
        calib.train_step()
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    step_s = (time.time() - t0) / 40
    remaining = args.budget_s - (time.time() - t_start)
    n_steps = max(20, int(0.85 * remaining / step_s))
    print(json.dumps({"step_s": step_s, "n_steps": n_steps, "n_train": len(train),
                      "n_val": len(val), "skipped": len(data.skipped)}), flush=True)

    torch.manual_seed(0)
    untrained = ScoreModel(config)
    trainer = Trainer(untrained, train, val, settings(n_steps), data.hash, args.device)
    baseline = trainer.validate(use_ema=False)
    log.write(json.dumps({"event": "untrained_val", "loss": baseline.loss,
                          "by_bin": baseline.loss_by_sigma}) + "\n")
    best = {"loss": float("inf")}

    def callback(rec: dict) -> None:
        if rec["event"] in ("train", "val"):
            log.write(json.dumps(rec, default=float) + "\n")
            log.flush()
        if rec["event"] == "val":
            print(json.dumps({k: rec[k] for k in ("step", "loss")}), flush=True)
            if rec["loss"] < best["loss"]:
                best["loss"] = rec["loss"]
                trainer.save(args.out / "best.pt", volume_prior=dict(prior.element_volumes),
                             resumable=False, extra=_extra(data, baseline))

    final = trainer.run(callback)
    trainer.save(args.out / "last.pt", volume_prior=dict(prior.element_volumes),
                 extra=_extra(data, baseline))
    summary = {"final_val": final.loss, "final_by_bin": final.loss_by_sigma,
               "untrained_val": baseline.loss, "untrained_by_bin": baseline.loss_by_sigma,
               "steps": trainer.step, "wall_time_s": trainer.wall_time_s,
               "device": torch.cuda.get_device_name() if args.device.startswith("cuda")
               else "cpu", "n_parameters": sum(p.numel() for p in untrained.parameters()),
               "volume_prior": prior.element_volumes}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1, default=float))
    print(json.dumps(summary, default=float))


def _extra(data, baseline) -> dict:
    from collections import Counter

    sources = Counter(c.source for c in data.crystals)
    systems = Counter(c.structure.composition.chemical_system for c in data.crystals)
    return {"sources": dict(sources), "chemical_systems": dict(systems.most_common()),
            "untrained_val_loss": baseline.loss, "untrained_val_by_bin": baseline.loss_by_sigma,
            "n_skipped": len(data.skipped)}


if __name__ == "__main__":
    main()
