"""``chggen scan``: the campaign over a whole composition line (the product's main job)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("scan", help="scan a chemical system's composition line (campaign)")
    p.add_argument("chemsys", nargs="?", default="Li-Si", help="chemical system, e.g. Li-Si")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    print(
        "chggen scan is not available yet: the Ray campaign lands with the campaign issue. "
        f"(requested chemical system: {args.chemsys})"
    )
    return 3
