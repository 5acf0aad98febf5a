"""doubled_cell: the same crystal, twice the atoms, along the shortest lattice vector."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Lattice, Structure

from chggen_kernels.datasets import doubled_cell


def _orthorhombic() -> Structure:
    return Structure(Lattice.orthorhombic(5.0, 3.5, 6.0), ["Zn", "S", "S"],
                     [[0, 0, 0], [0.5, 0.5, 0.25], [0.5, 0.5, 0.75]])


def test_doubled_along_the_shortest_vector_is_the_same_crystal() -> None:
    s = _orthorhombic()
    d = doubled_cell(s, max_atoms=6)
    assert d is not None and len(d) == 6
    assert np.allclose(d.lattice.abc, (5.0, 7.0, 6.0))
    assert d.volume == pytest.approx(2 * s.volume)
    assert d.composition.reduced_formula == s.composition.reduced_formula
    assert StructureMatcher(primitive_cell=True, scale=False).fit(s, d)


def test_too_large_and_bad_limit() -> None:
    assert doubled_cell(_orthorhombic(), max_atoms=5) is None
    with pytest.raises(ValueError, match="max_atoms must be >= 1, got 0"):
        doubled_cell(_orthorhombic(), max_atoms=0)
