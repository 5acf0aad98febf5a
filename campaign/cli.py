"""The ``chggen`` command line.

Each sub-command lives in its own module exposing ``register(subparsers)``; this file
only assembles them, so configuration stays at the edge and the kernels stay pure.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import typing
import warnings
from collections.abc import Sequence

from chggen_kernels.errors import ChggenError, RunFailedError, RunInterrupted

# Modules that add sub-commands. Each defines ``register(subparsers) -> None`` and sets
# ``func`` on its parser via ``set_defaults(func=...)``; ``func(args) -> int``.
COMMAND_MODULES: list[str] = [
    "campaign.commands.scan",
    "campaign.commands.run",
    "campaign.commands.check",
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


def _version() -> str:
    """The installed chggen's version (the package metadata; no heavy import)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("chggen")
    except PackageNotFoundError:  # pragma: no cover - a checkout that is not installed
        return "unknown"


class OneLineParser(argparse.ArgumentParser):
    """argparse with the project's error form: ``<prog>: <message>`` on one line, exit 2
    (argparse prints the usage block first); ``--help`` still shows the usage."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="chggen",
        description="Crystal host-guided generation: diffusion-model crystal structure "
        "prediction with inpainting and CHGNet relaxation.",
    )
    parser.add_argument("--version", action="version", version=f"chggen {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


# attributes that hold the name of a nested sub-command (``chggen data build``)
NESTED_COMMAND_ATTRIBUTES = ("analysis", "benchmark_kind", "data_command", "model_command")


def command_name(args: argparse.Namespace) -> str:
    """``"chggen <command> [<sub-command>]"``: the prefix of every error line."""
    words = ["chggen", getattr(args, "command", None) or ""]
    words += [getattr(args, a) for a in NESTED_COMMAND_ATTRIBUTES if getattr(args, a, None)]
    return " ".join(w for w in words if w)


def os_error_line(exc: OSError) -> str:
    """One line for a failed file operation naming the path, e.g.
    ``file system error on 'out/part-x.parquet': No space left on device``."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.filename is None:
        return f"file system error: {reason}"
    return f"file system error on {str(exc.filename)!r}: {reason}"


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler ending the job, ``kill``): unwinds like Ctrl-C, so the lock is
    released, Ray shut down and what was written stays; exit code 143."""


def _terminate(signum: int, _frame: object) -> None:
    raise Terminated(signal.Signals(signum).name)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the sub-command (see :func:`run_command`); SIGTERM ends it
    like Ctrl-C, with one line and exit code 143."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    # pymatgen warns on every property lookup of a heavy element; the element checks say
    # what matters about such elements in one line
    warnings.filterwarnings("ignore", message="No Pauling electronegativity")
    # spglib's C library prints "Primitive lattice cleaning is incomplete" and the like to
    # stderr at growing tolerances (the symmetry ladder tries many); it reads this variable
    # at each warning, and workers started from here inherit it. SPGLIB_WARNING=ON shows them.
    os.environ.setdefault("SPGLIB_WARNING", "OFF")
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return run_command(args)
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_command(args: argparse.Namespace, **injected: object) -> int:
    """Run ``args.func(args, **injected)`` and map errors to one stderr line and an exit
    code, for every command in one place: :class:`~chggen_kernels.errors.ChggenError` by
    its class (2 bad input, 1 failed run, 130 interrupted), Ctrl-C 130, a failed file
    operation (disk full, read-only folder) 1. ``injected``: test doubles (factories)
    that some commands accept."""
    name = command_name(args)
    try:
        return int(args.func(args, **injected) or 0)
    except ChggenError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return exc.exit_code
    except Terminated:
        print(f"{name}: terminated (SIGTERM); run the same command again to resume",
              file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print(f"{name}: interrupted; run the same command again to resume", file=sys.stderr)
        return RunInterrupted.exit_code
    except OSError as exc:
        print(f"{name}: {os_error_line(exc)}", file=sys.stderr)
        return RunFailedError.exit_code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
