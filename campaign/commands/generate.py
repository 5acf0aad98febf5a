"""``chggen generate FORMULA``: the whole CHGGen chain for one composition, in one process.

Unconditional generation in random Bravais lattices at ``V = N * V0``, CHGNet relaxation
and E_d; with ``--mode inpaint|both`` the best relaxed candidates' frameworks are refined
and their guests (``--guest Li``) inpainted back, relaxed and scored; ``--mode
inpaint-symmetric`` places the guests on Wyckoff orbits of the refined framework's space
group. Rows go to the results folder (``--out``, the campaign's Parquet schema) and the
ranked candidates are printed. ``--mode inpaint`` (and ``inpaint-symmetric``) still runs
(and saves) the unconditional hosts but ranks only the inpainted candidates.

The shared options (model, sampler, relaxation, hull, output) are defined here and reused
by ``chggen inpaint``. Exit codes: 0 success, 1 nothing succeeded, 2 bad input.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from campaign.model_loading import LoadedModel
    from campaign.single_process import ChainResult

__all__ = [
    "add_shared_arguments",
    "cell_composition",
    "print_results",
    "register",
    "relax_settings_from_args",
    "run",
    "sampler_settings_from_args",
]

MODES = ("unconditional", "inpaint", "both", "inpaint-symmetric")
REPORTED_MODES = ("unconditional", "inpaint", "inpaint-symmetric")
# argparse dest -> SamplerSettings field
SAMPLER_OPTIONS = {
    "n_levels": "n_levels",
    "n_corrector": "n_corrector_steps",
    "snr": "snr",
    "sigma_max": "sigma_max",
    "sigma_min": "sigma_min",
    "resample_passes": "resample_passes",
    "jump_length": "jump_length",
    "corrector_step_rule": "corrector_step_rule",
    "max_atoms_per_batch": "max_atoms_per_batch",
}


class InputError(ValueError):
    """Bad command-line input (exit code 2)."""


def add_shared_arguments(p: argparse.ArgumentParser) -> None:
    """Model, sampler, relaxation, hull and output options of generate and inpaint."""
    p.add_argument("--n-samples", type=int, default=4, help="candidates to sample (default 4)")
    p.add_argument("--checkpoint", default=None,
                   help="score-model checkpoint (default: the model shipped with chggen)")
    p.add_argument("--hull", default="offline",
                   help="reference hull for E_d: offline (shipped), mp, none, or a CSV/JSON "
                   "file (formula, energy_per_atom in eV/atom); default offline")
    p.add_argument("--out", default=None, help="results folder (Parquet, campaign schema)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--device", default="cpu", help="torch device for sampling and CHGNet")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads (default: torch's choice for sampling, 1 for CHGNet)")
    p.add_argument("--top", type=int, default=20, help="rows of the printed table (default 20)")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    s = p.add_argument_group("sampler (defaults: reference settings, sigma range of the "
                             "checkpoint)")
    s.add_argument("--n-levels", type=int, help="noise levels T (default 200)")
    s.add_argument("--n-corrector", type=int, help="corrector steps per level M (default 5)")
    s.add_argument("--snr", type=float, help="corrector signal-to-noise ratio (default 0.4)")
    s.add_argument("--sigma-max", type=float, help="largest noise level, Å")
    s.add_argument("--sigma-min", type=float, help="smallest noise level, Å")
    s.add_argument("--resample-passes", type=int, help="RePaint passes (default 3)")
    s.add_argument("--jump-length", type=int, help="RePaint jump length in levels (default 10)")
    s.add_argument("--corrector-step-rule", choices=("per_atom", "per_crystal"))
    s.add_argument("--max-atoms-per-batch", type=int, help="atoms per score-model call")
    r = p.add_argument_group("relaxation (CHGNet, FIRE + FrechetCellFilter)")
    r.add_argument("--fmax", type=float, default=0.1, help="force threshold, eV/Å (default 0.1)")
    r.add_argument("--max-steps", type=int, default=500, help="optimiser steps (default 500)")
    w = p.add_argument_group("symmetric inpainting (guests on Wyckoff orbits)")
    w.add_argument("--max-wyckoff-combinations", type=int, default=64,
                   help="most combinations of Wyckoff positions per host; sample k takes "
                   "combination k mod their number (default 64)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "generate",
        help="generate, relax and rank candidates of one composition (single process)",
        description=__doc__.split("\n\n")[1].replace("\n", " ").replace("``", ""),
    )
    p.add_argument("formula", help="cell composition, e.g. LiSi or Li5Si2")
    p.add_argument("--mode", choices=MODES, default="unconditional",
                   help="unconditional, inpaint (guests into refined hosts), both, or "
                   "inpaint-symmetric (guests on Wyckoff orbits of the refined framework)")
    p.add_argument("--guest", default=None,
                   help="guest species for inpainting, e.g. Li or Li,Mg")
    cell = p.add_mutually_exclusive_group()
    cell.add_argument("--formula-units", type=int, default=None,
                      help="formula units per cell (default 1)")
    cell.add_argument("--atoms-per-cell", type=int, default=None,
                      help="atoms per cell (a multiple of the formula's atoms)")
    p.add_argument("--lattice-family", default="any",
                   help="Bravais family: any (default), cubic, tetragonal, orthorhombic, "
                   "monoclinic, triclinic, hexagonal, rhombohedral")
    p.add_argument("--lattice-ratio", default=None, help="axis ratios b/a:c/a, e.g. 1:1.5")
    p.add_argument("--volume-per-atom", type=float, default=None,
                   help="V0 in Å^3/atom (default: the checkpoint's volume prior)")
    p.add_argument("--samples-per-host", type=int, default=2,
                   help="inpainted candidates per host (default 2)")
    p.add_argument("--max-hosts", type=int, default=None,
                   help="hosts taken from the unconditional candidates, lowest E_d first "
                   "(default all successful ones)")
    p.add_argument("--max-atoms", type=int, default=200,
                   help="largest refined cell for inpainting, atoms (default 200)")
    add_shared_arguments(p)
    p.set_defaults(func=run)


# ------------------------------------------------------------------ shared helpers
def sampler_settings_from_args(args: argparse.Namespace, loaded: LoadedModel | None) -> Any:
    """SamplerSettings: defaults, the checkpoint's trained sigma range, then the options."""
    from chggen_kernels.sampling import SamplerSettings

    values: dict[str, Any] = {}
    if loaded is not None:
        values |= {"sigma_min": float(loaded.metadata.sigma_min),
                   "sigma_max": float(loaded.metadata.sigma_max)}
    for dest, field in SAMPLER_OPTIONS.items():
        value = getattr(args, dest, None)
        if value is not None:
            values[field] = value
    try:
        return SamplerSettings(**values)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def relax_settings_from_args(args: argparse.Namespace) -> Any:
    from chggen_kernels.relax import RelaxSettings

    extra = {} if args.threads is None else {"n_threads": args.threads}
    try:
        return RelaxSettings(fmax=args.fmax, max_steps=args.max_steps, device=args.device,
                             **extra)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def cell_composition(formula: str, formula_units: int | None, atoms_per_cell: int | None
                     ) -> dict[str, int]:
    """Atom counts of the cell from FORMULA and --formula-units / --atoms-per-cell."""
    from pymatgen.core import Element

    from campaign.compositions import CompositionError, parse_formula

    try:
        counts = parse_formula(formula)
    except CompositionError as exc:
        raise InputError(str(exc)) from None
    unknown = [el for el in counts if not Element.is_valid_symbol(el)]
    if unknown:
        raise InputError(f"formula {formula!r}: {', '.join(unknown)} not a chemical element")
    n_formula = sum(counts.values())
    units = 1 if formula_units is None else formula_units
    if atoms_per_cell is not None:
        if atoms_per_cell < 1 or atoms_per_cell % n_formula:
            raise InputError(f"--atoms-per-cell {atoms_per_cell} is not a positive multiple of "
                             f"the {n_formula} atoms of {formula}")
        units = atoms_per_cell // n_formula
    if units < 1:
        raise InputError(f"--formula-units must be >= 1, got {units}")
    return {el: n * units for el, n in counts.items()}


def print_results(result: ChainResult, modes: tuple[str, ...] | None, top: int,
                  out_dir: str | None) -> int:
    """Summary line and ranked table; returns the exit code (1 if nothing succeeded)."""
    from campaign.commands.top import format_table
    from campaign.single_process import rank_records

    records = result.records
    n_ok = sum(r.status == "ok" for r in records)
    by_mode = ", ".join(
        f"{sum(r.mode == m and r.status == 'ok' for r in records)}/"
        f"{sum(r.mode == m for r in records)} {m}"
        for m in REPORTED_MODES if any(r.mode == m for r in records)
    )
    hosts = (f"; {result.n_symmetric_hosts}/{result.n_hosts} hosts with a symmetric framework"
             if result.n_hosts else "")
    print(f"{n_ok}/{len(records)} candidates ok ({by_mode}){hosts}")
    symmetric = [r for r in records if r.mode == "inpaint-symmetric"]
    if symmetric:
        fallback = [r for r in symmetric if r.symmetric_fallback]
        print(f"{len(symmetric) - len(fallback)}/{len(symmetric)} inpaint-symmetric candidates "
              f"on Wyckoff orbits; {len(fallback)} fell back to ordinary inpainting (see the "
              "symmetric_fallback column)")
    if out_dir is not None:
        print(f"results: {out_dir}")
    ranked = rank_records(records, modes)
    if ranked.empty:
        reasons = sorted({(r.failure_reason or "?").split(":")[0] for r in records
                          if r.status != "ok"})
        print(f"chggen: no successful candidate to rank (failures: {', '.join(reasons)}; see "
              "the failure_reason column)", file=sys.stderr)
        return 1
    print(format_table(ranked.head(top)))
    return 0


def log_to_stderr(args: argparse.Namespace) -> Any:
    if args.quiet:
        return None
    return lambda line: print(line, file=sys.stderr, flush=True)


def load_for_args(args: argparse.Namespace) -> LoadedModel:
    from campaign.model_loading import ModelNotAvailableError, load_model

    try:
        return load_model(args.checkpoint, device=args.device)
    except ModelNotAvailableError as exc:
        raise InputError(str(exc)) from None


def set_threads(args: argparse.Namespace) -> None:
    if args.threads is not None:
        if args.threads < 1:
            raise InputError(f"--threads must be >= 1, got {args.threads}")
        import torch

        torch.set_num_threads(args.threads)


# ------------------------------------------------------------------ command
def _execute(args: argparse.Namespace) -> int:
    from campaign.single_process import (
        load_relaxer,
        make_hull_provider,
        resolve_volume_per_atom,
        run_chain,
        unconditional_specs,
    )
    from chggen_kernels.workflow import format_composition

    composition = cell_composition(args.formula, args.formula_units, args.atoms_per_cell)
    inpaint = args.mode in ("inpaint", "both", "inpaint-symmetric")
    guests: list[str] = []
    if args.guest:
        guests = [g.strip() for g in args.guest.split(",") if g.strip()]
        missing = [g for g in guests if g not in composition]
        if missing:
            raise InputError(f"--guest {','.join(missing)} not in {args.formula} "
                             f"(elements: {', '.join(composition)})")
        if set(guests) >= set(composition):
            raise InputError(f"--guest {args.guest}: nothing of {args.formula} would be left "
                             "as the host framework")
    if inpaint and not guests:
        raise InputError(f"--mode {args.mode} needs --guest (e.g. --guest Li)")
    for name in ("samples_per_host", "max_hosts", "max_atoms", "max_wyckoff_combinations"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise InputError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    set_threads(args)
    chemsys = "-".join(sorted(composition))
    hull = make_hull_provider(args.hull, chemsys)
    relax_settings = relax_settings_from_args(args)
    loaded = load_for_args(args)
    sampler_settings = sampler_settings_from_args(args, loaded)
    v0, v0_source = resolve_volume_per_atom(composition, args.volume_per_atom,
                                            loaded.volume_prior)
    specs = unconditional_specs(composition, args.n_samples, args.seed, v0,
                                args.lattice_family, args.lattice_ratio)
    out_dir = args.out or f"chggen_generate_{format_composition(composition)}"
    log = log_to_stderr(args)
    if log:
        log(f"{format_composition(composition)}: {args.n_samples} samples, V0 {v0:.3f} "
            f"Å^3/atom ({v0_source}), model {loaded.label}, hull {hull.name if hull else 'none'}")
    result = run_chain(
        specs, score_fn=loaded.model, sampler_settings=sampler_settings,
        relaxer=load_relaxer(relax_settings), hull=hull, model_checkpoint=loaded.label,
        guest_species=guests, inpaint=inpaint, samples_per_host=args.samples_per_host,
        inpaint_mode="inpaint-symmetric" if args.mode == "inpaint-symmetric" else "inpaint",
        max_combinations=args.max_wyckoff_combinations,
        max_hosts=args.max_hosts, max_atoms=args.max_atoms, seed=args.seed, out_dir=out_dir,
        log=log, device=args.device,
    )
    modes = (args.mode,) if args.mode in ("inpaint", "inpaint-symmetric") else None
    return print_results(result, modes, args.top, out_dir)


def run(args: argparse.Namespace) -> int:
    from campaign.results import ResultsError
    from campaign.single_process import ChainError

    try:
        return _execute(args)
    except (InputError, ChainError) as exc:
        print(f"chggen {args.command}: {exc}", file=sys.stderr)
        return 2
    except ResultsError as exc:
        print(f"chggen {args.command}: {exc}", file=sys.stderr)
        return 1
