"""Score-based samplers: VE predictor-corrector (paper Algorithm 1), the probability-flow
ODE (Heun) and RePaint inpainting (Algorithm 2), driven by any score function
``score_fn(batch, sigma) -> (n_atoms, 3)`` (Å^-1, sigma per crystal in Å).
"""

from chggen_kernels.lazy import lazy_exports

# public name -> defining module, imported on first access (chggen_kernels.lazy)
_EXPORTS: dict[str, str] = {
    "PeriodicGaussianMixtureScore": "chggen_kernels.sampling.analytic",
    "periodic_gaussian_mixture_score": "chggen_kernels.sampling.analytic",
    "heun_update": "chggen_kernels.sampling.ode",
    "SampleResult": "chggen_kernels.sampling.sampler",
    "Trajectory": "chggen_kernels.sampling.sampler",
    "sample": "chggen_kernels.sampling.sampler",
    "SamplerStep": "chggen_kernels.sampling.schedule",
    "geometric_sigmas": "chggen_kernels.sampling.schedule",
    "level_sigmas": "chggen_kernels.sampling.schedule",
    "sampler_schedule": "chggen_kernels.sampling.schedule",
    "start_position": "chggen_kernels.sampling.schedule",
    "CORRECTOR_STEP_RULES": "chggen_kernels.sampling.settings",
    "DEFAULT_PRESET": "chggen_kernels.sampling.settings",
    "SAMPLER_METHODS": "chggen_kernels.sampling.settings",
    "SAMPLER_PRESETS": "chggen_kernels.sampling.settings",
    "SamplerSettings": "chggen_kernels.sampling.settings",
    "describe_preset": "chggen_kernels.sampling.settings",
    "SamplerState": "chggen_kernels.sampling.steps",
    "ScoreFn": "chggen_kernels.sampling.steps",
    "corrector_update": "chggen_kernels.sampling.steps",
    "host_reset_update": "chggen_kernels.sampling.steps",
    "init_state": "chggen_kernels.sampling.steps",
    "jump_back_update": "chggen_kernels.sampling.steps",
    "non_finite_crystals": "chggen_kernels.sampling.steps",
    "predictor_update": "chggen_kernels.sampling.steps",
}

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
    "describe_preset",
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

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
