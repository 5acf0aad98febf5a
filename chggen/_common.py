"""What the functions of :mod:`chggen` share: keyword collection, structures given as
objects or files, the torch thread setting of one call, the run's library settings and
the :class:`~chggen.results.Results` of a local chain."""

from __future__ import annotations

import argparse
import contextlib
import os
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chggen_kernels.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from pymatgen.core import Structure

    from campaign.jobs.chain import ChainResult
    from chggen.results import Results

__all__ = ["as_structure", "chain_results", "formula_text", "given", "local_call", "output_dir"]


def given(values: Mapping[str, Any], *exclude: str) -> dict[str, Any]:
    """A function's keywords (its ``locals()`` at entry, ``options`` merged in) minus
    ``exclude``: what :func:`chggen._options.parse_options` turns into options."""
    out = {k: v for k, v in values.items() if k not in exclude and k != "options"}
    return out | dict(values.get("options") or {})


def formula_text(composition: Any) -> str:
    """A formula string from ``"Li2Si"`` or ``{"Li": 2, "Si": 1}`` (checked later, as the
    command line checks its FORMULA)."""
    if isinstance(composition, Mapping):
        return "".join(f"{el}{n}" for el, n in composition.items())
    if not isinstance(composition, str):
        raise InputError(f"composition must be a formula such as 'Li2Si' or a mapping such as "
                         f"{{'Li': 2, 'Si': 1}}, got {type(composition).__name__}")
    return composition


def as_structure(value: Any) -> Structure | None:
    """A pymatgen Structure (copied) from a Structure or an ASE Atoms; ``None`` for
    anything else (a path, read by the caller with the file bounds)."""
    from pymatgen.core import Structure

    if isinstance(value, Structure):
        return value.copy()
    if type(value).__module__.startswith("ase.") and hasattr(value, "get_cell"):
        from pymatgen.io.ase import AseAtomsAdaptor

        return AseAtomsAdaptor.get_structure(value)
    return None


@contextlib.contextmanager
def local_call(args: argparse.Namespace) -> Iterator[None]:
    """The settings of one local call, as ``chggen`` sets them for a command: ``threads``
    torch threads (restored afterwards), no spglib warnings on stderr (``SPGLIB_WARNING``
    unless set), no pymatgen warning per heavy-element lookup."""
    from campaign.commands.generate import set_threads

    os.environ.setdefault("SPGLIB_WARNING", "OFF")
    previous = None
    if getattr(args, "threads", None) is not None:
        import torch

        previous = torch.get_num_threads()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="No Pauling electronegativity")
        try:
            set_threads(args)
            yield
        finally:
            if previous is not None:
                import torch

                torch.set_num_threads(previous)


def output_dir(args: argparse.Namespace, runner: Any) -> str | None:
    """The results folder of a call with ``out=`` (``new_folder``: ``<out>-<settings
    hash>`` when ``out`` holds other settings); ``None`` without ``out``."""
    if args.out is None:
        return None
    from campaign.commands.generate import output_folder

    return output_folder(args, runner, str(Path(args.out)))


def chain_results(result: ChainResult, modes: tuple[str, ...] | None,
                  folder: str | None) -> Results:
    """:class:`~chggen.results.Results` of a local chain, with the notes ``chggen
    generate`` prints (hosts with a symmetric framework, Wyckoff fallbacks) and its
    fallback: when an inpainting mode was asked for and no host framework refined, the
    unconditional candidates are ranked instead."""
    from chggen.results import Results

    records = result.records
    notes = []
    if result.n_hosts:
        notes.append(f"{result.n_symmetric_hosts}/{result.n_hosts} hosts with a symmetric "
                     "framework")
    symmetric = [r for r in records if r.mode == "inpaint-symmetric"]
    if symmetric:
        fallback = sum(bool(r.symmetric_fallback) for r in symmetric)
        notes.append(f"{len(symmetric) - fallback}/{len(symmetric)} inpaint-symmetric "
                     f"candidates on Wyckoff orbits; {fallback} fell back to ordinary "
                     "inpainting (see the symmetric_fallback column)")
    ranked_any = any(r.status == "ok" and r.mode in modes for r in records) if modes else True
    if not ranked_any and result.unconditional and not result.n_symmetric_hosts:
        notes.append(f"no inpainting: {result.n_symmetric_hosts} of {result.n_hosts} hosts "
                     "have a framework that refines above P-1; ranking the unconditional "
                     "candidates instead")
        modes = ("unconditional",)
    return Results.from_rows(records, modes=modes, notes=notes, folder=folder)
