"""Equivariant linear layer with a one-matrix path for inference.

e3nn's :class:`~e3nn.o3.Linear` applies one weight block per pair of equal irreps, with a
reshape, an einsum and a concatenation per block: a dozen small operations per call, whose
fixed cost dominates the score model's forward at the batch sizes of a sampler (a few
crystals of 5-20 atoms). The map is linear, so while no gradient is wanted it equals ONE
matrix product with the dense ``(irreps_in.dim, irreps_out.dim)`` matrix that the layer
itself computes from the identity (plus its output at zero, the bias). That matrix is
built once per set of weights and kept until the weights change (an optimiser step or
``load_state_dict`` bumps the parameter's version; a change through ``weight.data`` does
not, and is not seen). Parameters created inside ``torch.inference_mode`` have no version,
so such a layer always runs e3nn's forward.

Training and anything else that needs gradients run e3nn's own forward; the parameters,
their names and the state dict are e3nn's, so checkpoints are unchanged.
"""

from __future__ import annotations

import torch
from e3nn import o3

__all__ = ["EquivariantLinear"]


class EquivariantLinear(o3.Linear):
    """:class:`e3nn.o3.Linear` (no einsum path optimisation) whose forward, when gradients
    are off (``torch.no_grad`` / ``torch.inference_mode``), is ``x @ W + b`` with the
    layer's own dense matrix ``W`` and bias ``b`` (same values to float rounding).

    Parameters
    ----------
    irreps_in, irreps_out
        Input and output irreps (as for :class:`e3nn.o3.Linear`).
    """

    def __init__(self, irreps_in: o3.Irreps | str, irreps_out: o3.Irreps | str) -> None:
        super().__init__(irreps_in, irreps_out, _optimize_einsums=False)
        self._dense: tuple[tuple, torch.Tensor, torch.Tensor | None] | None = None

    def _dense_key(self, like: torch.Tensor) -> tuple:
        params = [p for p in (getattr(self, "weight", None), getattr(self, "bias", None))
                  if isinstance(p, torch.Tensor)]
        return (like.dtype, like.device, *((p.data_ptr(), p._version) for p in params))

    def dense_matrix(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(W, b)``: the layer as ``x @ W + b`` in the dtype and on the device of ``like``
        (``b`` is ``None`` for a layer without biases, whose output at zero is zero)."""
        key = self._dense_key(like)
        if self._dense is None or self._dense[0] != key:
            dim_in = self.irreps_in.dim
            with torch.no_grad():
                zero = super().forward(like.new_zeros(1, dim_in))
                matrix = super().forward(torch.eye(dim_in, dtype=like.dtype,
                                                   device=like.device)) - zero
            bias = zero[0] if bool(zero.abs().max() > 0) else None
            self._dense = (key, matrix, bias)
        return self._dense[1], self._dense[2]

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``features``: ``(..., irreps_in.dim)`` -> ``(..., irreps_out.dim)``."""
        if (torch.is_grad_enabled() or self.irreps_in.dim == 0 or self.irreps_out.dim == 0
                or self.weight.is_inference()):  # inference tensors have no version
            return super().forward(features)
        matrix, bias = self.dense_matrix(features)
        flat = features.reshape(-1, self.irreps_in.dim)
        out = flat @ matrix if bias is None else torch.addmm(bias, flat, matrix)
        return out.reshape(*features.shape[:-1], self.irreps_out.dim)

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state = dict(state)
        state["_dense"] = None  # derived from the weights: rebuilt on first use
        return state
