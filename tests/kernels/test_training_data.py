"""Training data: Parquet round trip, CIF/POSCAR folders, extxyz, and every kind of bad input."""

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pymatgen.core import Lattice, Structure

from chggen_kernels.training import (
    TrainingCrystal,
    TrainingDataError,
    dataset_hash,
    load_training_data,
    training_schema,
    validate_crystal,
    write_training_parquet,
)
from chggen_kernels.training.tiny import PROTOTYPES


def _nacl(a: float = 5.6) -> Structure:
    sites = PROTOTYPES["rocksalt"][2]
    return Structure(Lattice.cubic(a), [("Na", "Cl")[slot] for slot, _ in sites],
                     [coords for _, coords in sites])


def _crystal(structure: Structure, sid: str, row: int | None = None, **kw) -> TrainingCrystal:
    return TrainingCrystal(structure_id=sid, structure=structure, row=row, **kw)


def _bcc_li() -> Structure:
    return Structure(Lattice.cubic(3.44), ["Li", "Li"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def test_parquet_round_trip_keeps_structures_ids_energies_and_provenance(tmp_path: Path) -> None:
    crystals = [
        _crystal(_nacl(), "mp-22862", source="materials-project", energy_per_atom=-3.42,
                 provenance={"e_above_hull": "0.0"}),
        _crystal(_bcc_li(), "mp-135", source="materials-project", energy_per_atom=None,
                 provenance={"database_version": "2024.11"}),
    ]
    path = write_training_parquet(tmp_path / "train.parquet", crystals)
    table = pq.read_table(path)
    assert table.schema.equals(training_schema(["database_version", "e_above_hull"]))
    assert table.column("formula").to_pylist() == ["NaCl", "Li"]
    assert table.column("chemsys").to_pylist() == ["Cl-Na", "Li"]
    assert table.column("n_atoms").to_pylist() == [8, 2]
    assert table.column("energy_per_atom").to_pylist() == [-3.42, None]
    assert table.column("e_above_hull").to_pylist() == ["0.0", None]

    data = load_training_data(path)
    assert [c.structure_id for c in data.crystals] == ["mp-22862", "mp-135"]
    assert data.crystals[0].energy_per_atom == -3.42
    assert data.crystals[1].energy_per_atom is None
    assert data.crystals[0].provenance == {"e_above_hull": "0.0"}
    assert data.crystals[1].provenance == {"database_version": "2024.11"}
    assert data.crystals[0].source == "materials-project"
    np.testing.assert_allclose(data.crystals[0].structure.cart_coords, _nacl().cart_coords)
    np.testing.assert_allclose(data.crystals[0].structure.lattice.matrix, _nacl().lattice.matrix)
    assert data.skipped == () and data.n_read == 2
    assert data.hash == dataset_hash(crystals)


def test_dataset_hash_changes_when_a_coordinate_moves() -> None:
    moved = _nacl()
    moved.translate_sites([0], [0.01, 0, 0], frac_coords=False)
    assert dataset_hash([_crystal(_nacl(), "a")]) == dataset_hash([_crystal(_nacl(), "a")])
    assert dataset_hash([_crystal(_nacl(), "a")]) != dataset_hash([_crystal(moved, "a")])


def test_folder_of_cif_and_poscar_files(tmp_path: Path) -> None:
    _nacl().to(filename=str(tmp_path / "nacl.cif"))
    (tmp_path / "sub").mkdir()
    _bcc_li().to(filename=str(tmp_path / "sub" / "POSCAR"), fmt="poscar")
    (tmp_path / "notes.txt").write_text("not a structure")
    data = load_training_data(tmp_path)
    assert [c.structure_id for c in data.crystals] == ["nacl.cif", "sub/POSCAR"]
    assert [len(c.structure) for c in data.crystals] == [8, 2]


def test_extxyz_file_with_ids_and_energies(tmp_path: Path) -> None:
    from ase.io import write
    from pymatgen.io.ase import AseAtomsAdaptor

    frames = []
    for sid, s, energy in (("nacl", _nacl(), -27.2), ("li", _bcc_li(), -3.8)):
        atoms = AseAtomsAdaptor.get_atoms(s)
        atoms.info["structure_id"] = sid
        atoms.info["energy"] = energy
        frames.append(atoms)
    write(tmp_path / "set.extxyz", frames, format="extxyz")
    data = load_training_data(tmp_path / "set.extxyz")
    assert [c.structure_id for c in data.crystals] == ["nacl", "li"]
    assert data.crystals[0].energy_per_atom == pytest.approx(-27.2 / 8)
    assert data.crystals[1].row == 1


def test_close_atoms_are_named_with_their_distance() -> None:
    s = Structure(Lattice.cubic(4.0), ["Li", "Si", "Li", "Si"],
                  [[0, 0, 0], [0.5, 0.5, 0.5], [0.25, 0, 0], [0.5, 0.5, 0.5775]])
    with pytest.raises(TrainingDataError,
                       match=r"^crystal 'mp-123' \(row 4\): overlapping atoms: sites 1 "
                             r"\(Si\) and 3 \(Si\) are 0\.310 Å apart, below 0\.5 Å$"):
        validate_crystal(_crystal(s, "mp-123", row=4))


def test_atoms_close_only_through_the_periodic_boundary_are_found() -> None:
    s = Structure(Lattice.cubic(4.0), ["Li", "Li"], [[0.01, 0.5, 0.5], [0.96, 0.5, 0.5]])
    with pytest.raises(TrainingDataError, match=r"sites 0 \(Li\) and 1 \(Li\) are 0\.200 Å apart"):
        validate_crystal(_crystal(s, "x"))


def test_coincident_atoms_and_tiny_cells_are_rejected() -> None:
    s = Structure(Lattice.cubic(4.0), ["Li", "Li"], [[0.1, 0.1, 0.1], [0.1, 0.1, 0.1]])
    with pytest.raises(TrainingDataError, match=r"sites 0 \(Li\) and 1 \(Li\) are 0\.000 Å apart"):
        validate_crystal(_crystal(s, "x"))
    tiny = Structure(Lattice.tetragonal(0.4, 5.0), ["Li"], [[0, 0, 0]])
    with pytest.raises(TrainingDataError,
                       match=r"site 0 \(\w+\) is 0\.400 Å from its own periodic image, "
                             r"below 0\.5 Å"):
        validate_crystal(_crystal(tiny, "y"))


def test_zero_and_negative_cell_volumes_are_rejected() -> None:
    flat = Structure(Lattice([[3, 0, 0], [0, 3, 0], [3, 3, 0]]), ["Li"], [[0, 0, 0]])
    with pytest.raises(TrainingDataError,
                       match=r"crystal 'flat': the lattice has no volume \(0 Å\^3\)"):
        validate_crystal(_crystal(flat, "flat"))
    left = Structure(Lattice(-np.eye(3) * 3.0), ["Li"], [[0, 0, 0]])
    with pytest.raises(TrainingDataError, match=r"cell volume is -27 Å\^3; it must be positive"):
        validate_crystal(_crystal(left, "left"))


def test_non_finite_coordinates_and_disorder_are_rejected() -> None:
    s = _bcc_li()
    bad = Structure(s.lattice, ["Li", "Li"], [[0, 0, 0], [np.nan, 0.5, 0.5]])
    with pytest.raises(TrainingDataError,
                       match=r"'nan': site 1 \(Li\) has coordinates that are not finite"):
        validate_crystal(_crystal(bad, "nan"))
    mixed = Structure(s.lattice, [{"Li": 0.5, "Na": 0.5}, "Li"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    with pytest.raises(TrainingDataError, match="partially occupied sites"):
        validate_crystal(_crystal(mixed, "dis"))
    empty = Structure(s.lattice, [], [])
    with pytest.raises(TrainingDataError, match=r"crystal 'e': the structure has no sites"):
        validate_crystal(_crystal(empty, "e"))


def _table_with_rows(path: Path, structures_json: list[str], ids: list[str]) -> Path:
    n = len(ids)
    table = pa.table({
        "structure": structures_json, "structure_id": ids, "formula": ["?"] * n,
        "chemsys": ["?"] * n, "n_atoms": pa.array([1] * n, pa.int32()), "source": ["t"] * n,
        "energy_per_atom": pa.array([None] * n, pa.float64()),
    }, schema=training_schema())
    pq.write_table(table, path)
    return path


def _json(s: Structure) -> str:
    return json.dumps(s.as_dict())


def test_unknown_element_is_named(tmp_path: Path) -> None:
    d = _bcc_li().as_dict()
    d["sites"][1]["species"][0]["element"] = "Xx"
    path = _table_with_rows(tmp_path / "t.parquet", [_json(_nacl()), json.dumps(d)],
                            ["ok", "bad-el"])
    with pytest.raises(TrainingDataError,
                       match=r"crystal 'bad-el' \(row 1\): cannot parse the structure JSON: "
                             r"ValueError: 'Xx' is not a valid Element"):
        load_training_data(path)


def test_skip_mode_counts_every_bad_row_with_its_reason(tmp_path: Path) -> None:
    close = Structure(Lattice.cubic(4.0), ["Li", "Li"], [[0, 0, 0], [0.05, 0, 0]])
    rows = [_json(_nacl()), _json(close), "{not json", _json(_bcc_li())]
    path = _table_with_rows(tmp_path / "t.parquet", rows, ["a", "b", "c", "d"])
    with pytest.raises(TrainingDataError,
                       match=r"crystal 'b' \(row 1\): overlapping atoms: sites 0 \(Li\) and 1"):
        load_training_data(path, on_invalid="raise")
    data = load_training_data(path, on_invalid="skip")
    assert [c.structure_id for c in data.crystals] == ["a", "d"]
    assert [(s.structure_id, s.row) for s in data.skipped] == [("b", 1), ("c", 2)]
    assert "0.200 Å apart" in data.skipped[0].reason
    assert "cannot parse the structure JSON: JSONDecodeError" in data.skipped[1].reason
    assert data.n_read == 4


def test_empty_and_all_invalid_sources_are_errors(tmp_path: Path) -> None:
    empty = _table_with_rows(tmp_path / "empty.parquet", [], [])
    with pytest.raises(TrainingDataError, match=r"'.*empty\.parquet' contains no usable crystals$"):
        load_training_data(empty, on_invalid="skip")
    close = Structure(Lattice.cubic(4.0), ["Li", "Li"], [[0, 0, 0], [0.05, 0, 0]])
    bad = _table_with_rows(tmp_path / "bad.parquet", [_json(close)], ["b"])
    with pytest.raises(TrainingDataError,
                       match=r"contains no usable crystals; all 1 were invalid, first: "
                             r"crystal 'b' \(row 0\)"):
        load_training_data(bad, on_invalid="skip")
    (tmp_path / "nothing").mkdir()
    with pytest.raises(TrainingDataError, match="contains no usable crystals"):
        load_training_data(tmp_path / "nothing")


def test_bad_sources_are_named(tmp_path: Path) -> None:
    with pytest.raises(TrainingDataError, match=r"training data '.*missing' does not exist"):
        load_training_data(tmp_path / "missing")
    (tmp_path / "data.csv").write_text("a,b\n")
    with pytest.raises(TrainingDataError, match="unknown format"):
        load_training_data(tmp_path / "data.csv")
    pq.write_table(pa.table({"cif": ["x"]}), tmp_path / "nostruct.parquet")
    with pytest.raises(TrainingDataError,
                       match=r"has no 'structure' column \(columns: \['cif'\]\)"):
        load_training_data(tmp_path / "nostruct.parquet")
    (tmp_path / "junk.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(TrainingDataError, match=r"training table '.*junk\.parquet' cannot be read"):
        load_training_data(tmp_path / "junk.parquet")
    with pytest.raises(ValueError, match="on_invalid must be 'raise' or 'skip'"):
        load_training_data(tmp_path / "junk.parquet", on_invalid="drop")


def test_non_periodic_extxyz_frame_and_unreadable_cif_are_reported(tmp_path: Path) -> None:
    from ase import Atoms
    from ase.io import write

    write(tmp_path / "mol.extxyz", [Atoms("H2", positions=[[0, 0, 0], [0.74, 0, 0]])],
          format="extxyz")
    with pytest.raises(TrainingDataError,
                       match=r"crystal 'mol\.extxyz:0' \(row 0\): is not periodic"):
        load_training_data(tmp_path / "mol.extxyz")
    folder = tmp_path / "cifs"
    folder.mkdir()
    (folder / "broken.cif").write_text("data_x\n_cell_length_a 3\n")
    _nacl().to(filename=str(folder / "ok.cif"))
    data = load_training_data(folder, on_invalid="skip")
    assert [c.structure_id for c in data.crystals] == ["ok.cif"]
    assert data.skipped[0].reason.startswith("crystal 'broken.cif' (row 0): cannot read broken.cif")


def test_write_refuses_an_empty_table_and_clashing_provenance(tmp_path: Path) -> None:
    with pytest.raises(TrainingDataError, match="refusing to write an empty training table"):
        write_training_parquet(tmp_path / "x.parquet", [])
    with pytest.raises(ValueError, match=r"provenance columns \['formula'\] clash"):
        write_training_parquet(tmp_path / "x.parquet",
                               [_crystal(_nacl(), "a", provenance={"formula": "x"})])
