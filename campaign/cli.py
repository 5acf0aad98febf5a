"""The ``chggen`` command line.

Each sub-command lives in its own module exposing ``register(subparsers)``; this file
only assembles them, so configuration stays at the edge and the kernels stay pure.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Modules that add sub-commands. Each defines ``register(subparsers) -> None`` and sets
# ``func`` on its parser via ``set_defaults(func=...)``; ``func(args) -> int``.
COMMAND_MODULES: list[str] = [
    "campaign.commands.scan",
    "campaign.commands.run",
    "campaign.commands.top",
    "campaign.commands.generate",
    "campaign.commands.inpaint",
    "campaign.commands.report",
    "campaign.commands.analyze",
    "campaign.commands.export",
    "campaign.commands.train",
    "campaign.commands.model",
    "campaign.commands.data",
    "campaign.commands.benchmark",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chggen",
        description="Crystal host-guided generation: diffusion-model crystal structure "
        "prediction with inpainting and CHGNet relaxation.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
