"""A neighbour list reused between score evaluations: a Verlet list with a skin.

:class:`VerletNeighbors` searches every periodic image once at ``cutoff + skin`` (Å) and
keeps those pairs as candidates. Later calls only recompute the candidates' distances
from the current positions, keep those below ``cutoff`` and apply the per-centre cap, as
:func:`~chggen_kernels.neighbors.neighbor_list` does. While no atom has moved more than
``skin / 2`` from where it was at the search, every pair now closer than ``cutoff`` was
closer than ``cutoff + skin`` then, so the result is the exact neighbour list; otherwise
(or when the cells, the atoms or the crystals change) the search runs again. While atoms
move more than ``skin / 8`` per call (the sampler's first, noisy levels) a list would not
last, and the plain search at ``cutoff`` runs instead.

Positions may be wrapped back into the cell between calls (the sampler does): an atom's
displacement is taken modulo whole lattice vectors, and the candidates' image shifts are
corrected by the lattice vectors it jumped, so the shifts always refer to the positions
as given.

``VerletScore(model)`` is the score function of a :class:`~chggen_kernels.model.ScoreModel`
that gets its neighbours from one such list (one per sampler call: the list belongs to
the batch it was built for).
"""

from __future__ import annotations

from typing import Any

import torch

from chggen_kernels.crystal import CrystalBatch
from chggen_kernels.neighbors import NeighborList, neighbor_list

__all__ = ["VerletNeighbors", "VerletScore"]

#: Default skin, Å: candidates are searched at cutoff + 1 Å and reused while every atom
#: stays within 0.5 Å of its position at the search.
DEFAULT_SKIN = 1.0
_SHIFT_RANGE = 8  # image shifts beyond +-8 cells only tie-break among themselves
_FAST = 8  # atoms moving more than skin / 8 per call: search at the cutoff, keep no list


class VerletNeighbors:
    """Neighbour lists of the batches of one trajectory, searched again only when needed.

    Parameters
    ----------
    cutoff
        Radial cutoff, Å (pairs closer than it are returned).
    max_neighbors
        Optional cap per centre atom (the nearest are kept), as in ``neighbor_list``.
    skin
        Extra search radius, Å; the list is reused while no atom moved more than
        ``skin / 2``. ``skin = 0`` searches on every call.
    """

    def __init__(self, cutoff: float, max_neighbors: int | None = None,
                 skin: float = DEFAULT_SKIN) -> None:
        if not cutoff > 0:
            raise ValueError(f"cutoff must be positive, got {cutoff}")
        if not skin >= 0:
            raise ValueError(f"skin must be >= 0 Å, got {skin}")
        self.cutoff = float(cutoff)
        self.max_neighbors = max_neighbors
        self.skin = float(skin)
        self.n_calls = 0
        self.n_searches = 0  # image searches, at cutoff + skin or (while atoms move fast) at cutoff
        self._cells: tuple[torch.Tensor, ...] | None = None  # atoms and cells of the last call
        self._last_frac: torch.Tensor | None = None
        self._ref: dict[str, torch.Tensor] | None = None  # the candidates and their positions

    @torch.no_grad()
    def __call__(self, batch: CrystalBatch) -> NeighborList:
        """The neighbour list of ``batch`` (same result as ``neighbor_list(batch, cutoff,
        max_neighbors)``)."""
        self.n_calls += 1
        if self.skin == 0:
            self.n_searches += 1
            return neighbor_list(batch, self.cutoff, self.max_neighbors)
        frac = batch.frac_positions()
        cells = (batch.atomic_numbers, batch.crystal_index, batch.lattices)
        same = self._cells is not None and all(
            a.shape == b.shape and torch.equal(a, b) for a, b in zip(cells, self._cells,
                                                                     strict=True))
        step = self._largest_move(batch, frac, self._last_frac) if same else None
        self._cells, self._last_frac = tuple(t.clone() for t in cells), frac.clone()
        if not same:
            self._ref = None
        moved = None if self._ref is None else self._largest_move(batch, frac,
                                                                   self._ref["frac"])
        if moved is None or moved[0] > self.skin / 2:
            self.n_searches += 1
            if step is None or step[0] > self.skin / _FAST:
                # atoms move a large part of the skin per call: a list would not last
                self._ref = None
                return neighbor_list(batch, self.cutoff, self.max_neighbors)
            wide = neighbor_list(batch, self.cutoff + self.skin, None)
            self._ref = {"edge_index": wide.edge_index, "shifts": wide.shifts,
                         "frac": frac.clone()}
            moved = (0.0, torch.zeros_like(frac))
        return self._from_candidates(batch, frac, moved[1])

    def _largest_move(self, batch: CrystalBatch, frac: torch.Tensor, before: torch.Tensor
                      ) -> tuple[float, torch.Tensor]:
        """The largest displacement (Å) of any atom since ``before`` (fractional), taken
        modulo whole lattice vectors, and those whole lattice vectors per atom."""
        moved = frac - before
        jumps = torch.round(moved)
        step = torch.bmm((moved - jumps)[:, None, :], batch.lattices[batch.crystal_index])[:, 0]
        largest = float(torch.linalg.vector_norm(step, dim=1).max()) if step.numel() else 0.0
        return largest, jumps

    def _from_candidates(self, batch: CrystalBatch, frac: torch.Tensor, jumps: torch.Tensor
                         ) -> NeighborList:
        """The candidates closer than the cutoff now, nearest first, capped per centre."""
        ref = self._ref
        assert ref is not None
        i, j = ref["edge_index"]
        shifts = ref["shifts"] + jumps[i] - jumps[j]  # image shifts of the given positions
        lattice = batch.lattices[batch.crystal_index[i]]
        vectors = torch.bmm((frac[j] - frac[i] + shifts)[:, None, :], lattice)[:, 0]  # Å
        d2 = (vectors * vectors).sum(1)
        keep = d2 < self.cutoff * self.cutoff  # the criterion of neighbor_list
        center, neighbor, shifts, d2 = i[keep], j[keep], shifts[keep], d2[keep]
        # nearest first within each centre, equal distances (an atom's own images at +a and
        # -a) by neighbour, then image shift: the order of neighbor_list, edge for edge
        code = shifts.round().long().clamp(-_SHIFT_RANGE, _SHIFT_RANGE) + _SHIFT_RANGE
        width = 2 * _SHIFT_RANGE + 1
        tie = (neighbor * width + code[:, 0]) * width ** 2 + code[:, 1] * width + code[:, 2]
        order = torch.argsort(tie, stable=True)
        key = center[order].to(torch.float64) * (4.0 * (self.cutoff + self.skin) ** 2) \
            + d2[order].to(torch.float64)
        order = order[torch.argsort(key, stable=True)]
        center, neighbor, shifts = center[order], neighbor[order], shifts[order]
        if self.max_neighbors is not None and center.numel():
            counts = torch.bincount(center, minlength=batch.n_atoms)
            first = torch.cumsum(counts, 0) - counts
            rank = torch.arange(center.numel(), device=center.device) - first[center]
            keep = rank < self.max_neighbors
            center, neighbor, shifts = center[keep], neighbor[keep], shifts[keep]
        return NeighborList(edge_index=torch.stack([center, neighbor]), shifts=shifts,
                            cutoff=self.cutoff)


class VerletScore:
    """``model(batch, sigma)`` with the neighbours from one :class:`VerletNeighbors`.

    ``model`` is a :class:`~chggen_kernels.model.ScoreModel` (its ``config.cutoff`` and
    ``config.max_neighbors`` set the list); call it for the batches of one trajectory.
    """

    def __init__(self, model: Any, skin: float = DEFAULT_SKIN) -> None:
        self.model = model
        self.neighbors = VerletNeighbors(model.config.cutoff, model.config.max_neighbors, skin)

    def __call__(self, batch: CrystalBatch, sigma: torch.Tensor) -> torch.Tensor:
        return self.model(batch, sigma, neighbors=self.neighbors(batch))
