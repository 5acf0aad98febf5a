"""``chggen generate FORMULA``: the whole CHGGen chain for one composition, in one process.

Unconditional generation in random Bravais lattices at ``V = N * V0``, CHGNet relaxation
and E_d; with ``--mode inpaint|both`` the best relaxed candidates' frameworks are refined
and their guests (``--guest Li``) inpainted back, relaxed and scored; ``--mode
inpaint-symmetric`` places the guests on Wyckoff orbits of the refined framework's space
group. Rows go to the results folder (``--out``, the campaign's Parquet schema) and the
ranked candidates are printed. ``--mode inpaint`` (and ``inpaint-symmetric``) still runs
(and saves) the unconditional hosts but ranks only the inpainted candidates.

The shared options (model, sampler, relaxation, hull, output; :mod:`.generate_options`),
the printed plan and results (:mod:`.generate_output`) and the helpers here are reused by
``chggen inpaint``. Exit codes: 0 success, 1 nothing succeeded, 2 bad input.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from campaign.commands.generate_options import (
    RELAX_OPTIONS,
    SAMPLER_OPTIONS,
    add_shared_arguments,
)
from campaign.commands.generate_output import print_dry_run, print_results
from chggen_kernels.errors import InputError
from chggen_kernels.relax.settings import DEFAULT_MLIP

if TYPE_CHECKING:  # pragma: no cover
    from campaign.stages.runner import StageRunner

__all__ = [
    "add_shared_arguments",
    "build_runner_for_args",
    "cell_composition",
    "print_results",
    "register",
    "run",
    "warn_hull_coverage",
]

MODES = ("unconditional", "inpaint", "both", "inpaint-symmetric", "symmetric", "template",
         "template-symmetric")
DEFAULT_FORMULA_UNITS = 1  # formula units per cell unless --formula-units / --atoms-per-cell
INPAINT_OPTIONS = {"samples_per_host": "--samples-per-host", "hosts_per_task": "--max-hosts",
                   "max_atoms": "--max-inpaint-atoms",
                   "max_wyckoff_combinations": "--max-wyckoff-combinations"}


def register(sub: argparse._SubParsersAction) -> None:
    from campaign.commands.options import add_settings_options, default_of
    from campaign.config.model import CampaignConfig, LatticeConfig
    from chggen_kernels.lattice import LATTICE_FAMILIES
    from chggen_kernels.workflow.settings import InpaintSettings

    family = default_of(LatticeConfig, "families")[0]
    p = sub.add_parser(
        "generate",
        help="generate, relax and rank candidates of one composition (single process)",
        description=__doc__.split("\n\n")[1].replace("\n", " ").replace("``", ""),
    )
    p.add_argument("formula", help="cell composition, e.g. LiSi or Li5Si2")
    p.add_argument("--mode", choices=MODES, default=default_of(CampaignConfig, "generation"),
                   help="unconditional, inpaint (guests into refined hosts), both, "
                   "inpaint-symmetric (guests on Wyckoff orbits of the refined framework), "
                   "symmetric (every atom on Wyckoff orbits drawn from the learned prior), "
                   "template (known structures of the same stoichiometry type, "
                   "substituted, partly noised and denoised) or template-symmetric (the "
                   "same, denoised on the template's own Wyckoff orbits)")
    p.add_argument("--guest", default=None,
                   help="guest species for inpainting, e.g. Li or Li,Mg")
    cell = p.add_mutually_exclusive_group()
    cell.add_argument("--formula-units", type=int, default=None,
                      help=f"formula units per cell (default {DEFAULT_FORMULA_UNITS})")
    cell.add_argument("--atoms-per-cell", type=int, default=None,
                      help="atoms per cell (a multiple of the formula's atoms)")
    p.add_argument("--lattice-family", default=family,
                   help=f"Bravais family: any (one drawn per candidate) or "
                   f"{', '.join(LATTICE_FAMILIES)} (default {family})")
    p.add_argument("--lattice-ratio", default=None, help="axis ratios b/a:c/a, e.g. 1:1.5")
    p.add_argument("--volume-per-atom", type=float, default=None,
                   help="V0 in Å^3/atom (default: the checkpoint's volume prior)")
    add_shared_arguments(p)
    add_settings_options(p.add_argument_group("inpainting"), InpaintSettings, INPAINT_OPTIONS)
    p.set_defaults(func=run)


# ------------------------------------------------------------------ shared helpers
def warn_hull_coverage(provider: Any, target: Any) -> list[str]:
    """One ``chggen: warning: ...`` line on stderr per gap of the hull for ``target`` (a
    chemical system or a composition; :mod:`chggen_kernels.thermo.coverage`), e.g.
    ``offline hull: no known ternary Mg-Si-O phase; E_d of Mg2SiO4 is measured against
    binaries only``; returns the messages."""
    from campaign.stages.resources import hull_coverage_of

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
    from campaign.commands.options import given_values
    from campaign.stages.resources import (
        HullInputError,
        ModelNotAvailableError,
        check_potential,
        make_hull_provider,
    )
    from campaign.stages.runner import RunnerSettings, build_runner
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
        runner = build_runner(RunnerSettings(checkpoint=args.checkpoint, sampler=sampler,
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
    from campaign.config.compositions import CompositionError, parse_formula
    from campaign.inputs.limits import Limits, check_limit
    from campaign.inputs.structures import check_elements

    try:
        counts = parse_formula(formula)
    except CompositionError as exc:
        raise InputError(str(exc)) from None
    n_formula = sum(counts.values())
    units = DEFAULT_FORMULA_UNITS if formula_units is None else formula_units
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


def check_lattice_options(family: str | None, ratio: str | None) -> None:
    """Refuse a bad ``--lattice-ratio`` (not ``b/a:c/a`` with positive numbers) or one
    given for a family without free axis ratios, before the model is loaded."""
    from campaign.config.model import RATIO_FREE_FAMILIES
    from chggen_kernels.workflow.planning import parse_lattice_ratio

    try:
        parse_lattice_ratio(ratio)
    except ValueError as exc:
        raise InputError(f"--lattice-ratio {ratio!r}: {exc}") from None
    if ratio and family in RATIO_FREE_FAMILIES and family != "any":
        raise InputError(f"--lattice-ratio {ratio!r}: the {family} lattice has no free axis "
                         "ratio")


def check_output_folder(folder: str) -> None:
    """Refuse (one line, exit 1) an existing results folder holding a foreign entry, an
    unreadable part or a part of another schema, before any model is loaded."""
    from pathlib import Path

    from campaign.engine.store import ResultStore

    if Path(folder).is_dir():
        ResultStore(folder).check_folder()


def output_folder(args: argparse.Namespace, runner: StageRunner, default: str) -> str:
    """The results folder: ``default``, or with ``--new-folder`` and other settings in it,
    ``<default>-<settings hash>``."""
    from campaign.stages.fingerprint import folder_for

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


def _check_start_mode_options(args: argparse.Namespace) -> None:
    """A start mode takes its lattice from its start and does not inpaint: options that
    would be ignored are refused, one line naming the option and its value."""
    from campaign.commands.options import given_values
    from chggen_kernels.workflow.starts import START_MODES

    if args.mode not in START_MODES:
        return
    lattice = "takes its lattice from its start"
    inpainting = f"does not inpaint (chggen scan --mode {args.mode} inpaints after it)"
    ignored = [(f"--guest {args.guest}", args.guest, inpainting),
               (f"--lattice-family {args.lattice_family}", args.lattice_family != "any",
                lattice),
               (f"--lattice-ratio {args.lattice_ratio}", args.lattice_ratio, lattice)]
    ignored += [(f"{INPAINT_OPTIONS[k]} {v}", True, inpainting)
                for k, v in given_values(args, INPAINT_OPTIONS).items()]
    for option, given, why in ignored:
        if given:
            raise InputError(f"{option}: --mode {args.mode} {why}")


def inpaint_settings_from_args(args: argparse.Namespace, guests: list[str]) -> Any:
    from campaign.commands.options import given_values
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
    from campaign.commands.options import limits_from_args
    from chggen_kernels.relax.potentials import check_potential_name

    limits = limits_from_args(args)
    potential = args.mlip or DEFAULT_MLIP
    check_potential_name(potential)  # an unknown or unimportable potential: one line, exit 2
    composition = cell_composition(args.formula, args.formula_units, args.atoms_per_cell,
                                   limits, potential)
    check_lattice_options(args.lattice_family, args.lattice_ratio)
    _check_start_mode_options(args)
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
    from campaign.jobs.chain import plan_starts, plan_unconditional, stderr_log
    from campaign.stages.resources import resolve_volume_per_atom
    from chggen_kernels.workflow.starts import START_MODES

    try:
        v0, v0_source = resolve_volume_per_atom(composition, args.volume_per_atom,
                                                runner.volume_prior)
        if args.mode in START_MODES:
            # the fallback line is a result, not progress: printed under --quiet too
            specs = plan_starts(args.mode, composition, args.n_samples, args.seed, v0,
                                log=stderr_log(False),
                                volume_given=args.volume_per_atom)
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
    from campaign.jobs.chain import run_chain, stderr_log

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
