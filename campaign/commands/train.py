"""``chggen train --data DATA --out DIR [--config train.yaml] [--resume]``: train a score model.

Denoising score matching (eqn 6 of the CHGGen paper, weight sigma^2) on a Parquet table,
a folder of CIF/POSCAR files or an extxyz file. The optional YAML file has up to four
sections, each key checked (a typo is an error naming it)::

    model:            # ScoreModelConfig fields; 'preset' picks the base sizes
      preset: gpu                  # cpu_default | gpu | tiny
      noise_conditioning: log_sigma
    train:            # TrainSettings fields
      n_steps: 20000
    data:
      on_invalid: raise            # skip: drop and log bad crystals | raise: stop
      min_distance: 0.8            # Å
    device: cuda

A key left out keeps its default: the model preset :data:`DEFAULT_MODEL_PRESET`, the
:class:`~chggen_kernels.training.TrainSettings` fields, and :class:`TrainConfig`'s for
``data`` and ``device`` (``chggen train --help`` prints them).

Writes to DIR: ``last.pt`` (resumable), ``best.pt`` (lowest validation loss, EMA weights),
``train_log.jsonl`` (one JSON record per line: data summary with every skipped crystal and
its reason, training losses, validation losses per sigma bin) and ``config.yaml`` (the
resolved settings). ``--resume`` continues from ``DIR/last.pt`` on the same data.
Exit codes: 0 success, 2 bad input (data, configuration or checkpoint).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

from chggen_kernels.errors import InputError
from chggen_kernels.structure_check import DEFAULT_MIN_DISTANCE

__all__ = ["DEFAULT_MODEL_PRESET", "TrainConfigError", "load_train_config", "register", "run"]

_SECTIONS = ("model", "train", "data", "device")
_DATA_KEYS = {"on_invalid": ("skip", "raise"), "min_distance": None}
_MODEL_PRESETS = ("cpu_default", "gpu", "tiny")
#: The model sizes a training run starts from when ``model.preset`` is not given.
DEFAULT_MODEL_PRESET = "cpu_default"
# Settings that define the objective and the data split: a resume must keep them.
_RESUME_FIXED = ("sigma_min", "sigma_max", "seed", "val_fraction", "exact_target", "dtype")


class TrainConfigError(InputError):
    """A bad training configuration; the message names the file and the key."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a score model by denoising score matching")
    p.add_argument("--data", required=True,
                   help="training set: .parquet file or folder, CIF/POSCAR folder, .extxyz")
    p.add_argument("--out", required=True, help="output folder for checkpoints and the log")
    p.add_argument("--config", default=None,
                   help="YAML file (sections model/train/data/device; defaults: model.preset "
                   f"{DEFAULT_MODEL_PRESET}, data.on_invalid {TrainConfig.on_invalid}, "
                   f"data.min_distance {TrainConfig.min_distance:g} Å, device "
                   f"{TrainConfig.device})")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--strict", action="store_true",
                   help="stop at the first invalid crystal instead of skipping it")
    p.add_argument("--device", default=None, help="torch device (overrides the config)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """The resolved ``train.yaml``."""

    model: Any  # ScoreModelConfig
    train: Any  # TrainSettings
    on_invalid: str = "skip"  # data.on_invalid: "skip" (drop and log) or "raise"
    min_distance: float = DEFAULT_MIN_DISTANCE  # data.min_distance, Å
    device: str = "cpu"

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.to_dict(),
            "train": self.train.to_dict(),
            "data": {"on_invalid": self.on_invalid, "min_distance": self.min_distance},
            "device": self.device,
        }


def load_train_config(path: str | Path | None) -> TrainConfig:
    """Read and check a training YAML file (``None``: all defaults)."""
    from campaign.inputs.text import load_yaml_file
    from chggen_kernels.model import ScoreModelConfig, cpu_default_config, gpu_preset_config
    from chggen_kernels.settings import reject_unknown
    from chggen_kernels.training import TrainSettings
    from chggen_kernels.training.tiny import tiny_model_config

    where = "default training configuration" if path is None else str(path)
    data: dict[str, Any] = {}
    if path is not None:
        data = load_yaml_file(path, what="training configuration") or {}
        if not isinstance(data, dict):
            raise TrainConfigError(f"{where}: expected a mapping with sections {_SECTIONS}")
    reject_unknown(data, _SECTIONS, where, TrainConfigError, sep=": ")
    sections = {}
    for name in ("model", "train", "data"):
        section = data.get(name) or {}
        if not isinstance(section, dict):
            raise TrainConfigError(f"{where}: section {name!r} must be a mapping")
        sections[name] = dict(section)

    from chggen_kernels.settings import SettingsError, strict_from_dict

    reject_unknown(sections["data"], list(_DATA_KEYS), f"{where}: data", TrainConfigError)
    preset = sections["model"].pop("preset", DEFAULT_MODEL_PRESET)
    builders = {"cpu_default": cpu_default_config, "gpu": gpu_preset_config,
                "tiny": tiny_model_config}
    if preset not in builders:
        raise TrainConfigError(f"{where}: model.preset = {preset!r}: must be one of "
                               f"{list(_MODEL_PRESETS)}")
    try:
        base = builders[preset]().to_dict()
        model = strict_from_dict(ScoreModelConfig, {**base, **sections["model"]}, "model")
        train = strict_from_dict(TrainSettings, sections["train"], "train")
    except SettingsError as err:
        raise TrainConfigError(f"{where}: {err}") from None
    on_invalid = sections["data"].get("on_invalid", TrainConfig.on_invalid)
    if on_invalid not in _DATA_KEYS["on_invalid"]:
        raise TrainConfigError(
            f"{where}: data.on_invalid = {on_invalid!r}: must be 'skip' or 'raise'")
    min_distance = sections["data"].get("min_distance", TrainConfig.min_distance)
    if isinstance(min_distance, bool) or not isinstance(min_distance, (int, float)) or not (
        min_distance > 0
    ):
        raise TrainConfigError(f"{where}: data.min_distance = {min_distance!r}: must be > 0 Å")
    device = data.get("device", TrainConfig.device)
    return TrainConfig(model=model, train=train, on_invalid=on_invalid,
                       min_distance=float(min_distance), device=str(device))


class _Log:
    """Append-only JSONL log of the run."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.start = time.time()

    def write(self, record: dict[str, Any]) -> None:
        record = {**record, "time_s": round(time.time() - self.start, 3)}
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")


def run(args: argparse.Namespace) -> int:

    return _train(args)


def _config_and_resume(args: argparse.Namespace) -> tuple[TrainConfig, Any]:
    """The resolved configuration and, with ``--resume``, the checked ``last.pt`` payload."""
    from chggen_kernels.model import ScoreModelConfig
    from chggen_kernels.training import CheckpointError, read_checkpoint

    config = load_train_config(args.config)
    if args.strict:
        config = dataclasses.replace(config, on_invalid="raise")
    if args.device:
        config = dataclasses.replace(config, device=args.device)
    out = Path(args.out)
    last = out / "last.pt"
    resume_payload = None
    if args.resume:
        resume_payload = read_checkpoint(last)
        if "training_state" not in resume_payload:
            raise CheckpointError(f"checkpoint {str(last)!r} has no training state to resume")
        _check_resume_settings(config, resume_payload, last)
        config = dataclasses.replace(
            config, model=ScoreModelConfig.from_dict(resume_payload["model_config"])
        )
    elif last.exists():
        raise TrainConfigError(
            f"{str(out)!r} already holds a run (last.pt); pass --resume or choose another --out"
        )
    return config, resume_payload


def _load_data(args: argparse.Namespace, config: TrainConfig, resume_payload: Any,
               last: Path, log: _Log) -> tuple[Any, list[Any], list[int], list[int]]:
    """The training data (checked against a resumed run's hash) and its split."""
    from chggen_kernels.training import CheckpointError, load_training_data, split_train_val

    data = load_training_data(args.data, on_invalid=config.on_invalid,
                              min_distance=config.min_distance)
    data_hash = data.hash
    if resume_payload is not None and resume_payload["metadata"]["data_hash"] != data_hash:
        raise CheckpointError(
            f"checkpoint {str(last)!r} was trained on other data (hash "
            f"{resume_payload['metadata']['data_hash'][:12]}..., this data {data_hash[:12]}...)"
        )
    structures = data.structures()
    s = config.train
    train_idx, val_idx = split_train_val(len(structures), s.val_fraction, s.seed)
    log.write({
        "event": "data", "path": data.path, "n_read": data.n_read,
        "n_kept": len(data.crystals), "n_skipped": len(data.skipped),
        "n_train": len(train_idx), "n_val": len(val_idx), "data_hash": data_hash,
        "skipped": [dataclasses.asdict(x) for x in data.skipped],
    })
    if data.skipped:
        print(f"chggen train: skipped {len(data.skipped)} of {data.n_read} crystals "
              f"(reasons in {log.path}); first: {data.skipped[0].reason}", file=sys.stderr)
    return data, structures, train_idx, val_idx


def _train(args: argparse.Namespace) -> int:
    import torch
    import yaml
    from tqdm import tqdm

    from chggen_kernels.lattice import fit_volume_prior
    from chggen_kernels.model import ScoreModel
    from chggen_kernels.training import Trainer

    config, resume_payload = _config_and_resume(args)
    if not Path(args.data).expanduser().exists():  # before anything is written
        raise TrainConfigError(f"--data {args.data!r}: no such file or folder")
    out = Path(args.out)
    last, best = out / "last.pt", out / "best.pt"
    out.mkdir(parents=True, exist_ok=True)
    log = _Log(out / "train_log.jsonl")

    data, structures, train_idx, val_idx = _load_data(args, config, resume_payload, last, log)
    s = config.train
    volume_prior = dict(fit_volume_prior([structures[i] for i in train_idx]).element_volumes)
    (out / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))

    torch.manual_seed(s.seed)
    model = ScoreModel(config.model)
    trainer = Trainer(model, [structures[i] for i in train_idx],
                      [structures[i] for i in val_idx], s, data_hash=data.hash,
                      device=config.device)
    if resume_payload is not None:
        trainer.load_training_state(resume_payload["training_state"],
                                    resume_payload["state_dict"])
    log.write({"event": "start", "step": trainer.step, "n_steps": trainer.n_steps,
               "n_parameters": sum(p.numel() for p in model.parameters()),
               "resumed": resume_payload is not None})
    extra = {"data_path": data.path, "n_skipped": len(data.skipped)}
    bar = tqdm(total=trainer.n_steps, initial=trainer.step, desc="train", unit="step",
               disable=args.quiet, file=sys.stderr)
    last_val: list[float] = []

    def on_event(record: dict[str, Any]) -> None:
        event = record["event"]
        if event == "step":
            bar.update(1)
            postfix = {"loss": f"{record['loss']:.3f}"}
            if last_val:
                postfix["val"] = f"{last_val[-1]:.3f}"
            bar.set_postfix(postfix, refresh=False)
            return
        log.write(record)
        if event == "val":
            last_val.append(record["loss"])
            if record["is_best"]:
                trainer.save(best, volume_prior=volume_prior, extra=extra, resumable=False)
        elif event == "checkpoint":
            trainer.save(last, volume_prior=volume_prior, extra=extra)

    try:
        result = trainer.run(on_event)
    finally:
        bar.close()
    if not best.exists():  # no validation improved on nothing (resumed at the end)
        trainer.save(best, volume_prior=volume_prior, extra=extra, resumable=False)
    trainer.save(last, volume_prior=volume_prior, extra=extra)
    log.write({"event": "end", "step": trainer.step, "val_loss": result.loss,
               "best_val_loss": trainer.best_val_loss})
    print(f"chggen train: {trainer.step} steps, validation loss {result.loss:.4f} "
          f"(best {trainer.best_val_loss:.4f}); checkpoints in {out}")
    return 0


def _check_resume_settings(config: TrainConfig, payload: dict[str, Any], path: Path) -> None:
    stored = payload["training_state"].get("settings", {})
    for key in _RESUME_FIXED:
        if key in stored and stored[key] != getattr(config.train, key):
            raise TrainConfigError(
                f"cannot resume {str(path)!r} with train.{key} = {getattr(config.train, key)!r}: "
                f"the run was started with {stored[key]!r}"
            )
