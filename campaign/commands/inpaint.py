"""``chggen inpaint HOST --guest Li:4``: place guests into a user's host crystal.

HOST is a CIF/POSCAR file. Every site of the guest species is removed and the remaining
framework kept as given (no symmetry refinement); ``Li:4`` places 4 Li, ``Li`` takes the
count from the host's Li occupancies (a disordered intercalation CIF with partly occupied
Li sites). The guests are inpainted with the score model, relaxed with CHGNet (or
``--mlip``) and ranked by E_d; ``--symmetric`` places them on Wyckoff orbits of the
framework's space group (found at 0.01 Å, in the file's own cell), falling back to
ordinary inpainting, recorded per candidate, when no combination of orbits holds the guest
count. A host that cannot be used (unreadable, nothing left after removing the guests,
overlapping atoms, guests that cannot fit) is reported in one line, exit code 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from campaign.commands.generate import (
    InputError,
    add_shared_arguments,
    build_runner_for_args,
    check_output_folder,
    check_sample_count,
    output_folder,
    print_dry_run,
    print_results,
    set_threads,
)

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "inpaint",
        help="inpaint guest atoms into a host crystal file, relax and rank (single process)",
        description=__doc__.split("\n\n")[1].replace("\n", " ").replace("``", ""),
    )
    p.add_argument("host", help="host crystal: CIF or POSCAR (may be partly occupied)")
    p.add_argument("--guest", default=None,
                   help="guests to place: 'Li:4', 'Li:4,Mg:2', or 'Li' (count from the "
                   "host's occupancies); default: the host's one partly occupied species")
    from chggen_kernels.hosts import OCCUPANCY_TOLERANCE

    p.add_argument("--occupancy-tolerance", type=float, default=OCCUPANCY_TOLERANCE,
                   help="largest distance of a guest occupancy sum from an integer "
                   f"(default {OCCUPANCY_TOLERANCE:g})")
    p.add_argument("--symmetric", action="store_true",
                   help="mode inpaint-symmetric: guests on Wyckoff orbits of the framework")
    add_shared_arguments(p)
    from campaign.commands.options import add_settings_options
    from chggen_kernels.workflow.settings import InpaintSettings

    add_settings_options(p.add_argument_group("symmetric inpainting"), InpaintSettings,
                         {"max_wyckoff_combinations": "--max-wyckoff-combinations"})
    p.set_defaults(func=run)


def checked_host(args: argparse.Namespace, source: Any, guest: Any, label: str | None,
                 limits: Any) -> tuple[Any, int]:
    """The host of ``source`` (a path or a Structure) read and checked before any model
    loads, with the Wyckoff-combination cap and ``--n-samples`` checked too (the API's
    ``chggen.inpaint`` checks them here as well); returns the host and the cap."""
    from campaign.inputs.structures import check_host
    from chggen_kernels.hosts import read_host
    from chggen_kernels.relax.potentials import check_potential_name
    from chggen_kernels.relax.settings import DEFAULT_MLIP
    from chggen_kernels.workflow.settings import InpaintSettings

    potential = args.mlip or DEFAULT_MLIP
    check_potential_name(potential)  # an unknown or unimportable potential: one line, exit 2
    host = read_host(source, guest, occupancy_tolerance=args.occupancy_tolerance,
                     max_atoms=limits.atoms_per_cell, label=label)
    check_host(host, limits=limits, potential=potential)
    cap = args.max_wyckoff_combinations
    if cap is None:
        cap = InpaintSettings.max_wyckoff_combinations
    if cap < 1:
        raise InputError(f"--max-wyckoff-combinations must be >= 1, got {cap}")
    check_sample_count(args.n_samples, limits)
    return host, cap


def _execute(args: argparse.Namespace) -> int:
    from campaign.commands.options import limits_from_args
    from chggen_kernels.hosts import infer_guest, parse_guest_spec
    from chggen_kernels.structure_io import read_structure

    limits = limits_from_args(args)
    source: Any = args.host
    if args.guest is None:  # the one partly occupied species of the host
        source = read_structure(args.host, what="host", where=f"host {args.host}",
                                max_sites=limits.atoms_per_cell,
                                max_sites_reason="limits.atoms_per_cell")
        guest = infer_guest(source, f"host {args.host}")
    else:
        guest = parse_guest_spec(args.guest)
    host, cap = checked_host(args, source, guest, args.host, limits)
    if args.dry_run:
        composition = {str(el): int(n) for el, n in
                       host.framework.composition.get_el_amt_dict().items()}
        for guest, n in host.guest_counts.items():
            composition[guest] = composition.get(guest, 0) + n
        return print_dry_run(f"inpaint {host.source}", composition, 0, args.n_samples, args)
    from campaign.jobs.chain import host_specs, run_chain, stderr_log

    specs = host_specs(host, args.n_samples, args.seed, symmetric=args.symmetric,
                       max_combinations=cap)
    set_threads(args)
    default_out = args.out or f"chggen_inpaint_{Path(args.host).stem}"
    check_output_folder(default_out)
    runner = build_runner_for_args(args, "-".join(sorted(specs[0].composition)),
                                   composition=specs[0].composition)
    guests = ", ".join(f"{n} {g} ({host.count_origin[g]})" for g, n in host.guest_counts.items())
    log = stderr_log(args.quiet)
    if log:
        log(f"host {host.source}: framework {host.framework.composition.formula} "
            f"({len(host.framework)} atoms, {host.n_guest_sites_removed} guest sites removed); "
            f"placing {guests}; model {runner.model_label}")
    out_dir = output_folder(args, runner, default_out)
    result = run_chain(runner, specs, seed=args.seed, out_dir=out_dir, log=log,
                       command="chggen inpaint")
    return print_results(result, None, args.top, out_dir)


def run(args: argparse.Namespace) -> int:

    return _execute(args)
