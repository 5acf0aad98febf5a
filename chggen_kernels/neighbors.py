"""Periodic neighbour lists for :class:`~chggen_kernels.crystal.CrystalBatch`.

Every periodic image within the cutoff is found, for any cell: cells smaller than the
cutoff and strongly skewed cells included. The number of images searched along lattice
vector ``a_k`` is ``ceil(cutoff / d_k)``, where ``d_k`` is the spacing of the lattice
planes spanned by the other two vectors; with positions wrapped into the cell this
bound is exact (the reference CHGGen code searches only the 27 nearest images, which
misses neighbours in small or skewed cells).

The search itself is vectorised torch, so it runs on whatever device the batch lives on.
Crystals that need the same image range are searched together as one padded
(crystals x atoms x atoms x images) block, so a batch of similar cells costs a handful of
tensor operations rather than a Python loop over crystals (measured on an H200: 64
crystals of 20 atoms in 6 ms instead of 40 ms; 512 crystals in 13 ms instead of 300 ms).
"""

from __future__ import annotations

import dataclasses

import torch

from chggen_kernels.crystal import CrystalBatch

__all__ = ["NeighborList", "edge_vectors", "neighbor_list", "sorted_and_capped"]

# Pairs x images processed at once per chunk, to bound memory for large/skewed cells.
_CHUNK_ELEMENTS = 4_000_000


@dataclasses.dataclass(frozen=True, eq=False)
class NeighborList:
    """Directed edges ``center -> neighbor`` with integer cell shifts.

    ``edge_index[0]`` holds the centre atom ``i``, ``edge_index[1]`` the neighbour ``j``;
    the edge vector is ``r_j + shifts @ L - r_i`` (Å). Edges are sorted by centre atom and,
    within a centre, by distance.
    """

    edge_index: torch.Tensor  # (2, n_edges) int64
    shifts: torch.Tensor  # (n_edges, 3) integer-valued, in the positions' float dtype
    cutoff: float

    @property
    def n_edges(self) -> int:
        return int(self.edge_index.shape[1])


def edge_vectors(batch: CrystalBatch, nl: NeighborList) -> torch.Tensor:
    """Edge vectors ``r_j + n @ L - r_i`` in Å, differentiable w.r.t. positions and lattices."""
    i, j = nl.edge_index
    cell_shift = torch.einsum("ei,eij->ej", nl.shifts, batch.lattices[batch.crystal_index[i]])
    return batch.positions[j] + cell_shift - batch.positions[i]


def _image_ranges(lattices: torch.Tensor, cutoff: float) -> list[tuple[int, int, int]]:
    """Images needed along each lattice vector of every crystal:
    ceil(cutoff / interplanar spacing)."""
    recip = torch.linalg.inv(lattices).transpose(1, 2)  # rows b_k with a_i . b_k = delta_ik
    spacing = 1.0 / torch.linalg.norm(recip, dim=2)  # (n_crystals, 3)
    ranges = torch.ceil(cutoff / spacing - 1e-12).long().cpu().tolist()
    return [tuple(r) for r in ranges]


@torch.no_grad()
def neighbor_list(
    batch: CrystalBatch,
    cutoff: float,
    max_neighbors: int | None = None,
    self_interaction: bool = False,
) -> NeighborList:
    """All pairs closer than ``cutoff`` (Å) including every periodic image.

    Parameters
    ----------
    batch
        Crystals; positions need not be wrapped (they are wrapped internally for the
        search, and the returned shifts refer to the unwrapped positions).
    cutoff
        Radial cutoff in Å (pairs with distance < cutoff are kept).
    max_neighbors
        Optional cap per centre atom; the nearest neighbours are kept.
    self_interaction
        Keep the zero-distance pair ``(i, i, shift 0)`` (never useful for message passing).
    """
    if not cutoff > 0:
        raise ValueError(f"cutoff must be positive, got {cutoff}")
    if max_neighbors is not None and max_neighbors < 1:
        raise ValueError(f"max_neighbors must be >= 1 or None, got {max_neighbors}")
    device, dtype = batch.device, batch.dtype
    frac = batch.frac_positions()
    wrap_shift = torch.floor(frac)  # positions = cart(frac_wrapped + wrap_shift)
    wrapped = batch.cartesian(frac - wrap_shift)
    counts_list = batch.atoms_per_crystal.tolist()
    # Crystals needing the same image range are searched together (padded to the
    # largest of them); blocks are chunked over crystals, then images, to bound memory.
    groups: dict[tuple[int, int, int], list[int]] = {}
    for c, key in enumerate(_image_ranges(batch.lattices, cutoff)):
        if counts_list[c]:
            groups.setdefault(key, []).append(c)
    found = [_search_group(batch, wrapped, key, members, counts_list, cutoff, self_interaction)
             for key, members in groups.items()]
    parts = [p for group in found for p in group]
    if parts:
        center, neighbor, shift, dist = (torch.cat(x) for x in zip(*parts, strict=True))
    else:
        center = neighbor = torch.zeros(0, dtype=torch.long, device=device)
        shift = torch.zeros(0, 3, dtype=dtype, device=device)
        dist = torch.zeros(0, dtype=dtype, device=device)
    # Convert shifts from wrapped to given positions: r_j,w = r_j - w_j @ L.
    shift = shift + wrap_shift[center] - wrap_shift[neighbor]
    center, neighbor, shift = sorted_and_capped(center, neighbor, shift, dist, batch.n_atoms,
                                                 max_neighbors)
    return NeighborList(
        edge_index=torch.stack([center, neighbor]), shifts=shift, cutoff=float(cutoff)
    )


def _search_group(batch: CrystalBatch, wrapped: torch.Tensor, key: tuple[int, int, int],
                  members: list[int], counts_list: list[int], cutoff: float,
                  self_interaction: bool) -> list[tuple[torch.Tensor, ...]]:
    """(centre, neighbour, image shift, distance) blocks of the crystals ``members`` that
    need the image range ``key``, padded to the largest of them and chunked over crystals,
    then images, to bound memory."""
    device, dtype = batch.device, batch.dtype
    counts, offsets = batch.atoms_per_crystal, batch.offsets
    axes = [torch.arange(-k, k + 1, device=device, dtype=dtype) for k in key]
    images = torch.cartesian_prod(*axes).reshape(-1, 3)  # (n_img, 3)
    n_max = max(counts_list[c] for c in members)
    crystal_step = max(1, _CHUNK_ELEMENTS // (n_max * n_max * images.shape[0]))
    image_step = max(1, _CHUNK_ELEMENTS // (min(crystal_step, len(members)) * n_max * n_max))
    slot = torch.arange(n_max, device=device)
    out = []
    for s in range(0, len(members), crystal_step):
        crystals = torch.tensor(members[s : s + crystal_step], device=device)
        valid = slot[None, :] < counts[crystals][:, None]  # (g, n_max)
        pair_valid = valid[:, :, None] & valid[:, None, :]
        atom = (offsets[crystals][:, None] + slot[None, :]).clamp(max=batch.n_atoms - 1)
        pos = wrapped[atom]  # (g, n_max, 3), padding rows repeat a real atom
        diff = pos[:, None, :, :] - pos[:, :, None, :]  # (g, i, j, 3): r_j - r_i
        for k0 in range(0, images.shape[0], image_step):
            img = images[k0 : k0 + image_step]
            img_cart = torch.einsum("kd,gde->gke", img, batch.lattices[crystals])
            vec = diff[:, :, :, None, :] + img_cart[:, None, None, :, :]  # (g, i, j, k, 3)
            d2 = (vec * vec).sum(-1)
            keep = (d2 < cutoff * cutoff) & pair_valid[..., None]
            if not self_interaction:
                keep &= d2 > 1e-16
            gg, ii, jj, kk = torch.nonzero(keep, as_tuple=True)
            out.append((atom[gg, ii], atom[gg, jj], img[kk], d2[gg, ii, jj, kk].sqrt()))
    return out


def sorted_and_capped(center: torch.Tensor, neighbor: torch.Tensor, shift: torch.Tensor,
                       dist: torch.Tensor, n_atoms: int, max_neighbors: int | None
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Edges sorted by centre, then distance, then neighbour index (a deterministic
    tie-break for the cap that does not depend on how the search was chunked), keeping at
    most ``max_neighbors`` per centre."""
    order = torch.argsort(neighbor, stable=True)
    order = order[torch.argsort(dist[order], stable=True)]
    order = order[torch.argsort(center[order], stable=True)]
    center, neighbor, shift, dist = center[order], neighbor[order], shift[order], dist[order]
    if max_neighbors is not None and center.numel():
        counts = torch.bincount(center, minlength=n_atoms)
        first = torch.cumsum(counts, 0) - counts
        rank = torch.arange(center.numel(), device=center.device) - first[center]
        keep = rank < max_neighbors
        center, neighbor, shift = center[keep], neighbor[keep], shift[keep]
    return center, neighbor, shift
