"""Fuzzing the structure-file path: CIF, POSCAR and extxyz files with NaN coordinates and
cells, atoms on one site, unknown elements, huge and empty cells, truncated and random
text. Each file is read (:func:`chggen_kernels.structure_io.read_structures`) and checked
(:func:`campaign.inputs.structures.check_input_structure`) in a forked child under a memory
ceiling: accepted (and then every check holds) or refused with a chggen ``InputError``;
anything else fails. ``CHGGEN_FUZZ_EXAMPLES`` sets the examples per test (CI: 60).
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import ase.io  # noqa: F401 - imported once here, not in every forked child
import numpy as np
import pymatgen.io.ase  # noqa: F401
import pymatgen.io.cif  # noqa: F401
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaign.inputs.structures import check_input_structure
from chggen_kernels.structure_io import read_structures
from tests.fuzz.forked import run_forked, tally

EXAMPLES = int(os.environ.get("CHGGEN_FUZZ_EXAMPLES", "60"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                    suppress_health_check=list(HealthCheck))

# mostly plausible values, a special one now and then (each file holds many numbers)
NUMBERS = st.one_of(*[st.floats(min_value=0.0, max_value=1.0)] * 12,
                    st.sampled_from([math.nan, math.inf, 0.0, 1e12, -1e-12, -2.0]))
LENGTHS = st.one_of(*[st.floats(min_value=3.0, max_value=12.0)] * 8,
                    st.sampled_from([math.nan, 0.0, -4.0, 1e-9, 1e6, math.inf]))
ANGLES = st.one_of(*[st.just(90.0)] * 6, st.floats(min_value=60.0, max_value=120.0),
                   st.sampled_from([0.0, 180.0, math.nan, 360.0]))
SYMBOLS = st.one_of(*[st.sampled_from(["Li", "Si", "Zn", "S", "Pu"])] * 10,
                    st.sampled_from(["Og", "Am", "X", "Xx", "D", "li"]))


@st.composite
def crystals(draw: st.DrawFn) -> dict:
    n = draw(st.integers(min_value=0, max_value=6))
    coords = [[draw(NUMBERS) for _ in range(3)] for _ in range(n)]
    if n >= 2 and draw(st.booleans()):
        coords[1] = list(coords[0])  # two atoms on one site
    return {"lengths": [draw(LENGTHS) for _ in range(3)],
            "angles": [draw(ANGLES) for _ in range(3)],
            "symbols": [draw(SYMBOLS) for _ in range(n)], "coords": coords,
            "occupancy": draw(st.one_of(*[st.just("1")] * 6,
                                        st.sampled_from(["0.5", "2", "nan", "?"])))}


def _cif(c: dict) -> str:
    head = "data_fuzz\n" + "".join(
        f"_cell_{name} {value}\n" for name, value in zip(
            ["length_a", "length_b", "length_c", "angle_alpha", "angle_beta", "angle_gamma"],
            [*c["lengths"], *c["angles"]], strict=True))
    head += ("_symmetry_space_group_name_H-M 'P 1'\nloop_\n_symmetry_equiv_pos_as_xyz\n 'x, y, "
             "z'\nloop_\n_atom_site_label\n_atom_site_type_symbol\n_atom_site_fract_x\n"
             "_atom_site_fract_y\n_atom_site_fract_z\n_atom_site_occupancy\n")
    return head + "".join(f"{s}{i} {s} {x} {y} {z} {c['occupancy']}\n"
                          for i, (s, (x, y, z)) in enumerate(zip(c["symbols"], c["coords"],
                                                                 strict=True)))


def _matrix(c: dict) -> np.ndarray:
    a, b, cc = c["lengths"]
    return np.diag([a, b, cc])


def _poscar(c: dict) -> str:
    species = sorted(set(c["symbols"])) or ["Li"]
    counts = [c["symbols"].count(s) for s in species]
    order = [i for s in species for i, t in enumerate(c["symbols"]) if t == s]
    rows = "\n".join(" ".join(str(v) for v in row) for row in _matrix(c))
    coords = "\n".join(" ".join(str(v) for v in c["coords"][i]) for i in order)
    return (f"fuzz\n1.0\n{rows}\n{' '.join(species)}\n{' '.join(map(str, counts))}\n"
            f"Direct\n{coords}\n")


def _extxyz(c: dict) -> str:
    lattice = " ".join(str(v) for v in _matrix(c).ravel())
    lines = [str(len(c["symbols"])), f'Lattice="{lattice}" Properties=species:S:1:pos:R:3 '
             'pbc="T T T"']
    lines += [f"{s} {x} {y} {z}" for s, (x, y, z) in zip(c["symbols"], c["coords"],
                                                         strict=True)]
    return "\n".join(lines) + "\n"


WRITERS = {"x.cif": _cif, "POSCAR": _poscar, "x.extxyz": _extxyz}


def _read_and_check(name: str, content: str | bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode(
            "utf-8", "surrogatepass"))
        for k, structure in enumerate(read_structures(path)):
            check_input_structure(structure, where=f"{name}[{k}]")
            assert len(structure) >= 1  # accepted: every check holds
            assert np.all(np.isfinite(structure.lattice.matrix))
            assert np.all(np.isfinite(structure.frac_coords))
            assert structure.lattice.volume > 0


def _check(name: str, content: str | bytes, suite: str) -> None:
    outcome, detail = run_forked(lambda: _read_and_check(name, content))
    tally(suite, outcome, detail)
    assert outcome in ("accepted", "refused"), detail


@SETTINGS
@given(crystals(), st.sampled_from(sorted(WRITERS)))
def test_generated_structure_files_are_accepted_or_refused(crystal, name) -> None:
    _check(name, WRITERS[name](crystal), "structure-generated")


@SETTINGS
@given(crystals(), st.sampled_from(sorted(WRITERS)), st.data())
def test_truncated_and_random_files_are_refused_or_harmless(crystal, name, data) -> None:
    text = WRITERS[name](crystal)
    cut = data.draw(st.integers(min_value=0, max_value=len(text)))
    noise = data.draw(st.one_of(st.just(b""), st.binary(max_size=64)))
    content = text[:cut].encode() + noise
    _check(name, content, "structure-truncated")
