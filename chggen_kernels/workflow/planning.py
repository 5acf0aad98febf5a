"""Planning a run: ids, seeds, lattices, host selection, inpainting tasks and ranking.

Every command (``chggen run``/``scan`` on Ray, ``chggen generate``/``inpaint`` in one
process) plans its candidates with these functions, so the same composition, seed and
settings give the same candidate ids, lattices and seeds everywhere.

* task id: :func:`short_hash` of what defines the task (12 hex digits);
* candidate id: ``<task id>-<index:03d>`` (:func:`candidate_id`);
* candidate seed: :func:`candidate_seed` (campaign seed, task id, index) in 31 bits;
* lattice: drawn once per unconditional candidate by :func:`draw_lattice` from its seed at
  the real ``V = N * V0`` and recorded in the spec as family and axis ratios; the sampler
  rebuilds exactly that lattice from them (``bravais_lattice``);
* hosts: :func:`select_hosts` (successful first-stage rows with a structure, ranked by
  :func:`rank_key`: E_d, then energy per atom, rows without E_d after those with one);
* inpainting: :func:`inpainting_task_id` names the task of one host and mode; the
  framework stage (``stages.inpainting_specs``) gives its specs ids and seeds from it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from chggen_kernels.workflow.records import (
    FIRST_STAGE_MODES,
    INPAINT_MODES,
    CandidateSpec,
    format_composition,
)

__all__ = [
    "INPAINT_MODES",
    "LatticeDraw",
    "candidate_id",
    "candidate_seed",
    "draw_lattice",
    "inpainting_stage_seed",
    "inpainting_task_id",
    "rank_key",
    "rank_rows",
    "select_hosts",
    "short_hash",
    "unconditional_specs",
    "unconditional_task_id",
]

TASK_ID_LENGTH = 12  # hex digits (48 bits)
SEED_MODULUS = 2**31 - 1


def short_hash(*parts: Any, length: int = TASK_ID_LENGTH) -> str:
    """Stable hex digest of JSON-serialisable parts (independent of Python's hash seed)."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def candidate_id(task_id: str, index: int) -> str:
    """The one candidate-id format: ``<task id>-<index:03d>``."""
    return f"{task_id}-{index:03d}"


def candidate_seed(campaign_seed: int, task_id: str, index: int) -> int:
    """Seed of one candidate, in ``[0, 2**31 - 1)`` so that every RNG accepts it."""
    digest = hashlib.sha256(f"{campaign_seed}:{task_id}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "little") % SEED_MODULUS


@dataclasses.dataclass(frozen=True)
class LatticeDraw:
    """A candidate's Bravais lattice: family and axis ratios ``"b/a:c/a"``."""

    family: str
    ratio: str


def _format_ratio(ratios: Sequence[float]) -> str:
    return f"{ratios[0]:g}:{ratios[1]:g}"


def parse_lattice_ratio(ratio: str | None) -> tuple[float, float] | None:
    """Axis ratios ``(b/a, c/a)`` of a ``"b/a:c/a"`` string (``None``/empty: none given);
    ``ValueError`` unless both are finite positive numbers."""
    if not ratio:
        return None
    try:
        b, c = (float(x) for x in str(ratio).split(":"))
    except ValueError:
        b = c = math.nan
    if not (math.isfinite(b) and math.isfinite(c) and b > 0 and c > 0):
        raise ValueError(f"lattice_ratio must look like 'b/a:c/a' with positive numbers, e.g. "
                         f"'1.25:1.5', got {ratio!r}")
    return b, c


def draw_lattice(family: str | None, ratio: str | None, n_atoms: int,
                 volume_per_atom: float, seed: int) -> LatticeDraw:
    """The lattice of one unconditional candidate, drawn once from its seed.

    ``family`` ``"any"``/``None`` draws one of the seven families; ``ratio`` ``None``
    draws the free axis ratios from the reference set. The draw uses the lattice stage's
    own sampler at the real volume (Å^3/atom), so what is recorded is what is sampled.
    """
    import numpy as np

    from chggen_kernels.lattice import LATTICE_FAMILIES, sample_lattice

    if family not in (None, "any") and family not in LATTICE_FAMILIES:
        raise ValueError(f"lattice family must be 'any' or one of {', '.join(LATTICE_FAMILIES)}"
                         f", got {family!r}")
    parse_lattice_ratio(ratio)
    families = LATTICE_FAMILIES if family in (None, "any") else (family,)
    drawn = sample_lattice(n_atoms, volume_per_atom, np.random.default_rng(seed),
                           families=families)
    return LatticeDraw(drawn.family, ratio if ratio is not None else _format_ratio(drawn.ratios))


def unconditional_specs(
    task_id: str,
    composition: Mapping[str, int],
    n_samples: int,
    campaign_seed: int,
    volume_per_atom: float,
    lattice_family: str | None = "any",
    lattice_ratio: str | None = None,
) -> list[CandidateSpec]:
    """The ``n_samples`` unconditional specs of one task (lattice drawn per candidate)."""
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    if not volume_per_atom > 0:
        raise ValueError(f"volume_per_atom must be > 0 Å^3/atom, got {volume_per_atom!r}")
    counts = {el: int(n) for el, n in sorted(composition.items()) if n}
    n_atoms = sum(counts.values())
    specs = []
    for index in range(n_samples):
        seed = candidate_seed(campaign_seed, task_id, index)
        drawn = draw_lattice(lattice_family, lattice_ratio, n_atoms, volume_per_atom, seed)
        specs.append(CandidateSpec(
            candidate_id=candidate_id(task_id, index), task_id=task_id, composition=counts,
            mode="unconditional", seed=seed, lattice_family=drawn.family,
            lattice_ratio=drawn.ratio, volume_per_atom_prior=float(volume_per_atom)))
    return specs


def unconditional_task_id(composition: Mapping[str, int], lattice_family: str | None,
                          lattice_ratio: str | None, volume_per_atom: float | None,
                          n_samples: int, seed_block: int, campaign_seed: int) -> str:
    """Task id of one block of unconditional samples (what defines its candidates)."""
    counts = {el: int(n) for el, n in composition.items() if n}
    return short_hash("unconditional", format_composition(counts), sum(counts.values()),
                      lattice_family, lattice_ratio, volume_per_atom, n_samples, seed_block,
                      campaign_seed)


def rank_key(row: Mapping[str, Any]) -> tuple[Any, ...]:
    """Sort key of the one ranking rule: E_d (eV/atom) ascending, rows without E_d after
    those with one, then energy per atom, then candidate id."""
    inf = float("inf")
    e_d = row.get("e_d")
    energy = row.get("energy_relaxed_per_atom")
    return (e_d is None, inf if e_d is None else float(e_d),
            inf if energy is None else float(energy), str(row.get("candidate_id")))


def rank_rows(rows: Iterable[Mapping[str, Any]], modes: Sequence[str] | None = None
              ) -> list[Mapping[str, Any]]:
    """Successful rows (of ``modes``), best first by :func:`rank_key`."""
    ok = [r for r in rows if r.get("status") == "ok" and (modes is None or r.get("mode") in modes)]
    return sorted(ok, key=rank_key)


def select_hosts(rows: Iterable[Mapping[str, Any]], max_hosts: int | None,
                 max_e_d: float | None = None) -> list[Mapping[str, Any]]:
    """Hosts for inpainting: successful first-stage rows (unconditional, symmetric or
    template starts) with a relaxed structure (and E_d <= ``max_e_d`` eV/atom when
    given), ranked by :func:`rank_key`, at most
    ``max_hosts`` (``None``: all). The result does not depend on the order of ``rows``."""
    eligible = [r for r in rank_rows(rows, FIRST_STAGE_MODES)
                if r.get("structure_relaxed") is not None
                and (max_e_d is None or (r.get("e_d") is not None and r["e_d"] <= max_e_d))]
    return eligible if max_hosts is None else eligible[:max_hosts]


def inpainting_task_id(mode: str, host_id: str, guest_species: Sequence[str],
                       samples_per_host: int, campaign_seed: int,
                       max_combinations: int | None = None) -> str:
    """Task id of the inpainting of one host in ``mode`` (inpaint | inpaint-symmetric)."""
    if mode not in INPAINT_MODES:
        raise ValueError(f"inpainting mode must be one of {INPAINT_MODES}, got {mode!r}")
    parts: tuple[Any, ...] = (mode, host_id, tuple(guest_species), samples_per_host,
                              campaign_seed)
    if mode == "inpaint-symmetric":
        parts += (max_combinations,)
    return short_hash(*parts)


def inpainting_stage_seed(campaign_seed: int, task_id: str) -> int:
    """Seed handed to the framework/inpainting-spec stage for one host's task."""
    return candidate_seed(campaign_seed, task_id, -1)
