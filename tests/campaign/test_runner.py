"""The default (real) stages inside the actor classes, without Ray: tiny model, 2 FIRE steps."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from campaign.actors import RelaxWorker, SamplerWorker
from campaign.config import validate_config
from campaign.tasks import unconditional_specs, unconditional_tasks

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> str:
    from campaign.kernel_stages import write_untrained_checkpoint

    path = tmp_path_factory.mktemp("model") / "untrained.pt"
    return str(write_untrained_checkpoint(path, volume_prior={"Li": 20.0, "Si": 16.0}))


def test_real_stages_generate_relax_and_score(checkpoint: str) -> None:
    config = validate_config(
        {
            "compositions": {"cells": ["Li3Si"]},
            "samples_per_task": 2,
            "sampler": {"n_levels": 2, "n_corrector_steps": 0},
            "relax": {"fmax": 1e-4, "max_steps": 2},
            "model": {"checkpoint": checkpoint},
        }
    )
    assert config.stages.module == "campaign.kernel_stages"
    sampler = SamplerWorker(config.stages.module, {}, checkpoint, config.sampler, 1, False)
    assert sampler.ready()["device"] == "cpu"
    specs = unconditional_specs(next(unconditional_tasks(config)), config.seed)
    generated = sampler.generate_list(specs)
    assert [g.spec.candidate_id for g in generated] == [s.candidate_id for s in specs]
    for candidate in generated:
        assert candidate.status == "ok", candidate.failure_reason
        # V0 from the checkpoint's prior: (3 x 20 + 1 x 16) / 4 = 19 Å^3/atom; cell = 4 V0
        assert candidate.spec.volume_per_atom_prior == pytest.approx(19.0)
        from pymatgen.core import Structure

        assert Structure.from_dict(candidate.structure).volume == pytest.approx(76.0, rel=1e-4)
    relaxer = RelaxWorker(config.stages.module, {}, config.relax, 1, "offline", config.elements)
    records = [relaxer.relax(c) for c in generated]
    assert [r.candidate_id for r in records] == [s.candidate_id for s in specs]
    for record in records:
        assert record.status in ("ok", "failed")
        if record.status == "ok":
            assert record.relax_steps == 2 and record.hull_source.startswith("offline")
        else:
            assert record.failure_reason
    broken = dataclasses.replace(generated[0], status="failed", structure=None,
                                 failure_reason="sampler: non-finite positions at level 3")
    record = relaxer.relax(broken)
    assert (record.status, record.failure_reason) == (
        "failed", "sampler: non-finite positions at level 3",
    )  # fmt: skip


def test_missing_checkpoint_names_the_path(tmp_path: Path) -> None:
    missing = str(tmp_path / "nowhere.pt")
    with pytest.raises(Exception, match="nowhere.pt"):
        SamplerWorker("campaign.kernel_stages", {}, missing, {}, 1, False)
