"""``chggen.generate`` and ``chggen.inpaint``: the ``chggen generate`` / ``chggen inpaint``
chain in this process, returning :class:`~chggen.results.Results` instead of printing.

The keywords are the commands' long options (``n_levels=6`` is ``--n-levels 6``), with
the commands' defaults and checks (:mod:`chggen._options`); the chain is the commands'
own (:func:`campaign.jobs.chain.run_chain`, the stage runner of
:func:`campaign.commands.generate.build_runner_for_args`), so the same inputs give the
same candidate ids, structures and rows. One difference: without ``out`` nothing is
written (the command writes to ``chggen_generate_<formula>`` then); with ``out`` the rows
go to that results folder exactly as the command writes them (lock, settings
fingerprint, one Parquet part per task). Units: Å, Å^3/atom, eV/atom.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chggen._common import (
    as_structure,
    chain_results,
    formula_text,
    given,
    local_call,
    output_dir,
)
from chggen._options import CliDefault, CliDefaults, OptionError, parse_options
from chggen_kernels.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from pymatgen.core import Structure

    from chggen.results import Results

__all__ = ["generate", "inpaint"]

_INPAINT_MODES = {"inpaint": ("inpaint",), "both": ("inpaint",),
                  "inpaint-symmetric": ("inpaint-symmetric",)}


#: The defaults of ``chggen generate`` and ``chggen inpaint``.
GENERATE = CliDefaults("generate")
INPAINT = CliDefaults("inpaint")


def generate(
    composition: str | Mapping[str, int],
    n_samples: int = GENERATE.n_samples,
    mode: str = GENERATE.mode,
    guest: str | Sequence[str] | None = GENERATE.guest,
    *,
    checkpoint: str | Path | None = GENERATE.checkpoint,
    hull: str = GENERATE.hull,
    mlip: str = GENERATE.mlip,
    seed: int = GENERATE.seed,
    out: str | Path | None = GENERATE.out,
    limits: Mapping[str, int] | Any = None,
    formula_units: int | None = GENERATE.formula_units,
    atoms_per_cell: int | None = GENERATE.atoms_per_cell,
    lattice_family: str = GENERATE.lattice_family,
    lattice_ratio: str | None = GENERATE.lattice_ratio,
    volume_per_atom: float | None = GENERATE.volume_per_atom,
    sampler: str | None = GENERATE.sampler,
    device: str = GENERATE.device,
    threads: int | None = GENERATE.threads,
    new_folder: bool = GENERATE.new_folder,
    quiet: bool = GENERATE.quiet,
    **options: Any,
) -> Results:
    """Generate, relax and rank crystals of one cell composition (``chggen generate``).

    Unconditional generation in random Bravais lattices at ``V = N * V0``, CHGNet
    relaxation, symmetry and E_d; with ``mode="inpaint"``, ``"both"`` or
    ``"inpaint-symmetric"`` the best relaxed candidates' frameworks are refined and their
    ``guest`` atoms inpainted back, relaxed and scored.

    Args:
        composition: the cell composition, ``"Li2Si"`` or ``{"Li": 2, "Si": 1}``
            (``formula_units`` / ``atoms_per_cell`` scale it).
        n_samples: first-stage candidates to sample.
        mode: ``unconditional``, ``inpaint``, ``both`` or ``inpaint-symmetric``; with
            ``inpaint`` / ``inpaint-symmetric`` the hosts are kept in the table but only
            the inpainted candidates are ranked (:attr:`Results.modes`). ``symmetric``,
            ``template`` or ``template-symmetric``: whole crystals started on Wyckoff
            orbits of the learned prior or from substituted known structures
            (docs/generation_modes.md), without inpainting.
        guest: guest species for inpainting, ``"Li"``, ``"Li,Mg"`` or ``["Li", "Mg"]``.
        checkpoint: score-model checkpoint (``None``: the model shipped with chggen).
        hull: reference hull for E_d: ``offline`` (shipped), ``mp``, ``none`` or a
            CSV/JSON file of ``formula, energy_per_atom`` (eV/atom).
        mlip: the potential that relaxes the candidates: ``chgnet`` (default),
            ``sevennet``, an entry point of group ``chggen.mlips`` or
            ``"module:factory"`` (a callable returning an ASE calculator); with the
            offline hull, E_d is measured against the known phases relaxed with it
            (built once, cached; docs/potentials.md).
        seed: random seed; the same seed and settings give the same candidates.
        out: results folder to write (Parquet, the campaign schema); ``None``: nothing is
            written.
        limits: raised size limits, e.g. ``{"atoms_per_cell": 400}``
            (:class:`campaign.inputs.limits.Limits`).
        formula_units, atoms_per_cell, lattice_family, lattice_ratio, volume_per_atom,
        sampler, device, threads, new_folder, quiet: as ``--formula-units``, ...,
            ``--sampler`` (a preset), ``--quiet`` (no progress on stderr).
        **options: any other long option of ``chggen generate`` with ``_`` for ``-``:
            sampler (``n_levels``, ``n_corrector``, ``sampler_method``, ...),
            relaxation (``fmax`` eV/Å, ``max_steps``) and inpainting
            (``samples_per_host``, ``max_hosts``, ...) settings.

    Returns:
        :class:`~chggen.results.Results` of every candidate, failed ones included.

    Raises:
        InputError: bad input, refused before any model loads, with the message of
            ``chggen generate`` (an :class:`~chggen._options.OptionError` for an unknown
            keyword or a value its option refuses).
    """
    values = given(locals(), "composition", "guest")
    if not isinstance(guest, str | CliDefault) and isinstance(guest, Sequence):
        guest = ",".join(str(g) for g in guest)
    args = parse_options("generate", "chggen.generate", [formula_text(composition)],
                         values | {"guest": guest})
    return _generate(args)


def _generate(args: Any) -> Results:
    """``chggen generate``'s ``_execute`` returning its rows (the same steps and checks)."""
    from campaign.commands import generate as command
    from campaign.jobs.chain import run_chain, stderr_log
    from chggen_kernels.workflow.records import format_composition

    composition, settings, _ = command.checked_request(args)
    with local_call(args):
        if args.out is not None:
            command.check_output_folder(str(args.out))
        runner = command.build_runner_for_args(args, "-".join(sorted(composition)),
                                               composition)
        specs, v0, v0_source = command.planned_specs(args, composition, runner)
        folder = output_dir(args, runner)
        log = stderr_log(args.quiet)
        if log:
            log(f"{format_composition(composition)}: {args.n_samples} samples, V0 {v0:.3f} "
                f"Å^3/atom ({v0_source}), model {runner.model_label}, hull {args.hull}, "
                f"potential {runner.settings.relax.mlip}")
        result = run_chain(runner, specs, inpaint=settings,
                           inpaint_modes=_INPAINT_MODES.get(args.mode, ()), seed=args.seed,
                           out_dir=folder, log=log, command="chggen.generate()")
    ranked = (args.mode,) if args.mode in ("inpaint", "inpaint-symmetric") else None
    return chain_results(result, ranked, folder)


def inpaint(
    host: str | Path | Structure | Any,
    guest: str | Mapping[str, int | None] | None = INPAINT.guest,
    n_samples: int = INPAINT.n_samples,
    *,
    symmetric: bool = INPAINT.symmetric,
    occupancy_tolerance: float = INPAINT.occupancy_tolerance,
    checkpoint: str | Path | None = INPAINT.checkpoint,
    hull: str = INPAINT.hull,
    mlip: str = INPAINT.mlip,
    seed: int = INPAINT.seed,
    out: str | Path | None = INPAINT.out,
    limits: Mapping[str, int] | Any = None,
    sampler: str | None = INPAINT.sampler,
    device: str = INPAINT.device,
    threads: int | None = INPAINT.threads,
    new_folder: bool = INPAINT.new_folder,
    quiet: bool = INPAINT.quiet,
    **options: Any,
) -> Results:
    """Place guest atoms into a host crystal, relax and rank them (``chggen inpaint``).

    Every site of the guest species is removed, the framework kept as given (no
    symmetry refinement), the guests inpainted with the score model, relaxed with CHGNet
    and ranked by E_d (eV/atom).

    Args:
        host: a CIF/POSCAR path, a pymatgen ``Structure`` or an ASE ``Atoms``; it may be
            partly occupied (an intercalation host with Li sites at occupancy 0.5).
        guest: ``"Li:4"``, ``"Li:4,Mg:2"``, ``"Li"`` (count from the host's occupancies)
            or ``{"Li": 4}`` / ``{"Li": None}``; ``None``: the host's one partly occupied
            species (:func:`chggen_kernels.hosts.infer_guest`).
        n_samples: candidates to sample.
        symmetric: mode ``inpaint-symmetric``: the guests on Wyckoff orbits of the
            framework's space group (found at 0.01 Å), or a recorded fallback.
        occupancy_tolerance: largest distance of a guest occupancy sum from an integer.
        checkpoint, hull, mlip, seed, out, limits, sampler, device, threads, new_folder,
        quiet, **options: as in :func:`generate` (the options of ``chggen inpaint``).

    Returns:
        :class:`~chggen.results.Results`; ``parent_id`` is ``host:<file name>``.

    Raises:
        InputError: an unusable host (one line naming it: unreadable, nothing left
            without the guests, overlapping atoms, guests that cannot fit) or a bad
            option, with the message of ``chggen inpaint``.
    """
    if isinstance(guest, CliDefault):
        guest = None
    structure = as_structure(host)
    if structure is None and not isinstance(host, str | Path):
        raise InputError(f"host must be a CIF/POSCAR path, a pymatgen Structure or an ASE "
                         f"Atoms, got {type(host).__name__}")
    guest_map = dict(guest) if isinstance(guest, Mapping) else None
    values = given(locals(), "host", "structure", "guest", "guest_map")
    values["guest"] = guest if isinstance(guest, str) else None
    if guest is not None and guest_map is None and not isinstance(guest, str):
        raise OptionError(f"chggen.inpaint(): guest must be 'Li:4', 'Li' or a mapping such "
                          f"as {{'Li': 4}}, got {guest!r}")
    args = parse_options("inpaint", "chggen.inpaint",
                         [str(host) if structure is None else "<Structure>"], values)
    return _inpaint(args, structure, guest_map)


def _inpaint(args: Any, structure: Structure | None, guest_map: dict[str, Any] | None
             ) -> Results:
    """``chggen inpaint``'s ``_execute`` returning its rows (the same steps and checks)."""
    from campaign.commands import generate as command
    from campaign.commands.inpaint import checked_host
    from campaign.commands.options import limits_from_args
    from campaign.jobs.chain import host_specs, run_chain, stderr_log
    from chggen_kernels.hosts import infer_guest, parse_guest_spec
    from chggen_kernels.structure_io import read_structure

    limits = limits_from_args(args)
    label = None if structure is not None else args.host
    source: Any = structure if structure is not None else args.host
    if guest_map is not None:
        guest: dict[str, Any] = guest_map
    elif args.guest is not None:
        guest = parse_guest_spec(args.guest)
    else:  # the one partly occupied species of the host
        if structure is None:
            source = read_structure(args.host, what="host", where=f"host {args.host}",
                                    max_sites=limits.atoms_per_cell,
                                    max_sites_reason="limits.atoms_per_cell")
        where = f"host {label or f'<Structure {source.composition.formula}>'}"
        guest = infer_guest(source, where)
    host, cap = checked_host(args, source, guest, label, limits)
    specs = host_specs(host, args.n_samples, args.seed, symmetric=args.symmetric,
                       max_combinations=cap)
    with local_call(args):
        if args.out is not None:
            command.check_output_folder(str(args.out))
        runner = command.build_runner_for_args(args, "-".join(sorted(specs[0].composition)))
        log = stderr_log(args.quiet)
        if log:
            guests = ", ".join(f"{n} {g} ({host.count_origin[g]})"
                               for g, n in host.guest_counts.items())
            log(f"host {host.source}: framework {host.framework.composition.formula} "
                f"({len(host.framework)} atoms, {host.n_guest_sites_removed} guest sites "
                f"removed); placing {guests}; model {runner.model_label}")
        folder = output_dir(args, runner)
        result = run_chain(runner, specs, seed=args.seed, out_dir=folder, log=log,
                           command="chggen.inpaint()")
    return chain_results(result, None, folder)
