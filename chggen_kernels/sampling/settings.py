"""Settings of the predictor-corrector and RePaint samplers."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from chggen_kernels.settings import check_int

__all__ = ["CORRECTOR_STEP_RULES", "SamplerSettings"]

CORRECTOR_STEP_RULES = ("per_atom", "per_crystal")


@dataclasses.dataclass(frozen=True)
class SamplerSettings:
    """Everything that defines a sampling run (defaults: the CHGGen reference settings).

    Attributes:
        n_levels: number ``T`` of noise levels (predictor steps), >= 2.
        n_corrector_steps: Langevin corrector steps ``M`` per level, >= 0.
        snr: signal-to-noise ratio ``delta`` of the per-atom corrector step rule
            ``eps = 2 (sqrt(3) delta / |score_atom|)^2``, > 0.
        sigma_max: largest noise level in Å (the prior; should exceed the cell size).
        sigma_min: smallest non-zero noise level in Å.
        resample_passes: RePaint passes ``r`` per block of levels (inpainting only), >= 1.
        jump_length: RePaint jump length in levels (inpainting only), >= 1.
        max_atoms_per_batch: largest number of atoms given to the score function in one
            call; a request with more atoms is split into several batches (crystals are
            never split). ``None``: no limit.
        record_every: record a trajectory frame every this many levels (``None``: off).
        corrector_step_rule: ``"per_atom"`` (reference CHGGen: every atom ``i`` gets its own
            step ``eps_i = 2 (sqrt(3) snr / |score_i|)^2``) or ``"per_crystal"`` (score-SDE /
            MatterGen: one step per crystal from the norms over its ``N`` atoms,
            ``eps = 2 snr^2 (3 N) / sum_i |score_i|^2``). The per-atom rule takes very
            large steps for atoms whose score is small (near a mode) and measurably
            biases site occupations (docs/sampling.md), so ``"per_crystal"`` is the default;
            ``"per_atom"`` reproduces the reference. Both are capped (see
            ``corrector_update``).
    """

    n_levels: int = 200
    n_corrector_steps: int = 5
    snr: float = 0.4
    sigma_max: float = 10.0
    sigma_min: float = 0.01
    resample_passes: int = 3
    jump_length: int = 10
    max_atoms_per_batch: int | None = 4096
    record_every: int | None = None
    corrector_step_rule: str = "per_crystal"

    def __post_init__(self) -> None:
        _check_int("n_levels", self.n_levels, minimum=2)
        _check_int("n_corrector_steps", self.n_corrector_steps, minimum=0)
        _check_int("resample_passes", self.resample_passes, minimum=1)
        _check_int("jump_length", self.jump_length, minimum=1)
        if self.max_atoms_per_batch is not None:
            _check_int("max_atoms_per_batch", self.max_atoms_per_batch, minimum=1)
        if self.record_every is not None:
            _check_int("record_every", self.record_every, minimum=1)
        if self.corrector_step_rule not in CORRECTOR_STEP_RULES:
            raise ValueError(
                f"SamplerSettings.corrector_step_rule must be one of {CORRECTOR_STEP_RULES}, "
                f"got {self.corrector_step_rule!r}"
            )
        for name in ("snr", "sigma_max", "sigma_min"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value <= 0
            ):
                raise ValueError(f"SamplerSettings.{name} must be a positive number, got {value!r}")
        if self.sigma_max <= self.sigma_min:
            raise ValueError(
                f"SamplerSettings.sigma_max ({self.sigma_max!r} Å) must be larger than "
                f"sigma_min ({self.sigma_min!r} Å)"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain ``{field: value}`` dict (JSON-serialisable), recorded with every sample."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SamplerSettings:
        """Inverse of :meth:`to_dict`; unknown keys are an error naming them."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown SamplerSettings fields: {', '.join(unknown)}")
        return cls(**values)


def _check_int(name: str, value: Any, minimum: int) -> None:
    check_int("SamplerSettings", name, value, minimum)
