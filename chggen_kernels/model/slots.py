"""Neighbour slots: the edges of a graph laid out as ``n_atoms x width`` dense rows.

Every centre atom ``i`` owns ``width`` consecutive slots (``width`` = the largest number
of neighbours of any atom); its edges fill the first of them and the rest are padding.
Per-edge quantities scattered onto slots (:meth:`NeighborSlots.scatter`) are zero in the
padding rows, so a padding slot whose tensor-product weights are zero carries no
message. With this layout the sum over the neighbours of an atom is part of one batched
matrix product (:class:`~chggen_kernels.model.tensor_product.UVUConvolution`), and the
large per-edge message tensor is never stored.
"""

from __future__ import annotations

import dataclasses

import torch

__all__ = ["NeighborSlots"]


@dataclasses.dataclass(frozen=True, eq=False)
class NeighborSlots:
    """Dense neighbour slots of ``n_atoms`` centres.

    Attributes:
        n_atoms: number of centre atoms.
        width: slots per centre (the largest neighbour count; 1 when there is no edge).
        edge_slot: ``(n_edges,)`` slot (row of the dense layout) of every edge.
        neighbor: ``(n_atoms * width,)`` neighbour atom of every slot (padding slots
            point at their own centre; their weights must be zero).
    """

    n_atoms: int
    width: int
    edge_slot: torch.Tensor
    neighbor: torch.Tensor

    @classmethod
    def from_edge_index(cls, edge_index: torch.Tensor, n_atoms: int) -> NeighborSlots:
        """Slots of ``edge_index`` (``(2, n_edges)``: row 0 the receiving centre, row 1 the
        neighbour), in any edge order; edges keep their order within a centre."""
        center, neighbor = edge_index
        device = center.device
        counts = torch.bincount(center, minlength=n_atoms)
        width = max(1, int(counts.max())) if center.numel() else 1
        order = torch.argsort(center, stable=True)
        starts = torch.cumsum(counts, 0) - counts
        sorted_center = center[order]
        rank = torch.arange(center.numel(), device=device) - starts[sorted_center]
        edge_slot = torch.empty_like(center)
        edge_slot[order] = sorted_center * width + rank
        slot_neighbor = torch.arange(n_atoms, device=device).repeat_interleave(width)
        slot_neighbor = slot_neighbor.index_put((edge_slot,), neighbor)
        return cls(n_atoms=n_atoms, width=width, edge_slot=edge_slot, neighbor=slot_neighbor)

    @property
    def n_slots(self) -> int:
        return self.n_atoms * self.width

    def scatter(self, edge_values: torch.Tensor) -> torch.Tensor:
        """``(n_edges, ...)`` per-edge values -> ``(n_slots, ...)``, zero in the padding
        (differentiable)."""
        dense = edge_values.new_zeros((self.n_slots, *edge_values.shape[1:]))
        return dense.index_put((self.edge_slot,), edge_values)
