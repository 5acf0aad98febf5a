"""The score network: a NequIP-style gated equivariant graph network on periodic crystals."""

from __future__ import annotations

import torch
from e3nn import o3
from torch import nn

from chggen_kernels.crystal import CrystalBatch
from chggen_kernels.model.config import ScoreModelConfig
from chggen_kernels.model.convolution import InteractionBlock, equivariant_linear
from chggen_kernels.model.embedding import NoiseLevelEmbedding, SpeciesEmbedding
from chggen_kernels.model.radial import RadialEmbedding
from chggen_kernels.model.slots import NeighborSlots
from chggen_kernels.neighbors import NeighborList, edge_vectors, neighbor_list

__all__ = ["ScoreModel", "count_parameters"]

# Edge vectors shorter than this (Å) get an arbitrary but finite direction.
_MIN_DIRECTION_LENGTH = 1e-9


def count_parameters(module: nn.Module) -> int:
    """Number of trainable scalar parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


class ScoreModel(nn.Module):
    """SE(3)- (in fact E(3)-) equivariant score network ``s(x; sigma)`` in Å^-1.

    A model is a score function (``docs/architecture.md``): ``model(batch, sigma)``
    returns one Cartesian vector per atom. Pipeline:

    1. periodic graph: every image within ``config.cutoff`` (Å), optionally capped at the
       ``config.max_neighbors`` nearest (:func:`~chggen_kernels.neighbors.neighbor_list`);
    2. edges: spherical harmonics (l <= lmax, 'component' normalisation) of the unit edge
       vectors and a Bessel basis times a polynomial envelope of their lengths, laid out
       on dense neighbour slots (:class:`~chggen_kernels.model.slots.NeighborSlots`);
    3. nodes: species embedding (plus, with ``noise_conditioning="log_sigma"``, a learned
       projection of the noise embedding) -> linear map onto the hidden irreps;
    4. ``n_layers`` :class:`InteractionBlock` layers (gated ``uvu`` convolution with a
       zero-initialised residual scale);
    5. linear map to one ``1o`` vector per atom, divided by ``sigma`` of its crystal.

    Noise conditioning: with ``"log_sigma"`` the network sees ``log(sigma)`` through
    :class:`NoiseLevelEmbedding`, added to the species embedding and, per layer, to the
    ``0e`` channels before the convolution. With ``"none"`` (the reference) it sees no
    sigma. In both modes the raw output ``F`` is divided by sigma, ``score = F / sigma``,
    so the network predicts ``sigma * score``, which is O(1) (its DSM target is
    ``(x0 - x) / sigma``, a unit Gaussian) at every noise level.

    At initialisation every residual scale is zero, so the output is exactly zero until
    training moves them (tests perturb the parameters first).
    """

    def __init__(self, config: ScoreModelConfig) -> None:
        super().__init__()
        if not isinstance(config, ScoreModelConfig):
            raise TypeError(f"config must be a ScoreModelConfig, got {type(config).__name__}")
        self.config = config
        self.irreps_hidden = o3.Irreps(config.hidden_irreps).sort().irreps.simplify()
        self.irreps_sh = o3.Irreps.spherical_harmonics(config.lmax)

        conditioned = config.noise_conditioning == "log_sigma"
        noise_dim = config.noise_embedding_dim if conditioned else None
        self.species_embedding = SpeciesEmbedding(
            config.max_atomic_number, config.species_embedding_dim
        )
        self.noise_embedding = (
            NoiseLevelEmbedding(config.noise_embedding_dim) if conditioned else None
        )
        self.noise_to_species = (
            nn.Linear(config.noise_embedding_dim, config.species_embedding_dim)
            if conditioned
            else None
        )
        self.node_embedding = equivariant_linear(
            o3.Irreps(f"{config.species_embedding_dim}x0e"), self.irreps_hidden
        )
        self.spherical_harmonics = o3.SphericalHarmonics(
            self.irreps_sh, normalize=False, normalization="component"
        )
        self.radial_embedding = RadialEmbedding(
            config.cutoff, config.n_radial_basis, config.envelope_exponent
        )
        self.layers = nn.ModuleList(
            InteractionBlock(
                irreps_node=self.irreps_hidden,
                irreps_sh=self.irreps_sh,
                n_radial=config.n_radial_basis,
                radial_hidden=config.radial_hidden,
                message_normalization=config.message_normalization,
                noise_dim=noise_dim,
            )
            for _ in range(config.n_layers)
        )
        self.output = equivariant_linear(self.irreps_hidden, o3.Irreps("1x1o"))

    # ------------------------------------------------------------------ info
    @property
    def n_parameters(self) -> int:
        """Number of trainable parameters."""
        return count_parameters(self)

    def describe(self) -> str:
        """One-paragraph summary: sizes and parameter count."""
        c = self.config
        return (
            f"ScoreModel: {c.n_layers} layers of {self.irreps_hidden}, edge SH {self.irreps_sh}, "
            f"cutoff {c.cutoff} Å, max_neighbors {c.max_neighbors}, "
            f"{c.n_radial_basis} Bessel functions, radial MLP {list(c.radial_hidden)}, "
            f"noise conditioning '{c.noise_conditioning}', {self.n_parameters:,} parameters"
        )

    # ------------------------------------------------------------------ forward
    def forward(self, batch: CrystalBatch, sigma: torch.Tensor,
                neighbors: NeighborList | None = None) -> torch.Tensor:
        """Score of every atom, Å^-1.

        Parameters
        ----------
        batch
            Crystals with the current (noisy) Cartesian positions, Å.
        sigma
            Noise level per crystal, shape ``(n_crystals,)`` (a 0-d tensor is broadcast), Å.
        neighbors
            The neighbour list of ``batch`` at ``config.cutoff`` with at most
            ``config.max_neighbors`` per atom, when the caller has it (a
            :class:`~chggen_kernels.verlet.VerletNeighbors` of a trajectory); searched here
            otherwise.

        Returns
        -------
        torch.Tensor
            ``(n_atoms, 3)`` score in Å^-1, in the dtype and on the device of the positions.
        """
        model_dtype = self.output.weight.dtype
        if batch.dtype != model_dtype:
            raise ValueError(
                f"batch positions are {batch.dtype} but the model parameters are {model_dtype}; "
                "convert one of them (batch.to(dtype=...) or model.to(...))"
            )
        sigma = self._check_sigma(batch, sigma)
        cfg = self.config
        nl = neighbors if neighbors is not None else neighbor_list(batch, cfg.cutoff,
                                                                   cfg.max_neighbors)
        vectors = edge_vectors(batch, nl)
        lengths = torch.linalg.vector_norm(vectors, dim=1)
        directions = vectors / lengths.clamp_min(_MIN_DIRECTION_LENGTH)[:, None]
        slots = NeighborSlots.from_edge_index(nl.edge_index, batch.n_atoms)
        slot_sh = slots.scatter(self.spherical_harmonics(directions))
        slot_radial = slots.scatter(self.radial_embedding(lengths))

        node = self.species_embedding(batch.atomic_numbers)
        atom_noise = None
        if self.noise_embedding is not None:
            atom_noise = self.noise_embedding(sigma)[batch.crystal_index]
            node = node + self.noise_to_species(atom_noise)
        x = self.node_embedding(node)
        for layer in self.layers:
            x = layer(x, slot_sh, slot_radial, slots, atom_noise)
        return self.output(x) / sigma[batch.crystal_index, None]

    @staticmethod
    def _check_sigma(batch: CrystalBatch, sigma: torch.Tensor) -> torch.Tensor:
        sigma = torch.as_tensor(sigma, dtype=batch.dtype, device=batch.device)
        if sigma.ndim == 0:
            sigma = sigma.expand(batch.n_crystals)
        if sigma.shape != (batch.n_crystals,):
            raise ValueError(
                f"sigma must have shape (n_crystals,) = ({batch.n_crystals},), "
                f"got {tuple(sigma.shape)}"
            )
        if not bool(torch.isfinite(sigma).all() and (sigma > 0).all()):
            raise ValueError(f"sigma must be positive and finite (Å), got {sigma.tolist()}")
        return sigma
