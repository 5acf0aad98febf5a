"""Measured quality of a score model: validation DSM loss and the CHGGen generation metrics.

1. Validation DSM loss per sigma bin ([0.01, 0.1), [0.1, 1), [1, 10] Å) of the checkpoint
   and of an untrained model of the same configuration, on the same held-out crystals with
   the same fixed noise draws (``--validation-parquet``, training-format Parquet). When the
   checkpoint lists its ``validation_ids``, those crystals are used; when the file is the
   checkpoint's own training set (same data hash), its seeded split is reproduced;
   otherwise every crystal of the file is treated as held out.
2. Generation, the paper's protocol (Fig. 4a, b, f; Fig. 6): per composition and cell size,
   ``--samples`` unconditional candidates (random Bravais lattice at V = N * V0 from the
   checkpoint's volume prior, reverse SDE, CHGNet relaxation, space group of the relaxed
   structure at 0.1 Å / 10 deg); then every relaxed unconditional candidate is a host: its
   guest species (Zn for Zn-P-S, Li for Li-Si) is removed, the framework refined with the
   symmetry ladder, the guests inpainted back (``--samples-per-host`` each), relaxed and
   classified. Only the workflow's own pieces are used (the stage runner
   ``campaign.stages.runner``, the local runner ``campaign.jobs.chain``, the planning rules of
   ``chggen_kernels.workflow``).

Groups (composition x cell size) run in ``--workers`` processes with one torch thread
each. Writes JSON (``--output``); ``--markdown`` prints the model-card tables, also from an
existing result with ``--from-json``. Sampler settings other than the reference 200 levels
x 5 corrector steps are marked ``sampler_reduced`` in the JSON and in the tables.

Cost (CPU, one torch thread per worker; a smoke run is in git history,
``git show 11c8a23:benchmarks/results/model_quality_smoke.json``):
sampling about 1,000-1,600 atom-evaluations/s, the reference 200 x 5 sampler being 1,200
evaluations per atom unconditionally and about 3,500 with RePaint (3 passes); CHGNet
relaxation about 0.5-1 s per atom. Inpainted cells are often the conventional cell (2x
atoms). The default sizes at ``--samples 20`` take about 2 h with 2 workers on 2 idle
cores, about 6 h on one busy core.

    nice -n 5 python benchmarks/eval_model_quality.py --samples 20 --workers 2 \\
        --validation-parquet train.parquet --markdown
    python benchmarks/eval_model_quality.py --from-json benchmarks/results/model_quality.json \\
        --markdown
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _model_quality_groups import (  # noqa: E402
    DEFAULT_GUESTS,
    DEFAULT_SIZES,
    REFERENCE_CORRECTORS,
    REFERENCE_LEVELS,
    REFERENCE_RELAX_STEPS,
    Group,
    available_modes,
    parse_sizes,
)
from _model_quality_groups import MAX_ATOMS as MAX_ATOMS  # noqa: E402 - re-exported
from _model_quality_groups import ROW_COLUMNS as ROW_COLUMNS  # noqa: E402 - re-exported
from _model_quality_runs import evaluate_group  # noqa: E402
from _model_quality_runs import (  # noqa: E402 - re-exported
    framework_spacegroups as framework_spacegroups,
)
from stamp import stamp  # noqa: E402


# ---------------------------------------------------------------------------- arguments
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default="", help="score model (default: the shipped one)")
    p.add_argument("--validation-parquet", default=None, help="training-format Parquet")
    p.add_argument("--val-draws", type=int, default=None,
                   help="noise draws per validation crystal (default: the checkpoint's)")
    p.add_argument("--val-limit", type=int, default=None,
                   help="use only the first N held-out crystals (quick checks)")
    p.add_argument("--samples", type=int, default=20,
                   help="unconditional samples per composition and cell size (0: none)")
    p.add_argument("--samples-per-host", type=int, default=1,
                   help="inpainted samples per relaxed unconditional host")
    p.add_argument("--sizes", nargs="+", default=list(DEFAULT_SIZES),
                   help="FORMULA:Z[,Z...] formula units per cell (default: %(default)s)")
    p.add_argument("--guest", nargs="*", default=[],
                   help="CHEMSYS=ELEMENT guest species (defaults: P-S-Zn=Zn Li-Si=Li)")
    p.add_argument("--modes", nargs="+", default=["unconditional", "inpaint"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--levels", type=int, default=REFERENCE_LEVELS)
    p.add_argument("--correctors", type=int, default=REFERENCE_CORRECTORS)
    p.add_argument("--relax-steps", type=int, default=REFERENCE_RELAX_STEPS)
    p.add_argument("--fmax", type=float, default=0.1, help="eV/Å")
    p.add_argument("--hull", default="none",
                   help="E_d source: none | mp | offline | file (the shipped offline hull holds "
                        "no known P-S or Zn-P-S ternary phase, only our own build's entries "
                        "there: its Zn-P-S E_d are not comparable with the paper's)")
    p.add_argument("--workers", type=int, default=1, help="processes, one torch thread each")
    p.add_argument("--device", default="cpu", help="sampling device (relaxation: CPU)")
    p.add_argument("--output", type=Path,
                   default=ROOT / "benchmarks" / "results" / "model_quality.json")
    p.add_argument("--markdown", action="store_true", help="print the model-card tables")
    p.add_argument("--from-json", type=Path, default=None,
                   help="only render --markdown from an existing result")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse and check the arguments; bad values exit with a message naming the option."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.from_json is not None:
        if not args.from_json.is_file():
            parser.error(f"--from-json {str(args.from_json)!r} does not exist")
        return args
    for name, minimum in (("samples", 0), ("samples_per_host", 1), ("levels", 2),
                          ("correctors", 0), ("relax_steps", 1), ("workers", 1)):
        if getattr(args, name) < minimum:
            parser.error(f"--{name.replace('_', '-')} must be >= {minimum}, "
                         f"got {getattr(args, name)}")
    for name in ("val_draws", "val_limit"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if not args.fmax > 0:
        parser.error(f"--fmax must be > 0 eV/Å, got {args.fmax}")
    modes = available_modes()
    for mode in args.modes:
        if mode not in modes:
            parser.error(f"--modes: {mode!r} is not available in this chggen "
                         f"(available: {', '.join(modes)})")
    args.modes = list(dict.fromkeys(args.modes))
    if any(m != "unconditional" for m in args.modes) and "unconditional" not in args.modes:
        parser.error("--modes: inpainting needs 'unconditional' (its hosts come from it)")
    if args.validation_parquet and not Path(args.validation_parquet).exists():
        parser.error(f"--validation-parquet {args.validation_parquet!r} does not exist")
    if args.checkpoint and not Path(args.checkpoint).is_file():
        parser.error(f"--checkpoint {args.checkpoint!r} does not exist")
    guests = dict(DEFAULT_GUESTS)
    for item in args.guest:
        chemsys, sep, element = item.partition("=")
        if not sep or not element:
            parser.error(f"--guest: expected CHEMSYS=ELEMENT such as 'Li-Si=Li', got {item!r}")
        guests["-".join(sorted(chemsys.split("-")))] = element
    try:
        args.groups = parse_sizes(args.sizes, guests) if args.samples else []
    except ValueError as exc:
        parser.error(str(exc))
    if args.samples == 0 and not args.validation_parquet:
        parser.error("nothing to do: --samples 0 and no --validation-parquet")
    return args


# ---------------------------------------------------------------------------- generation
def make_relaxer(fmax: float, max_steps: int) -> Any:
    """CHGNet relaxer, one thread (tests replace this function with a fake)."""
    from campaign.stages.resources import load_relaxer
    from chggen_kernels.relax import RelaxSettings

    return load_relaxer(RelaxSettings(fmax=fmax, max_steps=max_steps, n_threads=1))


def make_context(options: dict[str, Any]) -> dict[str, Any]:
    """Everything a worker needs, loaded once per process."""
    import torch

    from campaign.stages.runner import RunnerSettings, StageRunner

    torch.set_num_threads(1)
    runner = StageRunner(
        RunnerSettings(checkpoint=options["checkpoint"] or "", sampler=options["sampler"],
                       hull=options["hull"], device=options["device"]),
        relaxer=make_relaxer(options["fmax"], options["relax_steps"]))
    runner.load()
    return {**options, "runner": runner}


_CONTEXT: dict[str, Any] = {}


def _worker_init(options: dict[str, Any]) -> None:
    _CONTEXT.update(make_context(options))


def _worker_run(group: Group) -> dict[str, Any]:
    def log(message: str) -> None:
        print(f"[{group.formula} Z={group.z}] {message}", file=sys.stderr, flush=True)

    try:
        return evaluate_group(group, _CONTEXT, log)
    except Exception as exc:  # one broken group must not lose the others
        return {"group": dataclasses.asdict(group), "rows": [], "hosts": {},
                "error": f"{type(exc).__name__}: {exc}"}


def run_groups(groups: list[Group], options: dict[str, Any], workers: int) -> list[dict]:
    """All groups, largest cells first, in ``workers`` spawned processes (1: in-process)."""
    ordered = sorted(groups, key=lambda g: -g.atoms_per_cell)
    if workers == 1 or len(ordered) == 1:
        _worker_init(options)
        return [_worker_run(g) for g in ordered]
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(min(workers, len(ordered)), _worker_init,
                                                   (options,)) as pool:
        return list(pool.imap_unordered(_worker_run, ordered))


# ---------------------------------------------------------------------------- main
def _checkpoint_info(checkpoint: str) -> dict[str, Any]:
    from campaign.stages.resources import default_model_path, load_model

    path = Path(checkpoint) if checkpoint else default_model_path()
    loaded = load_model(checkpoint or None)
    return {"path": str(path), "label": loaded.label,
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "data_hash": loaded.metadata.data_hash, "steps": loaded.metadata.steps}


def summarize(rows: list[dict[str, Any]], results: list[dict[str, Any]]) -> dict[str, Any]:
    """Summaries per group (formula x cell size x mode, with the host counts of the
    inpainting modes), per system x mode x cell size, per system x mode, per system, per
    mode."""
    from chggen_kernels.evaluation import summarize_by, summarize_frameworks, summarize_rows

    groups = summarize_by(rows, ["system", "formula", "atoms_per_cell", "mode"])
    by_key = {(g["formula"], g["atoms_per_cell"], g["mode"]): g for g in groups}
    for run in results:
        group = run["group"]
        n_atoms = sum(group["composition"].values())
        for mode in ["unconditional", *run.get("hosts", {})]:
            key = (group["formula"], n_atoms, mode)
            if key not in by_key:  # e.g. an inpainting mode without a symmetric framework
                by_key[key] = {"system": group["system"], "formula": group["formula"],
                               "atoms_per_cell": n_atoms, "mode": mode} | summarize_rows([])
            by_key[key] |= {"z": group["z"], "hosts": run.get("hosts", {}).get(mode)}
    modes = {m: k for k, m in enumerate(available_modes())}

    def order(keys: list[str]) -> Any:
        return lambda g: tuple(modes.get(g[k], 99) if k == "mode" else g[k] for k in keys)

    def by(keys: list[str]) -> list[dict[str, Any]]:
        return sorted(summarize_by(rows, keys), key=order(keys))

    groups = sorted(by_key.values(), key=order(["system", "formula", "atoms_per_cell", "mode"]))
    return {"groups_summary": groups,
            "by_atoms_per_cell": by(["system", "mode", "atoms_per_cell"]),
            "systems_summary": by(["system", "mode"]),
            "systems_all_modes": by(["system"]),
            "modes_summary": by(["mode"]),
            "frameworks_summary": summarize_frameworks(
                r for r in results if "framework_spacegroups" in r),
            "frameworks_summary_reference_ladder": summarize_frameworks(
                (r for r in results if "framework_spacegroups" in r),
                key="framework_spacegroups_reference_ladder")}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from chggen_kernels.evaluation import markdown_report

    if args.from_json is not None:
        print(markdown_report(json.loads(args.from_json.read_text())))
        return 0
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    import torch

    torch.set_num_threads(1)
    t0, load_start = time.perf_counter(), os.getloadavg()
    sampler = {"n_levels": args.levels, "n_corrector_steps": args.correctors}
    reduced = (args.levels, args.correctors) != (REFERENCE_LEVELS, REFERENCE_CORRECTORS)
    options = {"checkpoint": args.checkpoint, "device": args.device, "sampler": sampler,
               "fmax": args.fmax, "relax_steps": args.relax_steps, "hull": args.hull,
               "samples": args.samples, "samples_per_host": args.samples_per_host,
               "seed": args.seed, "modes": args.modes}
    validation = None
    if args.validation_parquet:
        from campaign.stages.resources import default_model_path
        from chggen_kernels.evaluation import validation_loss_comparison
        from chggen_kernels.training import load_training_data

        data = load_training_data(args.validation_parquet, on_invalid="skip")
        validation = validation_loss_comparison(
            args.checkpoint or default_model_path(), data, noise_draws=args.val_draws,
            limit=args.val_limit) | {"parquet": str(args.validation_parquet)}
        print(f"validation DSM loss: {json.dumps(validation['bins'])}", file=sys.stderr)
    results = run_groups(args.groups, options, args.workers) if args.groups else []
    rows = [row for r in results for row in r["rows"]]
    from campaign.stages.resources import checkpoint_metadata_of, resolve_sampler_settings

    # what the runs sampled with: the default preset, the checkpoint's sigma range, --levels
    # and --correctors (as RunnerSettings resolves them)
    resolved = resolve_sampler_settings(sampler, checkpoint_metadata_of(args.checkpoint))
    result = {
        "stamp": stamp(argv, __file__),
        "benchmark": "model_quality",
        "checkpoint": _checkpoint_info(args.checkpoint),
        "settings": {"sampler": resolved.to_dict(),
                     "sampler_reduced": reduced,
                     "relax": {"fmax": args.fmax, "max_steps": args.relax_steps,
                               "reduced": args.relax_steps < REFERENCE_RELAX_STEPS},
                     "samples": args.samples, "samples_per_host": args.samples_per_host,
                     "sizes": args.sizes, "modes": args.modes, "seed": args.seed,
                     "hull": args.hull, "workers": args.workers, "device": args.device,
                     "symmetry": "spglib at symprec 0.1 Å, angle 10 deg; symmetric = sg > 2",
                     "argv": sys.argv[1:] if argv is None else argv},
        "validation": validation,
        **summarize(rows, results),
        "group_runs": [{k: v for k, v in r.items() if k != "rows"} for r in results],
        "rows": rows,
        "wall_time_s": time.perf_counter() - t0,
        "machine": {"python": platform.python_version(), "torch": torch.__version__,
                    "cpus": len(os.sched_getaffinity(0)), "torch_threads": 1,
                    "load_average_start": load_start, "load_average_end": os.getloadavg()},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(f"wrote {args.output} ({len(rows)} candidates, {result['wall_time_s']:.0f} s)",
          file=sys.stderr)
    if args.markdown:
        print(markdown_report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
