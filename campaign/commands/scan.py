"""``chggen scan CHEMSYS``: a campaign over a whole composition line (the product's main job).

Builds a campaign configuration with sensible defaults, then runs it like ``chggen run``.
With no options it is sized for a laptop (2 cores, about a minute): 24 candidates in
cells of at most 8 atoms, spread evenly along the composition line, two thirds first-stage
(template starts denoised on their orbits, ``--mode``) and one third inpainted into the
refined frameworks of the best hosts.
``--print-config`` writes the YAML instead, to edit and run with ``chggen run``.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from campaign.commands.options import (
    add_limit_options,
    default_of,
    int_at_least,
    sampler_preset_help,
)
from campaign.config.model import CampaignConfig
from campaign.stages.runner import CANDIDATES_PER_RELAX_CALL
from chggen_kernels.relax.settings import DEFAULT_MLIP
from chggen_kernels.sampling.settings import SAMPLER_PRESETS
from chggen_kernels.thermo.sources import DEFAULT_HULL_SOURCE
from chggen_kernels.workflow.records import FIRST_STAGE_MODES

__all__ = ["config_from_args", "register", "run", "scan_config"]

DEFAULT_MAX_ATOMS = 8
DEFAULT_BUDGET = 24  # candidates
DEFAULT_SEED: int = default_of(CampaignConfig, "seed")
#: How the main job's first-stage candidates start: substituted known structures of the
#: same stoichiometry type, denoised on their own orbits. Chosen on the validation split
#: and measured against random search on the 60 held-out compounds of --set extended
#: (benchmarks/results/csp_extended_targets.json); a YAML campaign without
#: ``generation:`` keeps CampaignConfig's default, unconditional (the paper's method).
DEFAULT_GENERATION = "template-symmetric"
UNCONDITIONAL_SHARE = 2 / 3
GENERATION_MODES = FIRST_STAGE_MODES


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "scan",
        help="scan a chemical system's composition line (campaign)",
        description="Generate, relax and rank candidates along a composition line. "
        "Rerunning the same command resumes it.",
    )
    p.add_argument("chemsys", nargs="?", default="Li-Si", help="chemical system, e.g. Li-Si")
    p.add_argument("--max-atoms", type=int, default=DEFAULT_MAX_ATOMS, help="atoms per cell")
    p.add_argument("--min-atoms", type=int, default=None, help="default: number of elements")
    p.add_argument(
        "--budget", type=int, default=DEFAULT_BUDGET,
        help=f"total candidates (about; default {DEFAULT_BUDGET})"
    )
    p.add_argument("--out", default=None, help="results folder (default runs/<chemsys>)")
    p.add_argument("--checkpoint", default=None,
                   help="score model checkpoint (default: the model shipped with chggen)")
    p.add_argument(
        "--guest", default=None, help="guest element to inpaint (default: most electropositive)"
    )
    p.add_argument("--no-inpaint", action="store_true", help="the first stage only (no inpainting)")
    p.add_argument("--mode", choices=GENERATION_MODES, default=DEFAULT_GENERATION,
                   help="how first-stage candidates start: random Bravais lattices "
                   "(unconditional), Wyckoff orbits from the learned prior "
                   "(symmetric) or substituted known structures (template; "
                   f"template-symmetric: denoised on the template's orbits); default "
                   f"{DEFAULT_GENERATION}")
    p.add_argument(
        "--line", default=None, help="restrict to a line between formulas, e.g. ZnS,P2S5"
    )
    p.add_argument(
        "--constraint", action="append", default=[], help="e.g. 'Li > Si' (repeatable)"
    )
    p.add_argument("--hull", default=DEFAULT_HULL_SOURCE,
                   help=f"offline | mp | none | a hull file (default {DEFAULT_HULL_SOURCE})")
    p.add_argument("--mlip", default=DEFAULT_MLIP,
                   help="potential that relaxes the candidates: chgnet, sevennet, an entry "
                   "point of group chggen.mlips or module:factory; with the offline hull, E_d "
                   f"is measured against the known phases relaxed with it (default "
                   f"{DEFAULT_MLIP})")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED,
                   help=f"campaign seed (default {DEFAULT_SEED})")
    p.add_argument("--relax-actors", type=int_at_least(1), default=None, help="default: CPU count")
    p.add_argument("--sampler-actors", type=int_at_least(1), default=None,
                   help="CPU sampler actors, one torch thread each (default: as many as "
                   "relaxation actors, so that sampling, which comes first, can use every "
                   "core)")
    p.add_argument("--candidates-per-relax-call", type=int_at_least(1), default=None,
                   help="candidates a relaxation actor relaxes together, one batched CHGNet "
                   f"forward per step (default {CANDIDATES_PER_RELAX_CALL}; 1: one by one)")
    p.add_argument("--address", default=None, help="Ray cluster to join ('auto')")
    p.add_argument("--print-config", action="store_true", help="print the YAML and exit")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--sampler", choices=tuple(SAMPLER_PRESETS), default=None,
                   help=f"sampler preset ({sampler_preset_help()})")
    p.add_argument("--new-folder", action="store_true",
                   help="when the results folder was written with other settings (model, "
                   "sampler, relaxation, hull), write to <folder>-<settings hash> instead of "
                   "refusing")
    p.add_argument("--verbose", action="store_true")
    add_limit_options(p)
    p.set_defaults(func=run)


def _default_guest(elements: Sequence[str]) -> str:
    import warnings

    from pymatgen.core.periodic_table import Element

    with warnings.catch_warnings():  # heavy elements: "No Pauling electronegativity"
        warnings.simplefilter("ignore")
        return min(elements, key=lambda el: (Element(el).X, el))


def _spread(items: list, n: int) -> list:
    """``n`` items evenly spaced along ``items`` (both ends included)."""
    if n >= len(items):
        return list(items)
    if n == 1:
        return [items[len(items) // 2]]
    return [items[round(i * (len(items) - 1) / (n - 1))] for i in range(n)]


def _ordered_cells(chemsys: str, elements: Sequence[str], guest: str | None,
                   line: Sequence[str] | None, constraints: Sequence[str], min_atoms: int,
                   max_atoms: int) -> list[dict[str, int]]:
    """One cell per reduced formula (the largest within the atom limits), by guest fraction."""
    from campaign.config.compositions import cell_compositions, guest_fraction
    from campaign.config.model import CampaignConfigError

    cells = cell_compositions(
        chemical_systems=() if line else (chemsys,),
        lines=[(list(line), False)] if line else [],
        constraints=constraints, min_atoms=min_atoms, max_atoms=max_atoms)
    if not cells:
        raise CampaignConfigError(
            f"scan {chemsys}: no cell with {min_atoms}-{max_atoms} atoms (try --max-atoms)")
    by_formula: dict[str, dict[str, int]] = {}
    for cell in cells:  # sorted by size, so the last one kept is the largest
        g = math.gcd(*cell.values())
        by_formula["".join(f"{el}{n // g}" for el, n in sorted(cell.items()))] = cell
    return sorted(by_formula.values(), key=lambda c: (
        guest_fraction(c, [guest] if guest else [elements[0]]), sum(c.values())))


def scan_config(
    chemsys: str,
    *,
    max_atoms: int = DEFAULT_MAX_ATOMS,
    min_atoms: int | None = None,
    budget: int = DEFAULT_BUDGET,
    output: str | None = None,
    checkpoint: str | None = None,
    guest: str | None = None,
    inpaint: bool = True,
    line: Sequence[str] | None = None,
    constraints: Sequence[str] = (),
    hull: str = DEFAULT_HULL_SOURCE,
    mlip: str = DEFAULT_MLIP,
    seed: int = DEFAULT_SEED,
    relax_actors: int | None = None,
    sampler_preset: str | None = None,
    candidates_per_relax_call: int | None = None,
    sampler_actors: int | None = None,
    limits: Mapping[str, int] | None = None,
    generation: str = DEFAULT_GENERATION,
):
    """A campaign over the composition line of ``chemsys`` with about ``budget`` candidates.

    One cell per reduced formula (the largest with at most ``max_atoms`` atoms), formulas
    spread evenly by guest fraction when there are more than the budget allows. Only what
    the scan decides is written; every other setting is the campaign sections' default
    (:mod:`campaign.config.sections`, the kernel settings).
    """
    from campaign.config.compositions import parse_chemsys
    from campaign.config.model import CampaignConfigError, validate_config
    from campaign.inputs.limits import Limits, check_limit

    if budget < 1:
        raise CampaignConfigError(f"--budget must be >= 1, got {budget}")
    check_limit(Limits(**dict(limits or {})), "candidates", budget, field="--budget")
    elements = parse_chemsys(chemsys)
    min_atoms = len(elements) if min_atoms is None else min_atoms
    inpaint = inpaint and len(elements) > 1
    guest = guest or (_default_guest(elements) if inpaint else None)
    ordered = _ordered_cells(chemsys, elements, guest, line, constraints, min_atoms, max_atoms)
    unconditional = max(1, round(budget * UNCONDITIONAL_SHARE)) if inpaint else budget
    n_formulas = min(len(ordered), max(1, unconditional // 2))
    chosen = _spread(ordered, n_formulas)
    samples_per_task = max(1, round(unconditional / n_formulas))
    samples_per_host = max(1, round((budget - unconditional) / n_formulas))
    relaxers = max(1, os.cpu_count() or 1) if relax_actors is None else relax_actors
    data = {
        "name": f"scan-{'-'.join(elements)}",
        "compositions": {
            "cells": ["".join(f"{el}{n if n > 1 else ''}" for el, n in sorted(c.items()))
                      for c in chosen]  # fmt: skip
        },
        "atoms_per_cell": {"min": min_atoms, "max": max_atoms},
        "samples_per_task": samples_per_task,
        "modes": ["unconditional", "inpaint"] if inpaint else ["unconditional"],
        "generation": generation,
        "inpaint": {
            "guest_species": [guest] if inpaint else [],
            "samples_per_host": samples_per_host,
        },
        "hull": {"source": hull},
        **({"mlip": mlip} if mlip != DEFAULT_MLIP else {}),
        "sampler": {"preset": sampler_preset} if sampler_preset else {},
        **({"model": {"checkpoint": str(checkpoint)}} if checkpoint else {}),
        "output": output or os.path.join("runs", "-".join(elements)),
        "resources": {
            "sampler_actors": relaxers if sampler_actors is None else sampler_actors,
            "relax_actors": relaxers,
            **({"candidates_per_relax_call": candidates_per_relax_call}
               if candidates_per_relax_call is not None else {}),
        },
        "seed": seed,
        **({"limits": dict(limits)} if limits else {}),
    }
    return validate_config(data, source=f"chggen scan {chemsys}")


def config_from_args(args: argparse.Namespace) -> Any:
    """The validated campaign of ``chggen scan``'s options (the API's ``chggen.scan`` builds
    its configuration here too); ``--limits`` that differ from the defaults are kept in it."""
    from campaign.commands.options import limits_from_args
    from campaign.config.compositions import CompositionError
    from campaign.config.model import CampaignConfigError
    from campaign.inputs.limits import Limits

    try:
        return scan_config(
            args.chemsys,
            max_atoms=args.max_atoms,
            min_atoms=args.min_atoms,
            budget=args.budget,
            output=args.out,
            checkpoint=args.checkpoint,
            guest=args.guest,
            inpaint=not args.no_inpaint,
            line=args.line.split(",") if args.line else None,
            constraints=args.constraint,
            hull=args.hull,
            mlip=args.mlip,
            seed=args.seed,
            relax_actors=args.relax_actors,
            sampler_preset=args.sampler,
            candidates_per_relax_call=args.candidates_per_relax_call,
            sampler_actors=args.sampler_actors,
            limits={k: v for k, v in limits_from_args(args).model_dump().items()
                    if v != Limits.model_fields[k].default},
            generation=args.mode,
        )
    except CompositionError as exc:
        raise CampaignConfigError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    from campaign.commands.run import execute, output_for_settings
    from campaign.config.model import dump_config

    config = config_from_args(args)
    if args.print_config:
        print(dump_config(config), end="")
        return 0
    if args.dry_run:
        from campaign.commands.run import print_plan

        return print_plan(config)
    config = output_for_settings(config, args.new_folder)
    code = execute(config, args.address, not args.no_progress, args.verbose)
    if code == 0:
        from campaign.commands.top import EmptyResults, format_table, rank_candidates

        try:
            print(format_table(rank_candidates(config.output, n=10)))
        except EmptyResults as exc:
            print(f"chggen scan: {exc}", file=sys.stderr)
    return code
