"""Train the shipped default score model: resumable, optionally warm-started (GPU or CPU).

The same DSM trainer as ``chggen train``. The run length is ``--n-steps`` optimiser steps,
or, with ``--budget-s``, the step count a short calibration predicts for a cosine schedule
that ends inside that many seconds. Every ``--checkpoint-every`` steps ``OUT/last.pt`` holds
the full training state, so a killed run continues with ``--resume`` (same data, same
settings) exactly where it stopped. ``--init-from CKPT`` starts from another checkpoint's
weights (same architecture), e.g. to continue an interim model on a better data set.

The volume prior stored in the checkpoint is fitted (NNLS, Å^3/atom per element) on the
crystals whose volumes are real: every source except ``decorated-scaled``. The validation
crystals' ids are stored in the metadata so that an evaluation can reuse the same split.

    python examples/train_default_model.py --data build/train.parquet --out run \
        --n-steps 12000 --init-from chggen_kernels/data/default_model.pt
    python examples/train_default_model.py --data build/train.parquet --out run --resume
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import torch

from chggen_kernels.lattice import fit_volume_prior
from chggen_kernels.model import ScoreModel, ScoreModelConfig, cpu_default_config
from chggen_kernels.training import (
    Trainer,
    TrainSettings,
    load_training_data,
    split_train_val,
)
from chggen_kernels.training.checkpoint import read_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--n-steps", type=int, default=None)
    parser.add_argument("--budget-s", type=float, default=None)
    parser.add_argument("--init-from", default=None, help="checkpoint whose weights start the run")
    parser.add_argument("--resume", action="store_true", help="continue OUT/last.pt")
    parser.add_argument("--checkpoint-every", type=int, default=250)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--warmup-steps", type=int, default=200)
    parser.add_argument("--model-json", default=None,
                        help="ScoreModelConfig overrides (JSON); with --init-from they apply "
                        "to that checkpoint's configuration")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--val-data", default=None,
                        help="validation crystals (e.g. the val.parquet of a known-structures "
                        "build); default: 5 %% of --data at random")
    parser.add_argument("--extra-data", nargs="*", default=[],
                        help="more training crystals (e.g. our own prototype build); those "
                        "whose formula the --manifest holds out (test or validation) are "
                        "dropped, so the held-out formulas stay unseen")
    parser.add_argument("--extra-repeat", type=int, nargs="+", default=[1],
                        help="times each --extra-data crystal enters the training set: one "
                        "value for every file, or one per file in --extra-data order")
    parser.add_argument("--manifest", type=Path, default=None,
                        help="manifest.json of the build; its held-out test formulas are "
                        "recorded in the checkpoint metadata")
    args = parser.parse_args()
    if (args.n_steps is None) == (args.budget_s is None) and not args.resume:
        parser.error("give exactly one of --n-steps and --budget-s (or --resume)")
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    last, best_path = args.out / "last.pt", args.out / "best.pt"
    t_start = time.time()

    data = load_training_data(args.data, on_invalid="skip")
    crystals = list(data.crystals)
    prior = fit_volume_prior([c.structure for c in crystals if c.source != "decorated-scaled"])
    if args.val_data:
        val_crystals = list(load_training_data(args.val_data, on_invalid="skip").crystals)
        train = [c.structure for c in crystals]
        val = [c.structure for c in val_crystals]
        val_ids = [c.structure_id for c in val_crystals]
    else:
        train_idx, val_idx = split_train_val(len(crystals), 0.05, 0)
        train = [crystals[i].structure for i in train_idx]
        val = [crystals[i].structure for i in val_idx]
        val_ids = [crystals[i].structure_id for i in val_idx]
    split = _split_metadata(args.manifest)
    extra_train, extra_counts = _extra_training(args.extra_data, args.manifest,
                                                args.extra_repeat)
    train += extra_train

    resume_payload = read_checkpoint(last) if args.resume else None
    if resume_payload is not None:
        before = resume_payload["metadata"]["extra"].get("extra_data") or {"files": {}}
        if sorted(before["files"].values(), key=str) != \
                sorted(extra_counts["files"].values(), key=str) or \
                before.get("repeat", extra_counts["repeat"]) != extra_counts["repeat"]:
            raise SystemExit(f"--resume with other --extra-data: the run had {before}, "
                             f"now {extra_counts}")
        run = resume_payload["metadata"]["extra"]["run"]
        config = ScoreModelConfig.from_dict(resume_payload["model_config"])
        n_steps = int(run["n_steps"])
        init_from = run["init_from"]
    else:
        if last.exists():
            raise SystemExit(f"{str(last)!r} exists: pass --resume or choose another --out")
        config = cpu_default_config()
        if args.model_json:
            config = ScoreModelConfig.from_dict({**config.to_dict(),
                                                 **json.loads(args.model_json)})
        init_from = None
        if args.init_from:
            payload = read_checkpoint(args.init_from)
            config = ScoreModelConfig.from_dict(payload["model_config"])
            if args.model_json:  # e.g. fewer neighbours; the weights must still fit
                config = ScoreModelConfig.from_dict({**config.to_dict(),
                                                     **json.loads(args.model_json)})
            init_from = {"path": str(args.init_from),
                         "sha256": hashlib.sha256(Path(args.init_from).read_bytes()).hexdigest(),
                         "steps": payload["metadata"].get("steps")}
        n_steps = args.n_steps or _calibrated_steps(args, config, train, val, data.hash, t_start)

    def settings() -> TrainSettings:
        return TrainSettings(n_steps=n_steps, batch_size=args.batch_size, lr=args.lr,
                             warmup_steps=args.warmup_steps, schedule="cosine", grad_clip=0.5,
                             ema_decay=0.999, val_every=max(100, n_steps // 20),
                             log_every=50, checkpoint_every=args.checkpoint_every, seed=0)

    torch.manual_seed(0)
    untrained = ScoreModel(config)
    baseline = Trainer(untrained, train, val, settings(), data.hash, args.device).validate(
        use_ema=False)
    model = ScoreModel(config)
    if init_from is not None and resume_payload is None:
        model.load_state_dict(read_checkpoint(init_from["path"])["state_dict"])
    trainer = Trainer(model, train, val, settings(), data.hash, args.device)
    if resume_payload is not None:
        trainer.load_training_state(resume_payload["training_state"],
                                    resume_payload["state_dict"])
    start = trainer.validate()
    extra = _extra(data, baseline, val_ids, {"n_steps": n_steps, "init_from": init_from,
                                             "start_val_loss": start.loss})
    extra["split"] = split
    extra["extra_data"] = extra_counts
    mode = "a" if resume_payload is not None else "w"
    with open(args.out / "train_log.jsonl", mode) as log:
        log.write(json.dumps({"event": "start", "resumed": resume_payload is not None,
                              "step": trainer.step, "n_steps": n_steps, "val": start.loss,
                              "untrained_val": baseline.loss,
                              "untrained_by_bin": baseline.loss_by_sigma}) + "\n")
        best = {"loss": trainer.best_val_loss if trainer.best_val_loss is not None
                else float("inf")}

        def callback(rec: dict[str, Any]) -> None:
            if rec["event"] in ("train", "val"):
                log.write(json.dumps(rec, default=float) + "\n")
                log.flush()
            if rec["event"] == "val":
                print(json.dumps({k: rec[k] for k in ("step", "loss")}), flush=True)
                if rec["loss"] < best["loss"]:
                    best["loss"] = rec["loss"]
                    trainer.save(best_path, volume_prior=dict(prior.element_volumes),
                                 resumable=False, extra=extra)
            if rec["event"] == "checkpoint":
                trainer.save(last, volume_prior=dict(prior.element_volumes), extra=extra)

        final = trainer.run(callback)
    trainer.save(last, volume_prior=dict(prior.element_volumes), extra=extra)
    summary = {"final_val": final.loss, "final_by_bin": final.loss_by_sigma,
               "untrained_val": baseline.loss, "untrained_by_bin": baseline.loss_by_sigma,
               "start_val": start.loss, "start_by_bin": start.loss_by_sigma,
               "init_from": init_from, "steps": trainer.step,
               "wall_time_s": trainer.wall_time_s,
               "device": torch.cuda.get_device_name() if args.device.startswith("cuda")
               else "cpu", "n_parameters": sum(p.numel() for p in model.parameters()),
               "n_train": len(train), "n_val": len(val), "data_hash": data.hash,
               "volume_prior": prior.element_volumes}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1, default=float))
    print(json.dumps(summary, default=float))


def _calibrated_steps(args: argparse.Namespace, config: ScoreModelConfig, train: list,
                      val: list, data_hash: str, t_start: float) -> int:
    """Steps that fit in ``--budget-s`` (85 % of what is left after 40 timed steps)."""
    calib = Trainer(ScoreModel(config), train, val,
                    TrainSettings(n_steps=10**6, batch_size=args.batch_size), data_hash,
                    args.device)
    for _ in range(5):
        calib.train_step()
    t0 = time.time()
    for _ in range(40):
        calib.train_step()
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    step_s = (time.time() - t0) / 40
    return max(20, int(0.85 * (args.budget_s - (time.time() - t_start)) / step_s))


def _split_metadata(manifest: Path | None) -> dict[str, Any] | None:
    """The build's split (test and validation formulas, counts) for the checkpoint."""
    if manifest is None:
        return None
    m = json.loads(Path(manifest).read_text())
    return {"known_file_sha256": m.get("known_file", {}).get("sha256"),
            "test_formulas": m.get("test_formulas", []), "splits": m.get("splits", {}),
            "forced_test_formulas": m.get("arguments", {}).get("test_formulas", [])}


def _extra_training(paths: list[str], manifest: Path | None, repeat: list[int]
                    ) -> tuple[list[Any], dict[str, Any]]:
    """Structures of ``paths`` without the manifest's held-out formulas, each repeated as
    ``repeat`` says for its file; and what was kept and dropped per file."""
    if paths and manifest is None:
        raise SystemExit("--extra-data needs --manifest (its held-out formulas are dropped)")
    if len(repeat) not in (1, max(1, len(paths))):
        raise SystemExit(f"--extra-repeat takes 1 value or one per --extra-data file "
                         f"({len(paths)}), got {len(repeat)}")
    if min(repeat) < 1:
        raise SystemExit(f"--extra-repeat must be >= 1, got {min(repeat)}")
    repeats = repeat * len(paths) if len(repeat) == 1 else repeat
    held: set[str] = set()
    if manifest is not None:
        m = json.loads(Path(manifest).read_text())
        held = set(m.get("test_formulas", [])) | set(m.get("val_formulas", []))
    out: list[Any] = []
    counts: dict[str, Any] = {"repeat": repeat[0] if len(repeat) == 1 else repeat, "files": {}}
    for path, times in zip(paths, repeats, strict=True):
        data = load_training_data(path, on_invalid="skip")
        kept = [c.structure for c in data.crystals
                if c.structure.composition.reduced_formula not in held]
        counts["files"][str(path)] = {"hash": data.hash, "kept": len(kept),
                                      "dropped_held_out": len(data.crystals) - len(kept),
                                      "repeat": times}
        out += kept * times
    return out, counts


def _extra(data: Any, baseline: Any, val_ids: list[str], run: dict[str, Any]) -> dict:
    sources = Counter(c.source for c in data.crystals)
    systems = Counter(c.structure.composition.chemical_system for c in data.crystals)
    return {"sources": dict(sources), "chemical_systems": dict(systems.most_common()),
            "untrained_val_loss": baseline.loss, "untrained_val_by_bin": baseline.loss_by_sigma,
            "n_skipped": len(data.skipped), "validation_ids": val_ids, "run": run}


if __name__ == "__main__":
    main()
