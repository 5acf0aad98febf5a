"""The CHGGen stages as plain functions, in the order a campaign runs them.

1. :func:`generate`: one batched sampler call for many :class:`CandidateSpec` (random
   Bravais lattice for unconditional specs; the refined host for inpainting specs).
2. :func:`~chggen_kernels.workflow.scoring.relax_and_score` (in ``scoring``): CHGNet
   relaxation, final symmetry and E_d of one candidate; never raises.
3. :func:`inpainting_specs`: framework refinement of a relaxed unconditional candidate
   and the inpainting specs that place its guests back into the refined framework.

The campaign's stage runner (``campaign.stages.runner``) calls exactly these functions, in Ray
actors or in one process.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from pymatgen.core import Element, Structure

from chggen_kernels.crystal import CrystalBatch, crystal_arrays
from chggen_kernels.lattice import LATTICE_FAMILIES, bravais_lattice
from chggen_kernels.model import ScoreModel
from chggen_kernels.sampling import SamplerSettings, sample
from chggen_kernels.symmetry import (
    DEFAULT_LADDER,
    SymmetryTolerance,
    refine_framework,
)
from chggen_kernels.templates import TEMPLATE_SIGMA
from chggen_kernels.verlet import VerletScore
from chggen_kernels.workflow.planning import (
    candidate_id,
    candidate_seed,
    inpainting_stage_seed,
    parse_lattice_ratio,
)
from chggen_kernels.workflow.records import (
    INPAINT_MODES,
    START_MODES,
    CandidateRecord,
    CandidateSpec,
    Cell,
    GeneratedCandidate,
    as_cell,
)
from chggen_kernels.workflow.symmetric import (
    DEFAULT_MAX_COMBINATIONS,
    guest_counts,
    resolve_symmetric,
    symmetric_specs,
)
from chggen_kernels.wyckoff import OrbitConstraint

__all__ = ["generate", "initial_crystal", "inpainting_specs"]

ScoreFn = Callable[[CrystalBatch, torch.Tensor], torch.Tensor]


def initial_crystal(spec: CandidateSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(cartesian positions Å, lattice rows Å, atomic numbers, guest mask) for one spec.

    Unconditional: the spec's Bravais lattice (family and axis ratios, drawn when the spec
    was planned, :func:`~chggen_kernels.workflow.planning.draw_lattice`) at
    ``n_atoms * volume_per_atom_prior``; positions are placeholders that the sampler
    replaces. Inpainting: the host framework plus ``n_guest`` guests (mask True).
    """
    rng = np.random.default_rng(spec.seed)
    if spec.start is not None and spec.mode in START_MODES:
        start = Structure.from_dict(spec.start)
        return (start.cart_coords, start.lattice.matrix, np.array(start.atomic_numbers),
                np.ones(len(start), bool))
    if spec.mode == "unconditional":
        species = [el for el, n in sorted(spec.composition.items()) for _ in range(n)]
        vpa = spec.volume_per_atom_prior
        if vpa is None or not vpa > 0:
            raise ValueError(
                f"candidate {spec.candidate_id}: volume_per_atom_prior must be positive, "
                f"got {vpa!r}"
            )
        if spec.lattice_family not in LATTICE_FAMILIES:
            raise ValueError(f"candidate {spec.candidate_id}: lattice_family must be one of "
                             f"{', '.join(LATTICE_FAMILIES)}, got {spec.lattice_family!r} "
                             "(plan specs with chggen_kernels.workflow.planning)")
        lattice = bravais_lattice(spec.lattice_family, len(species), vpa,
                                  parse_lattice_ratio(spec.lattice_ratio))
        numbers = np.array([Element(el).Z for el in species])
        frac = rng.uniform(size=(len(species), 3))
        return frac @ lattice, lattice, numbers, np.ones(len(species), bool)
    host = as_cell(spec.host)
    if host is None:
        raise ValueError(f"candidate {spec.candidate_id}: mode {spec.mode!r} needs a host")
    guests = list(spec.guest_species)
    if not guests or spec.n_guest < 1:
        raise ValueError(f"candidate {spec.candidate_id}: inpainting needs guest_species and "
                         f"n_guest >= 1, got {guests} and {spec.n_guest}")
    counts = guest_counts(spec)  # split over the species in the composition's ratio
    guest_z = [Element(g).Z for g in guests for _ in range(counts[g])]
    lattice = host.lattice
    frac = rng.uniform(size=(len(guest_z), 3))
    positions = np.concatenate([host.cart_coords(), frac @ lattice])
    numbers = np.concatenate([host.numbers, np.array(guest_z, dtype=int)])
    mask = np.concatenate([np.zeros(len(host), bool), np.ones(len(guest_z), bool)])
    return positions, lattice, numbers, mask


def _start_orbits(spec: CandidateSpec) -> tuple[CandidateSpec, Any]:
    """(spec, orbits of its start); never raises: a start whose orbits cannot be found is
    sampled without the constraint, the reason in ``symmetric_fallback``. A symmetric
    start is sampled from uniform positions (any atom on any orbit of its species); a
    template start is denoised from where it is, so each atom keeps its own orbit."""
    import dataclasses

    from chggen_kernels.wyckoff.crystals import orbit_letters, paired_orbits, start_orbits

    start = Structure.from_dict(spec.start)
    try:
        if spec.mode == "template-symmetric":
            orbits, spacegroup = paired_orbits(start)
            letters = orbit_letters(orbits, start)
        else:
            orbits, spacegroup, letters = start_orbits(start)
    except Exception as exc:  # noqa: BLE001 - any failure: sample unconstrained
        return dataclasses.replace(spec, symmetric_fallback=f"wyckoff: {exc}"), None
    return dataclasses.replace(spec, spacegroup_start=spacegroup, wyckoff_letters=letters), \
        orbits


def generate(
    score_fn: ScoreFn,
    specs: Sequence[CandidateSpec],
    sampler_settings: SamplerSettings,
    model_checkpoint: str = "",
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
    progress: Callable[[str, int, int], None] | None = None,
) -> list[GeneratedCandidate]:
    """Sample every spec in as few batched sampler calls as possible (one per mode).

    A spec whose initial crystal cannot be built, or whose positions become non-finite,
    comes back ``failed`` with the reason; the others are unaffected. ``t_sample_s`` is
    the sampler wall time shared out in proportion to each crystal's atom count.
    ``progress(mode, levels_done, levels_total)`` follows each batched sampler call.
    """
    specs = list(specs)
    results: dict[int, GeneratedCandidate] = {}
    settings_dict = sampler_settings.to_dict()
    by_mode: dict[str, list[int]] = {}
    arrays: dict[int, tuple[np.ndarray, ...]] = {}
    orbits: dict[int, Any] = {}
    for i, spec in enumerate(specs):
        try:
            arrays[i] = initial_crystal(spec)
            if spec.mode == "inpaint-symmetric":
                specs[i], orbits[i] = resolve_symmetric(spec, arrays[i][2], arrays[i][3])
            elif spec.mode in ("symmetric", "template-symmetric"):
                specs[i], orbits[i] = _start_orbits(spec)
        except Exception as exc:  # bad spec: a failed row, never a crashed batch
            results[i] = GeneratedCandidate(spec, "failed", None, f"initialisation: {exc}", 0.0,
                                            settings_dict, model_checkpoint)
            continue
        by_mode.setdefault(spec.mode, []).append(i)
    for mode, ids in by_mode.items():
        crystals = [arrays[i][:3] for i in ids]
        masks = [arrays[i][3] for i in ids] if mode in INPAINT_MODES else None
        batch = CrystalBatch.from_arrays(crystals, masks=masks, dtype=dtype, device=device)
        constraint = (OrbitConstraint([orbits.get(i) for i in ids]) if mode in
                      ("inpaint-symmetric", "symmetric", "template-symmetric") else None)
        from_given = TEMPLATE_SIGMA if mode in ("template", "template-symmetric") else None
        recorded = settings_dict | ({"from_given_sigma": from_given} if from_given else {})
        t0 = time.perf_counter()
        try:
            tick = None if progress is None else functools.partial(progress, mode)
            # a ScoreModel reuses its neighbour list along the trajectory (Verlet, skin 1 Å)
            score = VerletScore(score_fn) if isinstance(score_fn, ScoreModel) else score_fn
            out = sample(score, batch, sampler_settings, seeds=[specs[i].seed for i in ids],
                         constraint=constraint, progress=tick, from_given_sigma=from_given)
        except Exception as exc:  # a crashing score function fails its batch, not the run
            elapsed = time.perf_counter() - t0
            reason = f"sampler: {type(exc).__name__}: {exc}"
            for i in ids:
                results[i] = GeneratedCandidate(specs[i], "failed", None, reason,
                                                elapsed / len(ids), recorded,
                                                model_checkpoint)
            continue
        elapsed = time.perf_counter() - t0
        total_atoms = max(1, batch.n_atoms)
        counts = batch.atoms_per_crystal.tolist()
        wrapped = out.batch.wrap()
        for k, i in enumerate(ids):
            share = elapsed * counts[k] / total_atoms
            if bool(out.failed[k]):
                reason = f"sampler: non-finite positions at level {int(out.failed_level[k])}"
                results[i] = GeneratedCandidate(specs[i], "failed", None, reason, share,
                                                recorded, model_checkpoint)
            else:  # the crystal as arrays: a Structure is built once, for relaxation
                crystal = Cell(*crystal_arrays(wrapped, k), cartesian=True)
                results[i] = GeneratedCandidate(specs[i], "ok", None, None, share, recorded,
                                                model_checkpoint, crystal=crystal)
    return [results[i] for i in range(len(specs))]


def _column(row: CandidateRecord | Mapping[str, Any], name: str) -> Any:
    return row.get(name) if isinstance(row, Mapping) else getattr(row, name)


def inpainting_specs(
    record: CandidateRecord | Mapping[str, Any],
    guest_species: Sequence[str],
    n_samples: int,
    *,
    task_id: str,
    campaign_seed: int,
    mode: str = "inpaint",
    max_combinations: int = DEFAULT_MAX_COMBINATIONS,
    max_atoms: int | None = None,
    ladder: Sequence[SymmetryTolerance] = DEFAULT_LADDER,
    cell: str = "conventional",
) -> list[CandidateSpec]:
    """The specs of one inpainting task: framework refinement of a relaxed unconditional
    candidate, then ``n_samples`` specs re-sampling its guests in the refined framework.

    ``record``: the host's results row, a :class:`CandidateRecord` or the plain row dict
    the campaign hands over (its ``status``, ``structure_relaxed``, ``candidate_id``,
    ``lattice_family`` and ``lattice_ratio`` are read). The host's structure is loaded
    from its JSON text here, once; the specs carry the refined framework as a
    :class:`~chggen_kernels.workflow.records.Cell` (spglib's lattice, fractional
    coordinates and atomic numbers).

    Removes the guest species, climbs the symmetry ladder and, when the framework reaches
    a space group above P-1, returns the specs (guests scaled by the refined cell's
    multiplicity; ids, seeds and the Wyckoff draw from ``task_id`` and ``campaign_seed``,
    :mod:`~chggen_kernels.workflow.planning`). Returns ``[]`` when the record failed, has
    no guests, the framework stays P1/P-1, the guest count does not scale to an integer,
    or the cell would exceed ``max_atoms``. ``mode="inpaint-symmetric"`` places the guests
    on Wyckoff positions (at most ``max_combinations`` per host, the refined conventional
    cell being the guests' cell) or records why it falls back to ordinary inpainting.
    """
    if mode not in INPAINT_MODES:
        raise ValueError(f"mode must be one of {INPAINT_MODES}, got {mode!r}")
    text = _column(record, "structure_relaxed")
    if _column(record, "status") != "ok" or text is None or n_samples < 1:
        return []
    structure = Structure.from_dict(json.loads(text))
    guests = tuple(g for g in guest_species
                   if any(site.specie.symbol == g for site in structure))
    if not guests:
        return []
    try:
        refined = refine_framework(structure, guests, ladder=ladder, cell=cell)  # type: ignore[arg-type]
    except ValueError:
        return []
    if not refined.success:
        return []
    counts = {g: sum(1 for site in structure if site.specie.symbol == g) * refined.multiplicity
              for g in guests}
    if any(abs(c - round(c)) > 1e-6 for c in counts.values()):
        return []
    counts_int = {g: round(c) for g, c in counts.items()}
    n_guest = sum(counts_int.values())
    framework = refined.structure
    composition = {el.symbol: int(round(n)) for el, n in framework.composition.items()}
    for g, n in counts_int.items():
        composition[g] = composition.get(g, 0) + n
    if n_guest < 1 or (max_atoms is not None and sum(composition.values()) > max_atoms):
        return []
    host = Cell.from_structure(framework)  # spglib's arrays, as the refinement left them
    specs = [
        CandidateSpec(
            candidate_id=candidate_id(task_id, k), task_id=task_id, composition=composition,
            mode="inpaint", seed=candidate_seed(campaign_seed, task_id, k),
            lattice_family=_column(record, "lattice_family"),
            lattice_ratio=_column(record, "lattice_ratio"),
            volume_per_atom_prior=framework.volume / sum(composition.values()),
            parent_id=_column(record, "candidate_id"), guest_species=guests, n_guest=n_guest,
            host=host,
            spacegroup_framework=refined.spacegroup_number, framework_method=refined.method,
            framework_symprec=refined.symprec)
        for k in range(n_samples)
    ]
    if mode == "inpaint-symmetric":
        return symmetric_specs(specs, seed=inpainting_stage_seed(campaign_seed, task_id),
                               max_combinations=max_combinations)
    return specs
