"""The benchmark chain's start-based methods: close-contact ordering of sampled symmetric
candidates (``separated_first``) and template starts relaxed without the model
(``raw_start``, method ``template-raw``)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from campaign.jobs.benchmark.chain import raw_start, separated_first
from chggen_kernels.templates import TEMPLATE_SIGMA, TemplateLibrary
from chggen_kernels.testing import rock_salt
from chggen_kernels.thermo.known_structures import KnownPhase
from chggen_kernels.workflow import CandidateSpec, GeneratedCandidate
from chggen_kernels.workflow.starts import template_start_specs
from tests.benchmark.fakes import FakeRelaxer, fake_chain


def _spec(i: int, **extra) -> CandidateSpec:
    return CandidateSpec(candidate_id=f"t-{i:03d}", task_id="t", composition={"Na": 1, "Cl": 1},
                         mode="unconditional", seed=100 + i, lattice_family="cubic",
                         volume_per_atom_prior=20.0, **extra)


def _pair(distance: float) -> dict:
    """Na and Cl ``distance`` Å apart along a diagonal of a 4 Å cube."""
    x = distance / (4.0 * np.sqrt(3))
    return Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [x, x, x]]).as_dict()


def _generated(i: int, distance: float | None, status: str = "ok") -> GeneratedCandidate:
    structure = None if distance is None else _pair(distance)
    return GeneratedCandidate(_spec(i), status, structure, None if status == "ok" else "x",
                              0.0, {}, "m")


# ------------------------------------------------------------------ separated_first
def test_separated_first_puts_close_contacts_and_failures_last_in_order() -> None:
    generated = [_generated(0, 2.0, "failed"), _generated(1, 0.5), _generated(2, 2.5),
                 _generated(3, None), _generated(4, 1.0), _generated(5, 0.9),
                 _generated(6, 3.0)]
    order = [g.spec.candidate_id[-1] for g in separated_first(generated, 7, 1.0)]
    # >= 1 Å apart (2, 4 at exactly 1.0, 6) in order, then too close (1, 5), then failures
    # (0: failed, 3: ok without a structure)
    assert order == ["2", "4", "6", "1", "5", "0", "3"]
    first = separated_first(generated, 4, 1.0)
    assert [g.spec.candidate_id[-1] for g in first] == ["2", "4", "6", "1"]
    assert first[0] is generated[2]  # the candidates themselves, unchanged
    assert [g.spec.candidate_id[-1] for g in separated_first(generated, 2, 2.6)] == ["6", "1"]
    assert separated_first(generated, 0, 1.0) == []
    assert separated_first([], 3, 1.0) == []


def test_the_distance_counts_periodic_images() -> None:
    # 3.9 Å apart in the cell, but 0.1 Å to the image of Na in the next cell along x
    near_image = Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [0.975, 0, 0]])
    g = GeneratedCandidate(_spec(0), "ok", near_image.as_dict(), None, 0.0, {}, "m")
    ok = _generated(1, 1.5)
    assert separated_first([g, ok], 2, 1.0) == [ok, g]


# ------------------------------------------------------------------ raw_start
def _library() -> TemplateLibrary:
    return TemplateLibrary([KnownPhase("t-nacl", "test", "hand-made", "CC0", rock_salt())])


def test_raw_start_keeps_a_first_use_and_noises_repeats() -> None:
    specs = template_start_specs("t", {"K": 1, "Br": 1}, 3, 0, 25.0, _library())
    assert [s.start_from.endswith(", repeat 1") for s in specs] == [False, True, False]
    assert specs[2].start_from.endswith(", repeat 2")
    first, repeat, again = (raw_start(s) for s in specs)
    start = Structure.from_dict(specs[0].start)
    assert first.status == "ok" and first.model_checkpoint == "no-model"
    assert first.spec is specs[0] and first.t_sample_s == 0.0 and first.failure_reason is None
    assert Structure.from_dict(first.structure) == start
    assert np.allclose(Structure.from_dict(first.structure).cart_coords, start.cart_coords)
    moved = Structure.from_dict(repeat.structure)
    assert moved.lattice == start.lattice and moved.species == start.species
    shift = np.linalg.norm(moved.cart_coords - start.cart_coords, axis=1)
    assert shift.min() > 1e-3  # every atom noised
    # seeded by the spec: the same spec gives the same start, another repeat another one
    assert raw_start(specs[1]).structure == repeat.structure
    assert not np.allclose(Structure.from_dict(again.structure).cart_coords,
                           moved.cart_coords)


def test_raw_start_noise_has_the_template_sigma() -> None:
    big = rock_salt() * (2, 2, 2)  # 64 atoms: 192 Gaussian draws
    spec = CandidateSpec(candidate_id="t-001", task_id="t", composition={"Na": 32, "Cl": 32},
                         mode="template", seed=11, start=big.as_dict(),
                         start_from="template t-x NaCl (same elements, similarity 1.00), "
                                    "repeat 1")
    moved = Structure.from_dict(raw_start(spec).structure)
    d = moved.cart_coords - big.cart_coords
    assert abs(d.std() - TEMPLATE_SIGMA) < 0.12 and abs(d.mean()) < 0.15


# ------------------------------------------------------------------ the chain
def test_template_raw_relaxes_the_starts_as_they_are() -> None:
    chain = fake_chain(FakeRelaxer())
    chain.templates = _library()
    records = chain.template({"K": 1, "Br": 1}, 2, 5, denoise=False)
    specs = template_start_specs("template-5", {"K": 1, "Br": 1}, 2, 5,
                                 chain.volume_per_atom({"K": 1, "Br": 1}), chain.templates)
    assert len(records) == 2 and all(r.status == "ok" for r in records)
    generated = [Structure.from_dict(json.loads(r.structure_generated)) for r in records]
    assert generated[0] == Structure.from_dict(specs[0].start)  # relaxed as it is
    assert not np.allclose(generated[1].cart_coords,
                           Structure.from_dict(specs[1].start).cart_coords)  # a noised repeat
    assert [r.start_from for r in records] == [s.start_from for s in specs]


@pytest.mark.usefixtures("one_thread")
def test_template_without_templates_falls_back_to_symmetric_starts() -> None:
    chain = fake_chain(FakeRelaxer())
    chain.templates = TemplateLibrary([])
    records = chain.template({"K": 1, "Br": 1}, 2, 5, denoise=True)
    assert len(records) == 2
    for r in records:
        assert r.start_from.startswith("template: no known phase of stoichiometry type AB|2 "
                                       "other than the target formula; symmetric (sg ")
