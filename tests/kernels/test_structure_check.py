"""The one structure check and the structure-file reader: each problem named in one line."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from chggen_kernels.files import InputFileError, read_text_file, write_atomic
from chggen_kernels.structure_check import (
    CHGNET_SUPPORT,
    ElementSupport,
    StructureCheckError,
    check_structure,
)
from chggen_kernels.structure_io import read_structure, read_structures

CIF_HEAD = """data_t
_cell_length_a {a}
_cell_length_b 4.0
_cell_length_c 4.0
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
_symmetry_space_group_name_H-M 'P 1'
loop_
_symmetry_equiv_pos_as_xyz
 'x, y, z'
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_occupancy
"""


def _li2si() -> Structure:
    return Structure(Lattice.cubic(4.0), ["Li", "Li", "Si"],
                     [[0, 0, 0], [0.5, 0.5, 0], [0.25, 0.25, 0.5]])


def _check(structure: Structure, **kwargs) -> None:
    check_structure(structure, where="x.cif", max_atoms=kwargs.pop("max_atoms", 200), **kwargs)


def test_a_good_crystal_passes_and_a_partly_occupied_one_too() -> None:
    _check(_li2si())
    _check(Structure(Lattice.cubic(4.0), [{"Li": 0.5}, "Si"], [[0, 0, 0], [0.5, 0.5, 0.5]]))


@pytest.mark.parametrize(("make", "message"), [
    (lambda s: Structure(s.lattice, [], []), "x.cif: the structure has no sites"),
    (lambda s: Structure(Lattice(np.diag([4.0, 4.0, math.nan])), s.species, s.frac_coords),
     "x.cif: the lattice is not finite ([[4.0, 0.0, 0.0], [0.0, 4.0, 0.0], [0.0, 0.0, nan]])"),
    (lambda s: Structure(Lattice([[4, 0, 0], [8, 0, 0], [0, 0, 4]]), s.species, s.frac_coords),
     "x.cif: the lattice has no volume (0 Å^3)"),
    (lambda s: Structure(s.lattice, s.species, [[0, 0, 0], [math.nan, 0.5, 0], [0.2, 0.2, 0.5]]),
     "x.cif: site 1 (Li) has coordinates that are not finite ([nan, 0.5, 0.0])"),
    (lambda s: Structure(s.lattice, ["Li", "Li", "Si"], [[0, 0, 0], [0, 0, 0.05], [0.5] * 3]),
     "x.cif: overlapping atoms: sites 0 (Li) and 1 (Li) are 0.200 Å apart, below 0.5 Å"),
    (lambda s: Structure(Lattice.cubic(0.3), ["Li"], [[0, 0, 0]]),
     "x.cif: overlapping atoms: site 0 (Li) is 0.300 Å from its own periodic image, below "
     "0.5 Å"),
    (lambda s: Structure(Lattice.cubic(40.0), ["Li"], [[0, 0, 0]]),
     "x.cif: 6.4e+04 Å^3 per atom, more than 10,000.0 Å^3/atom (isolated atoms, not a "
     "crystal)"),
    (lambda s: Structure(s.lattice, ["Li", "Si"], [[0, 0, 0], [0, 0, 1e12]]),
     "x.cif: site 1 (Si) lies more than 1,000 cells away (fractional coordinates [0.0, 0.0, "
     "1000000000000.0])"),
    (lambda s: Structure(s.lattice, ["Og", "Si"], [[0, 0, 0], [0.5] * 3]),
     "x.cif: element Og (Z = 118) is not supported by the potential chgnet (elements Z 1-94)"),
])
def test_each_problem_is_one_line_naming_the_site(make, message) -> None:
    with pytest.raises(StructureCheckError) as info:
        _check(make(_li2si()))
    assert str(info.value) == message and "\n" not in str(info.value)


def test_atom_limit_is_checked_first_and_names_where_it_comes_from() -> None:
    big = _li2si() * (4, 4, 4)
    with pytest.raises(StructureCheckError, match=re.escape(
            "x.cif: 192 atoms, more than limits.atoms_per_cell = 100 (a cell is sampled and "
            "relaxed whole)")):
        _check(big, max_atoms=100)
    _check(big, max_atoms=192)


def test_supports_are_the_potentials_and_none_means_any_element() -> None:
    og = Structure(Lattice.cubic(5.0), ["Og"], [[0, 0, 0]])
    _check(og, supports=())
    assert CHGNET_SUPPORT.problem("Pu", 94) is None
    only = ElementSupport("the test potential", elements=frozenset({"Li"}))
    assert only.problem("Si", 14) == "element Si is not supported by the test potential " \
                                     "(1 elements)"


def _write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_cif_with_two_atoms_on_one_site_names_them(tmp_path) -> None:
    path = _write(tmp_path, "two.cif", CIF_HEAD.format(a=4.0) + "Li1 Li 0 0 0 1\n"
                  "Si1 Si 0.5 0.5 0.5 1\nLi2 Li 0.0 0.0 0.0 1\n")
    with pytest.raises(InputFileError) as info:
        read_structure(path)
    assert str(info.value) == (f"structure file {str(path)!r}: overlapping atoms: sites 0 (Li1) "
                               "and 2 (Li2) are 0.000 Å apart")


def test_cif_with_nan_coordinate_or_cell_names_the_cause(tmp_path) -> None:
    nan = _write(tmp_path, "nan.cif", CIF_HEAD.format(a=4.0) + "Li1 Li nan 0 0 1\n")
    with pytest.raises(InputFileError, match=re.escape(
            "site 0 (Li1): fractional coordinates ['nan', '0', '0'] are not all finite")):
        read_structure(nan)
    cell = _write(tmp_path, "cell.cif", CIF_HEAD.format(a="-4.0") + "Li1 Li 0 0 0 1\n")
    with pytest.raises(InputFileError, match=re.escape(
            "_cell_length_a = '-4.0' is not a positive finite number")):
        read_structure(cell)


def test_mixed_site_of_two_species_is_read_not_refused(tmp_path) -> None:
    path = _write(tmp_path, "mixed.cif", CIF_HEAD.format(a=4.0) + "Li1 Li 0 0 0 0.5\n"
                  "Na1 Na 0 0 0 0.5\nSi1 Si 0.5 0.5 0.5 1\n")
    structure = read_structure(path)
    assert len(structure) == 2 and not structure.is_ordered


def test_binary_empty_and_oversized_files_are_refused(tmp_path) -> None:
    binary = tmp_path / "x.cif"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    with pytest.raises(InputFileError, match=r"not a UTF-8 text file \(byte 0x89 at offset 0\)"):
        read_structure(binary)
    with pytest.raises(InputFileError, match="the file is empty"):
        read_structure(_write(tmp_path, "e.cif", "\n \n"))
    with pytest.raises(InputFileError, match="larger than the 100 bytes a structure file"):
        read_structure(_write(tmp_path, "big.vasp", "x" * 101), max_bytes=100)
    with pytest.raises(InputFileError, match="is a folder, not a file"):
        read_text_file(tmp_path, what="structure file")
    with pytest.raises(InputFileError, match="NUL byte at offset 1"):
        read_text_file(_write(tmp_path, "nul.txt", "a\x00b"), what="structure file")


def test_extxyz_and_poscar_and_json_round_trip(tmp_path) -> None:
    from ase.io import write
    from pymatgen.io.ase import AseAtomsAdaptor

    s = _li2si()
    xyz = tmp_path / "two.extxyz"
    write(xyz, [AseAtomsAdaptor.get_atoms(s)] * 2, format="extxyz")
    assert len(read_structures(xyz)) == 2
    poscar = tmp_path / "POSCAR"
    s.to(filename=str(poscar), fmt="poscar")
    assert read_structure(poscar).composition == s.composition
    js = _write(tmp_path, "s.json", s.to_json())
    assert read_structure(js) == s


def test_write_atomic_names_the_path_on_a_full_disk(tmp_path) -> None:
    import errno

    target = tmp_path / "part.parquet"

    def full(_temporary) -> None:
        raise OSError("Error writing bytes to file. Detail: [errno 28] No space left on device")

    with pytest.raises(OSError) as info:
        write_atomic(target, full)
    assert info.value.filename == str(target) and info.value.strerror == os_strerror(
        errno.ENOSPC)
    assert list(tmp_path.iterdir()) == []


def os_strerror(code: int) -> str:
    import os

    return os.strerror(code)
