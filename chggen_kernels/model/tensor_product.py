"""A lean ``uvu`` tensor product fused with the sum over neighbours.

For every edge ``e = (i <- j)`` and every path ``(l1 x l2 -> l3)``

``m_i[u, k] += w_e[path, u] * sum_{a, b} C[a, b, k] h_j[u, a] Y_e[b]``

with ``C = sqrt(2 l3 + 1) * wigner_3j(l1, l2, l3)``: numerically the same as
``e3nn.o3.TensorProduct(..., "uvu", irrep_normalization="component",
path_normalization="element")`` followed by a scatter-sum (checked in the tests), but
organised so that the per-edge message tensor ``(n_edges, mul, K)`` is never stored.
Edges sit in dense neighbour slots (:class:`~chggen_kernels.model.slots.NeighborSlots`),
and per *input* irrep:

1. ``M_e = Y_e . C`` contracts the spherical harmonics with the Clebsch-Gordan
   coefficients of all paths of that input (``(n_slots, dim_in, K)``, small);
2. the weighted neighbour features ``(w_e[p, u] h_j[u, a])`` of every path are formed
   (``(n_slots, dim_in, P * mul)``);
3. one batched matrix product per centre, ``M^T (K x width*dim_in) @ xw (width*dim_in x
   P*mul)``, sums over the neighbours and the input components at once; the diagonal
   ``(path, path)`` blocks are the messages.

The off-diagonal blocks cost ``P`` times the multiply-adds of the messages (cheap inside
a matrix product) and save the memory traffic of the per-edge tensors, which bounds the
speed on CPU (``docs/performance.md``). The output uses e3nn's layout of ``irreps_out``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from e3nn import o3
from torch import nn

from chggen_kernels.model.slots import NeighborSlots

__all__ = ["UVUConvolution"]

_LEGACY_BUFFERS = ("_weight_of_uk_", "_weight_of_pu_", "_path_of_k_")


class UVUConvolution(nn.Module):
    """Sum over edges of a weighted ``uvu`` tensor product (see module docstring).

    Parameters
    ----------
    irreps_in
        Node feature irreps (input 1).
    irreps_sh
        Edge spherical-harmonic irreps (input 2, multiplicity 1 each).
    allowed_out
        Output irreps to keep; every product of an input irrep and an edge irrep that
        lies in this set is one path.

    Attributes
    ----------
    irreps_out
        One ``(mul_in, ir_out)`` entry per path, in path order (not sorted).
    instructions
        ``(i_in, i_sh, i_out)`` per path, the same order as the weights.
    weight_numel
        Per-edge weights needed: ``sum of mul_in`` over paths.
    """

    def __init__(
        self, irreps_in: o3.Irreps, irreps_sh: o3.Irreps, allowed_out: set[o3.Irrep]
    ) -> None:
        super().__init__()
        self.irreps_in = o3.Irreps(irreps_in)
        self.irreps_sh = o3.Irreps(irreps_sh)
        if any(mul != 1 for mul, _ in self.irreps_sh):
            raise ValueError(f"edge irreps must have multiplicity 1, got {self.irreps_sh}")
        sh_slices = self.irreps_sh.slices()

        irreps_out: list[tuple[int, o3.Irrep]] = []
        self.instructions: list[tuple[int, int, int]] = []
        # Per input block: (input slice, mul, dim_in, K, [(k_start, k_stop, weight_start)])
        self._blocks: list[tuple[slice, int, int, int, list[tuple[int, int, int]]]] = []
        # Clebsch-Gordan blocks are kept in float64 outside the module's buffers (so that
        # .float() / .double() round trips cannot round them) and cast per dtype/device.
        self._cg_float64: list[torch.Tensor] = []
        self._cg_cache: dict[tuple[torch.dtype, torch.device], list[torch.Tensor]] = {}
        out_cols: list = []  # (u, k, dim, e3nn output columns) of each path
        out_offset = 0
        weight_offset = 0
        for i_in, ((mul, ir_in), in_slice) in enumerate(
            zip(self.irreps_in, self.irreps_in.slices(), strict=True)
        ):
            paths: list[tuple[int, int, int]] = []
            coeffs: list[torch.Tensor] = []
            k = 0
            for i_sh, ((_, ir_sh), sh_slice) in enumerate(
                zip(self.irreps_sh, sh_slices, strict=True)
            ):
                for ir_out in ir_in * ir_sh:
                    if ir_out not in allowed_out:
                        continue
                    self.instructions.append((i_in, i_sh, len(irreps_out)))
                    irreps_out.append((mul, ir_out))
                    # (dim_sh_total, dim_in, dim_out) block of the contraction tensor
                    c = torch.zeros(self.irreps_sh.dim, ir_in.dim, ir_out.dim, dtype=torch.float64)
                    w3j = o3.wigner_3j(ir_in.l, ir_sh.l, ir_out.l, dtype=torch.float64)
                    c[sh_slice] = math.sqrt(ir_out.dim) * w3j.permute(1, 0, 2)
                    coeffs.append(c)
                    paths.append((k, k + ir_out.dim, weight_offset))
                    # our layout (u, k) -> e3nn layout (path block, u, m)
                    u = torch.arange(mul)[:, None]
                    m = torch.arange(ir_out.dim)[None, :]
                    out_cols.append((u, k, ir_out.dim, out_offset + u * ir_out.dim + m))
                    out_offset += mul * ir_out.dim
                    weight_offset += mul
                    k += ir_out.dim
            if not paths:
                continue
            contraction = torch.cat(coeffs, dim=2)  # (dim_sh, dim_in, K)
            self._cg_float64.append(contraction.reshape(self.irreps_sh.dim, ir_in.dim * k))
            self._blocks.append((in_slice, mul, ir_in.dim, k, paths))
        self.irreps_out = o3.Irreps(irreps_out)
        self.weight_numel = weight_offset
        self._register_layout(out_cols)

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any,
                              **kwargs: Any) -> None:
        """Drop the index tables of the earlier edge-list kernel (``_weight_of_uk_*``,
        ``_weight_of_pu_*``, ``_path_of_k_*``; derived from the irreps, no parameters) that
        checkpoints written before neighbour slots still hold."""
        for key in [k for k in state_dict if k.startswith(prefix) and k[len(prefix):]
                    .startswith(_LEGACY_BUFFERS)]:
            del state_dict[key]
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _register_layout(self, out_cols: list) -> None:
        """Column permutation from our concatenated (block, u, k) layout to e3nn's layout."""
        ours_to_e3nn = torch.empty(self.irreps_out.dim, dtype=torch.long)
        block_start = 0
        path_iter = iter(out_cols)
        for _, mul, _, k_total, paths in self._blocks:
            for _ in paths:
                u, k_start, dim, e3nn_col = next(path_iter)
                ours = block_start + u * k_total + k_start + torch.arange(dim)[None, :]
                ours_to_e3nn[e3nn_col.flatten()] = ours.flatten()
            block_start += mul * k_total
        self.register_buffer("_to_e3nn_layout", ours_to_e3nn)

    def _clebsch_gordan(self, dtype: torch.dtype, device: torch.device) -> list[torch.Tensor]:
        key = (dtype, device)
        if key not in self._cg_cache:
            self._cg_cache[key] = [c.to(device=device, dtype=dtype) for c in self._cg_float64]
        return self._cg_cache[key]

    def forward(
        self,
        node_features: torch.Tensor,
        slot_sh: torch.Tensor,
        slot_weights: torch.Tensor,
        slots: NeighborSlots,
    ) -> torch.Tensor:
        """Messages summed onto the centre atoms.

        Parameters
        ----------
        node_features
            ``(n_atoms, irreps_in.dim)``.
        slot_sh
            ``(n_slots, irreps_sh.dim)``: edge spherical harmonics on the slots.
        slot_weights
            ``(n_slots, weight_numel)``, path-major (``mul_in`` weights per path); zero in
            the padding slots (:meth:`NeighborSlots.scatter` of the per-edge weights, or
            weights computed from scattered, zero-padded edge features).
        slots
            The neighbour slots (centre ``i`` receives from neighbour ``j``).

        Returns
        -------
        torch.Tensor
            ``(n_atoms, irreps_out.dim)`` in e3nn's layout of :attr:`irreps_out`.
        """
        n_atoms, width = slots.n_atoms, slots.width
        cgs = self._clebsch_gordan(node_features.dtype, node_features.device)
        summed = []
        for b, (in_slice, mul, dim_in, k_total, paths) in enumerate(self._blocks):
            n_paths = len(paths)
            w_start = paths[0][2]
            # neighbour features as contiguous (dim_in, mul) rows: the inner loops below
            # then run over contiguous multiplicities (reorder the small node table first)
            table = node_features[:, in_slice].view(n_atoms, mul, dim_in).transpose(1, 2)
            x = table.reshape(n_atoms, dim_in * mul).index_select(0, slots.neighbor)
            x = x.view(-1, dim_in, mul)
            w = slot_weights[:, w_start : w_start + n_paths * mul].unflatten(1, (n_paths, mul))
            if torch.is_grad_enabled() and (x.requires_grad or w.requires_grad):
                xw = (x[:, :, None, :] * w[:, None, :, :]).reshape(-1, dim_in, n_paths, mul)
            else:  # sampling: written once, straight into the layout of the product
                xw = x.new_empty(x.shape[0], dim_in, n_paths, mul)
                torch.mul(x[:, :, None, :], w[:, None, :, :], out=xw)
            contraction = (slot_sh @ cgs[b]).view(n_atoms, width * dim_in, k_total)
            products = torch.bmm(contraction.transpose(1, 2),
                                 xw.view(n_atoms, width * dim_in, n_paths * mul))
            blocks = [products[:, k0:k1, p * mul : (p + 1) * mul]
                      for p, (k0, k1, _) in enumerate(paths)]
            summed.append(torch.cat(blocks, dim=1).transpose(1, 2).reshape(n_atoms, -1))
        result = torch.cat(summed, dim=1)
        return result[:, self._to_e3nn_layout]
