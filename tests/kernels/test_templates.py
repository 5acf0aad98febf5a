"""Template starts from known phases: same stoichiometry type, elements substituted in
anonymous order, cells scaled to the volume prior, most similar substitution first.
Known answers: rock salt / CsCl / wurtzite / fluorite cells built by hand, distances from
Pauling electronegativities and pymatgen atomic radii."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Element, Lattice, Structure

from chggen_kernels.templates import (
    TEMPLATE_SIGMA,
    TemplateLibrary,
    TemplateStart,
    substitution_distance,
)
from chggen_kernels.testing import rock_salt, wurtzite
from chggen_kernels.thermo.known_structures import KnownPhase, read_known_phase_structures


def phase(source_id: str, structure: Structure) -> KnownPhase:
    return KnownPhase(source_id, "test", "hand-made", "CC0", structure)


def cscl(a: float = 4.12, species: tuple[str, str] = ("Cs", "Cl")) -> Structure:
    return Structure(Lattice.cubic(a), list(species), [[0, 0, 0], [0.5, 0.5, 0.5]])


def antifluorite(a: float = 4.62) -> Structure:
    """Li2O (Fm-3m, O on 4a, Li on 8c), conventional cell of 12 atoms."""
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), ["O", "Li"],
                                     [[0, 0, 0], [0.25, 0.25, 0.25]])


@pytest.fixture(scope="module")
def library() -> TemplateLibrary:
    return TemplateLibrary([
        phase("t-nacl", rock_salt()),  # conventional 8-atom cell: used as its primitive cell
        phase("t-lif", rock_salt(4.03, ("Li", "F"), primitive=True)),
        phase("t-rbbr", rock_salt(6.89, ("Rb", "Br"))),
        phase("t-cscl", cscl()),
        phase("t-kbr", rock_salt(6.6, ("K", "Br"))),  # the target's own formula
        phase("t-zno", wurtzite()),  # AB but 4 atoms in the primitive cell
        phase("t-li2o", antifluorite()),
    ])


def _pair_distance(a: str, b: str) -> float:
    return abs(Element(a).X - Element(b).X) + abs(Element(a).atomic_radius
                                                  - Element(b).atomic_radius)


def test_substitution_distance_is_the_mean_of_x_and_radius_differences() -> None:
    # Na -> K: |0.93 - 0.82| + |1.80 - 2.20| = 0.51; Cl -> Br: |3.16 - 2.96| + |1.00 - 1.15|
    assert substitution_distance({"Na": "K"}) == pytest.approx(0.51)
    assert substitution_distance({"Cl": "Br"}) == pytest.approx(0.35)
    assert substitution_distance({"Na": "K", "Cl": "Br"}) == pytest.approx(0.43)
    assert substitution_distance({"Na": "Na", "Cl": "Br"}) == pytest.approx(0.175)
    assert substitution_distance({}) == 0.0
    # symmetric, and an element onto itself costs nothing
    assert substitution_distance({"Li": "F"}) == substitution_distance({"F": "Li"})
    assert substitution_distance({"Si": "Si", "O": "O"}) == 0.0


def test_templates_of_the_type_are_mapped_in_anonymous_order(library) -> None:
    starts = library.starts({"K": 1, "Br": 1}, 25.0)
    by_id = {s.template_id: s for s in starts}
    # the AB|2 phases; KBr itself (the target formula) and 4-atom wurtzite are no templates
    assert set(by_id) == {"t-nacl", "t-lif", "t-rbbr", "t-cscl"}
    assert by_id["t-nacl"].mapping == {"Na": "K", "Cl": "Br"}  # cation -> cation
    assert by_id["t-lif"].mapping == {"Li": "K", "F": "Br"}
    assert by_id["t-rbbr"].mapping == {"Rb": "K", "Br": "Br"}
    assert by_id["t-cscl"].template_formula == "CsCl"
    for start in starts:
        s = start.structure
        assert len(s) == 2 and s.composition.as_dict() == {"K": 1.0, "Br": 1.0}
        assert s.volume == pytest.approx(2 * 25.0, rel=1e-9)  # scaled to the volume prior
        assert start.similarity == pytest.approx(
            1 / (1 + np.mean([_pair_distance(a, b) for a, b in start.mapping.items()])))
    # the substituted rock salt is rock salt: K-Br = a/2 of the scaled conventional cube
    a = (4 * 50.0) ** (1 / 3)
    assert by_id["t-nacl"].structure.get_distance(0, 1) == pytest.approx(a / 2, rel=1e-9)
    assert by_id["t-cscl"].structure.get_distance(0, 1) == pytest.approx(
        50.0 ** (1 / 3) * np.sqrt(3) / 2, rel=1e-9)  # CsCl: body diagonal / 2


def test_templates_are_ranked_by_similarity(library) -> None:
    starts = library.starts({"K": 1, "Br": 1}, 25.0)
    # RbBr (Rb -> K: 0.15, Br kept) < CsCl (0.43, 0.35) < NaCl (0.51, 0.35) < LiF
    assert [s.template_id for s in starts] == ["t-rbbr", "t-cscl", "t-nacl", "t-lif"]
    assert starts[0].similarity == pytest.approx(1 / (1 + 0.075))
    similarities = [s.similarity for s in starts]
    assert similarities == sorted(similarities, reverse=True)
    assert starts[0].label == "t-rbbr RbBr (Rb->K, similarity 0.93)"
    assert starts[2].label == "t-nacl NaCl (Cl->Br,Na->K, similarity 0.70)"


def test_ties_are_broken_by_template_id() -> None:
    twins = TemplateLibrary([phase("b", rock_salt()), phase("a", cscl(4.0, ("Na", "Cl")))])
    starts = twins.starts({"K": 1, "Br": 1}, 20.0)
    assert [s.template_id for s in starts] == ["a", "b"]
    assert starts[0].similarity == starts[1].similarity


def test_excluded_formulas_and_the_target_are_never_templates(library) -> None:
    ids = [s.template_id for s in library.starts({"K": 1, "Br": 1}, 25.0,
                                                 exclude_formulas=("NaCl", "CsCl"))]
    assert ids == ["t-rbbr", "t-lif"]
    nacl = [s.template_id for s in library.starts({"Na": 1, "Cl": 1}, 25.0)]
    assert "t-nacl" not in nacl and "t-kbr" in nacl  # a KBr phase is a template for NaCl


def test_the_atom_count_of_the_primitive_cell_decides_the_type(library) -> None:
    four = library.starts({"Zn": 2, "S": 2}, 20.0)  # AB|4: wurtzite only
    assert [s.template_id for s in four] == ["t-zno"]
    assert four[0].mapping == {"Zn": "Zn", "O": "S"}
    s = four[0].structure
    assert s.volume == pytest.approx(80.0, rel=1e-9)
    assert s.lattice.angles == pytest.approx(wurtzite().lattice.angles)
    ratio = np.array(s.lattice.abc) / np.array(wurtzite().lattice.abc)
    assert ratio == pytest.approx(np.full(3, ratio[0]))  # isotropic scaling
    assert np.allclose(s.frac_coords, wurtzite().frac_coords)
    assert four[0].label.startswith("t-zno ZnO (O->S, similarity ")


def test_counts_decide_the_mapping_before_electronegativity(library) -> None:
    # Li2O (antifluorite): O is A (one atom), Li is B (two); for CaF2, Ca is A
    (start,) = library.starts({"Ca": 1, "F": 2}, 15.0)
    assert start.template_id == "t-li2o" and start.mapping == {"O": "Ca", "Li": "F"}
    s = start.structure
    assert len(s) == 3 and s.volume == pytest.approx(45.0, rel=1e-9)
    assert s.composition.as_dict() == {"Ca": 1.0, "F": 2.0}


def test_no_template_of_the_type_gives_nothing(library) -> None:
    assert library.starts({"Na": 1, "Cl": 3}, 20.0) == []  # AB3: no phase
    assert library.starts({"K": 4, "Br": 4}, 20.0) == []  # AB|8: no phase
    assert TemplateLibrary([]).starts({"K": 1, "Br": 1}, 20.0) == []
    only_self = TemplateLibrary([phase("t-kbr", rock_salt(6.6, ("K", "Br")))])
    assert only_self.starts({"K": 1, "Br": 1}, 20.0) == []


def test_template_sigma_is_within_the_trained_range() -> None:
    assert 0.01 < TEMPLATE_SIGMA < 10.0 and TEMPLATE_SIGMA == 0.75


def test_shipped_known_phases_give_rock_salt_templates_for_a_new_salt() -> None:
    phases = read_known_phase_structures(formulas=["NaCl", "KCl", "LiF", "KBr"])
    assert {p.formula for p in phases} <= {"NaCl", "KCl", "LiF", "KBr"} and phases
    starts = TemplateLibrary(phases).starts({"Rb": 1, "I": 1}, 40.0)
    assert starts and all(isinstance(s, TemplateStart) for s in starts)
    for s in starts:
        assert s.structure.composition.as_dict() == {"Rb": 1.0, "I": 1.0}
        assert s.structure.volume == pytest.approx(80.0, rel=1e-9)
        assert set(s.mapping.values()) == {"Rb", "I"}
        assert s.mapping[min(s.mapping, key=lambda el: Element(el).X)] == "Rb"
