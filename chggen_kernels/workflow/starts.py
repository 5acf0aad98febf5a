"""Specs of the start-based modes: ``symmetric`` (Wyckoff orbits) and ``template``.

* ``symmetric``: each candidate draws a (space group, Wyckoff positions) assignment from
  the learned prior (:class:`~chggen_kernels.wyckoff.prior.WyckoffPrior`) and a crystal on
  those orbits (:func:`~chggen_kernels.wyckoff.crystals.random_symmetric_crystal`); the
  sampler then runs the whole reverse diffusion with every atom tied to its orbit (score
  symmetrised, positions projected). A composition that no assignment can hold in the
  cell falls back to an unconditional candidate, the reason in ``symmetric_fallback``.
* ``template``: candidate ``k`` starts from the ``k``-th most similar template of the
  same stoichiometry type (:class:`~chggen_kernels.templates.TemplateLibrary`; ranks
  repeat, with new noise, when there are fewer templates than candidates); the sampler
  noises it to ``TEMPLATE_SIGMA`` and denoises it. With no template of the type the
  candidate falls back to ``symmetric`` (or ``unconditional`` without a prior), the reason
  in ``start_from``.

The start is stored in the spec (``start``: pymatgen ``as_dict()``), so a spec alone
determines its candidate, as for every other mode. Deterministic in the seeds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

from chggen_kernels.workflow.planning import candidate_id, candidate_seed, unconditional_specs
from chggen_kernels.workflow.records import START_MODES, CandidateSpec

__all__ = ["START_MODES", "symmetric_start_specs", "template_start_specs"]



def symmetric_start_specs(task_id: str, composition: Mapping[str, int], n_samples: int,
                          campaign_seed: int, volume_per_atom: float, prior,
                          *, min_distance: float = 1.0) -> list[CandidateSpec]:
    """``n_samples`` symmetric specs of the cell ``composition`` at ``volume_per_atom``
    Å^3/atom, atoms at least ``min_distance`` Å apart in the start (``prior``: a
    WyckoffPrior, or None for uniform)."""
    from chggen_kernels.wyckoff.crystals import random_symmetric_crystal

    counts = {el: int(n) for el, n in sorted(composition.items()) if n}
    fallback = None
    specs = []
    for index in range(n_samples):
        seed = candidate_seed(campaign_seed, task_id, index)
        drawn = random_symmetric_crystal(counts, volume_per_atom,
                                         np.random.default_rng([seed, 31]), prior,
                                         min_distance=min_distance)
        if drawn.structure is None:
            fallback = fallback or unconditional_specs(task_id, counts, n_samples,
                                                       campaign_seed, volume_per_atom)
            specs.append(dataclasses.replace(fallback[index],
                                             symmetric_fallback=drawn.failure_reason,
                                             start_from=drawn.source))
            continue
        specs.append(CandidateSpec(
            candidate_id=candidate_id(task_id, index), task_id=task_id, composition=counts,
            mode="symmetric", seed=seed, volume_per_atom_prior=float(volume_per_atom),
            lattice_family=_family(drawn.spacegroup), start=drawn.structure.as_dict(),
            start_from=f"sg {drawn.spacegroup}, {drawn.source}",
            spacegroup_start=drawn.spacegroup, wyckoff_letters=drawn.wyckoff_letters))
    return specs


def _family(spacegroup: int | None) -> str | None:
    from chggen_kernels.wyckoff.prior import crystal_family

    return None if spacegroup is None else crystal_family(spacegroup)


def template_start_specs(task_id: str, composition: Mapping[str, int], n_samples: int,
                         campaign_seed: int, volume_per_atom: float, library, prior=None,
                         *, exclude_formulas: Sequence[str] = (), first_rank: int = 0,
                         symmetric: bool = False) -> list[CandidateSpec]:
    """``n_samples`` template specs from ``library`` (a TemplateLibrary), scaled to
    ``volume_per_atom`` Å^3/atom: candidate ``k`` starts from template rank
    ``first_rank + k`` (mod the number of templates; a campaign's later seed blocks go
    on down the ranking instead of repeating its top). ``symmetric``: mode
    ``template-symmetric`` (denoised on the template's own orbits). The fallback without
    templates is described in the module."""
    from chggen_kernels.wyckoff.prior import stoichiometry_type

    counts = {el: int(n) for el, n in sorted(composition.items()) if n}
    starts = library.starts(counts, volume_per_atom, exclude_formulas)
    if not starts:
        reason = (f"template: no known phase of stoichiometry type "
                  f"{stoichiometry_type(counts)} other than the target formula")
        if prior is not None:
            specs = symmetric_start_specs(task_id, counts, n_samples, campaign_seed,
                                          volume_per_atom, prior)
        else:
            specs = unconditional_specs(task_id, counts, n_samples, campaign_seed,
                                        volume_per_atom)
        return [dataclasses.replace(s, start_from=f"{reason}; {s.mode}"
                                    + (f" ({s.start_from})" if s.start_from else ""))
                for s in specs]
    specs = []
    for index in range(n_samples):
        rank = first_rank + index
        start = starts[rank % len(starts)]
        specs.append(CandidateSpec(
            candidate_id=candidate_id(task_id, index), task_id=task_id, composition=counts,
            mode="template-symmetric" if symmetric else "template",
            seed=candidate_seed(campaign_seed, task_id, index),
            volume_per_atom_prior=float(volume_per_atom), start=start.structure.as_dict(),
            start_from=f"template {start.label}"
            + (f", repeat {rank // len(starts)}" if rank >= len(starts) else "")))
    return specs
