"""What ``chggen generate`` and ``chggen inpaint`` print: the plan of a dry run with its
estimated cost, and the summary line and ranked table of the candidates.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from campaign.commands.generate_options import SAMPLER_OPTIONS

if TYPE_CHECKING:  # pragma: no cover
    from campaign.jobs.chain import ChainResult

__all__ = ["REPORTED_MODES", "print_dry_run", "print_results"]

REPORTED_MODES = ("unconditional", "inpaint", "inpaint-symmetric", "symmetric", "template",
                  "template-symmetric")


def print_dry_run(what: str, composition: dict[str, int], n_samples: int,
                  inpainted: int, args: argparse.Namespace) -> int:
    """The plan of a single-process command and its estimated cost; exit code 0."""
    import dataclasses

    from campaign.commands.options import given_values
    from campaign.config.plan import estimate_cost
    from campaign.stages.resources import resolve_sampler_settings

    n_atoms = sum(composition.values())
    sampler = dataclasses.asdict(resolve_sampler_settings(
        given_values(args, [*SAMPLER_OPTIONS, "preset"]), None))
    cost = estimate_cost(unconditional_atoms=n_atoms * n_samples,
                         inpainting_atoms=n_atoms * inpainted, sampler=sampler, workers=1,
                         cpus=float(args.threads or 1),
                         generation=getattr(args, "mode", "unconditional"))
    print(f"{what}: {n_samples} samples of {n_atoms} atoms"
          + (f" + at most {inpainted} inpainted" if inpainted else "")
          + f"; one process; out {args.out or '(default folder)'}")
    print(cost.line())
    print("dry run: nothing started")
    return 0


def print_results(result: ChainResult, modes: tuple[str, ...] | None, top: int,
                  out_dir: str | None) -> int:
    """Summary line and ranked table; returns the exit code (1 if nothing succeeded).

    When an inpainting mode was asked for but no host framework refined, the unconditional
    candidates are ranked instead, with a line saying how many hosts refined and why none
    qualified (exit 0).
    """
    from campaign.commands.top import format_table, group_duplicates
    from campaign.jobs.chain import rank_table

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
