"""``chggen benchmark csp KNOWN`` / ``chggen benchmark hosts KNOWN --guest Li``.

csp: for each known crystal, every method (random search, unconditional, inpaint,
inpaint-symmetric) gets the composition and atom count and spends k CHGNet relaxations;
match@k, found-as-lowest and energies against the relaxed known structure. hosts: the
guests of each known crystal are removed and placed back (inpaint, inpaint-symmetric,
random positions, Voronoi sites), relaxed guests-only then fully; hosts recovered by a
match or a lower energy (LES). Resumable (one Parquet part per compound and method);
writes candidates.parquet, summary.json, summary.md and a figure (docs/benchmark.md).
Exit codes: 0 done, 1 some tasks failed (rerun to retry them), 2 bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from campaign.commands.options import add_limit_options, default_of, given_values, limits_from_args

__all__ = ["register", "run"]

# SamplerSettings field -> option (help and shown default from the settings, as generate)
SAMPLER_OPTIONS = {"n_levels": "--n-levels", "n_corrector_steps": "--n-corrector",
                   "snr": "--snr", "resample_passes": "--resample-passes",
                   "jump_length": "--jump-length", "max_atoms_per_batch": "--max-atoms-per-batch"}


def _common(p: argparse.ArgumentParser, settings: type,
            sets: tuple[str, ...] = ("default", "all")) -> None:
    """The options of both kinds; defaults from ``settings`` (CspSettings or HostSettings)
    and :class:`~campaign.jobs.benchmark.driver.RunSpec`."""
    from campaign.jobs.benchmark.driver import RunSpec

    max_atoms, cell, seed = (default_of(RunSpec, "max_atoms"), default_of(settings, "cell"),
                             default_of(settings, "seed"))
    energy_tol, workers = default_of(RunSpec, "energy_tol"), default_of(RunSpec, "workers")
    p.add_argument("known", nargs="?", default="default",
                   help="known crystals: training-format or known-structures Parquet/JSON, "
                   "CIF/POSCAR folder or extxyz; omitted or 'default': the shipped set")
    p.add_argument("--out", default=None, help="output folder (default chggen_benchmark_KIND)")
    extended = ("; extended: the larger shipped CSP set (60 crystals, at least 20 of three "
                "or more elements, half of 10-20 atoms)" if "extended" in sets else "")
    p.add_argument("--set", dest="set_name", default=None, choices=sets,
                   help="default: the crystals of KNOWN in the shipped set (chosen from the "
                   f"held-out test split){extended}; all: every crystal of KNOWN (default: "
                   "all of a KNOWN you name, the shipped set when KNOWN is omitted)")
    p.add_argument("--max-atoms", type=int, default=max_atoms,
                   help=f"largest cell, atoms (default {max_atoms})")
    p.add_argument("--min-atoms", type=int, default=default_of(RunSpec, "min_atoms"),
                   help="smallest cell searched, atoms (e.g. 10: the 10-20 atom class only; "
                   "default 1)")
    p.add_argument("--limit", type=int, default=None, help="first N compounds only")
    p.add_argument("--cell", default=cell, choices=("primitive", "given"),
                   help=f"the known cell as given or its primitive cell (default {cell})")
    p.add_argument("--seed", type=int, default=seed, help=f"random seed (default {seed})")
    p.add_argument("--energy-tol", type=float, default=energy_tol,
                   help="'lower energy' means E < E_known + tol, eV/atom (default "
                   f"{energy_tol:g})")
    p.add_argument("--workers", type=int, default=workers,
                   help="worker processes, each with its own model and CHGNet (default "
                   f"{workers})")
    p.add_argument("--address", default=None,
                   help="run --workers Ray actors on this cluster: its address, 'auto' (the "
                        "Ray running here) or 'local' (a private Ray on 127.0.0.1)")
    p.add_argument("--checkpoint", default=None, help="score model (default: the shipped one)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--threads", type=int, default=None, help="torch threads per worker")
    p.add_argument("--quiet", "--no-progress", dest="quiet", action="store_true",
                   help="no progress on stderr (a bar on a terminal, a line every 30 s in a "
                   "log file)")
    add_limit_options(p)
    p.add_argument("--summary-only", action="store_true",
                   help="run nothing: rewrite the summary, table and figure of --out from "
                   "the tasks finished so far (a long run's partial result)")
    from campaign.commands.options import (
        add_settings_options,
        sampler_defaults,
        sampler_preset_help,
    )
    from chggen_kernels.sampling.settings import SAMPLER_PRESETS, SamplerSettings

    s = p.add_argument_group("sampler (sigma range: the checkpoint's)")
    s.add_argument("--sampler", dest="preset", choices=tuple(SAMPLER_PRESETS), default=None,
                   help=f"sampler preset the options below override ({sampler_preset_help()})")
    add_settings_options(s, SamplerSettings, SAMPLER_OPTIONS, defaults=sampler_defaults())
    from chggen_kernels.relax import RelaxSettings

    r = p.add_argument_group(f"relaxation ({RelaxSettings.optimizer}; the potential: --mlip)")
    from chggen_kernels.workflow.settings import InpaintSettings

    fmax, steps = RelaxSettings.fmax, RelaxSettings.max_steps
    cap = InpaintSettings.max_wyckoff_combinations
    r.add_argument("--fmax", type=float, default=fmax,
                   help=f"force threshold, eV/Å (default {fmax:g})")
    r.add_argument("--max-steps", type=int, default=steps,
                   help=f"optimiser steps (default {steps})")
    r.add_argument("--max-wyckoff-combinations", type=int, default=cap,
                   help=f"Wyckoff combinations per host, inpaint-symmetric (default {cap})")
    r.add_argument("--mlip", default=RelaxSettings.mlip,
                   help="potential that relaxes every structure (candidates and the known "
                   "crystals alike): chgnet, sevennet, an entry point of group chggen.mlips "
                   f"or module:factory (default {RelaxSettings.mlip})")


def register(sub: argparse._SubParsersAction) -> None:
    from campaign.jobs.benchmark import CSP_DEFAULT_METHODS, CSP_METHODS, HOST_METHODS
    from campaign.jobs.benchmark.csp import CspSettings
    from campaign.jobs.benchmark.hosts import HostSettings

    def csp_default(name: str) -> object:
        return default_of(CspSettings, name)

    def hosts_default(name: str) -> object:
        return default_of(HostSettings, name)

    p = sub.add_parser("benchmark", help="structure recovery on known crystals vs baselines",
                       description=__doc__.split("\n\n")[1].replace("\n", " "))
    kinds = p.add_subparsers(dest="benchmark_kind", metavar="KIND")
    csp = kinds.add_parser("csp", help="find known crystals from their composition")
    _common(csp, CspSettings, sets=("default", "extended", "all"))
    csp.add_argument("--k", type=int, default=csp_default("k"),
                     help=f"relaxations per compound and method (default {csp_default('k')})")
    csp.add_argument("--methods", nargs="+", default=list(CSP_DEFAULT_METHODS),
                     help=f"methods, of {' '.join(CSP_METHODS)} (default: "
                          f"{' '.join(CSP_DEFAULT_METHODS)})")
    csp.add_argument("--guest", default=csp_default("guest"),
                     help="inpainting guest: auto (Li, else the most electropositive "
                     f"element) or an element (default {csp_default('guest')})")
    csp.add_argument("--min-distance", type=float, default=csp_default("random_min_distance"),
                     help="random search: closest contact allowed, Å (default "
                     f"{csp_default('random_min_distance'):g})")
    csp.add_argument("--z", choices=("given", "free"), default=csp_default("z"),
                     help="given: every method searches the known cell's atom count; free: "
                     "the atom count is not given, the budget is spread round-robin over "
                     f"1, 2, ... formula units up to --max-atoms (default {csp_default('z')})")
    csp.set_defaults(func=run)
    hosts = kinds.add_parser("hosts", help="put the guests back into known hosts")
    _common(hosts, HostSettings)
    hosts.add_argument("--guest", required=True, help="guest element, e.g. Li")
    hosts.add_argument("--n-samples", type=int, default=hosts_default("n_samples"),
                       help="candidates per host and method (default "
                       f"{hosts_default('n_samples')})")
    hosts.add_argument("--methods", nargs="+", default=list(HOST_METHODS),
                       help=f"methods (default all: {' '.join(HOST_METHODS)})")
    hosts.add_argument("--min-distance", type=float, default=hosts_default("min_distance"),
                       help="random / Voronoi guests: closest contact, Å (default "
                       f"{hosts_default('min_distance'):g})")
    hosts.set_defaults(func=run)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def spec_from_args(args: argparse.Namespace) -> object:
    """The :class:`~campaign.jobs.benchmark.driver.RunSpec` of the parsed arguments."""
    from campaign.jobs.benchmark.chain import ChainOptions
    from campaign.jobs.benchmark.csp import CspSettings
    from campaign.jobs.benchmark.driver import RunSpec
    from campaign.jobs.benchmark.hosts import HostSettings

    kind = args.benchmark_kind
    if kind == "csp":
        settings: object = CspSettings(k=args.k, seed=args.seed, cell=args.cell,
                                       guest=args.guest, random_min_distance=args.min_distance,
                                       z=args.z, z_max_atoms=args.max_atoms)
    else:
        settings = HostSettings(guest=args.guest, n_samples=args.n_samples, seed=args.seed,
                                cell=args.cell, min_distance=args.min_distance)
    sampler = given_values(args, [*SAMPLER_OPTIONS, "preset"])
    chain = ChainOptions(checkpoint=args.checkpoint, device=args.device, sampler=sampler,
                         fmax=args.fmax, max_steps=args.max_steps, threads=args.threads,
                         max_combinations=args.max_wyckoff_combinations, mlip=args.mlip)
    return RunSpec(kind=kind, known=args.known, out=args.out or f"chggen_benchmark_{kind}",
                   settings=settings, chain=chain, methods=tuple(args.methods),  # type: ignore[arg-type]
                   set_name=args.set_name or ("default" if args.known == "default" else "all"),
                   max_atoms=args.max_atoms, min_atoms=args.min_atoms, limit=args.limit,
                   energy_tol=args.energy_tol, workers=args.workers, address=args.address,
                   limits=limits_from_args(args))


def run(args: argparse.Namespace, make_chain: object = None) -> int:
    from campaign.jobs.benchmark.driver import execute

    name = f"chggen benchmark {args.benchmark_kind}"
    log = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    summary, report = execute(spec_from_args(args), make_chain=make_chain,  # type: ignore[arg-type]
                              log=log, dry_run=args.dry_run,
                              summary_only=args.summary_only)
    if args.dry_run:
        return 0
    out = args.out or f"chggen_benchmark_{args.benchmark_kind}"
    print((Path(out) / "summary.md").read_text())
    if report.failed:
        print(f"{name}: {len(report.failed)} tasks failed (rerun to retry): "
              f"{report.failed[0]}", file=sys.stderr)
        return 1
    return 0
