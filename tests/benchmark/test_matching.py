"""The matcher at the CDVAE/DiffCSP settings: same crystal yes, other polymorph no."""

from __future__ import annotations

import math

from pymatgen.core import Lattice, Structure

from chggen_kernels.benchmark import BENCHMARK_MATCH, KnownMatcher, match_structures
from chggen_kernels.testing import diamond, fcc, rock_salt, wurtzite


def cscl(a: float = 3.3) -> Structure:
    return Structure(Lattice.cubic(a), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def test_settings_are_the_literature_ones() -> None:
    assert (BENCHMARK_MATCH.ltol, BENCHMARK_MATCH.stol, BENCHMARK_MATCH.angle_tol) == \
        (0.3, 0.5, 10.0)


def test_known_structure_offered_back_matches_with_zero_rms() -> None:
    known = wurtzite()
    found = match_structures(known.copy(), known)
    assert found.matched
    assert found.rms < 1e-8 and found.rms_angstrom < 1e-8


def test_primitive_cell_and_strained_copy_match() -> None:
    known = diamond()  # conventional, 8 atoms
    assert match_structures(known.get_primitive_structure(), known).matched
    strained = known.copy()
    strained.apply_strain(0.05)  # cells are rescaled to a common volume
    assert match_structures(strained, known).matched


def test_perturbed_structure_within_tolerance_matches_and_rms_is_in_angstrom() -> None:
    known = wurtzite()  # 4 atoms, already primitive
    moved = known.copy()
    moved.translate_sites([0], [0, 0, 0.1], frac_coords=False)  # one atom 0.1 Å along c
    found = match_structures(moved, known)
    assert found.matched
    # one of N atoms displaced by d, best translation removed: RMS = d sqrt(N - 1) / N
    assert math.isclose(found.rms_angstrom, 0.1 * math.sqrt(3) / 4, rel_tol=1e-6)
    length = (known.volume / len(known)) ** (1 / 3)
    assert math.isclose(found.rms, found.rms_angstrom / length, rel_tol=1e-9)


def test_displacement_beyond_stol_does_not_match() -> None:
    known = wurtzite()
    moved = known.copy()
    length = (known.volume / len(known)) ** (1 / 3)
    moved.translate_sites([0], [0, 0, 0.9 * length], frac_coords=False)
    assert not match_structures(moved, known).matched


def test_different_polymorphs_do_not_match() -> None:
    si_diamond = diamond()
    si_fcc = fcc(a=3.8, species="Si")
    assert not match_structures(si_fcc, si_diamond).matched
    assert not match_structures(cscl(), rock_salt()).matched
    assert match_structures(rock_salt(primitive=True), rock_salt()).matched


def test_other_composition_none_and_empty_do_not_match() -> None:
    matcher = KnownMatcher(rock_salt())
    assert not matcher.match(rock_salt(species=("Li", "F"))).matched
    assert not matcher.match(None).matched
    assert not matcher.match(Structure(Lattice.cubic(3), [], [])).matched



def test_strict_verdict_sits_between_the_two_tolerances() -> None:
    known = wurtzite()
    length = (known.volume / len(known)) ** (1 / 3)
    near, far = known.copy(), known.copy()
    near.translate_sites([0], [0, 0, 0.1], frac_coords=False)
    far.translate_sites([0], [0, 0, 0.55 * length], frac_coords=False)
    assert match_structures(near, known).strict
    loose_only = match_structures(far, known)
    assert loose_only.matched and not loose_only.strict
    assert not KnownMatcher(known, strict=None).match(near).strict
