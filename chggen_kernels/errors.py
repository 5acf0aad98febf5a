"""The project's error types: one base class carrying the exit code of the CLI.

Every error chggen raises on purpose derives from :class:`ChggenError`; its message is
one line that names the field or file and the value at fault. The ``chggen`` entry
point (``campaign/cli.py``) turns any of them into that line on stderr and the class's
``exit_code``:

* :class:`InputError` (2): bad input, refused before any work starts;
* :class:`RunFailedError` (1): the run started but could not finish (unreadable results,
  a full disk, lost workers, an unreachable service);
* :class:`RunInterrupted` (130): interrupted by the user; the run resumes when repeated.

The concrete errors keep their built-in bases as well (``ValueError`` for bad values,
``RuntimeError`` for failures), so code that catches those still works.
"""

from __future__ import annotations

__all__ = [
    "ChggenError",
    "CrystalInputError",
    "InputError",
    "RunFailedError",
    "RunInterrupted",
    "exit_code_of",
]


class ChggenError(Exception):
    """Base of every error chggen raises on purpose; ``exit_code`` is the CLI's."""

    exit_code: int = 1


class InputError(ChggenError, ValueError):
    """Bad input (an option, a configuration field, a file): exit code 2."""

    exit_code = 2


class CrystalInputError(InputError):
    """A crystal given to chggen is unusable; the message names the crystal and the problem
    (re-exported by :mod:`chggen_kernels.crystal`, where the crystal batch checks it)."""


class RunFailedError(ChggenError, RuntimeError):
    """A run that started could not finish: exit code 1."""

    exit_code = 1


class RunInterrupted(ChggenError):
    """Interrupted by the user (Ctrl-C): exit code 130; repeating the command resumes."""

    exit_code = 130


def exit_code_of(error: BaseException) -> int:
    """The CLI exit code of ``error``: its class's code, 130 for KeyboardInterrupt, 1 else."""
    if isinstance(error, ChggenError):
        return error.exit_code
    if isinstance(error, KeyboardInterrupt):
        return 130
    return 1
