"""Start-based generation: partial denoising from given structures (``sample(...,
from_given_sigma=...)``), the specs of ``--mode symmetric`` / ``--mode template`` and the
generation stage on them. Exact analytic scores stand in for the model: a two-configuration
mixture shows that a partial start stays in its own basin, the orbit constraint keeps the
start's space group."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
import spglib
import torch
from pymatgen.core import Lattice, Structure

from chggen_kernels.crystal import CrystalBatch
from chggen_kernels.sampling import (
    SamplerSettings,
    level_sigmas,
    periodic_gaussian_mixture_score,
    sample,
)
from chggen_kernels.sampling.steps import init_state
from chggen_kernels.templates import TEMPLATE_SIGMA, TemplateLibrary
from chggen_kernels.testing import rock_salt
from chggen_kernels.thermo.known_structures import KnownPhase
from chggen_kernels.workflow import generate, initial_crystal
from chggen_kernels.workflow.planning import candidate_seed, unconditional_specs
from chggen_kernels.workflow.starts import symmetric_start_specs, template_start_specs
from chggen_kernels.wyckoff.crystals import centring_multiplicity
from chggen_kernels.wyckoff.prior import crystal_family, learn_wyckoff_prior, read_assignment

SETTINGS = SamplerSettings.from_preset(
    "reference", n_levels=30, n_corrector_steps=1, sigma_max=5.0, sigma_min=0.01)
SIGMAS = level_sigmas(SETTINGS.sigma_max, SETTINGS.sigma_min, SETTINGS.n_levels)
LATTICE = np.diag([4.0, 4.5, 5.0])
GIVEN = np.array([[0.1, 0.2, 0.3], [0.6, 0.5, 0.4], [0.3, 0.8, 0.7]])  # fractional
OTHER = np.mod(GIVEN + 0.5, 1.0)  # the other mode of the density, >= 3.4 Å away


pytestmark = pytest.mark.usefixtures("one_thread")


def _two_modes(width: float = 0.05):
    """Exact score of a 3-atom crystal at GIVEN or OTHER (equal weights)."""
    return periodic_gaussian_mixture_score(torch.tensor(np.stack([GIVEN, OTHER])),
                                           torch.ones(2), width)


def _batch(n: int, mask: bool = False) -> CrystalBatch:
    crystal = (GIVEN @ LATTICE, LATTICE, np.array([3, 3, 8]))
    masks = [np.array([False, True, True])] * n if mask else None
    return CrystalBatch.from_arrays([crystal] * n, masks=masks, dtype=torch.float64)


def _distance_to(batch: CrystalBatch, frac: np.ndarray, n: int) -> np.ndarray:
    """Largest atom distance (Å, minimum image) of each crystal from ``frac``."""
    got = batch.frac_positions().reshape(n, len(frac), 3).numpy()
    d = got - frac
    d -= np.round(d)
    return np.linalg.norm(d @ LATTICE, axis=2).max(axis=1)


# ------------------------------------------------------------------ the sampler
def test_partial_start_runs_from_the_first_level_at_or_below_the_sigma() -> None:
    seen: list[float] = []
    score = _two_modes()

    def recording(batch, sigma):
        seen.append(float(sigma[0]))
        return score(batch, sigma)

    out = sample(recording, _batch(2), SETTINGS, seeds=[1, 2], from_given_sigma=0.75)
    start = 9  # SIGMAS[8] = 0.90 > 0.75 >= SIGMAS[9] = 0.727
    assert SIGMAS[start - 1] > 0.75 >= SIGMAS[start]
    assert seen[0] == pytest.approx(SIGMAS[start]) and max(seen) == pytest.approx(SIGMAS[start])
    # predictor at every level from the start, one corrector step at each but the clean one
    n_steps = SETTINGS.n_levels - start
    assert out.n_score_calls == len(seen) == n_steps + (n_steps - 1)
    # a sigma on a level starts at that level; one above sigma_max at sigma_max
    seen.clear()
    sample(recording, _batch(1), SETTINGS, seeds=[1], from_given_sigma=SIGMAS[12])
    assert seen[0] == SIGMAS[12]
    seen.clear()
    sample(recording, _batch(1), SETTINGS, seeds=[1], from_given_sigma=50.0)
    assert seen[0] == SETTINGS.sigma_max
    seen.clear()  # below sigma_min: the last noisy level, one predictor step
    sample(recording, _batch(1), SETTINGS, seeds=[1], from_given_sigma=1e-4)
    assert seen == [pytest.approx(SETTINGS.sigma_min)]


def test_a_partial_start_ends_in_the_basin_of_the_given_structure() -> None:
    n = 16
    score = _two_modes()
    given = sample(score, _batch(n), SETTINGS, seeds=list(range(n)), from_given_sigma=0.75)
    near = _distance_to(given.batch, GIVEN, n)
    assert near.max() < 0.3  # every crystal: width 0.05 Å, noise 0.75 Å, modes >= 3.4 Å apart
    assert not bool(given.failed.any())
    # from sigma_max the same score reaches both modes
    scratch = sample(score, _batch(n), SETTINGS, seeds=list(range(n)))
    to_given = _distance_to(scratch.batch, GIVEN, n) < 0.3
    to_other = _distance_to(scratch.batch, OTHER, n) < 0.3
    assert to_given.any() and to_other.any() and bool((to_given | to_other).all())


def test_the_initial_noise_of_a_partial_start_has_the_level_s_width() -> None:
    rng = np.random.default_rng(0)
    lattice = np.diag([12.0, 13.0, 14.0])
    frac = rng.uniform(0.3, 0.7, size=(300, 3))  # far from the cell faces
    batch = CrystalBatch.from_arrays([(frac @ lattice, lattice, np.full(300, 14))],
                                     dtype=torch.float64)
    state = init_state(batch, [3], 0.4, [0], from_given=True)
    d = (state.batch.positions - batch.positions).numpy()
    assert abs(d.std() - 0.4) < 0.04 and abs(d.mean()) < 0.04  # 900 N(0, 0.4^2) draws
    uniform = init_state(batch, [3], 0.4, [0])  # the default: uniform in the cell
    assert (uniform.batch.positions - batch.positions).numpy().std() > 2.0


def test_partial_start_needs_a_batch_without_a_mask() -> None:
    with pytest.raises(ValueError, match=r"^from_given_sigma: partial denoising needs a batch "
                                         r"without a mask$"):
        sample(_two_modes(), _batch(1, mask=True), SETTINGS, seeds=[0], from_given_sigma=0.75)


@pytest.mark.parametrize("mask", [False, True])
def test_no_sigma_leaves_the_sampler_unchanged(mask: bool) -> None:
    score = _two_modes(0.1)
    settings = dataclasses.replace(SETTINGS, n_levels=12)
    plain = sample(score, _batch(3, mask), settings, seeds=[4, 5, 6])
    none = sample(score, _batch(3, mask), settings, seeds=[4, 5, 6], from_given_sigma=None)
    assert torch.equal(plain.batch.positions, none.batch.positions)  # bit for bit
    assert plain.n_score_calls == none.n_score_calls


# ------------------------------------------------------------------ symmetric specs
def _letters_hold(letters: str, spacegroup: int, counts: dict[str, int]) -> bool:
    m = centring_multiplicity(spacegroup)
    held = {}
    for part in letters.split(";"):
        el, labels = part.split(":")
        held[el] = sum(int(re.match(r"\d+", label).group()) for label in labels.split(","))
    return held == {el: n * m for el, n in counts.items()}


def test_symmetric_specs_hold_their_start_and_are_deterministic() -> None:
    counts = {"Li": 4, "Si": 2}
    specs = symmetric_start_specs("t", counts, 3, 7, 18.0, None)
    assert [s.candidate_id for s in specs] == ["t-000", "t-001", "t-002"]
    assert [s.seed for s in specs] == [candidate_seed(7, "t", i) for i in range(3)]
    for spec in specs:
        start = Structure.from_dict(spec.start)
        assert spec.mode == "symmetric" and spec.symmetric_fallback is None
        assert start.composition.as_dict() == {"Li": 4.0, "Si": 2.0}
        assert start.volume == pytest.approx(6 * 18.0, rel=1e-6)
        assert spec.volume_per_atom_prior == 18.0
        assert spec.start_from == f"sg {spec.spacegroup_start}, uniform prior"
        assert spec.lattice_family == crystal_family(spec.spacegroup_start)
        assert _letters_hold(spec.wyckoff_letters, spec.spacegroup_start, counts)
    assert symmetric_start_specs("t", counts, 3, 7, 18.0, None) == specs
    other = symmetric_start_specs("t", counts, 3, 8, 18.0, None)
    assert [s.start for s in other] != [s.start for s in specs]


def test_symmetric_specs_from_the_shipped_prior_are_deterministic() -> None:
    """The learned prior hands pyxtal a lattice of a shape seen in the data; pyxtal draws
    the free Wyckoff coordinates from that lattice's own generator, which must be seeded
    (it was not: the same seed gave other z of Li2Si2 on 2c of P4/nmm)."""
    from chggen_kernels.wyckoff.prior import WyckoffPrior

    prior = WyckoffPrior.load()
    counts = {"Li": 2, "Si": 2}
    specs = symmetric_start_specs("t", counts, 4, 5, 20.0, prior)
    assert all(s.start_from.endswith("known AB|4 crystals)") for s in specs)
    again = symmetric_start_specs("t", counts, 4, 5, 20.0, prior)
    assert [s.start for s in again] == [s.start for s in specs]


@pytest.fixture(scope="module")
def rocksalt_prior():
    return learn_wyckoff_prior([rock_salt()], smoothing=1e-9)


def test_symmetric_specs_from_a_learned_prior(rocksalt_prior) -> None:
    (spec,) = symmetric_start_specs("t", {"K": 1, "Br": 1}, 1, 0, 25.0, rocksalt_prior)
    assert spec.start_from == "sg 225, learned (1 of 1 known AB|2 crystals)"
    assert (spec.spacegroup_start, spec.wyckoff_letters) == (225, "Br:4b;K:4a")
    assert spec.lattice_family == "cubic"
    assert read_assignment(Structure.from_dict(spec.start), 0.01)[:2] == (
        225, {"K": ("4a",), "Br": ("4b",)})


def test_symmetric_specs_fall_back_to_unconditional_with_the_reason() -> None:
    counts = {"Li": 1, "Si": 1}
    (spec,) = symmetric_start_specs("t", counts, 1, 3, 18.0, None, min_distance=50.0)
    (plain,) = unconditional_specs("t", counts, 1, 3, 18.0)
    assert spec.mode == "unconditional" and spec.start is None
    assert spec.symmetric_fallback == ("symmetric start: no crystal of 2 atoms with atoms "
                                       ">= 50.0 Å apart in 50 draws")
    assert spec.start_from == "uniform prior"
    assert dataclasses.replace(spec, symmetric_fallback=None, start_from=None) == plain


# ------------------------------------------------------------------ template specs
def _phase(source_id: str, structure: Structure) -> KnownPhase:
    return KnownPhase(source_id, "test", "hand-made", "CC0", structure)


@pytest.fixture(scope="module")
def two_templates() -> TemplateLibrary:
    cscl = Structure(Lattice.cubic(4.12), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    return TemplateLibrary([_phase("t-nacl", rock_salt()), _phase("t-cscl", cscl)])


def test_template_specs_take_templates_in_rank_order_and_mark_repeats(two_templates) -> None:
    counts = {"K": 1, "Br": 1}
    specs = template_start_specs("t", counts, 5, 2, 25.0, two_templates)
    starts = two_templates.starts(counts, 25.0)
    assert [s.template_id for s in starts] == ["t-cscl", "t-nacl"]
    assert all(s.mode == "template" for s in specs)
    assert [s.start_from for s in specs] == [
        f"template {starts[0].label}", f"template {starts[1].label}",
        f"template {starts[0].label}, repeat 1", f"template {starts[1].label}, repeat 1",
        f"template {starts[0].label}, repeat 2"]
    for i, spec in enumerate(specs):
        assert spec.start == starts[i % 2].structure.as_dict()
        assert spec.seed == candidate_seed(2, "t", i) and spec.candidate_id == f"t-{i:03d}"
        assert spec.volume_per_atom_prior == 25.0 and spec.composition == counts
    only_nacl = template_start_specs("t", counts, 1, 2, 25.0, two_templates,
                                     exclude_formulas=("CsCl",))
    assert only_nacl[0].start_from == f"template {starts[1].label}"
    written_otherwise = template_start_specs("t", counts, 1, 2, 25.0, two_templates,
                                             exclude_formulas=("ClCs",))  # any way of writing
    assert written_otherwise[0].start_from == f"template {starts[1].label}"
    # a later seed block goes on down the ranking instead of repeating its top
    block1 = template_start_specs("t", counts, 2, 2, 25.0, two_templates, first_rank=1)
    assert [s.start_from for s in block1] == [f"template {starts[1].label}",
                                              f"template {starts[0].label}, repeat 1"]


def test_template_specs_without_a_template_fall_back_with_the_reason(two_templates,
                                                                     rocksalt_prior) -> None:
    reason = ("template: no known phase of stoichiometry type AB3|4 other than the target "
              "formula")
    specs = template_start_specs("t", {"Na": 1, "Cl": 3}, 2, 0, 20.0, two_templates)
    plain = unconditional_specs("t", {"Na": 1, "Cl": 3}, 2, 0, 20.0)
    assert [s.start_from for s in specs] == [f"{reason}; unconditional"] * 2
    assert [dataclasses.replace(s, start_from=None) for s in specs] == plain
    # the target formula's own phase is no template: with a prior, symmetric starts
    own = TemplateLibrary([_phase("t-kbr", rock_salt(6.6, ("K", "Br")))])
    (spec,) = template_start_specs("t", {"K": 1, "Br": 1}, 1, 0, 25.0, own, rocksalt_prior)
    assert spec.mode == "symmetric" and spec.spacegroup_start == 225
    assert spec.start_from == ("template: no known phase of stoichiometry type AB|2 other "
                               "than the target formula; symmetric (sg 225, learned (1 of 1 "
                               "known AB|2 crystals))")


# ------------------------------------------------------------------ the generation stage
def _cell(structure: Structure):
    return structure.lattice.matrix, structure.frac_coords, structure.atomic_numbers


def _invariant(structure: Structure, rotations, translations, tol: float) -> bool:
    """Every operation maps every atom onto an atom of its element within ``tol`` Å."""
    frac = structure.frac_coords
    numbers = np.array(structure.atomic_numbers)
    for rot, trans in zip(rotations, translations, strict=True):
        d = (frac @ rot.T + trans)[:, None, :] - frac[None, :, :]
        d -= np.round(d)
        dist = np.linalg.norm(d @ structure.lattice.matrix, axis=2)
        dist[numbers[:, None] != numbers[None, :]] = np.inf
        if dist.min(axis=1).max() > tol:
            return False
    return True


def test_initial_crystal_of_a_start_is_the_start(two_templates) -> None:
    (spec,) = template_start_specs("t", {"K": 1, "Br": 1}, 1, 0, 25.0, two_templates)
    positions, lattice, numbers, mask = initial_crystal(spec)
    start = Structure.from_dict(spec.start)
    assert np.array_equal(positions, start.cart_coords)
    assert np.array_equal(lattice, start.lattice.matrix)
    assert numbers.tolist() == [19, 35] and mask.tolist() == [True, True]


def test_generate_symmetric_keeps_the_start_space_group() -> None:
    specs = symmetric_start_specs("t", {"Li": 4, "Si": 2}, 3, 7, 18.0, None)
    rng = np.random.default_rng(0)
    score = periodic_gaussian_mixture_score(torch.tensor(rng.uniform(size=(5, 3))),
                                            torch.ones(5), 0.2)
    out = generate(score, specs, dataclasses.replace(SETTINGS, n_levels=20),
                   dtype=torch.float64)
    for candidate in out:
        assert candidate.status == "ok" and candidate.spec.symmetric_fallback is None
        start = Structure.from_dict(candidate.spec.start)
        got = candidate.generated_structure()
        assert got.lattice == start.lattice and got.species == start.species
        data = spglib.get_symmetry_dataset(_cell(start), symprec=0.01)
        assert candidate.spec.spacegroup_start == data.number  # the group at 0.01 Å
        # sampled from sigma_max: far from the start, yet every operation of its group holds
        assert np.abs(got.frac_coords - start.frac_coords).max() > 0.05
        assert _invariant(got, data.rotations, data.translations, 1e-6)
        assert spglib.get_symmetry_dataset(_cell(got), symprec=0.01).number >= 2
    # the same sampling without the orbit constraint keeps no symmetry
    start = Structure.from_dict(specs[0].start)
    batch = CrystalBatch.from_arrays([initial_crystal(specs[0])[:3]], dtype=torch.float64)
    free = sample(score, batch, dataclasses.replace(SETTINGS, n_levels=20),
                  seeds=[specs[0].seed]).structures()[0]
    data = spglib.get_symmetry_dataset(_cell(start), symprec=0.01)
    assert not _invariant(free, data.rotations, data.translations, 0.01)


def test_generate_symmetric_without_orbits_samples_unconstrained(monkeypatch) -> None:
    from chggen_kernels.wyckoff import crystals
    from chggen_kernels.wyckoff.tables import WyckoffError

    def no_orbits(structure):
        raise WyckoffError("no Wyckoff positions of test")

    (spec,) = symmetric_start_specs("t", {"Li": 4, "Si": 2}, 1, 7, 18.0, None)
    monkeypatch.setattr(crystals, "start_orbits", no_orbits)
    score = periodic_gaussian_mixture_score(torch.tensor([[0.1, 0.2, 0.3]]), torch.ones(1), 0.2)
    out = generate(score, [spec], dataclasses.replace(SETTINGS, n_levels=10),
                   dtype=torch.float64)[0]
    assert out.status == "ok", out.failure_reason
    assert out.spec.symmetric_fallback == "wyckoff: no Wyckoff positions of test"


def test_generate_template_denoises_from_template_sigma_near_the_start(two_templates) -> None:
    specs = template_start_specs("t", {"K": 1, "Br": 1}, 4, 0, 25.0, two_templates)
    start = Structure.from_dict(specs[0].start)
    # one start (repeats of the most similar template) and a density at its positions
    specs = [dataclasses.replace(s, start=specs[0].start) for s in specs]
    score = periodic_gaussian_mixture_score(torch.tensor(start.frac_coords[None]),
                                            torch.ones(1), 0.05)
    seen: list[float] = []

    def recording(batch, sigma):
        seen.append(float(sigma.max()))
        return score(batch, sigma)

    out = generate(recording, specs, SETTINGS, dtype=torch.float64)
    assert max(seen) <= TEMPLATE_SIGMA and max(seen) == pytest.approx(
        max(s for s in SIGMAS if s <= TEMPLATE_SIGMA))
    finals = []
    for candidate in out:
        assert candidate.status == "ok"
        got = candidate.generated_structure()
        d = got.frac_coords - start.frac_coords
        d -= np.round(d)
        assert np.linalg.norm(d @ start.lattice.matrix, axis=1).max() < 0.3
        finals.append(got.frac_coords)
    assert np.abs(finals[0] - finals[1]).max() > 1e-4  # each candidate its own noise


# ------------------------------------------------------------------ template-symmetric
def _wurtzite_like() -> Structure:
    """A 4-atom hexagonal P6_3mc crystal (two orbits of 2b, free z)."""
    return Structure.from_spacegroup(186, Lattice.hexagonal(3.8, 6.2), ["Zn", "S"],
                                     [[1 / 3, 2 / 3, 0.0], [1 / 3, 2 / 3, 0.375]])


def test_paired_orbits_tie_each_atom_to_the_orbit_it_sits_on() -> None:
    from chggen_kernels.wyckoff import OrbitConstraint
    from chggen_kernels.wyckoff.crystals import paired_orbits

    start = _wurtzite_like()
    orbits, spacegroup = paired_orbits(start)
    assert spacegroup == 186 and sorted(orbits.member_atoms.tolist()) == [0, 1, 2, 3]
    batch = CrystalBatch.from_arrays([(start.cart_coords, start.lattice.matrix,
                                       np.array(start.atomic_numbers))], dtype=torch.float64)
    bound = OrbitConstraint([orbits]).bind(batch, [0])
    # the start is on its orbits: projecting it moves nothing
    moved = bound.project(batch.positions) - batch.positions
    frac = moved.numpy() @ np.linalg.inv(start.lattice.matrix)
    frac -= np.round(frac)
    assert np.linalg.norm(frac @ start.lattice.matrix, axis=1).max() < 1e-6
    # a displaced copy comes back onto the orbits, keeping the space group
    shaken = batch.positions + 0.05 * torch.randn(batch.positions.shape,
                                                  generator=torch.Generator().manual_seed(0),
                                                  dtype=torch.float64)
    back = Structure(start.lattice, start.species, bound.project(shaken).numpy(),
                     coords_are_cartesian=True)
    assert spglib.get_symmetry_dataset(_cell(back), symprec=1e-4).number == 186


def test_generate_template_symmetric_keeps_the_templates_space_group() -> None:
    start = _wurtzite_like()
    library = TemplateLibrary([_phase("t-zns", start)])
    specs = template_start_specs("t", {"Cd": 2, "Se": 2}, 2, 0, 30.0, library,
                                 symmetric=True)
    assert [s.mode for s in specs] == ["template-symmetric"] * 2
    scaled = Structure.from_dict(specs[0].start)
    score = periodic_gaussian_mixture_score(
        torch.tensor((scaled.frac_coords + np.array([0, 0, 0.02]))[None]), torch.ones(1), 0.05)
    for candidate in generate(score, specs, SETTINGS, dtype=torch.float64):
        assert candidate.status == "ok" and candidate.spec.symmetric_fallback is None
        assert candidate.spec.spacegroup_start == 186
        assert candidate.spec.wyckoff_letters == "Cd:2b;Se:2b"  # labels per element
        got = candidate.generated_structure()
        assert spglib.get_symmetry_dataset(_cell(got), symprec=1e-3).number == 186


def test_prototype_keys_name_the_structure_type() -> None:
    from chggen_kernels.templates import prototype_key

    cscl = Structure(Lattice.cubic(4.12), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    assert prototype_key(rock_salt().get_primitive_structure()) == "sg 225: A a; B b"
    assert prototype_key(cscl) == "sg 221: A a; B b"
    # the same type with other elements and lattice constant: the same key
    assert prototype_key(rock_salt(6.6, ("K", "Br")).get_primitive_structure()) == \
        prototype_key(rock_salt().get_primitive_structure())
    fluorite = Structure(Lattice.cubic(5.46), ["Ca"] * 4 + ["F"] * 8,
                         [[0, 0, 0], [0, .5, .5], [.5, 0, .5], [.5, .5, 0]]
                         + [[x, y, z] for x in (.25, .75) for y in (.25, .75)
                            for z in (.25, .75)]).get_primitive_structure()
    assert prototype_key(fluorite) == "sg 225: A a; B c"


def test_prototypes_first_ranking_takes_each_type_once_before_any_twice() -> None:
    """Two rock-salt templates rank above the CsCl one by similarity; with ranking
    'prototypes' the second rock salt comes after CsCl."""
    cscl = Structure(Lattice.cubic(4.12), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    library = TemplateLibrary([_phase("t-nacl", rock_salt()),
                               _phase("t-kcl", rock_salt(6.3, ("K", "Cl"))),
                               _phase("t-cscl", cscl)])
    by_similarity = library.starts({"Na": 1, "F": 1}, 20.0)
    assert [s.template_id for s in by_similarity] == ["t-nacl", "t-kcl", "t-cscl"]
    by_type = library.starts({"Na": 1, "F": 1}, 20.0, ranking="prototypes")
    assert [s.template_id for s in by_type] == ["t-nacl", "t-cscl", "t-kcl"]
    assert [s.prototype for s in by_type] == ["sg 225: A a; B b", "sg 221: A a; B b",
                                              "sg 225: A a; B b"]
    with pytest.raises(ValueError, match="template ranking must be one of"):
        library.starts({"Na": 1, "F": 1}, 20.0, ranking="size")
