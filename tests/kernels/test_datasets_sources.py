"""Offline training-structure sources: AFLOW prototypes (own and decorated), pyxtal."""

import itertools

import pytest

from chggen_kernels.datasets import (
    aflow_prototypes,
    decorated_prototypes,
    parse_chemsys,
    random_symmetric_crystals,
)
from chggen_kernels.lattice import VolumePrior


@pytest.fixture(scope="module")
def prior() -> VolumePrior:
    return VolumePrior(element_volumes={"Li": 20.0, "Si": 20.0})


def test_own_species_prototypes_are_real_compounds() -> None:
    protos = list(aflow_prototypes(max_atoms=20))
    assert len(protos) == 250  # 288 shipped, 250 ordered with at most 20 sites
    assert len({p.structure_id for p in protos}) == len(protos)
    assert all(len(p.structure) <= 20 for p in protos)


def test_decoration_assigns_every_element_permutation_at_prior_volume(prior) -> None:
    decorated = list(decorated_prototypes("Li-Si", prior, max_atoms=20))
    protos = list(aflow_prototypes(max_atoms=20))
    n_species = [len(p.structure.composition.elements) for p in protos]
    expected = sum(2 if k == 1 else 2 if k == 2 else 0 for k in n_species)
    assert len(decorated) == expected == 408
    assert len({d.structure_id for d in decorated}) == len(decorated)
    for d in itertools.islice(decorated, 0, None, 37):
        assert {el.symbol for el in d.structure.composition.elements} <= {"Li", "Si"}
        assert d.structure.volume / len(d.structure) == pytest.approx(20.0, rel=1e-9)


def test_random_crystals_are_symmetric_and_reproducible() -> None:
    a = [s.structure for s in random_symmetric_crystals("Li-Si", 3, max_atoms=12, seed=4)]
    b = [s.structure for s in random_symmetric_crystals("Li-Si", 3, max_atoms=12, seed=4)]
    assert len(a) == 3
    for x, y in zip(a, b, strict=True):
        assert x == y
        assert len(x) <= 12
        assert x.get_space_group_info(symprec=0.01)[1] > 1


def test_bad_chemsys_named() -> None:
    with pytest.raises(
        ValueError, match=r"chemical system 'Li-Xx': 'Xx' is not a chemical element symbol"
    ):
        parse_chemsys("Li-Xx")
    assert parse_chemsys("Si-Li") == ("Li", "Si")
