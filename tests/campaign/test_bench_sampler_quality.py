"""The helpers of benchmarks/bench_sampler_quality.py: the evaluation count it reports is
the sampler's own, and its intervals have the known values."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from chggen_kernels.crystal import CrystalBatch
from chggen_kernels.sampling import SamplerSettings, periodic_gaussian_mixture_score, sample

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location(
        "bench_sampler_quality", ROOT / "benchmarks" / "bench_sampler_quality.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    sys.path.remove(str(ROOT / "benchmarks"))


@pytest.mark.parametrize("changes", [
    {}, {"method": "ode", "n_corrector_steps": 0}, {"method": "ode", "n_corrector_steps": 1},
    {"resample_passes": 1, "start_sigma": 1.0}, {"method": "ode", "start_sigma": 0.3},
    {"corrector_sigma_max": 1.0}, {"corrector_sigma_max": 0.05, "start_sigma": 1.0},
])
def test_evals_per_sample_is_what_the_sampler_counts(bench, changes) -> None:
    settings = SamplerSettings.from_preset("reference", **{
        "n_levels": 12, "n_corrector_steps": 2, "resample_passes": 3, "jump_length": 3, **changes})
    score = periodic_gaussian_mixture_score(torch.tensor([[0.5, 0.5, 0.5]]), torch.ones(1), 0.2)
    batch = CrystalBatch(positions=torch.zeros(2, 3, dtype=torch.float64),
                         lattices=(torch.eye(3, dtype=torch.float64) * 3)[None],
                         atomic_numbers=torch.ones(2, dtype=torch.long),
                         crystal_index=torch.zeros(2, dtype=torch.long))
    for mask in (None, torch.tensor([False, True])):
        result = sample(score, batch.replace(mask=mask), settings)
        assert result.n_score_calls == bench.evals_per_sample(settings, mask is not None)
    reference = SamplerSettings.from_preset("reference")
    assert bench.evals_per_sample(reference, False) == 1195  # 200 + 5 x 199
    # correctors only below 1 Å: 200 predictor steps + 5 x the 133 levels in (0, 1] Å
    assert bench.evals_per_sample(SamplerSettings.from_preset(
        "reference", corrector_sigma_max=1.0), False) == 865
    # the defaults (fast-pc): 60 levels + 4 x the 40 levels in (0, 1] Å
    assert bench.evals_per_sample(SamplerSettings(), False) == 220


def test_intervals(bench) -> None:
    # Newcombe's example (1998, method 10): 56/70 - 48/80 -> [0.0524, 0.3339]
    low, high = bench.newcombe_difference(56, 70, 48, 80)
    assert low == pytest.approx(0.0524, abs=1e-3) and high == pytest.approx(0.3339, abs=1e-3)
    values = [float(v) for v in range(21)]
    low, high = bench.bootstrap_median(values)
    assert low < 10.0 < high and low > 5.0 and high < 15.0
    low, high = bench.bootstrap_difference([v + 100 for v in values], values)
    assert low < 100.0 < high
