"""Cation substitution of known templates into a target system (source 'substituted')."""

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from chggen_kernels.datasets import substituted_templates
from chggen_kernels.lattice import VolumePrior

PS4 = [[0.5, 0.5, 0.5], [0.7, 0.7, 0.7], [0.3, 0.3, 0.7], [0.3, 0.7, 0.3], [0.7, 0.3, 0.3]]


def _template(cations: list[str]) -> Structure:
    """A P-S tetrahedron with cations at the corners of a 6 Å cube."""
    corners = [[0, 0, 0], [0.5, 0, 0], [0, 0.5, 0]][: len(cations)]
    return Structure(Lattice.cubic(6.0), [*cations, "P", "S", "S", "S", "S"],
                     [*corners, *PS4[:1], *PS4[1:]])


@pytest.fixture(scope="module")
def prior() -> VolumePrior:
    return VolumePrior(element_volumes={"Zn": 15.0, "Li": 20.0, "P": 18.0, "S": 25.0})


def test_cations_become_the_substituting_element_and_the_frame_is_kept(prior) -> None:
    templates = [("KInPS", _template(["K", "In"])), ("GaPS", _template(["Ga"]))]
    made = list(substituted_templates("Zn-P-S", templates, ["Zn"], prior))
    assert [m.structure.composition.reduced_formula for m in made] == ["Zn2PS4", "ZnPS4"]
    assert [m.prototype for m in made] == ["KInPS:In+K->Zn", "GaPS:Ga->Zn"]
    first, source = made[0].structure, templates[0][1]
    # fractional positions unchanged, cell scaled to the prior's V0 of Zn2PS4 (Å^3/atom)
    np.testing.assert_allclose(first.frac_coords, source.frac_coords, atol=1e-12)
    v0 = prior.volume_per_atom(first.composition)
    assert first.volume / len(first) == pytest.approx(v0, rel=1e-9)
    assert {m.source for m in made} == {"substituted"}


def test_only_templates_with_the_whole_frame_and_metal_cations_qualify(prior) -> None:
    no_sulfur = Structure(Lattice.cubic(4.0), ["Ga", "P"], [[0, 0, 0], [0.5] * 3])
    anion_rest = _template(["Cl"])  # Cl is not a cation: it must not become Zn
    has_zinc = _template(["Zn", "Ga"])
    big = _template(["Ga"]).make_supercell([2, 2, 1], in_place=False)  # 24 sites
    templates = [("a", no_sulfur), ("b", anion_rest), ("c", has_zinc), ("d", big)]
    assert list(substituted_templates("Zn-P-S", templates, ["Zn"], prior, max_atoms=20)) == []
    # Li substitutes into Li-P-S from the Zn-holding template; Zn (not in Li-P-S) is ignored
    made = list(substituted_templates("Li-P-S", templates, ["Zn", "Li"], prior))
    assert [m.structure.composition.reduced_formula for m in made] == ["Li2PS4"]


def test_ids_are_deterministic_and_differ_by_system_and_element(prior) -> None:
    templates = [("GaPS", _template(["Ga"]))]
    one = [m.structure_id for m in substituted_templates("Zn-P-S", templates, ["Zn"], prior)]
    two = [m.structure_id for m in substituted_templates("Zn-P-S", templates, ["Zn"], prior)]
    other = [m.structure_id for m in substituted_templates("Li-P-S", templates, ["Li"], prior)]
    assert one == two and len(one) == 1 and other != one
    moved = _template(["Ga"])
    moved.translate_sites([0], [0.01, 0, 0])  # same label, other structure: another id
    again = [m.structure_id for m in substituted_templates("Zn-P-S", [("GaPS", moved)], ["Zn"],
                                                           prior)]
    assert again != one


def test_analogues_stand_in_for_frame_elements_and_are_replaced(prior) -> None:
    arsenate = _template(["Ga"])
    arsenate.replace_species({"P": "As", "S": "Se"})  # GaAsSe4: pnictogen and chalcogen
    both = _template(["Ga"])
    both.replace(2, "As")  # holds P and As: which one is P is ambiguous, so it is skipped
    templates = [("GaAsSe", arsenate), ("GaPAsS", both), ("GaPS", _template(["Ga"]))]
    plain = list(substituted_templates("Zn-P-S", templates, ["Zn"], prior))
    assert [m.prototype for m in plain] == ["GaPS:Ga->Zn"]  # no analogues: the old rule
    analogues = {"P": ("As", "Sb"), "S": ("O", "Se")}
    made = list(substituted_templates("Zn-P-S", templates, ["Zn"], prior, analogues=analogues))
    assert [m.prototype for m in made] == ["GaAsSe:Ga->Zn,As->P,Se->S", "GaPS:Ga->Zn"]
    assert made[0].structure.composition.reduced_formula == "ZnPS4"
    np.testing.assert_allclose(made[0].structure.frac_coords, arsenate.frac_coords, atol=1e-12)
    # a template with no stand-in swapped keeps its id: caches of plain builds stay valid
    assert made[1].structure_id == plain[0].structure_id != made[0].structure_id
