"""Known-structure files: reading, filters with per-source counts, formula splits, and the
offline hull entries built from them (relaxed vs single-point energies)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pymatgen.core import Lattice, Structure

from chggen_kernels.datasets import filter_known, read_known_structures, split_by_formula
from chggen_kernels.testing import diamond, fcc
from chggen_kernels.thermo import decomposition_energy
from chggen_kernels.thermo.known_hull import elements_to_relax, hull_entries, in_target_systems


def _rows() -> list[dict]:
    si = diamond()
    rows = [
        ("mp-files", "mp-149", si),
        ("other-db", "x-1", si.copy().make_supercell([2, 1, 1]) or si),  # a duplicate of mp-149
        ("mp-files", "mp-30", fcc(3.61, "Cu")),
        ("mp-files", "mp-big", fcc(3.61, "Cu").make_supercell([2, 2, 2]) or fcc()),
        ("other-db", "x-2", Structure(Lattice.cubic(3.0), ["Li", "Li"],
                                      [[0, 0, 0], [0.05, 0, 0]])),  # 0.15 Å apart
        ("other-db", "x-3", Structure(Lattice.cubic(3.0), ["Fe", "Al"],
                                      [[0, 0, 0], [0.5, 0.5, 0.5]])),
    ]
    out = [{"source": src, "source_id": sid, "origin": "test", "licence": "CC0",
            "structure": json.dumps(s.as_dict())} for src, sid, s in rows]
    out.append({"source": "other-db", "source_id": "broken", "origin": "test",
                "licence": "CC0", "structure": "{not json"})
    return out


@pytest.fixture()
def known_file(tmp_path: Path) -> Path:
    path = tmp_path / "known.parquet"
    pq.write_table(pa.Table.from_pylist(_rows()), path)
    return path


def test_read_known_structures_ids_are_deterministic_and_bad_rows_counted(known_file):
    unreadable: list[str] = []
    rows = read_known_structures(known_file, unreadable)
    assert len(rows) == 6
    assert unreadable and unreadable[0].startswith("other-db:6: JSONDecodeError")
    again = read_known_structures(known_file)
    assert [r.structure_id for r in rows] == [r.structure_id for r in again]
    assert len({r.structure_id for r in rows}) == 6
    assert rows[0].provenance() == {"source_id": "mp-149", "origin": "test", "licence": "CC0",
                                    "collection": "mp-files"}


def test_read_known_structures_json_list(tmp_path: Path):
    path = tmp_path / "known.json"
    path.write_text(json.dumps([{**r, "structure": json.loads(r["structure"])}
                                for r in _rows()[:3]]))
    assert [r.source_id for r in read_known_structures(path)] == ["mp-149", "x-1", "mp-30"]


def test_read_known_structures_refuses_a_file_without_structures(tmp_path: Path):
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"formula": ["Si"]}), path)
    with pytest.raises(ValueError, match="no 'structure' column"):
        read_known_structures(path)


def test_filters_drop_what_they_name_and_count_per_source(known_file):
    rows = read_known_structures(known_file)
    kept, counts = filter_known(rows, elements=["Si", "Cu", "Li"], max_atoms=16,
                                min_distance=0.5)
    assert [r.source_id for r in kept] == ["mp-149", "mp-30"]
    assert counts["mp-files"] == {"read": 3, "max_atoms": 1, "kept": 2}
    assert counts["other-db"] == {"read": 3, "elements": 1, "min_distance": 1,
                                  "duplicate": 1}


def test_filters_keep_polymorphs_that_differ():
    rows = read_known_structures(_write([diamond(), fcc(3.8, "Si")]))
    kept, counts = filter_known(rows)
    assert len(kept) == 2 and counts["db"]["kept"] == 2


def _write(structures: list[Structure]) -> Path:
    import tempfile

    path = Path(tempfile.mkdtemp()) / "k.parquet"
    pq.write_table(pa.Table.from_pylist([
        {"source": "db", "source_id": f"id-{i}", "structure": json.dumps(s.as_dict())}
        for i, s in enumerate(structures)]), path)
    return path


def test_split_by_formula_is_stable_and_holds_out_whole_formulas():
    from pymatgen.core import Composition

    formulas = sorted({Composition(f"Li{n}Si{m}").reduced_formula
                       for n in range(1, 60) for m in range(1, 40)})
    split = split_by_formula(formulas, val_fraction=0.1, test_fraction=0.05, seed=3,
                             test_formulas=["Si2Li4"])
    shares = {k: sum(v == k for v in split.values()) / len(split) for k in ("val", "test")}
    assert abs(shares["val"] - 0.1) < 0.02 and abs(shares["test"] - 0.05) < 0.015
    assert split["Li2Si"] == "test"  # forced (given as an unreduced, reordered formula)
    fewer = split_by_formula(formulas[::7], val_fraction=0.1, test_fraction=0.05, seed=3)
    assert all(fewer[f] == split[f] for f in fewer if f != "Li2Si")
    other_seed = split_by_formula(formulas, val_fraction=0.1, test_fraction=0.05, seed=4)
    assert other_seed != split


def test_split_by_formula_refuses_bad_fractions():
    with pytest.raises(ValueError, match="val_fraction must be in"):
        split_by_formula(["Si"], val_fraction=1.5)
    with pytest.raises(ValueError, match="val_fraction \\+ test_fraction must be < 1"):
        split_by_formula(["Si"], val_fraction=0.6, test_fraction=0.5)


def test_hull_entries_keep_the_lowest_energy_and_no_structure():
    relaxed = [{"structure_id": "a", "status": "ok", "formula": "Li2 Si2",
                "energy_per_atom": -3.0},
               {"structure_id": "b", "status": "failed", "formula": "Li1 Si1"},
               {"structure_id": "c", "status": "ok", "formula": "Si8", "energy_per_atom": -5.4}]
    single = [{"structure_id": "d", "status": "ok", "formula": "Li1 Si1",
               "energy_per_atom": -2.9},
              {"structure_id": "e", "status": "ok", "formula": "Si2", "energy_per_atom": -5.5},
              {"structure_id": "f", "status": "ok", "formula": "As2 Ru", "energy_per_atom": -6}]
    prov = {k: {"source": "db", "source_id": f"mp-{k}"} for k in "abcdef"}
    entries = {e["formula"]: e for e in hull_entries(relaxed, single, prov)}
    assert entries["LiSi"]["kind"] == "relaxed" and entries["LiSi"]["energy_per_atom"] == -3.0
    assert entries["Si"]["kind"] == "single_point" and entries["Si"]["source_id"] == "mp-e"
    assert entries["As2Ru"]["energy_per_atom"] == -6
    assert all("structure" not in e for e in entries.values())


def test_elements_to_relax_takes_the_lowest_polymorphs_per_element():
    sp = {"a": {"status": "ok", "energy_per_atom": -1.0},
          "b": {"status": "ok", "energy_per_atom": -1.2},
          "c": {"status": "ok", "energy_per_atom": -1.1},
          "d": {"status": "ok", "energy_per_atom": -9.0},
          "e": {"status": "failed"}}
    formulas = {"a": "Li", "b": "Li", "c": "Li", "d": "LiSi", "e": "Si"}
    assert elements_to_relax(sp, formulas, relax_per_element=2) == ["b", "c"]
    assert in_target_systems(["Li"], ["Li-Si"]) and not in_target_systems(["Li", "P"],
                                                                           ["Li-Si"])


def test_decomposition_energy_counts_the_known_compounds_of_the_system():
    from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram

    elements = [PDEntry("Li", -1.9), PDEntry("Si", -5.4)]
    bare = decomposition_energy("LiSi", -3.8, PhaseDiagram(elements))
    assert bare.known_compounds == 0
    with_compound = PhaseDiagram([*elements, PDEntry("Li2Si2", 4 * -3.75)])
    result = decomposition_energy("Li5Si2", -3.0, with_compound)
    assert result.known_compounds == 1
    assert np.isfinite(result.e_d)
