"""The batched neighbour search: crystals grouped by image range, padded, chunked.

The search handles crystals of different sizes and image ranges in shared padded
blocks; these tests pin that the grouping, padding and memory chunking never change the
edges, and that the nearest-first cap breaks distance ties the same way however the
search was chunked.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure

import chggen_kernels.neighbors as neighbors_module
from chggen_kernels import CrystalBatch, edge_vectors, neighbor_list
from chggen_kernels.testing import bcc, random_triclinic, rock_salt


def _edges(nl) -> list[tuple[int, int, tuple[int, ...]]]:
    shifts = [tuple(s) for s in nl.shifts.round().long().tolist()]
    return list(zip(nl.edge_index[0].tolist(), nl.edge_index[1].tolist(), shifts, strict=True))


@pytest.fixture(scope="module")
def mixed_batch() -> CrystalBatch:
    """Different atom counts and image ranges, including a cell much smaller than 5 Å."""
    rng = np.random.default_rng(4)
    tiny = Structure(Lattice([[2.0, 0, 0], [1.9, 0.6, 0], [0.3, 0.2, 1.8]]), ["Si", "O"],
                     [[0, 0, 0], [0.3, 0.2, 0.1]])
    structures = [
        random_triclinic(rng, 6, ("Zn", "S"), unwrapped=True),
        tiny,
        random_triclinic(rng, 2, ("Li",), unwrapped=True),
        rock_salt(),
        random_triclinic(rng, 9, ("P", "S"), volume_per_atom=14.0, unwrapped=True),
        bcc(),
    ]
    return CrystalBatch.from_structures(structures)


@pytest.mark.parametrize("cap", [None, 7])
def test_batched_search_equals_one_crystal_at_a_time(mixed_batch: CrystalBatch, cap) -> None:
    batched = _edges(neighbor_list(mixed_batch, 5.0, cap))
    singles = []
    offsets = mixed_batch.offsets.tolist()
    for c in range(mixed_batch.n_crystals):
        for i, j, s in _edges(neighbor_list(mixed_batch[c], 5.0, cap)):
            singles.append((i + offsets[c], j + offsets[c], s))
    assert batched == singles


def test_memory_chunking_does_not_change_the_edges(
    mixed_batch: CrystalBatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = _edges(neighbor_list(mixed_batch, 5.0, 9))
    # 40 elements per block forces both crystal and image chunking everywhere
    monkeypatch.setattr(neighbors_module, "_CHUNK_ELEMENTS", 40)
    assert _edges(neighbor_list(mixed_batch, 5.0, 9)) == reference


def test_cap_breaks_distance_ties_by_neighbor_index() -> None:
    # bcc: 8 nearest neighbours at exactly a*sqrt(3)/2; a cap of 3 must keep a
    # well-defined subset: equal distances, neighbour index non-decreasing.
    batch = CrystalBatch.from_structures([bcc(a=3.0)])
    nl = neighbor_list(batch, 2.7, max_neighbors=3)
    d = edge_vectors(batch, nl).norm(dim=1)
    torch.testing.assert_close(d, torch.full_like(d, 3.0 * np.sqrt(3) / 2))
    for centre in range(2):
        js = nl.edge_index[1][nl.edge_index[0] == centre]
        assert len(js) == 3
        assert bool((torch.diff(js) >= 0).all())
