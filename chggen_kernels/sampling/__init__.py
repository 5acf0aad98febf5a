"""Score-based samplers: VE predictor-corrector (paper Algorithm 1), the probability-flow
ODE (Heun) and RePaint inpainting (Algorithm 2), driven by any score function
``score_fn(batch, sigma) -> (n_atoms, 3)`` (Å^-1, sigma per crystal in Å).
"""

from chggen_kernels.sampling.analytic import (
    PeriodicGaussianMixtureScore,
    periodic_gaussian_mixture_score,
)
from chggen_kernels.sampling.ode import heun_update
from chggen_kernels.sampling.sampler import SampleResult, Trajectory, sample
from chggen_kernels.sampling.schedule import (
    SamplerStep,
    geometric_sigmas,
    level_sigmas,
    sampler_schedule,
    start_position,
)
from chggen_kernels.sampling.settings import (
    CORRECTOR_STEP_RULES,
    DEFAULT_PRESET,
    SAMPLER_METHODS,
    SAMPLER_PRESETS,
    SamplerSettings,
)
from chggen_kernels.sampling.steps import (
    SamplerState,
    ScoreFn,
    corrector_update,
    host_reset_update,
    init_state,
    jump_back_update,
    non_finite_crystals,
    predictor_update,
)

__all__ = [
    "CORRECTOR_STEP_RULES",
    "DEFAULT_PRESET",
    "SAMPLER_METHODS",
    "SAMPLER_PRESETS",
    "PeriodicGaussianMixtureScore",
    "SampleResult",
    "SamplerSettings",
    "SamplerState",
    "SamplerStep",
    "ScoreFn",
    "Trajectory",
    "corrector_update",
    "geometric_sigmas",
    "heun_update",
    "host_reset_update",
    "init_state",
    "jump_back_update",
    "level_sigmas",
    "non_finite_crystals",
    "periodic_gaussian_mixture_score",
    "predictor_update",
    "sample",
    "sampler_schedule",
    "start_position",
]
