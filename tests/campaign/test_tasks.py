"""Tasks: deterministic ids and seeds, spec expansion, order-independent host selection."""

from __future__ import annotations

import collections
import random

import pytest

from campaign.config.model import validate_config
from campaign.jobs.campaign import CampaignJob
from campaign.jobs.tasks import (
    count_unconditional_tasks,
    inpainting_task,
    task_specs,
    unconditional_tasks,
)
from campaign.stages.runner import failed_row
from chggen_kernels.lattice import LATTICE_FAMILIES
from chggen_kernels.workflow import candidate_seed, select_hosts, short_hash
from chggen_kernels.workflow.planning import SEED_MODULUS
from chggen_kernels.workflow.records import FIRST_STAGE_MODES, CandidateSpec


def unconditional_specs(task, seed):
    return task_specs(task, seed, 20.0)


def _config(**override):
    data = {
        "compositions": {"chemical_systems": ["Li-Si"], "constraints": ["Li > Si"]},
        "atoms_per_cell": {"min": 3, "max": 7},
        "lattice": {"families": ["cubic", "hexagonal"], "ratios": ["1:1.25", "random"]},
        "samples_per_task": 3,
        "seed_blocks": 2,
        "modes": ["unconditional", "inpaint"],
        "inpaint": {"guest_species": ["Li"], "samples_per_host": 2, "hosts_per_task": 2},
    }
    data.update(override)
    return validate_config(data)


def test_task_ids_are_pinned() -> None:
    # Resuming depends on ids never changing between versions: pin the scheme.
    assert short_hash("unconditional", "Li2Si1", 3) == "59dda86a625c"
    first = next(unconditional_tasks(_config()))
    assert (first.formula, first.lattice_family, first.lattice_ratio, first.seed_block) == (
        "Li2Si1", "cubic", None, 0,
    )  # fmt: skip
    assert first.task_id == short_hash(
        "unconditional", "Li2Si1", 3, "cubic", None, None, 3, 0, 0
    )


def test_enumeration_is_complete_unique_and_reproducible() -> None:
    config = _config()
    tasks = list(unconditional_tasks(config))
    # Li-rich cells with 3..7 atoms: 1+1+2+2+3 = 9; x (cubic + hexagonal x 2 ratios) x 2 blocks
    assert len(tasks) == 9 * 3 * 2 == count_unconditional_tasks(config)
    assert len({t.task_id for t in tasks}) == len(tasks)
    assert [t.task_id for t in unconditional_tasks(_config())] == [t.task_id for t in tasks]
    # the order of the sources in the file does not matter
    reordered = _config(compositions={"chemical_systems": ["Si-Li"], "constraints": ["Li > Si"]})
    assert [t.task_id for t in unconditional_tasks(reordered)] == [t.task_id for t in tasks]


@pytest.mark.parametrize(
    "override", [{"seed": 1}, {"samples_per_task": 4}, {"volume_per_atom": 18.0}]
)
def test_settings_that_change_results_change_ids(override: dict) -> None:
    before = {t.task_id for t in unconditional_tasks(_config())}
    after = {t.task_id for t in unconditional_tasks(_config(**override))}
    assert before.isdisjoint(after)


def test_specs_have_deterministic_ids_and_distinct_seeds() -> None:
    config = _config(lattice={"families": ["any"]}, samples_per_task=40, seed_blocks=1)
    task = next(unconditional_tasks(config))
    specs = unconditional_specs(task, config.seed)
    assert [s.candidate_id for s in specs] == [f"{task.task_id}-{i:03d}" for i in range(40)]
    assert all(s.task_id == task.task_id and s.composition == {"Li": 2, "Si": 1} for s in specs)
    seeds = [s.seed for s in specs]
    assert len(set(seeds)) == 40 and all(0 <= s < SEED_MODULUS for s in seeds)
    assert seeds == [s.seed for s in unconditional_specs(task, config.seed)]
    assert seeds[0] == candidate_seed(0, task.task_id, 0)
    # family "any" is drawn once per candidate from the seven families, reproducibly, with
    # the axis ratios (b/a:c/a) of the reference set; ratio-free families get 1:1
    families = collections.Counter(s.lattice_family for s in specs)
    assert set(families) <= set(LATTICE_FAMILIES) and len(families) >= 5
    reference = {"0.5", "0.75", "1", "1.25", "1.5"}
    for spec in specs:
        b, c = spec.lattice_ratio.split(":")
        assert {b, c} <= reference
        if spec.lattice_family in ("cubic", "rhombohedral"):
            assert spec.lattice_ratio == "1:1"


def test_given_family_and_ratio_pass_through() -> None:
    config = _config()
    by_key = {(t.lattice_family, t.lattice_ratio): t for t in unconditional_tasks(config)}
    fixed = unconditional_specs(by_key[("hexagonal", "1:1.25")], 0)
    assert {(s.lattice_family, s.lattice_ratio) for s in fixed} == {("hexagonal", "1:1.25")}
    drawn = unconditional_specs(by_key[("hexagonal", None)], 0)
    assert {s.lattice_family for s in drawn} == {"hexagonal"}
    assert all(s.lattice_ratio.startswith("1:") for s in drawn)  # hexagonal: a = b


def _row(candidate_id: str, e_d: float | None, status: str = "ok") -> dict:
    spec = CandidateSpec(
        candidate_id=candidate_id, task_id="t", composition={"Li": 4, "Si": 2},
        mode="unconditional", seed=1, lattice_family="cubic",
    )  # fmt: skip
    row = failed_row(spec, "x").to_dict()
    row.update(status=status, e_d=e_d, failure_reason=None if status == "ok" else "x",
               structure_relaxed="{}" if status == "ok" else None)
    return row


def test_host_selection_is_order_independent() -> None:
    rows = [
        _row("t-000", 0.10),
        _row("t-001", -0.02),
        _row("t-002", None),  # no E_d: after every host with one
        _row("t-003", -0.50, status="failed"),  # failed: never a host
        _row("t-004", 0.10),
        _row("t-005", 0.40),
    ]
    expected = ["t-001", "t-000", "t-004"]
    for seed in range(5):
        shuffled = rows[:]
        random.Random(seed).shuffle(shuffled)
        assert [r["candidate_id"] for r in select_hosts(shuffled, 3)] == expected
    assert [r["candidate_id"] for r in select_hosts(rows, 5, max_e_d=0.0)] == ["t-001"]
    assert [r["candidate_id"] for r in select_hosts(rows, None)][-1] == "t-002"


def test_hosts_come_from_every_first_stage_mode_never_from_inpainted_rows() -> None:
    """A campaign whose first stage starts from templates or Wyckoff orbits inpaints its
    best hosts exactly as an unconditional one (scan --mode template-symmetric)."""
    rows = []
    for i, mode in enumerate(("template-symmetric", "inpaint", "symmetric", "template",
                              "inpaint-symmetric", "unconditional")):
        rows.append(_row(f"t-{i:03d}", -0.1 * i) | {"mode": mode})
    hosts = [r["mode"] for r in select_hosts(rows, None)]
    assert hosts == ["unconditional", "template", "symmetric", "template-symmetric"]
    job = CampaignJob(_config(generation="template-symmetric"))
    task = next(iter(job.tasks()))
    follow = job.follow_ups(task, [r | {"task_id": task.task_id} for r in rows], False)
    assert [t.parent_id for t in follow] == ["t-005", "t-003"]  # hosts_per_task = 2
    assert {t.mode for t in follow} == {"inpaint"}


def test_generation_modes_are_the_first_stage_modes() -> None:
    from typing import get_args

    from campaign.commands.scan import GENERATION_MODES
    from campaign.config.model import CampaignConfig

    literal = CampaignConfig.model_fields["generation"].annotation
    assert set(get_args(literal)) == set(FIRST_STAGE_MODES) == set(GENERATION_MODES)


def test_inpainting_task_ids() -> None:
    config = _config()
    host = _row("abc-001", 0.0)
    task = inpainting_task(config, host)
    assert task.mode == "inpaint" and task.parent_id == "abc-001"
    assert task.composition == {"Li": 4, "Si": 2}
    assert task.task_id == inpainting_task(config, host).task_id
    assert task.task_id != inpainting_task(config, _row("abc-002", 0.0)).task_id
    assert task.task_id == short_hash("inpaint", "abc-001", ("Li",), 2, 0)  # pinned


@pytest.mark.parametrize("mode", ["symmetric", "template"])
def test_generate_plans_a_start_mode_as_the_campaigns_first_task(mode) -> None:
    """chggen generate --mode MODE and a campaign with generation MODE give the same ids,
    seeds and starts (at the V0 the user fixed, and at the prior's)."""
    from campaign.jobs.chain import plan_starts

    for volume_given in (20.0, None):
        config = validate_config({
            "compositions": {"cells": ["Li2Si2"]}, "samples_per_task": 3, "seed": 5,
            "volume_per_atom": volume_given, "generation": mode})
        (task,) = unconditional_tasks(config)
        campaign = task_specs(task, 5, 20.0, mode)
        generated = plan_starts(mode, {"Li": 2, "Si": 2}, 3, 5, 20.0,
                                volume_given=volume_given)
        assert [s.candidate_id for s in generated] == [s.candidate_id for s in campaign]
        assert [(s.seed, s.start, s.start_from) for s in generated] == \
            [(s.seed, s.start, s.start_from) for s in campaign]
    assert task.task_id != next(iter(unconditional_tasks(
        config.model_copy(update={"generation": "unconditional"})))).task_id


def test_template_tasks_go_down_the_ranking_over_lattice_choices_and_blocks() -> None:
    """Two lattice choices x two seed blocks of a template campaign: four tasks of 2
    candidates take template ranks 0-7 once each, not the top two four times."""
    config = validate_config({
        "compositions": {"cells": ["Li2Si2"]}, "samples_per_task": 2, "seed_blocks": 2,
        "lattice": {"families": ["cubic", "hexagonal"], "ratios": ["random"]},
        "volume_per_atom": 20.0, "generation": "template"})
    tasks = list(unconditional_tasks(config))
    assert [t.start_rank for t in tasks] == [0, 2, 4, 6]
    starts = [s.start_from for t in tasks for s in task_specs(t, 0, 20.0, "template")]
    assert len(set(starts)) == 8 and not any("repeat" in s for s in starts)


def test_the_local_chain_inpaints_hosts_of_a_template_task() -> None:
    from campaign.jobs.chain import ChainJob
    from chggen_kernels.testing import rock_salt
    from chggen_kernels.workflow.settings import InpaintSettings

    spec = CandidateSpec(candidate_id="t-000", task_id="t", composition={"Na": 4, "Cl": 4},
                         mode="template", seed=1, start=rock_salt().as_dict())
    job = ChainJob([spec], InpaintSettings(guest_species=("Li",)), ["inpaint"], 0, None)
    (task,) = job.tasks()
    row = _row("t-000", -0.1) | {"mode": "template"}
    (follow,) = job.follow_ups(task, [row], False)
    assert follow.mode == "inpaint" and follow.host["candidate_id"] == "t-000"
    assert job.follow_ups(follow, [row | {"mode": "inpaint"}], False) == []


def test_a_template_tasks_id_says_its_first_rank() -> None:
    """Two seed blocks instead of one move the second lattice choice's ranks: its id
    changes with them, so a part on disk never holds other ranks than a fresh run's."""
    def ids(blocks: int) -> list[tuple[str, int]]:
        config = validate_config({
            "compositions": {"cells": ["Li2Si2"]}, "samples_per_task": 2,
            "seed_blocks": blocks, "volume_per_atom": 20.0, "generation": "template",
            "lattice": {"families": ["cubic", "hexagonal"], "ratios": ["random"]}})
        return [(t.task_id, t.start_rank) for t in unconditional_tasks(config)]

    one, two = ids(1), ids(2)
    assert [r for _, r in one] == [0, 2] and [r for _, r in two] == [0, 2, 4, 6]
    assert one[0] == two[0]  # rank 0: the same task
    assert one[1][0] not in {i for i, _ in two}  # (hexagonal, block 0) now starts at rank 4
