"""Gated equivariant point convolution (one interaction layer of the score network)."""

from __future__ import annotations

import torch
from e3nn import nn as e3nn_nn
from e3nn import o3
from torch import nn

from chggen_kernels.model.tensor_product import UVUConvolution

__all__ = ["InteractionBlock", "gate_for"]


def gate_for(irreps: o3.Irreps) -> e3nn_nn.Gate:
    """An e3nn ``Gate`` whose output irreps are ``irreps`` (sorted and simplified).

    Even scalars pass through SiLU, odd scalars through tanh (odd function, so parity is
    kept); every ``l > 0`` irrep is multiplied by the sigmoid of its own ``0e`` gate scalar.
    """
    scalars = o3.Irreps([(mul, ir) for mul, ir in irreps if ir.l == 0])
    gated = o3.Irreps([(mul, ir) for mul, ir in irreps if ir.l > 0])
    acts = [torch.nn.functional.silu if ir.p == 1 else torch.tanh for _, ir in scalars]
    gates = o3.Irreps(f"{gated.num_irreps}x0e") if gated.num_irreps else o3.Irreps("")
    gate = e3nn_nn.Gate(scalars, acts, gates, [torch.sigmoid] * len(gates), gated)
    if gate.irreps_out != irreps:
        raise ValueError(f"gate output {gate.irreps_out} differs from the node irreps {irreps}")
    return gate


class InteractionBlock(nn.Module):
    """One message-passing layer on node features of fixed irreps.

    ``h = x (+ noise embedding on the 0e channels)``, then
    ``m_i = sum_{j in N(i)} TP_uvu(W h_j, Y(r_ij); R(|r_ij|)) / sqrt(avg_num_neighbors)``,
    ``y_i = Gate(Linear(m_i) + Linear_self(h_i))`` and the output
    ``x_i + alpha * y_i`` with a learned residual scale ``alpha`` initialised to zero.
    ``Y`` are the edge spherical harmonics, ``R`` a SiLU MLP of the radial features whose
    outputs are the per-edge weights of the ``uvu`` tensor product.

    Parameters
    ----------
    irreps_node
        Node feature irreps (sorted, simplified); input and output of the block.
    irreps_sh
        Irreps of the edge spherical harmonics.
    n_radial
        Number of radial features per edge.
    radial_hidden
        Hidden sizes of the radial MLP.
    message_normalization
        Divisor of the summed messages.
    noise_dim
        Width of the noise embedding added to the scalar channels; ``None``: no noise input.
    """

    def __init__(
        self,
        *,
        irreps_node: o3.Irreps,
        irreps_sh: o3.Irreps,
        n_radial: int,
        radial_hidden: tuple[int, ...],
        message_normalization: float,
        noise_dim: int | None,
    ) -> None:
        super().__init__()
        self.irreps_node = irreps_node
        self.message_normalization = float(message_normalization)
        self.gate = gate_for(irreps_node)

        self.pre_linear = o3.Linear(irreps_node, irreps_node)
        self.convolution = UVUConvolution(irreps_node, irreps_sh, {ir for _, ir in irreps_node})
        self.irreps_mid = self.convolution.irreps_out
        self.radial_mlp = e3nn_nn.FullyConnectedNet(
            [n_radial, *radial_hidden, self.convolution.weight_numel],
            torch.nn.functional.silu,
        )
        self.post_linear = o3.Linear(self.irreps_mid, self.gate.irreps_in)
        self.self_interaction = o3.Linear(irreps_node, self.gate.irreps_in)
        self.residual_scale = nn.Parameter(torch.zeros(()))

        scalar_columns = [
            col
            for (mul, ir), sl in zip(irreps_node, irreps_node.slices(), strict=True)
            if ir == o3.Irrep("0e")
            for col in range(sl.start, sl.stop)
        ]
        self.register_buffer("scalar_columns", torch.tensor(scalar_columns, dtype=torch.long))
        self.noise_to_scalars = (
            nn.Linear(noise_dim, len(scalar_columns)) if noise_dim is not None else None
        )

    def forward(
        self,
        x: torch.Tensor,
        edge_sh: torch.Tensor,
        edge_radial: torch.Tensor,
        edge_index: torch.Tensor,
        atom_noise: torch.Tensor | None,
    ) -> torch.Tensor:
        """One layer.

        Parameters
        ----------
        x
            Node features ``(n_atoms, irreps_node.dim)``.
        edge_sh
            Spherical harmonics of the unit edge vectors ``(n_edges, irreps_sh.dim)``.
        edge_radial
            Radial features ``(n_edges, n_radial)`` (zero at and beyond the cutoff).
        edge_index
            ``(2, n_edges)``: centre ``i`` receives a message from neighbour ``j``.
        atom_noise
            Noise embedding of each atom's crystal ``(n_atoms, noise_dim)`` or ``None``.
        """
        h = x
        if self.noise_to_scalars is not None:
            if atom_noise is None:
                raise ValueError("this interaction block expects a noise embedding")
            h = h.index_add(1, self.scalar_columns, self.noise_to_scalars(atom_noise))
        h = self.pre_linear(h)
        weights = self.radial_mlp(edge_radial)
        summed = self.convolution(h, edge_sh, weights, edge_index)
        y = self.post_linear(summed / self.message_normalization) + self.self_interaction(h)
        return x + self.residual_scale * self.gate(y)
