"""Symmetric inpainting in the workflow: Wyckoff choices for specs, orbits for the sampler.

A spec of mode ``"inpaint-symmetric"`` carries either ``wyckoff_letters`` (the Wyckoff
positions of its guests, e.g. ``"Li:4a,8c"``, in the host's own cell) or
``symmetric_fallback`` (why it is sampled by ordinary inpainting instead: no combination
of orbit sizes reaches the guest count, the framework is P1, spglib found no symmetry...).

* :func:`symmetric_specs` assigns them for the specs of one or more hosts: the
  combinations of a host are listed (or drawn) once and its ``k``-th spec gets combination
  ``k mod n``, so ``n`` or more samples per host cover every combination.
* :func:`spec_orbits` builds the :class:`~chggen_kernels.wyckoff.CrystalOrbits` of one spec
  for the sampler (``generate`` calls it).

The Wyckoff table of a host is found at ``WYCKOFF_SYMPREC`` (0.01 Å, 5 degrees); hosts from
the framework refinement are idealised, so this is their refined space group.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence

import numpy as np
from pymatgen.core import Element

from chggen_kernels.workflow.records import INPAINT_MODES, CandidateSpec, Cell, as_cell
from chggen_kernels.wyckoff import (
    CrystalOrbits,
    WyckoffError,
    WyckoffTable,
    crystal_orbits,
    format_choice,
    parse_choice,
    wyckoff_combinations,
    wyckoff_table_of_cell,
)
from chggen_kernels.wyckoff.combinations import DEFAULT_MAX_COMBINATIONS

__all__ = [
    "DEFAULT_MAX_COMBINATIONS",
    "WYCKOFF_SYMPREC",
    "guest_counts",
    "resolve_symmetric",
    "spec_orbits",
    "symmetric_specs",
]

WYCKOFF_SYMPREC = 0.01  # Å
WYCKOFF_ANGLE_TOLERANCE = 5.0  # degrees


def guest_counts(spec: CandidateSpec) -> dict[str, int]:
    """Guests per species of an inpainting spec, in ``guest_species`` order.

    The spec's composition gives the split; when it does not add up to ``n_guest``, all
    guests are the first species (the rule of ``initial_crystal``).
    """
    guests = list(spec.guest_species)
    counts = {g: int(spec.composition.get(g, 0)) for g in guests}
    if sum(counts.values()) != spec.n_guest:
        counts = {guests[0]: int(spec.n_guest)} | {g: 0 for g in guests[1:]}
    return counts


def _host(spec: CandidateSpec) -> Cell:
    """The spec's host with fractional coordinates (what the refinement hands over)."""
    host = as_cell(spec.host)
    if host is None:
        raise WyckoffError(f"candidate {spec.candidate_id}: no host")
    if host.cartesian:  # not made by the workflow; through pymatgen once
        host = Cell.from_structure(host.to_structure())
    return host


def _host_key(spec: CandidateSpec) -> str:
    """Groups the specs of one host and guest split within one call (no id or seed
    depends on it): the host's arrays and the guest counts."""
    host = _host(spec)
    digest = hashlib.sha256()
    for array in (host.lattice, host.numbers, host.coords):
        digest.update(np.ascontiguousarray(array).tobytes())
    digest.update(json.dumps([host.cartesian, guest_counts(spec)], sort_keys=True).encode())
    return digest.hexdigest()


def _table(host: Cell) -> WyckoffTable:
    """The (fractional) host's Wyckoff table at ``WYCKOFF_SYMPREC``, from its arrays."""
    return wyckoff_table_of_cell(host.lattice, host.coords, host.numbers.tolist(),
                                 symprec=WYCKOFF_SYMPREC,
                                 angle_tolerance=WYCKOFF_ANGLE_TOLERANCE)


def _choices(spec: CandidateSpec, seed: int, max_combinations: int,
             min_host_distance: float) -> tuple[list[str], str | None, int | None]:
    """(labels of the host's combinations, fallback reason, framework space group)."""
    host = _host(spec)
    counts = {g: n for g, n in guest_counts(spec).items() if n > 0}
    try:
        table = _table(host)
    except WyckoffError as exc:
        return [], f"wyckoff: {exc}", None
    if table.spacegroup_number == 1:
        return [], "framework is P1 at 0.01 Å: no orbit to tie guests to", 1
    combos = wyckoff_combinations(table, counts, max_combinations=max_combinations, seed=seed,
                                  host_frac=host.coords,
                                  min_host_distance=min_host_distance)
    if not combos:
        sizes = ", ".join(f"{s.label}:{s.n_in_cell}" for s in table.sites)
        wanted = ", ".join(f"{n} {g}" for g, n in counts.items())
        return [], (f"no combination of Wyckoff positions of {table.spacegroup_symbol} "
                    f"({table.spacegroup_number}) holds {wanted} (orbit sizes in the cell: "
                    f"{sizes}; fixed points next to host atoms left out)"), \
            table.spacegroup_number
    return [format_choice(c) for c in combos], None, table.spacegroup_number


def symmetric_specs(
    specs: Sequence[CandidateSpec],
    *,
    seed: int,
    max_combinations: int = DEFAULT_MAX_COMBINATIONS,
    min_host_distance: float = 1.0,
) -> list[CandidateSpec]:
    """The specs as ``"inpaint-symmetric"`` specs with Wyckoff positions or a fallback.

    Args:
        specs: inpainting specs (mode ``"inpaint"`` or ``"inpaint-symmetric"``); specs that
            already carry ``wyckoff_letters`` or ``symmetric_fallback`` are kept as they are.
        seed: seeds the choice of combinations (one draw per host).
        max_combinations: most combinations per host (>= 1).
        min_host_distance: fixed points closer than this to a host atom are left out (Å).

    Raises:
        ValueError: a spec of another mode, or a bad ``max_combinations``.
    """
    if isinstance(max_combinations, bool) or not isinstance(max_combinations, int) \
            or max_combinations < 1:
        raise ValueError(f"max_combinations must be an integer >= 1, got {max_combinations!r}")
    out: list[CandidateSpec] = []
    hosts: dict[str, tuple[list[str], str | None, int | None]] = {}
    used: dict[str, int] = {}
    for spec in specs:
        if spec.mode not in INPAINT_MODES:
            raise ValueError(f"candidate {spec.candidate_id}: symmetric inpainting needs an "
                             f"inpainting spec, got mode {spec.mode!r}")
        spec = dataclasses.replace(spec, mode="inpaint-symmetric")
        if spec.wyckoff_letters is not None or spec.symmetric_fallback is not None:
            out.append(spec)
            continue
        key = _host_key(spec)
        if key not in hosts:
            try:
                hosts[key] = _choices(spec, seed, max_combinations, min_host_distance)
            except Exception as exc:  # an unusable host falls back, it never crashes
                hosts[key] = [], f"wyckoff: {type(exc).__name__}: {exc}", None
        labels, reason, spacegroup = hosts[key]
        k = used.get(key, 0)
        used[key] = k + 1
        framework = spacegroup if spacegroup is not None else spec.spacegroup_framework
        if labels:
            out.append(dataclasses.replace(spec, wyckoff_letters=labels[k % len(labels)],
                                           spacegroup_framework=framework))
        else:
            out.append(dataclasses.replace(spec, symmetric_fallback=reason,
                                           spacegroup_framework=framework))
    return out


def spec_orbits(spec: CandidateSpec, numbers: np.ndarray, mask: np.ndarray) -> CrystalOrbits:
    """Orbits of one ``"inpaint-symmetric"`` spec with ``wyckoff_letters``.

    ``numbers``/``mask``: atomic numbers and guest mask of the spec's initial crystal (host
    first, then the guests species by species, as ``initial_crystal`` builds it).

    Raises:
        WyckoffError: the letters do not fit the host (the caller falls back).
    """
    if spec.wyckoff_letters is None:
        raise WyckoffError(f"candidate {spec.candidate_id}: no wyckoff_letters")
    table = _table(_host(spec))
    species = [Element.from_Z(int(z)).symbol for z in numbers]
    return crystal_orbits(table, parse_choice(spec.wyckoff_letters), species,
                          [bool(m) for m in mask])


def resolve_symmetric(spec: CandidateSpec, numbers: np.ndarray, mask: np.ndarray
                      ) -> tuple[CandidateSpec, CrystalOrbits | None]:
    """(spec, its orbits) for the sampler; never raises.

    A spec without a choice gets one from its own seed; a spec that cannot have orbits
    falls back to ordinary inpainting (orbits ``None``), the reason recorded in the spec.
    """
    if spec.wyckoff_letters is None and spec.symmetric_fallback is None:
        spec = symmetric_specs([spec], seed=spec.seed)[0]
    if spec.wyckoff_letters is None:
        return spec, None
    try:
        return spec, spec_orbits(spec, numbers, mask)
    except Exception as exc:  # letters that do not fit the host: plain inpainting
        return dataclasses.replace(spec, wyckoff_letters=None,
                                   symmetric_fallback=f"wyckoff: {exc}"), None
