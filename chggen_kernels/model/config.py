"""Settings of the equivariant score network (:class:`ScoreModelConfig`) and its presets.

Irreps use e3nn notation with *true parity*: a polar vector (a displacement, a score) is
``1o``. The reference CHGGen code writes its hidden irreps as ``64x0e+32x1e+16x2e`` and its
output as ``1x1e`` because it ignores parity (SE(3) only); our equivalents are
``64x0e+32x1o+16x2e`` and ``1x1o``, which makes the network equivariant under inversion as
well (correct: the energy of a crystal is inversion invariant, so its score is a polar
vector field).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, Literal

from e3nn import o3

from chggen_kernels.settings import check_int

__all__ = ["ScoreModelConfig", "cpu_default_config", "gpu_preset_config"]

NoiseConditioning = Literal["log_sigma", "none"]
_NOISE_MODES = ("log_sigma", "none")


@dataclasses.dataclass(frozen=True)
class ScoreModelConfig:
    """Hyper-parameters of :class:`~chggen_kernels.model.ScoreModel`.

    Defaults are the reference (GPU) sizes; :func:`cpu_default_config` is a small,
    fast variant.

    Attributes
    ----------
    cutoff
        Radial cutoff of the periodic graph, Å.
    max_neighbors
        Keep at most this many nearest neighbours per atom (``None``: every neighbour
        within the cutoff).
    n_layers
        Number of gated interaction blocks.
    hidden_irreps
        Node feature irreps (e3nn string); must contain ``0e`` scalars and ``1o`` vectors.
    lmax
        Highest degree of the edge spherical harmonics.
    n_radial_basis
        Number of Bessel functions expanding the edge length.
    radial_hidden
        Hidden layer sizes of the radial MLP (SiLU) mapping the basis to tensor-product
        weights.
    species_embedding_dim
        Width of the learned per-element embedding.
    max_atomic_number
        Largest atomic number the embedding accepts.
    envelope_exponent
        Exponent ``p`` of the polynomial cutoff envelope (smooth to order ``p``).
    avg_num_neighbors
        Messages are summed and divided by ``sqrt(avg_num_neighbors)``; ``None`` means
        ``max_neighbors / 2`` as in the reference (required when ``max_neighbors`` is None).
    noise_conditioning
        ``"log_sigma"``: the network receives an embedding of ``log(sigma / Å)``;
        ``"none"``: it does not (reference). Either way the score is the output / sigma.
    noise_embedding_dim
        Width of the noise-level embedding (``"log_sigma"`` only).
    """

    cutoff: float = 7.0
    max_neighbors: int | None = 60
    n_layers: int = 3
    hidden_irreps: str = "64x0e+32x1o+16x2e"
    lmax: int = 2
    n_radial_basis: int = 32
    radial_hidden: tuple[int, ...] = (32, 64)
    species_embedding_dim: int = 32
    max_atomic_number: int = 118
    envelope_exponent: int = 6
    avg_num_neighbors: float | None = None
    noise_conditioning: NoiseConditioning = "log_sigma"
    noise_embedding_dim: int = 32

    def __post_init__(self) -> None:
        if isinstance(self.radial_hidden, list):
            object.__setattr__(self, "radial_hidden", tuple(self.radial_hidden))
        _check_positive_number("cutoff", self.cutoff)
        if self.max_neighbors is not None:
            _check_positive_int("max_neighbors", self.max_neighbors)
        _check_positive_int("n_layers", self.n_layers)
        _check_positive_int("lmax", self.lmax)
        _check_positive_int("n_radial_basis", self.n_radial_basis)
        _check_positive_int("species_embedding_dim", self.species_embedding_dim)
        _check_positive_int("noise_embedding_dim", self.noise_embedding_dim)
        _check_positive_int("envelope_exponent", self.envelope_exponent, minimum=2)
        _check_positive_int("max_atomic_number", self.max_atomic_number)
        if self.max_atomic_number > 118:
            raise ValueError(
                f"ScoreModelConfig.max_atomic_number must be <= 118, got {self.max_atomic_number}"
            )
        if not isinstance(self.radial_hidden, tuple) or not all(
            isinstance(h, int) and not isinstance(h, bool) and h > 0 for h in self.radial_hidden
        ):
            raise ValueError(
                "ScoreModelConfig.radial_hidden must be a sequence of positive integers, "
                f"got {self.radial_hidden!r}"
            )
        if self.noise_conditioning not in _NOISE_MODES:
            raise ValueError(
                f"ScoreModelConfig.noise_conditioning must be one of {_NOISE_MODES}, "
                f"got {self.noise_conditioning!r}"
            )
        if self.avg_num_neighbors is not None:
            _check_positive_number("avg_num_neighbors", self.avg_num_neighbors)
        elif self.max_neighbors is None:
            raise ValueError(
                "ScoreModelConfig.avg_num_neighbors must be given when max_neighbors is None"
            )
        self._check_hidden_irreps()

    def _check_hidden_irreps(self) -> None:
        try:
            irreps = o3.Irreps(self.hidden_irreps)
        except (ValueError, AssertionError) as err:
            raise ValueError(
                f"ScoreModelConfig.hidden_irreps is not a valid e3nn irreps string: "
                f"{self.hidden_irreps!r} ({err})"
            ) from None
        present = {ir for _, ir in irreps}
        for needed, why in ((o3.Irrep("0e"), "scalar"), (o3.Irrep("1o"), "polar-vector")):
            if needed not in present:
                raise ValueError(
                    f"ScoreModelConfig.hidden_irreps must contain {needed} ({why}) channels, "
                    f"got {self.hidden_irreps!r}"
                )
        if irreps.lmax > self.lmax:
            raise ValueError(
                f"ScoreModelConfig.hidden_irreps has degree {irreps.lmax} above lmax="
                f"{self.lmax}: {self.hidden_irreps!r}"
            )

    # ------------------------------------------------------------------ derived values
    @property
    def message_normalization(self) -> float:
        """Divisor of the summed messages: ``sqrt(avg_num_neighbors)``."""
        avg = self.avg_num_neighbors
        if avg is None:
            avg = self.max_neighbors / 2  # type: ignore[operator]  # checked in __post_init__
        return math.sqrt(avg)

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (tuples become lists) for checkpoints."""
        out = dataclasses.asdict(self)
        out["radial_hidden"] = list(self.radial_hidden)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScoreModelConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error (they signal a mismatch)."""
        from chggen_kernels.settings import reject_unknown

        reject_unknown(data, [f.name for f in dataclasses.fields(cls)], "ScoreModelConfig")
        values = dict(data)
        if "radial_hidden" in values:
            values["radial_hidden"] = tuple(values["radial_hidden"])
        return cls(**values)


def cpu_default_config(**overrides: Any) -> ScoreModelConfig:
    """Small model for 2-core CPUs: 48,851 parameters.

    Cutoff 5 Å (about 28 neighbours per atom at 15-20 Å^3/atom), at most 16 neighbours
    (the nearest; messages divided by sqrt(16)), 3 layers of ``32x0e+16x1o+8x2e``, 8 Bessel
    functions, radial MLP [32]. ``overrides`` replace individual fields.

    The cap went from 32 to 16 with the same weights and normalisation, then training
    continued: 1.9-2.0x less forward time per atom (64 crystals x 20 atoms, one thread,
    ``benchmarks/bench_forward.py``) and a lower validation DSM loss in every sigma range
    (``MODEL_CARD.md``).

    With the earlier cap of 32, measured on an idle 16-core host with 2 torch threads,
    64 crystals x 20 atoms (36k edges): forward 0.2 s, forward + backward 0.66 s.
    Halving the widths (``16x0e+8x1o+4x2e``) with cutoff 4.5 Å and 24 neighbours gives
    0.13 s / 0.28 s (20k parameters); the reference widths at this cutoff 0.57 s / 1.5 s.
    """
    base = ScoreModelConfig(
        cutoff=5.0,
        max_neighbors=16,
        avg_num_neighbors=16.0,
        n_layers=3,
        hidden_irreps="32x0e+16x1o+8x2e",
        lmax=2,
        n_radial_basis=8,
        radial_hidden=(32,),
        species_embedding_dim=16,
        noise_embedding_dim=16,
    )
    return dataclasses.replace(base, **overrides)


def gpu_preset_config(**overrides: Any) -> ScoreModelConfig:
    """The reference CHGGen sizes: cutoff 7 Å, 60 neighbours, 3 layers of
    ``64x0e+32x1o+16x2e``, 32 Bessel functions, radial MLP [32, 64], embedding 32;
    196,899 parameters. On an H200 (float32, 64 crystals x 20 atoms, 77k edges) a
    forward pass measured 50 ms and forward + backward 80 ms, of which 40 ms was the
    earlier per-crystal neighbour search; the batched search takes 6.5 ms there."""
    return dataclasses.replace(ScoreModelConfig(), **overrides)


def _check_positive_number(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
        math.isfinite(value) and value > 0
    ):
        raise ValueError(f"ScoreModelConfig.{name} must be a positive finite number, got {value!r}")


def _check_positive_int(name: str, value: Any, minimum: int = 1) -> None:
    check_int("ScoreModelConfig", name, value, minimum)
