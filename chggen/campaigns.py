"""``chggen.scan`` and ``chggen.run_campaign``: the Ray campaigns of ``chggen scan`` and
``chggen run``, returning the results folder as :class:`~chggen.results.Results`.

A campaign always writes its results folder (``out``, or the configuration's
``output``): rerunning the same call resumes it, as rerunning the command does. The
keywords are the commands' long options with their defaults and checks
(:mod:`chggen._options`). Ray starts privately on this machine unless ``address`` (or
``RAY_ADDRESS``) names a cluster to join.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chggen._common import given
from chggen._options import CliDefault, CliDefaults, OptionError, parse_options

if TYPE_CHECKING:  # pragma: no cover
    from campaign.config.model import CampaignConfig
    from chggen.results import Results

__all__ = ["run_campaign", "scan"]


#: The defaults of ``chggen scan`` and ``chggen run``.
SCAN = CliDefaults("scan")
RUN = CliDefaults("run")


def scan(
    chemsys: str,
    *,
    budget: int = SCAN.budget,
    max_atoms: int = SCAN.max_atoms,
    out: str | Path | None = SCAN.out,
    address: str | None = SCAN.address,
    min_atoms: int | None = SCAN.min_atoms,
    checkpoint: str | Path | None = SCAN.checkpoint,
    guest: str | None = SCAN.guest,
    no_inpaint: bool = SCAN.no_inpaint,
    mode: str = SCAN.mode,
    line: str | Sequence[str] | None = SCAN.line,
    constraint: str | Sequence[str] = SCAN.constraint,
    hull: str = SCAN.hull,
    mlip: str = SCAN.mlip,
    seed: int = SCAN.seed,
    sampler: str | None = SCAN.sampler,
    relax_actors: int | None = SCAN.relax_actors,
    sampler_actors: int | None = SCAN.sampler_actors,
    candidates_per_relax_call: int | None = SCAN.candidates_per_relax_call,
    new_folder: bool = SCAN.new_folder,
    no_progress: bool = SCAN.no_progress,
    verbose: bool = SCAN.verbose,
    limits: Mapping[str, int] | Any = None,
) -> Results:
    """Scan the composition line of a chemical system (``chggen scan``, the main job).

    About ``budget`` candidates in cells of at most ``max_atoms`` atoms, spread evenly
    along the line: two thirds first-stage (``mode``, by default template starts denoised
    on their orbits), one third inpainted into the refined frameworks of the best hosts
    (``no_inpaint=True``: the first stage only).

    Args:
        chemsys: the chemical system, e.g. ``"Li-Si"``.
        budget: candidates in all (about).
        max_atoms, min_atoms: atoms per cell (``min_atoms`` default: the number of
            elements).
        out: the results folder (default ``runs/<chemsys>``).
        address: the Ray cluster to join (``"auto"``); default a private local Ray.
        checkpoint, guest, line (``"ZnS,P2S5"`` or ``["ZnS", "P2S5"]``), constraint
            (``"Li > Si"`` or a list), hull, mlip (the potential, as
            :func:`chggen.generate`'s), seed, sampler (a preset), relax_actors,
            sampler_actors, candidates_per_relax_call, new_folder, no_progress, verbose,
            limits: as the options of ``chggen scan``.

    Returns:
        :class:`~chggen.results.Results` of the whole results folder (earlier runs into
        it included), its :attr:`~chggen.results.Results.notes` holding the campaign's
        summary line.

    Raises:
        InputError: a bad chemical system, option or configuration, refused before Ray
            starts; RunInterrupted: interrupted (call again to resume).
    """
    values = given(locals(), "chemsys")
    if line is not None and not isinstance(line, str | CliDefault):
        values["line"] = ",".join(str(formula) for formula in line)
    args = parse_options("scan", "chggen.scan", [chemsys], values)
    return _scan(args)


def _scan(args: Any) -> Results:
    """``chggen scan``'s ``run`` returning the folder's rows (the same configuration)."""
    from campaign.commands.run import output_for_settings
    from campaign.commands.scan import config_from_args

    config = config_from_args(args)
    config = output_for_settings(config, args.new_folder)
    return _execute(config, args.address, not args.no_progress, args.verbose)


def _config(value: Any) -> CampaignConfig:
    """A validated configuration from a YAML path, a mapping or a ``CampaignConfig``."""
    from campaign.config.model import CampaignConfig, load_config, validate_config

    if isinstance(value, CampaignConfig):
        return value
    if isinstance(value, Mapping):
        return validate_config(dict(value), source="run_campaign(config)")
    if isinstance(value, str | Path):
        return load_config(value)
    raise OptionError(f"chggen.run_campaign(): config must be a YAML path, a mapping or a "
                      f"campaign.config.model.CampaignConfig, got {type(value).__name__}")


def run_campaign(
    config: str | Path | Mapping[str, Any] | CampaignConfig,
    address: str | None = RUN.address,
    *,
    out: str | Path | None = RUN.out,
    cluster: str | Path | None = RUN.cluster,
    new_folder: bool = RUN.new_folder,
    no_progress: bool = RUN.no_progress,
    verbose: bool = RUN.verbose,
) -> Results:
    """Run (or resume) a campaign (``chggen run``).

    Args:
        config: a campaign YAML file (``examples/li_si.yaml``), the same as a mapping, or
            a :class:`campaign.config.model.CampaignConfig`; checked before Ray starts.
        address: the Ray cluster to join (``"auto"``); default ``RAY_ADDRESS``, else a
            private local Ray.
        out: the results folder (overrides the configuration's ``output``).
        cluster: a Ray cluster file (``cluster.yaml`` or a KubeRay manifest): a campaign
            whose actors fit no node type is refused first.
        new_folder, no_progress, verbose: as the options of ``chggen run``.

    Returns:
        :class:`~chggen.results.Results` of the whole results folder.

    Raises:
        InputError: a bad configuration, cluster file or address (one line);
            RunInterrupted: interrupted (call again to resume).
    """
    args = parse_options("run", "chggen.run_campaign", ["<config>"],
                         given(locals(), "config"))
    validated = _config(config)
    if args.out:
        validated = validated.model_copy(update={"output": str(args.out)})
    if args.cluster:
        from campaign.distributed.cluster_fit import check_cluster_fit

        print("\n".join(check_cluster_fit(validated.resources, args.cluster)))
    from campaign.commands.run import output_for_settings
    from campaign.engine.ray_toolkit import check_ray_address

    ray_address = args.address or os.environ.get("RAY_ADDRESS")  # as init_ray reads it
    check_ray_address(ray_address, source="address" if args.address else "RAY_ADDRESS")
    validated = output_for_settings(validated, args.new_folder)
    return _execute(validated, args.address, not args.no_progress, args.verbose)


def _execute(config: CampaignConfig, address: str | None, progress: bool,
             verbose: bool) -> Results:
    """Run a validated configuration; its folder as Results, the summary line in the
    notes; :class:`~chggen_kernels.errors.RunInterrupted` when interrupted."""
    import warnings

    from campaign.distributed.driver import run_campaign as drive
    from chggen.results import load_results
    from chggen_kernels.errors import RunInterrupted

    os.environ.setdefault("SPGLIB_WARNING", "OFF")  # as the command sets it for its workers
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="No Pauling electronegativity")
        summary = drive(config, address=address, progress=progress, log_to_driver=verbose)
    if summary.interrupted:
        raise RunInterrupted(f"campaign {config.name!r} interrupted; call again to resume "
                             f"(results so far in {config.output})")
    results = load_results(config.output)
    results.notes = (summary.line(),)
    return results
