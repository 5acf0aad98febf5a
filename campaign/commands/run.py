"""``chggen run CONFIG``: run or resume the campaign described by a YAML file."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run (or resume) a campaign from a YAML file",
        description="Run the campaign in CONFIG on Ray. Tasks already on disk are skipped, "
        "so running the same command again resumes an interrupted campaign.",
    )
    p.add_argument("config", help="campaign YAML file (see examples/li_si.yaml)")
    p.add_argument(
        "--address",
        default=None,
        help="Ray cluster to join ('auto': the running cluster); default: start a local Ray",
    )
    p.add_argument("--out", default=None, help="results folder (overrides 'output' in CONFIG)")
    p.add_argument("--cluster", default=None, metavar="FILE",
                   help="Ray cluster file (cluster.yaml, or a KubeRay RayCluster manifest): "
                   "refuse, before any work, a campaign whose sampler or relaxation actors "
                   "fit no node type")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--new-folder", action="store_true",
                   help="when the results folder was written with other settings (model, "
                   "sampler, relaxation, hull), write to <folder>-<settings hash> instead of "
                   "refusing")
    p.add_argument("--verbose", action="store_true", help="show actor logs and info messages")
    p.add_argument("--dry-run", action="store_true",
                   help="check CONFIG, print the plan and a cost estimate, and exit without "
                   "running anything (as 'chggen check CONFIG')")
    p.set_defaults(func=run)


def print_plan(config: Any) -> int:
    """The plan, resources and cost of a validated configuration on stdout; exit code 0
    (``--dry-run`` and ``chggen check``)."""
    from campaign.config.plan import describe_campaign

    print("\n".join(describe_campaign(config)))
    print("dry run: nothing started")
    return 0


def execute(config, address: str | None, progress: bool, verbose: bool,
            runner_factory=None) -> int:
    """Run a validated configuration; print the summary; 130 if interrupted.
    ``runner_factory``: the actors' stage runners (default: the real one)."""
    from campaign.distributed.driver import run_campaign

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    extra = {} if runner_factory is None else {"runner_factory": runner_factory}
    summary = run_campaign(config, address=address, progress=progress,
                           log_to_driver=verbose, **extra)
    print(summary.line())
    if summary.interrupted:
        print("interrupted: run the same command again to resume", file=sys.stderr)
        return 130
    return 0


def output_for_settings(config: Any, new_folder: bool) -> Any:
    """The configuration with ``output`` moved to ``<output>-<settings hash>`` when
    ``new_folder`` is asked for and the folder belongs to other settings. An ``output``
    that exists and is not a folder is refused before any work."""
    from campaign.config.model import CampaignConfigError
    from campaign.distributed.workers import runner_settings
    from campaign.stages.fingerprint import folder_for

    if Path(config.output).exists() and not Path(config.output).is_dir():
        raise CampaignConfigError(f"output = {config.output!r}: exists and is not a folder")

    target = folder_for(config.output, runner_settings(config), new_folder)
    return config if target == config.output else config.model_copy(update={"output": target})


def checked_config(args: argparse.Namespace) -> Any:
    """The campaign of ``args.config`` with ``--out`` applied, its actors checked against
    ``--cluster`` when given (one line per actor group on stdout); ``run`` and ``check``."""
    from campaign.config.model import load_config

    config = load_config(args.config)
    if args.out:
        config = config.model_copy(update={"output": args.out})
    if args.cluster:
        from campaign.distributed.cluster_fit import check_cluster_fit

        print("\n".join(check_cluster_fit(config.resources, args.cluster)))
    return config


def run(args: argparse.Namespace) -> int:
    config = checked_config(args)
    if args.dry_run:
        return print_plan(config)
    from campaign.engine.ray_toolkit import check_ray_address

    address = args.address or os.environ.get("RAY_ADDRESS")  # as init_ray reads it
    check_ray_address(address, source="address" if args.address else "RAY_ADDRESS")
    config = output_for_settings(config, args.new_folder)
    return execute(config, args.address, not args.no_progress, args.verbose)
