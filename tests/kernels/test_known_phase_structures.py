"""The shipped structures of the offline hull's known phases."""

from __future__ import annotations

import json

import pytest
from pymatgen.core import Lattice, Structure

from chggen_kernels.thermo.known_structures import (
    KNOWN_PHASE_STRUCTURES,
    KnownPhase,
    KnownPhaseError,
    read_known_phase_structures,
    write_known_phase_structures,
)


def test_one_structure_per_hull_entry_with_its_id_and_formula():
    hull = json.loads((KNOWN_PHASE_STRUCTURES.parent / "hull_known_phases.json").read_text())
    phases = read_known_phase_structures()
    assert len(phases) == len(hull["entries"]) == 6920
    by_id = {(e["collection"], e["source_id"]): e["formula"] for e in hull["entries"]}
    for phase in phases:
        assert by_id[(phase.collection, phase.source_id)] == phase.formula
    assert all(phase.licence for phase in phases)


def test_shipped_structures_fit_the_5_mb_limit():
    sets = KNOWN_PHASE_STRUCTURES.parent / "benchmark_sets.json.gz"
    assert KNOWN_PHASE_STRUCTURES.stat().st_size + sets.stat().st_size < 5_000_000


def test_formula_filter_and_a_known_li_si_phase():
    phases = read_known_phase_structures(formulas=["Li2Si", "LiSi"])
    assert sorted(p.formula for p in phases) == ["Li2Si", "LiSi"]
    li2si = next(p for p in phases if p.formula == "Li2Si")
    assert 10 < li2si.structure.volume / len(li2si.structure) < 25  # Å^3/atom


def test_round_trip_keeps_cell_and_sites(tmp_path):
    s = Structure(Lattice.from_parameters(3.1, 4.2, 5.3, 80, 95, 100), ["Na", "Cl"],
                  [[0, 0, 0], [0.5, 0.25, 0.125]])
    path = tmp_path / "p.json.gz"
    write_known_phase_structures(path, [KnownPhase("x-1", "src", "Origin", "CC-BY-4.0", s)],
                                 "test")
    (back,) = read_known_phase_structures(path)
    assert back.source_id == "x-1" and back.licence == "CC-BY-4.0"
    assert back.structure.lattice.abc == pytest.approx(s.lattice.abc, abs=1e-3)
    assert back.structure.frac_coords == pytest.approx(s.frac_coords, abs=1e-5)


def test_another_file_is_refused(tmp_path):
    bad = tmp_path / "bad.json.gz"
    bad.write_bytes(b"not gzip")
    with pytest.raises(KnownPhaseError, match="known-phase structures .*bad.json.gz"):
        read_known_phase_structures(bad)
