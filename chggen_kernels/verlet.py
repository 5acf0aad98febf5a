"""A neighbour list reused between score evaluations: a Verlet list with a skin.

:class:`VerletNeighbors` searches every periodic image once at ``cutoff + skin`` (Å) and
keeps those pairs as candidates. Later calls only recompute the candidates' distances
from the current positions, keep those below ``cutoff`` and apply the per-centre cap, as
:func:`~chggen_kernels.neighbors.neighbor_list` does. While no atom has moved more than
``skin / 2`` from where it was at the search, every pair now closer than ``cutoff`` was
closer than ``cutoff + skin`` then, so the result holds the same pairs as the search at
``cutoff``, sorted and capped by the same function with the same tie-break; otherwise (or
when the cells, the atoms or the crystals change) the search runs again.

Where it can differ from a fresh search: distances are computed another way (fractional
differences times the cell, not wrapped Cartesian positions plus image vectors), so two
distances equal to float rounding may sort the other way. That changes the summation
order of the model (float tolerance), and where the cap of ``max_neighbors`` cuts
through a shell of equally distant neighbours (a symmetric crystal), which of them are
kept; a fresh search of the same crystal rotated or translated changes that choice too. While atoms
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
from chggen_kernels.neighbors import NeighborList, neighbor_list, sorted_and_capped

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
        """The neighbour list of ``batch``: the pairs of ``neighbor_list(batch, cutoff,
        max_neighbors)``, in its order (float ties aside: module docstring)."""
        self.n_calls += 1
        if self.skin == 0:
            self.n_searches += 1
            return neighbor_list(batch, self.cutoff, self.max_neighbors)
        frac = batch.frac_positions()
        cells = (batch.atomic_numbers, batch.crystal_index, batch.lattices)
        same = self._cells is not None and all(
            a.shape == b.shape and torch.equal(a, b) for a, b in zip(cells, self._cells,
                                                                     strict=True))
        last = self._last_frac if same else None
        self._last_frac = frac.clone()
        if not same:
            self._cells, self._ref = tuple(t.clone() for t in cells), None
        moved = None if self._ref is None else self._largest_move(batch, frac,
                                                                   self._ref["frac"])
        if moved is None or not moved[0] <= self.skin / 2:  # not: NaN positions search
            self.n_searches += 1
            step = None if last is None else self._largest_move(batch, frac, last)[0]
            if step is None or not step <= self.skin / _FAST:
                # atoms move a large part of the skin per call: a list would not last
                self._ref = None
                return neighbor_list(batch, self.cutoff, self.max_neighbors)
            # zero-distance pairs too: two atoms on top of each other may separate later
            wide = neighbor_list(batch, self.cutoff + self.skin, None, self_interaction=True)
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
        step = batch.cartesian(moved - jumps)
        largest = float(torch.linalg.vector_norm(step, dim=1).max()) if step.numel() else 0.0
        return largest, jumps

    def _from_candidates(self, batch: CrystalBatch, frac: torch.Tensor, jumps: torch.Tensor
                         ) -> NeighborList:
        """The candidates closer than the cutoff now, nearest first, capped per centre."""
        ref = self._ref
        assert ref is not None
        i, j = ref["edge_index"]
        shifts = ref["shifts"] + jumps[i] - jumps[j]  # image shifts of the given positions
        # from fractional differences: an atom's own images at +a and -a come out exactly
        # equally far, so the tie-break below decides between them, as in neighbor_list
        lattice = batch.lattices[batch.crystal_index[i]]
        vectors = torch.bmm((frac[j] - frac[i] + shifts)[:, None, :], lattice)[:, 0]  # Å
        d2 = (vectors * vectors).sum(1)
        # neighbor_list's criteria: closer than the cutoff, not the atom itself
        keep = (d2 < self.cutoff * self.cutoff) & (d2 > 1e-16)
        center, neighbor, shifts, d2 = i[keep], j[keep], shifts[keep], d2[keep]
        # equal distances (an atom's own images at +a and -a) in image order, as the search
        # finds them; then neighbor_list's own sort and cap
        code = shifts.round().long().clamp(-_SHIFT_RANGE, _SHIFT_RANGE) + _SHIFT_RANGE
        width = 2 * _SHIFT_RANGE + 1
        order = torch.argsort((code[:, 0] * width + code[:, 1]) * width + code[:, 2],
                              stable=True)
        center, neighbor, shifts = sorted_and_capped(
            center[order], neighbor[order], shifts[order], d2[order].sqrt(), batch.n_atoms,
            self.max_neighbors)
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
