"""``chggen model info [--checkpoint PATH] [--json]``: the model card of a score model.

Prints what the checkpoint says about itself: parameter count and architecture, trained
noise range (Å), optimiser steps and wall time, training data per source and chemical
system, validation DSM loss per sigma range against the untrained model, the measured
generation quality (symmetric share with Wilson intervals, median relaxation ΔE in eV/atom
and RMSD in Å, per chemical system and mode), the formulas held out for testing, and the
per-element volume prior (Å^3/atom) used for lattice search. Errors go to stderr.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

__all__ = ["model_card", "register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("model", help="inspect score-model checkpoints")
    msub = p.add_subparsers(dest="model_command", metavar="ACTION")
    info = msub.add_parser("info", help="print the model card of a checkpoint")
    info.add_argument("--checkpoint", default=None,
                      help="checkpoint file (default: the model shipped with chggen)")
    info.add_argument("--json", action="store_true", help="print the card as JSON")
    info.set_defaults(func=run)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def model_card(checkpoint: str | None) -> dict[str, Any]:
    """The model card of ``checkpoint`` (None: the shipped default) as a plain dict."""
    from campaign.stages.resources import load_model

    loaded = load_model(checkpoint)
    md = loaded.metadata
    extra = dict(md.extra)
    settings = extra.pop("settings", {})
    config = loaded.model.config.to_dict()
    return {
        "checkpoint": loaded.label,
        "n_parameters": int(sum(p.numel() for p in loaded.model.parameters())),
        "model_config": config,
        "sigma_range_A": [md.sigma_min, md.sigma_max],
        "steps": md.steps,
        "wall_time_s": round(md.wall_time_s, 1),
        "best_val_loss": md.best_val_loss,
        "data_hash": md.data_hash,
        "training": extra,
        "train_settings": settings,
        "volume_prior_A3_per_atom": dict(md.volume_prior or {}),
    }


def _format(card: dict[str, Any]) -> str:
    cfg = card["model_config"]
    training = card["training"]
    lines = [
        f"checkpoint        {card['checkpoint']}",
        f"parameters        {card['n_parameters']:,}",
        f"architecture      {cfg.get('n_layers')} layers, hidden {cfg.get('hidden_irreps')}, "
        f"cutoff {cfg.get('cutoff')} Å, max neighbours {cfg.get('max_neighbors')}, "
        f"noise conditioning {cfg.get('noise_conditioning')}",
        f"sigma range       {card['sigma_range_A'][0]} - {card['sigma_range_A'][1]} Å",
        f"training          {card['steps']} steps, {card['wall_time_s']} s wall, "
        f"train/val crystals {training.get('n_train')}/{training.get('n_val')}",
        f"best val loss     {card['best_val_loss']}",
    ]
    untrained = training.get("untrained_val_by_bin")
    final = training.get("final_val_by_bin")
    if untrained:
        lines.append("val DSM loss by sigma range (trained vs untrained):")
        for key, value in untrained.items():
            trained = final.get(key) if final else None
            shown = f"{trained:.4f}" if trained is not None else "n/a"
            lines.append(f"  {key:<18} {shown:>8}  vs {value:.4f}")
    if training.get("sources"):
        lines.append("training data by source: " + ", ".join(
            f"{k} {v}" for k, v in sorted(training["sources"].items())))
    extra_data = training.get("extra_data") or {}
    if extra_data.get("files"):  # runs before per-file repeats recorded one for all files
        lines.append("more training data (crystals kept x times repeated): " + ", ".join(
            f"{Path(path).name} of {Path(path).parent.name} {v.get('kept')} x "
            f"{v.get('repeat', extra_data.get('repeat'))}"
            for path, v in extra_data["files"].items()))
    start = (training.get("run") or {}).get("init_from")
    if start:
        lines.append(f"warm start from   {Path(str(start.get('path'))).name} (sha256 "
                     f"{str(start.get('sha256'))[:12]}, {start.get('steps')} steps)")
    systems = training.get("chemical_systems")
    if systems:
        top = list(systems.items())[:12]
        lines.append("training data by chemical system (top 12 of "
                     f"{len(systems)}): " + ", ".join(f"{k} {v}" for k, v in top))
    lines += _quality_lines(training.get("quality"))
    lines += _split_lines(training.get("split"))
    prior = card["volume_prior_A3_per_atom"]
    if prior:
        shown = ", ".join(f"{el} {v:.1f}" for el, v in sorted(prior.items()) if v > 0)
        lines.append(f"volume prior (Å^3/atom, {len(prior)} elements): {shown}")
    return "\n".join(lines)


def _quality_lines(quality: dict[str, Any] | None) -> list[str]:
    if not quality:
        return ["measured quality  not recorded in this checkpoint"]
    lines = [f"measured quality ({quality.get('sampler')}, {quality.get('samples_per_cell')} "
             f"samples per cell size, seed {quality.get('seed')}; sizes "
             f"{', '.join(quality.get('sizes') or [])}):",
             f"  {'system':<8} {'mode':<18} {'n':>3} {'relaxed':>7} {'symmetric':>9} "
             f"{'rate [95 % CI]':<18} {'median dE eV/atom':>17} {'median RMSD Å':>13}"]
    for row in quality.get("systems", []):
        rate, ci = row.get("symmetry_success_rate"), row.get("symmetry_success_rate_ci95")
        rate_text = "-" if rate is None else (
            f"{100 * rate:.0f} % [{100 * ci[0]:.0f}-{100 * ci[1]:.0f}]" if ci else
            f"{100 * rate:.0f} %")
        de, rmsd = row.get("median_delta_e_relax"), row.get("median_rmsd_relax")
        lines.append(f"  {row['system']:<8} {row['mode']:<18} {row['n_samples']:>3} "
                     f"{row['n_relaxed']:>7} {row['n_symmetric']:>9} {rate_text:<18} "
                     f"{'-' if de is None else f'{de:.3f}':>17} "
                     f"{'-' if rmsd is None else f'{rmsd:.3f}':>13}")
    reference = {row["system"]: row for row in quality.get("frameworks_reference_ladder", [])}
    for row in quality.get("frameworks", []):
        ref = reference.get(row["system"])
        ref_text = "" if ref is None else (
            f"; spglib alone (reference ladder): {ref['n_above_p1bar']}/{ref['n_frameworks']}")
        lines.append(f"  {row['system']:<8} frameworks (guests removed, symmetry ladder): "
                     f"{row['n_above_p1']}/{row['n_frameworks']} above P1, "
                     f"{row['n_above_p1bar']}/{row['n_frameworks']} above P-1 (inpainted)"
                     f"{ref_text}")
    return lines


def _split_lines(split: dict[str, Any] | None) -> list[str]:
    if not split:
        return []
    formulas = split.get("test_formulas") or []
    forced = split.get("forced_test_formulas") or []
    return [f"held-out test formulas ({len(formulas)}, never trained on; forced: "
            f"{', '.join(forced) or 'none'}): " + ", ".join(formulas)]


def run(args: argparse.Namespace) -> int:

    card = model_card(args.checkpoint)
    print(json.dumps(card, indent=1, default=str) if args.json else _format(card))
    return 0
