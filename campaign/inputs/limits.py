"""Bounds on every size a user can ask for, and the one way to raise them.

A campaign file's ``limits:`` block (the ``limits=`` keyword of the Python API, and
``--limits NAME=VALUE`` on the commands that take no file) sets any of the fields of
:class:`Limits`. The defaults are generous enough for real work (a 10,000-candidate scan,
the extended CSP benchmark at its default k) and tight enough that a typo such as
``samples_per_task: 1000000000`` is refused in one line, before Ray or a model starts:

``samples_per_task = 1000000000: more than limits.samples_per_task = 2,000 (candidates
of one task are sampled as one batch); raise limits.samples_per_task to allow it``
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chggen_kernels.errors import InputError
from chggen_kernels.settings import reject_unknown

__all__ = ["LIMIT_REASONS", "LimitError", "Limits", "check_limit", "parse_limit_options"]

_CAP = 10**9  # no limit may itself be raised beyond this


class LimitError(InputError):
    """A size is beyond its limit; the message names the field, the value, the limit, why
    the limit is there and how to raise it."""


class Limits(BaseModel):
    """Largest sizes a run may ask for (raise any of them in ``limits:``).

    Attributes:
        samples_per_task: candidates of one task (sampled as one batch, one Parquet part).
        seed_blocks: seed blocks of a campaign (each block repeats every task).
        cells: cell compositions a campaign may enumerate (before its constraints).
        candidates: candidates a campaign, a ``generate`` or a benchmark plans in all.
        atoms_per_cell: atoms in one cell (sampler batches hold whole cells; CHGNet and
            the symmetry ladder scale with it).
        hosts: inpainting hosts (planned by a campaign, or structures of a hosts set).
        benchmark_k: candidates per compound and method of a benchmark (k).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    samples_per_task: int = Field(2_000, ge=1, le=_CAP)
    seed_blocks: int = Field(1_000, ge=1, le=_CAP)
    cells: int = Field(20_000, ge=1, le=_CAP)
    candidates: int = Field(100_000, ge=1, le=_CAP)
    atoms_per_cell: int = Field(200, ge=1, le=_CAP)
    hosts: int = Field(10_000, ge=1, le=_CAP)
    benchmark_k: int = Field(1_000, ge=1, le=_CAP)


#: Why each limit is there (the message says it).
LIMIT_REASONS: dict[str, str] = {
    "samples_per_task": "candidates of one task are sampled as one batch",
    "seed_blocks": "every block repeats each task of the campaign",
    "cells": "compositions are enumerated in memory before planning",
    "candidates": "each candidate is sampled, relaxed and written",
    "atoms_per_cell": "a cell is sampled and relaxed whole",
    "hosts": "each host is refined and inpainted",
    "benchmark_k": "each of the k candidates of a compound is relaxed",
}


def check_limit(limits: Limits, name: str, value: int, *, field: str | None = None) -> None:
    """Refuse ``value`` (given for ``field``, default the limit's own name) when it is
    above ``limits.<name>``: :class:`LimitError` with one line."""
    bound = int(getattr(limits, name))
    if value > bound:
        shown = field or name
        raise LimitError(f"{shown} = {value:,}: more than limits.{name} = {bound:,} "
                         f"({LIMIT_REASONS[name]}); raise limits.{name} to allow it")


def parse_limit_options(items: Iterable[str] | None, base: Limits | None = None) -> Limits:
    """:class:`Limits` from ``--limits NAME=VALUE`` options over ``base`` (default: the
    defaults); an unknown name (the one unknown-field check,
    :func:`chggen_kernels.settings.reject_unknown`: ``--limits hostz = 3: unknown field
    (known: ...)``) or a bad value is a one-line :class:`LimitError`."""
    values: dict[str, Any] = dict(base.model_dump()) if base is not None else {}
    for item in items or ():
        name, sep, text = str(item).partition("=")
        name = name.strip().replace("-", "_")
        if not sep:
            raise LimitError(f"--limits {item!r}: expected NAME=VALUE with NAME one of "
                             f"{', '.join(Limits.model_fields)}")
        try:
            number: int | None = int(text.replace("_", "").replace(",", ""))
        except ValueError:
            number = None
        reject_unknown({name: text if number is None else number}, list(Limits.model_fields),
                       "--limits", LimitError, sep=" ")
        if number is None:
            raise LimitError(f"--limits {item!r}: {text!r} is not an integer")
        values[name] = number
    try:
        return Limits(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise LimitError(f"--limits {err['loc'][0]} = {err.get('input')!r}: "
                         f"{err['msg']}") from None
