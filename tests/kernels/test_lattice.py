"""Random Bravais lattices at fixed volume and the per-element volume prior."""

import json
import math

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from chggen_kernels.lattice import (
    DEFAULT_VOLUME_PER_ATOM,
    FAMILY_ANGLES,
    LATTICE_FAMILIES,
    REFERENCE_AXIS_RATIOS,
    VolumePrior,
    bravais_lattice,
    elemental_volume,
    fit_volume_prior,
    sample_lattice,
)

FREE_RATIOS = {
    "cubic": (1.0, 1.0),
    "tetragonal": (1.0, 1.5),
    "orthorhombic": (0.75, 1.25),
    "monoclinic": (1.5, 0.5),
    "triclinic": (1.25, 0.75),
    "hexagonal": (1.0, 0.5),
    "rhombohedral": (1.0, 1.0),
}


@pytest.mark.parametrize("family", LATTICE_FAMILIES)
@pytest.mark.parametrize(("n_atoms", "v0"), [(1, 24.0), (7, 17.3), (40, 31.0)])
def test_every_family_has_exact_volume_angles_and_ratios(family, n_atoms, v0):
    ratios = FREE_RATIOS[family]
    lat = bravais_lattice(family, n_atoms, v0, ratios)
    assert lat.shape == (3, 3)
    assert np.linalg.det(lat) == pytest.approx(n_atoms * v0, rel=1e-12)  # right-handed
    params = Lattice(lat)
    assert params.angles == pytest.approx(FAMILY_ANGLES[family], abs=1e-9)
    a, b, c = params.abc
    assert (b / a, c / a) == pytest.approx(ratios, rel=1e-12)


def test_hexagonal_volume_matches_closed_form():
    # V = a^2 c sin(120 deg) with c = r a.
    lat = bravais_lattice("hexagonal", 6, 20.0, (1.0, 1.5))
    a = np.linalg.norm(lat[0])
    assert a**3 * 1.5 * math.sin(math.radians(120)) == pytest.approx(120.0, rel=1e-12)


def test_families_that_fix_ratios_reject_other_values():
    with pytest.raises(
        ValueError, match=r"tetragonal lattices fix ratios\[0\] \(b/a\) to 1, got 0\.5"
    ):
        bravais_lattice("tetragonal", 4, 20.0, (0.5, 1.0))
    with pytest.raises(ValueError, match=r"cubic lattices fix ratios\[1\] \(c/a\) to 1, got 1.25"):
        bravais_lattice("cubic", 4, 20.0, (1.0, 1.25))


def test_bad_inputs_have_clear_messages():
    with pytest.raises(ValueError, match=r"unknown lattice family 'fcc'; allowed: cubic, tetra"):
        bravais_lattice("fcc", 4, 20.0)
    positive = "volume_per_atom must be a positive finite number, got"
    with pytest.raises(ValueError, match=positive + " -3"):
        bravais_lattice("cubic", 4, -3.0)
    with pytest.raises(ValueError, match=positive + " nan"):
        bravais_lattice("cubic", 4, float("nan"))
    with pytest.raises(ValueError, match=r"n_atoms must be a positive integer, got 0"):
        bravais_lattice("cubic", 0, 20.0)
    with pytest.raises(ValueError, match=r"ratios\[1\] \(c/a\) must be a positive finite number"):
        bravais_lattice("orthorhombic", 4, 20.0, (1.0, 0.0))
    with pytest.raises(ValueError, match=r"unknown lattice family 'hcp'"):
        sample_lattice(4, 20.0, 0, families=("cubic", "hcp"))


def test_sample_lattice_is_deterministic_and_uses_the_reference_ratio_set():
    first = [sample_lattice(8, 22.0, np.random.default_rng(5)) for _ in range(2)]
    assert first[0].family == first[1].family
    np.testing.assert_array_equal(first[0].lattice, first[1].lattice)

    rng = np.random.default_rng(0)
    samples = [sample_lattice(8, 22.0, rng) for _ in range(400)]
    assert {s.family for s in samples} == set(LATTICE_FAMILIES)
    for s in samples:
        assert s.volume == pytest.approx(8 * 22.0, rel=1e-12)
        assert set(s.ratios) <= set(REFERENCE_AXIS_RATIOS)
        if s.family in ("cubic", "rhombohedral"):
            assert s.ratios == (1.0, 1.0)
        if s.family in ("tetragonal", "hexagonal"):
            assert s.ratios[0] == 1.0
    free_values = {s.ratios[0] for s in samples if s.family == "orthorhombic"}
    assert free_values == set(REFERENCE_AXIS_RATIOS)


def test_sample_lattice_uniform_ratio_range():
    rng = np.random.default_rng(1)
    samples = [sample_lattice(4, 15.0, rng, families=("triclinic",), axis_ratios=None)
               for _ in range(50)]
    ratios = np.array([s.ratios for s in samples])
    assert ratios.min() >= 1.0 and ratios.max() <= 1.5
    assert len(np.unique(ratios)) == 100  # continuous draws
    for s in samples:
        assert s.volume == pytest.approx(60.0, rel=1e-12)


def _cell(species: list[str], volume: float) -> Structure:
    n = len(species)
    coords = np.random.default_rng(n).random((n, 3))
    return Structure(Lattice.cubic(volume ** (1 / 3)), species, coords)


def test_fit_recovers_known_element_volumes():
    truth = {"Li": 20.0, "Si": 15.0, "S": 26.0}
    formulas = [["Li"] * 2, ["Si"] * 2, ["Li", "Li", "Si"], ["Li", "S"], ["Si", "S", "S"],
                ["Li", "Li", "Li", "Si", "S", "S"]]
    structures = [_cell(sp, sum(truth[e] for e in sp)) for sp in formulas]
    prior = fit_volume_prior(structures)
    assert prior.element_volumes == pytest.approx(truth, rel=1e-9)
    # composition-weighted V0 of Li2S: (2*20 + 26)/3
    assert prior.volume_per_atom("Li2S") == pytest.approx(22.0)
    assert prior.volume_per_atom({"Li": 1, "Si": 1}) == pytest.approx(17.5)


def test_fit_least_squares_on_noisy_data():
    rng = np.random.default_rng(3)
    truth = {"Zn": 15.0, "P": 22.0}
    structures = []
    for _ in range(30):
        nz, np_ = rng.integers(0, 4, size=2) + (1, 0)
        species = ["Zn"] * int(nz) + ["P"] * int(np_)
        vol = sum(truth[e] for e in species) * (1 + 0.02 * rng.standard_normal())
        structures.append(_cell(species, vol))
    prior = fit_volume_prior(structures)
    assert prior.element_volumes == pytest.approx(truth, rel=0.03)


@pytest.mark.filterwarnings("ignore:No Pauling electronegativity")
def test_fallbacks_overrides_and_round_trip():
    prior = VolumePrior(element_volumes={"Li": 20.0}, overrides={"Li2Si": 18.0})
    # Si not fitted: elemental solid volume from pymatgen molar volume 12.06 cm^3/mol.
    assert elemental_volume("Si") == pytest.approx(12.06 * 1.66054, rel=1e-4)
    assert prior.volume_per_atom("LiSi") == pytest.approx((20.0 + elemental_volume("Si")) / 2)
    assert prior.volume_per_atom("Li4Si2") == 18.0  # override keyed by reduced formula
    no_table = VolumePrior(element_volumes={}, use_elemental_fallback=False)
    assert no_table.volume_per_atom("Og") == DEFAULT_VOLUME_PER_ATOM == 20.0
    assert VolumePrior(element_volumes={}).volume_per_atom("Og") == 20.0  # no pymatgen data
    changed = prior.with_override("LiSi", 17.0)
    assert changed.volume_per_atom("LiSi") == 17.0 and "LiSi" not in prior.overrides
    restored = VolumePrior.from_dict(json.loads(json.dumps(changed.to_dict())))
    assert restored == changed


def test_volume_prior_bad_inputs():
    with pytest.raises(ValueError, match=r"element_volumes: 'Xx' is not an element symbol"):
        VolumePrior(element_volumes={"Xx": 1.0})
    with pytest.raises(ValueError, match=r"overrides\['LiSi'\] must be a positive finite"):
        VolumePrior(element_volumes={}, overrides={"LiSi": 0.0})
    with pytest.raises(ValueError, match=r"invalid composition 'Li\$'"):
        VolumePrior(element_volumes={}).volume_per_atom("Li$")
    with pytest.raises(ValueError, match=r"invalid composition 'XxLi': \['Xx'\] are not elements"):
        VolumePrior(element_volumes={}).volume_per_atom("XxLi")
    with pytest.raises(ValueError, match="needs at least one structure"):
        fit_volume_prior([])
    with pytest.raises(TypeError, match=r"structures\[0\] is a str"):
        fit_volume_prior(["LiSi"])
