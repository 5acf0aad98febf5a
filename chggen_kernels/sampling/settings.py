"""Settings of the predictor-corrector and RePaint samplers."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from chggen_kernels.settings import check_int

__all__ = [
    "CORRECTOR_STEP_RULES",
    "DEFAULT_PRESET",
    "SAMPLER_METHODS",
    "SAMPLER_PRESETS",
    "SamplerSettings",
    "describe_preset",
]

CORRECTOR_STEP_RULES = ("per_atom", "per_crystal")
SAMPLER_METHODS = ("pc", "ode")

DEFAULT_PRESET = "fast-pc"
"""The name of the :class:`SamplerSettings` field defaults: the preset a run uses and
records when none is named (``campaign.stages.resources.resolve_sampler_settings``, ``chggen
generate --sampler``, YAML ``sampler: {preset: ...}``)."""

# the CHGGen reference: every level gets the predictor and 5 corrector steps, inpainting
# runs the whole reverse process with the same levels and correctors
_REFERENCE: dict[str, Any] = {"n_levels": 200, "n_corrector_steps": 5,
                              "corrector_sigma_max": None, "inpaint_n_levels": None,
                              "inpaint_n_corrector_steps": None, "start_sigma": None}

SAMPLER_PRESETS: dict[str, dict[str, Any]] = {
    # 200 levels x (1 predictor + 5 correctors), RePaint 3 passes x jump 10
    "reference": dict(_REFERENCE),
    # probability-flow ODE, Heun, 50 levels, no corrector (99 evaluations, 12x fewer than
    # the reference). Measured NOT equal in quality to the reference on the shipped model
    # (docs/sampling.md, "Fewer score evaluations"), so it is not the default.
    "fast": _REFERENCE | {"method": "ode", "n_levels": 50, "n_corrector_steps": 0},
    # the reference for unconditional sampling; inpainting with 100 levels x (1 predictor
    # + 1 corrector) from 1 Å, 3 RePaint passes: 373 evaluations instead of 3,475, equal
    # in quality within the sampling error (docs/sampling.md, "Fewer score evaluations")
    "fast-inpainting": _REFERENCE | {"inpaint_n_levels": 100, "inpaint_n_corrector_steps": 1,
                                     "start_sigma": 1.0},
    # the field defaults: fast-inpainting, and unconditional sampling with 60 levels and 4
    # corrector steps only at the levels at or below 1 Å: 220 evaluations instead of 1,195
    # (5.4x fewer), equal in quality within the sampling error on 64 samples (symmetric
    # share 24/64 against 25/64; docs/sampling.md, "Fewer score evaluations")
    DEFAULT_PRESET: {},
}
"""Named sampler settings: each preset is the fields it overrides; the other fields keep
the :class:`SamplerSettings` defaults (``fast-pc``, :data:`DEFAULT_PRESET`, overrides none).
``SamplerSettings.from_dict({"preset": name, ...})`` starts from a preset and lets explicit
fields override it."""


@dataclasses.dataclass(frozen=True)
class SamplerSettings:
    """Everything that defines a sampling run (defaults: the :data:`DEFAULT_PRESET`
    ``fast-pc`` settings every run uses unless told otherwise; the CHGGen reference is the
    ``reference`` preset, :data:`SAMPLER_PRESETS`).

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
        method: ``"pc"`` (predictor-corrector) or ``"ode"`` (probability-flow ODE, Heun).
            ``"pc"``: ancestral predictor (paper eqn 4), then the Langevin corrector steps.
            ``"ode"``: ``dx/dsigma = -sigma score(x, sigma)`` integrated with Heun's
            second-order method on the same level sigmas (EDM style): 2 score evaluations
            per level, 1 for the last step to ``sigma = 0``; deterministic for
            unconditional sampling given the initial draw. The ``n_corrector_steps``
            Langevin steps still follow each level when > 0 (the presets set 0). See
            :mod:`chggen_kernels.sampling.ode`.
        start_sigma: inpainting only: noise level in Å at which the reverse process
            begins (``None``: sigma_max). ``sigma_min <= start_sigma <= sigma_max``; the
            sampler starts at the first level whose sigma is <= ``start_sigma``, with the
            host atoms noised to that level and the guest atoms drawn uniformly in the
            cell (they have no template). ``None`` runs the full reverse process. A start
            not given explicitly (the default 1 Å or a preset's) is clamped into the sigma
            range by :meth:`from_dict` (e.g. a checkpoint trained below 1 Å).
        churn: EDM stochastic churn ``gamma`` in [0, 1] (``"ode"`` only). Before each Heun
            step the noise level is raised from ``sigma`` to ``sigma (1 + gamma)`` (at most
            ``sigma_max``) by adding ``sqrt(sigma_hat^2 - sigma^2) z`` Å of noise to every
            atom. 0: the plain ODE.
        corrector_sigma_max: Langevin corrector steps follow only the levels whose sigma is
            at most this (Å); above it a level is the predictor (or Heun step) alone.
            ``None``: every level; at least ``sigma_min``. The structure of a crystal forms
            below about 1 Å; the correctors at the larger, nearly uniform levels barely
            change it. (A YAML ``null`` does not lift the ceiling of the defaults or of a
            preset, because unset fields keep that value: give a value above
            ``sigma_max``, or the ``reference`` preset.)
        inpaint_n_levels: inpainting only: noise levels of a masked batch (``None``:
            ``n_levels``), >= 2.
        inpaint_n_corrector_steps: inpainting only: corrector steps per level of a masked
            batch (``None``: ``n_corrector_steps``), >= 0.
        preset: name of the :data:`SAMPLER_PRESETS` entry the fields started from
            (recorded with the samples; ``None``: built field by field). Setting it
            alone does not change the other fields; :meth:`from_dict` and
            :meth:`from_preset` apply the preset.
    """

    n_levels: int = 60
    n_corrector_steps: int = 4
    snr: float = 0.4
    sigma_max: float = 10.0
    sigma_min: float = 0.01
    resample_passes: int = 3
    jump_length: int = 10
    max_atoms_per_batch: int | None = 4096
    record_every: int | None = None
    corrector_step_rule: str = "per_crystal"
    method: str = "pc"
    start_sigma: float | None = 1.0
    churn: float = 0.0
    corrector_sigma_max: float | None = 1.0
    inpaint_n_levels: int | None = 100
    inpaint_n_corrector_steps: int | None = 1
    preset: str | None = None

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
        self._check_new_fields()

    def _check_new_fields(self) -> None:
        """The sampler method, partial start, churn and preset name."""
        _check_choice("method", self.method, SAMPLER_METHODS)
        if self.inpaint_n_levels is not None:
            _check_int("inpaint_n_levels", self.inpaint_n_levels, minimum=2)
        if self.inpaint_n_corrector_steps is not None:
            _check_int("inpaint_n_corrector_steps", self.inpaint_n_corrector_steps, minimum=0)
        if self.preset is not None:
            _check_choice("preset", self.preset, tuple(SAMPLER_PRESETS))
        if self.start_sigma is not None and not (
            _is_number(self.start_sigma) and self.sigma_min <= self.start_sigma <= self.sigma_max
        ):
            raise ValueError(
                f"SamplerSettings.start_sigma must be a number in [sigma_min, sigma_max] = "
                f"[{self.sigma_min!r}, {self.sigma_max!r}] Å or None, got {self.start_sigma!r}"
            )
        if self.corrector_sigma_max is not None and not (
                _is_number(self.corrector_sigma_max) and self.corrector_sigma_max > 0):
            raise ValueError(f"SamplerSettings.corrector_sigma_max must be a positive number "
                             f"(Å) or None, got {self.corrector_sigma_max!r}")
        if self.corrector_sigma_max is not None and self.corrector_sigma_max < self.sigma_min:
            raise ValueError(f"SamplerSettings.corrector_sigma_max ({self.corrector_sigma_max!r}"
                             f" Å) is below sigma_min ({self.sigma_min!r} Å): no level would get "
                             "a corrector step; set n_corrector_steps = 0 for that")
        if not (_is_number(self.churn) and 0 <= self.churn <= 1):
            raise ValueError(f"SamplerSettings.churn must be a number in [0, 1], "
                             f"got {self.churn!r}")
        if self.churn > 0 and self.method != "ode":
            raise ValueError(f"SamplerSettings.churn applies to method 'ode' only, got "
                             f"churn={self.churn!r} with method {self.method!r}")

    def for_batch(self, inpainting: bool) -> SamplerSettings:
        """The settings a batch is sampled with: for an inpainting batch the
        ``inpaint_n_levels`` / ``inpaint_n_corrector_steps`` replace ``n_levels`` /
        ``n_corrector_steps`` where given."""
        if not inpainting or (self.inpaint_n_levels is None
                              and self.inpaint_n_corrector_steps is None):
            return self
        levels, correctors = self.inpaint_n_levels, self.inpaint_n_corrector_steps
        return dataclasses.replace(
            self, n_levels=self.n_levels if levels is None else levels,
            n_corrector_steps=self.n_corrector_steps if correctors is None else correctors)

    def to_dict(self) -> dict[str, Any]:
        """Plain ``{field: value}`` dict (JSON-serialisable), recorded with every sample."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SamplerSettings:
        """Inverse of :meth:`to_dict`; unknown keys are an error naming them. With a
        ``preset`` key the preset's fields come first and the other keys override them. A
        ``start_sigma`` that ``values`` does not give (the preset's or the field default)
        is clamped into ``[sigma_min, sigma_max]``."""
        from chggen_kernels.settings import reject_unknown

        reject_unknown(values, [f.name for f in dataclasses.fields(cls)], "SamplerSettings")
        name = values.get("preset")
        base = SAMPLER_PRESETS.get(name, {}) if isinstance(name, str) else {}
        merged = base | dict(values)
        start = merged.get("start_sigma", cls.start_sigma)
        low = merged.get("sigma_min", cls.sigma_min)
        high = merged.get("sigma_max", cls.sigma_max)
        if "start_sigma" not in values and start is not None and all(
                _is_number(v) for v in (start, low, high)):
            # a partial start not given here (the preset's or the default) stays inside
            # the sigma range (e.g. a checkpoint's trained range), Å
            merged["start_sigma"] = min(max(start, low), high)
        return cls(**merged)

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> SamplerSettings:
        """The settings of preset ``name`` (:data:`SAMPLER_PRESETS`), fields in
        ``overrides`` replaced; unknown names are an error listing the presets."""
        return cls.from_dict({"preset": name, **overrides})


def describe_preset(name: str) -> str:
    """One line on what preset ``name`` samples with, read from its settings, e.g.
    ``"200 levels x 5 correctors, RePaint 3 passes x jump 10"`` (for command-line help)."""
    s = SamplerSettings.from_preset(name)
    text = ("probability-flow ODE, " if s.method == "ode" else "") + \
        f"{s.n_levels} levels x {s.n_corrector_steps} correctors"
    if s.corrector_sigma_max is not None and s.n_corrector_steps:
        text += f" at or below {s.corrector_sigma_max:g} Å"
    inpaint = s.for_batch(True)
    if inpaint != s or s.start_sigma is not None:
        text += f"; inpainting {inpaint.n_levels} x {inpaint.n_corrector_steps}"
        if s.start_sigma is not None:
            text += f" from {s.start_sigma:g} Å"
    return f"{text}, RePaint {s.resample_passes} passes x jump {s.jump_length}"


def _check_int(name: str, value: Any, minimum: int) -> None:
    check_int("SamplerSettings", name, value, minimum)


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"SamplerSettings.{name} must be one of {choices}, got {value!r}")


def _is_number(value: Any) -> bool:
    return (not isinstance(value, bool) and isinstance(value, int | float)
            and math.isfinite(value))
