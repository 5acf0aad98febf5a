"""The options ``chggen generate`` and ``chggen inpaint`` share (model, sampler,
relaxation, hull, output), with the settings field behind each sampler and relaxation
option (its type, default and help come from the settings classes).
"""

from __future__ import annotations

import argparse

__all__ = ["RELAX_OPTIONS", "SAMPLER_OPTIONS", "add_shared_arguments"]

# SamplerSettings field -> option
SAMPLER_OPTIONS = {
    "n_levels": "--n-levels",
    "n_corrector_steps": "--n-corrector",
    "snr": "--snr",
    "sigma_max": "--sigma-max",
    "sigma_min": "--sigma-min",
    "resample_passes": "--resample-passes",
    "jump_length": "--jump-length",
    "corrector_step_rule": "--corrector-step-rule",
    "max_atoms_per_batch": "--max-atoms-per-batch",
    "method": "--sampler-method",
    "start_sigma": "--start-sigma",
    "corrector_sigma_max": "--corrector-sigma-max",
    "inpaint_n_levels": "--inpaint-n-levels",
    "inpaint_n_corrector_steps": "--inpaint-n-corrector",
}
RELAX_OPTIONS = {"fmax": "--fmax", "max_steps": "--max-steps", "mlip": "--mlip"}


def add_shared_arguments(p: argparse.ArgumentParser) -> None:
    """Model, sampler, relaxation, hull and output options of generate and inpaint (sampler
    and relaxation options and their defaults come from the settings classes)."""
    from campaign.commands.options import (
        add_limit_options,
        add_settings_options,
        default_of,
        int_at_least,
        sampler_defaults,
        sampler_preset_help,
    )
    from campaign.config.model import CampaignConfig
    from chggen_kernels.relax import RelaxSettings
    from chggen_kernels.sampling import (
        CORRECTOR_STEP_RULES,
        SAMPLER_METHODS,
        SAMPLER_PRESETS,
        SamplerSettings,
    )
    from chggen_kernels.thermo import DEFAULT_HULL_SOURCE

    n_samples, seed = default_of(CampaignConfig, "samples_per_task"), default_of(CampaignConfig,
                                                                                "seed")
    p.add_argument("--n-samples", type=int, default=n_samples,
                   help=f"candidates to sample (default {n_samples})")
    p.add_argument("--checkpoint", default=None,
                   help="score-model checkpoint (default: the model shipped with chggen)")
    p.add_argument("--hull", default=DEFAULT_HULL_SOURCE,
                   help="reference hull for E_d: offline (shipped; with another --mlip than "
                   "chgnet, its known phases relaxed with that potential, cached), mp, none, "
                   "or a CSV/JSON file (formula, energy_per_atom in eV/atom); default "
                   f"{DEFAULT_HULL_SOURCE}")
    p.add_argument("--out", default=None, help="results folder (Parquet, campaign schema)")
    p.add_argument("--new-folder", action="store_true",
                   help="when the results folder was written with other settings (model, "
                   "sampler, relaxation, hull), write to <folder>-<settings hash> instead of "
                   "refusing")
    p.add_argument("--seed", type=int, default=seed, help=f"random seed (default {seed})")
    p.add_argument("--device", default="cpu", help="torch device for sampling and CHGNet")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads (default: torch's choice for sampling, "
                   f"{RelaxSettings.n_threads} for the potential)")
    p.add_argument("-n", "--top", dest="top", type=int_at_least(1), default=20,
                   help="rows of the printed table (default 20)")
    p.add_argument("--quiet", "--no-progress", dest="quiet", action="store_true",
                   help="no progress on stderr (a bar on a terminal, a line every 30 s in a "
                   "log file)")
    add_limit_options(p)
    sampler = p.add_argument_group("sampler (sigma range: the checkpoint's unless given)")
    sampler.add_argument("--sampler", dest="preset", choices=tuple(SAMPLER_PRESETS),
                         default=None, help="sampler preset the options below override "
                         f"({sampler_preset_help()})")
    add_settings_options(sampler, SamplerSettings, SAMPLER_OPTIONS,
                         {"corrector_step_rule": CORRECTOR_STEP_RULES, "method": SAMPLER_METHODS},
                         defaults=sampler_defaults())
    add_settings_options(p.add_argument_group(f"relaxation ({RelaxSettings.optimizer} + "
                                              f"{RelaxSettings.cell_filter}; the potential: "
                                              "--mlip)"),
                         RelaxSettings, RELAX_OPTIONS)
