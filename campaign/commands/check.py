"""``chggen check CONFIG``: validate a campaign file and print what it would do.

The file is read with bounds (size, encoding, YAML expansion), validated field by field,
its sizes checked against its ``limits``, and its plan printed: tasks, candidates, the
actors and the resources they ask for, the sampler and a cost estimate from measured
per-atom costs. Nothing starts (no Ray, no model), so a campaign can be checked on a
laptop before it is sent to a cluster. Exit 0 when the file is usable, 2 otherwise.
"""

from __future__ import annotations

import argparse

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="validate a campaign file and print its plan and cost",
                       description=__doc__.split("\n\n")[1].replace("\n", " "))
    p.add_argument("config", help="campaign YAML file (see examples/li_si.yaml)")
    p.add_argument("--out", default=None, help="results folder (overrides 'output')")
    p.add_argument("--cluster", default=None, metavar="FILE",
                   help="Ray cluster file (cluster.yaml, or a KubeRay RayCluster manifest): "
                   "refuse the campaign unless its sampler and relaxation actors each fit "
                   "one node type")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from campaign.commands.run import checked_config, print_plan

    return print_plan(checked_config(args))
