"""Sub-commands of the ``chggen`` command line, one module each, and what they share."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable, Iterator

from chggen_kernels.errors import ChggenError, InputError

__all__ = ["print_notes", "value_errors_are_input"]


@contextlib.contextmanager
def value_errors_are_input() -> Iterator[None]:
    """A ``ValueError`` of the work inside is bad input (one line, exit 2); chggen's own
    errors keep their kind."""
    try:
        yield
    except ValueError as exc:
        if isinstance(exc, ChggenError):
            raise
        raise InputError(str(exc)) from None


def print_notes(notes: Iterable[str]) -> None:
    """Each note as ``note: ...`` on stderr."""
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
