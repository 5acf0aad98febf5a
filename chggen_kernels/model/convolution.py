"""Gated equivariant point convolution (one interaction layer of the score network)."""

from __future__ import annotations

import torch
from e3nn import o3
from torch import nn

from chggen_kernels.model.linear import EquivariantLinear
from chggen_kernels.model.radial import RadialMLP, normalized_activation
from chggen_kernels.model.slots import NeighborSlots
from chggen_kernels.model.tensor_product import UVUConvolution

__all__ = ["Gate", "InteractionBlock", "equivariant_linear"]


class Gate(nn.Module):
    """Gated nonlinearity whose output irreps equal ``irreps`` (sorted, simplified).

    Input layout: the scalars of ``irreps`` (``0e`` / ``0o`` blocks), then one ``0e`` gate
    per ``l > 0`` irrep, then the ``l > 0`` irreps (:attr:`irreps_in`). Even scalars pass
    through SiLU, odd scalars through tanh (odd function: parity kept); every ``l > 0``
    irrep is multiplied by the sigmoid of its own gate. All activations are rescaled to
    unit second moment on unit Gaussian input (as e3nn's ``normalize2mom``).
    """

    def __init__(self, irreps: o3.Irreps) -> None:
        super().__init__()
        self.irreps_out = o3.Irreps(irreps)
        scalars = o3.Irreps([(mul, ir) for mul, ir in self.irreps_out if ir.l == 0])
        gated = o3.Irreps([(mul, ir) for mul, ir in self.irreps_out if ir.l > 0])
        if self.irreps_out != scalars + gated:
            raise ValueError(f"irreps must be sorted with scalars first, got {self.irreps_out}")
        self.n_gates = gated.num_irreps
        self.irreps_in = scalars + o3.Irreps(f"{self.n_gates}x0e") + gated
        self.scalar_blocks = [(sl.start, sl.stop, ir.p) for (_, ir), sl in
                              zip(scalars, scalars.slices(), strict=True)]
        self.scalar_dim = scalars.dim
        # Gate index of every component of the gated block: irrep k spans ir.dim columns.
        gate_of_column = torch.cat(
            [torch.arange(mul).repeat_interleave(ir.dim) + sum(m for m, _ in gated[:k])
             for k, (mul, ir) in enumerate(gated)]
        ) if len(gated) else torch.zeros(0, dtype=torch.long)
        self.register_buffer("gate_of_column", gate_of_column)
        self.even = normalized_activation("silu")
        self.odd = normalized_activation("tanh")
        self.gate = normalized_activation("sigmoid")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: (n, irreps_in.dim) -> (n, irreps_out.dim)."""
        parts = [
            (self.even if parity == 1 else self.odd)(x[:, start:stop])
            for start, stop, parity in self.scalar_blocks
        ]
        if self.n_gates:
            gates = self.gate(x[:, self.scalar_dim : self.scalar_dim + self.n_gates])
            gated = x[:, self.scalar_dim + self.n_gates :]
            parts.append(gated * gates[:, self.gate_of_column])
        return torch.cat(parts, dim=1)


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
        self.gate = Gate(irreps_node)

        self.pre_linear = equivariant_linear(irreps_node, irreps_node)
        self.convolution = UVUConvolution(irreps_node, irreps_sh, {ir for _, ir in irreps_node})
        self.irreps_mid = self.convolution.irreps_out
        self.radial_mlp = RadialMLP([n_radial, *radial_hidden, self.convolution.weight_numel])
        self.post_linear = equivariant_linear(self.irreps_mid, self.gate.irreps_in)
        self.self_interaction = equivariant_linear(irreps_node, self.gate.irreps_in)
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
        slot_sh: torch.Tensor,
        slot_radial: torch.Tensor,
        slots: NeighborSlots,
        atom_noise: torch.Tensor | None,
    ) -> torch.Tensor:
        """One layer.

        Parameters
        ----------
        x
            Node features ``(n_atoms, irreps_node.dim)``.
        slot_sh
            Spherical harmonics of the unit edge vectors on the neighbour slots
            ``(n_slots, irreps_sh.dim)``.
        slot_radial
            Radial features on the slots ``(n_slots, n_radial)`` (zero at and beyond the
            cutoff and in the padding slots, so the bias-free radial MLP gives them zero
            weights).
        slots
            The neighbour slots: centre ``i`` receives a message from neighbour ``j``.
        atom_noise
            Noise embedding of each atom's crystal ``(n_atoms, noise_dim)`` or ``None``.
        """
        h = x
        if self.noise_to_scalars is not None:
            if atom_noise is None:
                raise ValueError("this interaction block expects a noise embedding")
            h = h.index_add(1, self.scalar_columns, self.noise_to_scalars(atom_noise))
        h = self.pre_linear(h)
        weights = self.radial_mlp(slot_radial)
        summed = self.convolution(h, slot_sh, weights, slots)
        y = self.post_linear(summed / self.message_normalization) + self.self_interaction(h)
        return x + self.residual_scale * self.gate(y)


def equivariant_linear(irreps_in: o3.Irreps, irreps_out: o3.Irreps) -> EquivariantLinear:
    """Equivariant linear map (e3nn's, without the slow einsum path optimisation; one
    dense matrix product when no gradient is wanted)."""
    return EquivariantLinear(irreps_in, irreps_out)
