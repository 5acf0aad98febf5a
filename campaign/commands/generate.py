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

from chggen_kernels.errors import InputError
from chggen_kernels.relax.settings import DEFAULT_MLIP

if TYPE_CHECKING:  # pragma: no cover
    from campaign.local import ChainResult
    from campaign.runner import StageRunner

__all__ = [
    "add_shared_arguments",
    "build_runner_for_args",
    "cell_composition",
    "print_results",
    "register",
    "run",
    "warn_hull_coverage",
]

MODES = ("unconditional", "inpaint", "both", "inpaint-symmetric", "symmetric", "template")
REPORTED_MODES = ("unconditional", "inpaint", "inpaint-symmetric", "symmetric", "template")
# SamplerSettings field -> option
SAMPLER_OPTIONS = {
    "n_levels": "--n-levels",
    "n_corrector_steps": "--n-corrector",
    "snr": "--snr",
    "sigma_max": "--sigma-max",
    "sigma_min": "--sigma-min",
    "resample_passes": "--resample-passes",
    "jump_length": "--jump-length",
    "corrector_step_rule": "--corrector-step-rule",
    "max_atoms_per_batch": "--max-atoms-per-batch",
    "method": "--sampler-method",
    "start_sigma": "--start-sigma",
    "corrector_sigma_max": "--corrector-sigma-max",
    "inpaint_n_levels": "--inpaint-n-levels",
    "inpaint_n_corrector_steps": "--inpaint-n-corrector",
}
RELAX_OPTIONS = {"fmax": "--fmax", "max_steps": "--max-steps", "mlip": "--mlip"}
INPAINT_OPTIONS = {"samples_per_host": "--samples-per-host", "hosts_per_task": "--max-hosts",
                   "max_atoms": "--max-inpaint-atoms",
                   "max_wyckoff_combinations": "--max-wyckoff-combinations"}


def add_shared_arguments(p: argparse.ArgumentParser) -> None:
    """Model, sampler, relaxation, hull and output options of generate and inpaint (sampler
    and relaxation options and their defaults come from the settings classes)."""
    from campaign.options import (
        add_limit_options,
        add_settings_options,
        int_at_least,
        sampler_defaults,
    )
    from chggen_kernels.relax import RelaxSettings
    from chggen_kernels.sampling import (
        CORRECTOR_STEP_RULES,
        DEFAULT_PRESET,
        SAMPLER_METHODS,
        SAMPLER_PRESETS,
        SamplerSettings,
    )
    from chggen_kernels.thermo import DEFAULT_HULL_SOURCE

    p.add_argument("--n-samples", type=int, default=4, help="candidates to sample (default 4)")
    p.add_argument("--checkpoint", default=None,
                   help="score-model checkpoint (default: the model shipped with chggen)")
    p.add_argument("--hull", default=DEFAULT_HULL_SOURCE,
                   help="reference hull for E_d: offline (shipped; with another --mlip than "
                   "chgnet, its known phases relaxed with that potential, cached), mp, none, "
                   "or a CSV/JSON file (formula, energy_per_atom in eV/atom); default "
                   f"{DEFAULT_HULL_SOURCE}")
    p.add_argument("--out", default=None, help="results folder (Parquet, campaign schema)")
    p.add_argument("--new-folder", action="store_true",
                   help="when the results folder was written with other settings (model, "
                   "sampler, relaxation, hull), write to <folder>-<settings hash> instead of "
                   "refusing")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--device", default="cpu", help="torch device for sampling and CHGNet")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads (default: torch's choice for sampling, 1 for CHGNet)")
    p.add_argument("-n", "--top", dest="top", type=int_at_least(1), default=20,
                   help="rows of the printed table (default 20)")
    p.add_argument("--quiet", "--no-progress", dest="quiet", action="store_true",
                   help="no progress on stderr (a bar on a terminal, a line every 30 s in a "
                   "log file)")
    add_limit_options(p)
    sampler = p.add_argument_group("sampler (sigma range: the checkpoint's unless given)")
    sampler.add_argument("--sampler", dest="preset", choices=tuple(SAMPLER_PRESETS),
                         default=None, help="sampler preset the options below override "
                         f"(default {DEFAULT_PRESET}; reference: 200 levels x 5 correctors)")
    add_settings_options(sampler, SamplerSettings, SAMPLER_OPTIONS,
                         {"corrector_step_rule": CORRECTOR_STEP_RULES, "method": SAMPLER_METHODS},
                         defaults=sampler_defaults())
    add_settings_options(p.add_argument_group("relaxation (FIRE + FrechetCellFilter; "
                                              "the potential: --mlip)"),
                         RelaxSettings, RELAX_OPTIONS)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "generate",
        help="generate, relax and rank candidates of one composition (single process)",
        description=__doc__.split("\n\n")[1].replace("\n", " ").replace("``", ""),
    )
    p.add_argument("formula", help="cell composition, e.g. LiSi or Li5Si2")
    p.add_argument("--mode", choices=MODES, default="unconditional",
                   help="unconditional, inpaint (guests into refined hosts), both, "
                   "inpaint-symmetric (guests on Wyckoff orbits of the refined framework), "
                   "symmetric (every atom on Wyckoff orbits drawn from the learned prior) or "
                   "template (known structures of the same stoichiometry type, "
                   "substituted, partly noised and denoised)")
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
    from campaign.options import add_settings_options
    from chggen_kernels.workflow.settings import InpaintSettings

    add_shared_arguments(p)
    add_settings_options(p.add_argument_group("inpainting"), InpaintSettings, INPAINT_OPTIONS)
    p.set_defaults(func=run)


# ------------------------------------------------------------------ shared helpers
def warn_hull_coverage(provider: Any, target: Any) -> list[str]:
    """One ``chggen: warning: ...`` line on stderr per gap of the hull for ``target`` (a
    chemical system or a composition; :mod:`chggen_kernels.thermo.coverage`), e.g.
    ``offline hull: no known ternary Mg-Si-O phase; E_d of Mg2SiO4 is measured against
    binaries only``; returns the messages."""
    from campaign.resources import hull_coverage_of

    messages = hull_coverage_of(provider, target).messages
    for message in messages:
        print(f"chggen: warning: {message}", file=sys.stderr, flush=True)
    return messages


def build_runner_for_args(args: argparse.Namespace, chemsys: str,
                          composition: Any = None) -> StageRunner:
    """The stage runner of a command: the potential first (``--mlip``; another than
    CHGNet is made at once, so that a factory that fails is refused before any
    candidate), then the hull checked for ``chemsys`` (built with that potential; its gaps
    for ``composition``, else for ``chemsys``, warned on stderr), then the model (sampler
    settings resolved against its checkpoint); CHGNet loads with the first relaxation."""
    from campaign.options import given_values
    from campaign.resources import (
        HullInputError,
        ModelNotAvailableError,
        check_potential,
        make_hull_provider,
    )
    from campaign.runner import RunnerSettings, build_runner
    from chggen_kernels.relax import RelaxSettings
    from chggen_kernels.relax.potentials import PotentialError
    from chggen_kernels.sampling import SamplerSettings
    from chggen_kernels.settings import SettingsError, strict_from_dict

    try:
        relax_values = given_values(args, RELAX_OPTIONS) | {"device": args.device}
        if args.threads is not None:
            relax_values["n_threads"] = args.threads
        relax = strict_from_dict(RelaxSettings, relax_values, "relaxation")
        check_potential(relax)
        provider = make_hull_provider(args.hull, chemsys, relax=relax,
                                      progress=not getattr(args, "quiet", False))
        if provider is not None:
            warn_hull_coverage(provider, composition if composition else chemsys)
        sampler = given_values(args, [*SAMPLER_OPTIONS, "preset"])
        strict_from_dict(SamplerSettings, sampler, "sampler")  # bad values fail before work
        runner = build_runner(RunnerSettings(checkpoint=args.checkpoint or "", sampler=sampler,
                                             relax=relax, hull=args.hull, device=args.device))
        runner.load(model=True, relaxer=False)
    except (HullInputError, ModelNotAvailableError, SettingsError) as exc:
        raise InputError(str(exc)) from None
    except PotentialError:
        raise
    except ValueError as exc:  # sigma range of the checkpoint against the given one
        raise InputError(f"sampler: {exc}") from None
    return runner


def cell_composition(formula: str, formula_units: int | None, atoms_per_cell: int | None,
                     limits: Any = None, potential: str | None = None) -> dict[str, int]:
    """Atom counts of the cell from FORMULA and --formula-units / --atoms-per-cell, within
    ``limits.atoms_per_cell`` and of elements the potential (``--mlip``, default CHGNet)
    supports."""
    from campaign.compositions import CompositionError, parse_formula
    from campaign.inputs.limits import Limits, check_limit
    from campaign.inputs.structures import check_elements

    try:
        counts = parse_formula(formula)
    except CompositionError as exc:
        raise InputError(str(exc)) from None
    n_formula = sum(counts.values())
    units = 1 if formula_units is None else formula_units
    if atoms_per_cell is not None:
        if atoms_per_cell < 1 or atoms_per_cell % n_formula:
            raise InputError(f"--atoms-per-cell {atoms_per_cell} is not a positive multiple of "
                             f"the {n_formula} atoms of {formula}")
        units = atoms_per_cell // n_formula
    if units < 1:
        raise InputError(f"--formula-units must be >= 1, got {units}")
    check_limit(limits or Limits(), "atoms_per_cell", n_formula * units,
                field=f"formula {formula!r}: atoms per cell")
    check_elements(counts, where=f"formula {formula!r}", potential=potential or DEFAULT_MLIP)
    return {el: n * units for el, n in counts.items()}


def check_sample_count(n_samples: int, limits: Any, candidates_per_sample: int = 1) -> None:
    """``--n-samples`` positive and within ``limits`` (samples of one batch; candidates
    in all, ``candidates_per_sample`` each when inpainting adds some)."""
    from campaign.inputs.limits import check_limit

    if n_samples < 1:
        raise InputError(f"--n-samples must be >= 1, got {n_samples}")
    check_limit(limits, "samples_per_task", n_samples, field="--n-samples")
    check_limit(limits, "candidates", n_samples * candidates_per_sample,
                field="planned candidates")


def print_dry_run(what: str, composition: dict[str, int], n_samples: int,
                  inpainted: int, args: argparse.Namespace) -> int:
    """The plan of a single-process command and its estimated cost; exit code 0."""
    import dataclasses

    from campaign.inputs.plan import estimate_cost
    from campaign.options import given_values
    from campaign.resources import resolve_sampler_settings

    n_atoms = sum(composition.values())
    sampler = dataclasses.asdict(resolve_sampler_settings(
        given_values(args, [*SAMPLER_OPTIONS, "preset"]), None))
    cost = estimate_cost(unconditional_atoms=n_atoms * n_samples,
                         inpainting_atoms=n_atoms * inpainted, sampler=sampler, workers=1,
                         cpus=float(args.threads or 1))
    print(f"{what}: {n_samples} samples of {n_atoms} atoms"
          + (f" + at most {inpainted} inpainted" if inpainted else "")
          + f"; one process; out {args.out or '(default folder)'}")
    print(cost.line())
    print("dry run: nothing started")
    return 0


def check_lattice_options(family: str | None, ratio: str | None) -> None:
    """Refuse a bad ``--lattice-ratio`` (not ``b/a:c/a`` with positive numbers) or one
    given for a family without free axis ratios, before the model is loaded."""
    from campaign.config import RATIO_FREE_FAMILIES
    from chggen_kernels.workflow.planning import parse_lattice_ratio

    try:
        parse_lattice_ratio(ratio)
    except ValueError as exc:
        raise InputError(f"--lattice-ratio {ratio!r}: {exc}") from None
    if ratio and family in RATIO_FREE_FAMILIES and family != "any":
        raise InputError(f"--lattice-ratio {ratio!r}: the {family} lattice has no free axis "
                         "ratio")


def print_results(result: ChainResult, modes: tuple[str, ...] | None, top: int,
                  out_dir: str | None) -> int:
    """Summary line and ranked table; returns the exit code (1 if nothing succeeded).

    When an inpainting mode was asked for but no host framework refined, the unconditional
    candidates are ranked instead, with a line saying how many hosts refined and why none
    qualified (exit 0).
    """
    from campaign.commands.top import format_table, group_duplicates
    from campaign.local import rank_table

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
    ranked = rank_table(records, modes)
    if ranked.empty and modes and result.unconditional and not result.n_symmetric_hosts:
        print(f"no inpainting: {result.n_symmetric_hosts} of {result.n_hosts} hosts have a "
              "framework that refines above P-1 (the symmetry ladder keeps them P1/P-1 after "
              "the guests are removed); ranking the unconditional candidates instead")
        ranked = rank_table(records, ("unconditional",))
    if ranked.empty:
        reasons = sorted({(r.failure_reason or "?").split(":")[0] for r in records
                          if r.status != "ok"})
        print(f"chggen: no successful candidate to rank (failures: {', '.join(reasons)}; see "
              "the failure_reason column)", file=sys.stderr)
        return 1
    print(format_table(group_duplicates(ranked, top)))  # as chggen top groups them
    return 0


def check_output_folder(folder: str) -> None:
    """Refuse (one line, exit 1) an existing results folder holding a foreign entry, an
    unreadable part or a part of another schema, before any model is loaded."""
    from pathlib import Path

    from campaign.results import ResultStore

    if Path(folder).is_dir():
        ResultStore(folder).check_folder()


def output_folder(args: argparse.Namespace, runner: StageRunner, default: str) -> str:
    """The results folder: ``default``, or with ``--new-folder`` and other settings in it,
    ``<default>-<settings hash>``."""
    from campaign.folder import folder_for

    return folder_for(default, runner.settings, getattr(args, "new_folder", False))


def set_threads(args: argparse.Namespace) -> None:
    if args.threads is not None:
        if args.threads < 1:
            raise InputError(f"--threads must be >= 1, got {args.threads}")
        import torch

        torch.set_num_threads(args.threads)


# ------------------------------------------------------------------ command
def _guests(args: argparse.Namespace, composition: dict[str, int], inpaint: bool) -> list[str]:
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
    return guests


def inpaint_settings_from_args(args: argparse.Namespace, guests: list[str]) -> Any:
    from campaign.options import given_values
    from chggen_kernels.settings import SettingsError, strict_from_dict
    from chggen_kernels.workflow.settings import InpaintSettings

    values = given_values(args, INPAINT_OPTIONS) | {"guest_species": tuple(guests)}
    try:
        return strict_from_dict(InpaintSettings, values, "inpainting")
    except SettingsError as exc:
        raise InputError(str(exc)) from None


def checked_request(args: argparse.Namespace) -> tuple[dict[str, int], Any, int]:
    """``generate``'s options checked before any model loads (the API's
    ``chggen.generate`` checks them here too): the cell composition, the inpainting
    settings and the inpainted candidates per sample (0 without inpainting)."""
    from campaign.options import limits_from_args
    from chggen_kernels.relax.potentials import check_potential_name

    limits = limits_from_args(args)
    potential = args.mlip or DEFAULT_MLIP
    check_potential_name(potential)  # an unknown or unimportable potential: one line, exit 2
    composition = cell_composition(args.formula, args.formula_units, args.atoms_per_cell,
                                   limits, potential)
    check_lattice_options(args.lattice_family, args.lattice_ratio)
    inpaint = args.mode in ("inpaint", "both", "inpaint-symmetric")
    guests = _guests(args, composition, inpaint)
    settings = inpaint_settings_from_args(args, guests)
    per_host = settings.samples_per_host if inpaint else 0
    check_sample_count(args.n_samples, limits, 1 + per_host)
    return composition, settings, per_host


def planned_specs(args: argparse.Namespace, composition: dict[str, int], runner: Any
                  ) -> tuple[list[Any], float, str]:
    """The unconditional specs of ``generate`` with V0 (Å^3/atom) and where it came from:
    given, else the loaded checkpoint's volume prior."""
    from campaign.local import plan_starts, plan_unconditional
    from campaign.resources import resolve_volume_per_atom
    from chggen_kernels.workflow.starts import START_MODES

    try:
        v0, v0_source = resolve_volume_per_atom(composition, args.volume_per_atom,
                                                runner.volume_prior)
        if args.mode in START_MODES:
            specs = plan_starts(args.mode, composition, args.n_samples, args.seed, v0)
        else:
            specs = plan_unconditional(composition, args.n_samples, args.seed, v0,
                                       volume_given=args.volume_per_atom,
                                       lattice_family=args.lattice_family,
                                       lattice_ratio=args.lattice_ratio)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    return specs, v0, v0_source


def _execute(args: argparse.Namespace) -> int:
    from chggen_kernels.workflow.records import format_composition

    composition, settings, per_host = checked_request(args)
    if args.dry_run:
        return print_dry_run(f"generate {format_composition(composition)}", composition,
                             args.n_samples, args.n_samples * per_host, args)
    from campaign.local import run_chain, stderr_log

    set_threads(args)
    default_out = args.out or f"chggen_generate_{format_composition(composition)}"
    check_output_folder(default_out)
    runner = build_runner_for_args(args, "-".join(sorted(composition)), composition)
    specs, v0, v0_source = planned_specs(args, composition, runner)
    out_dir = output_folder(args, runner, default_out)
    log = stderr_log(args.quiet)
    if log:
        log(f"{format_composition(composition)}: {args.n_samples} samples, V0 {v0:.3f} "
            f"Å^3/atom ({v0_source}), model {runner.model_label}, hull {args.hull}, "
            f"potential {runner.settings.relax.mlip}")
    modes = {"inpaint": ("inpaint",), "both": ("inpaint",),
             "inpaint-symmetric": ("inpaint-symmetric",)}.get(args.mode, ())
    result = run_chain(runner, specs, inpaint=settings, inpaint_modes=modes, seed=args.seed,
                       out_dir=out_dir, log=log)
    ranked_modes = (args.mode,) if args.mode in ("inpaint", "inpaint-symmetric") else None
    return print_results(result, ranked_modes, args.top, out_dir)


def run(args: argparse.Namespace) -> int:

    return _execute(args)
