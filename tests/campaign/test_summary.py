"""The one-line campaign summary printed by ``chggen run`` / ``chggen scan``."""

from campaign.distributed.summary import CampaignSummary


def test_summary_line_counts_tasks_candidates_and_failures() -> None:
    summary = CampaignSummary(output="runs/x", tasks_written=15, tasks_skipped=1,
                              candidates_written=23, candidates_failed=2, elapsed_s=56.94,
                              actor_start_s=14.3)
    assert summary.line() == (
        "campaign finished in 56.9 s: 15 tasks written (1 already done), 23 candidates, "
        "2 failed (actors ready after 14.3 s); results in runs/x")


def test_summary_line_names_hosts_that_gave_no_framework_and_quarantined_parts() -> None:
    summary = CampaignSummary(output="runs/x", tasks_written=15, candidates_written=23,
                              hosts_refined=8, hosts_without_framework=1,
                              parts_quarantined=2, interrupted=True)
    line = summary.line()
    assert line.startswith("campaign interrupted in 0.0 s: 15 tasks written (0 already done, "
                           "2 bad parts moved to _quarantine), 23 candidates, 0 failed, "
                           "1 of 8 hosts without a framework to inpaint (actors ready")


def test_summary_line_counts_first_stage_candidates_that_fell_back() -> None:
    from types import SimpleNamespace as Row

    reason = ("template: no known phase of stoichiometry type AB3|8 other than the target "
              "formula")
    rows = [Row(mode="template"), Row(mode="symmetric", symmetric_fallback=None,
                                       start_from=f"{reason}; symmetric (sg 221)"),
            Row(mode="template", symmetric_fallback="orbits: spglib finds no symmetry"),
            Row(mode="inpaint", symmetric_fallback="x")]  # inpainting: not a start
    summary = CampaignSummary(output="runs/x")
    summary.count_start_fallbacks("unconditional", rows)
    assert summary.start_fallbacks == {}
    summary.count_start_fallbacks("template", rows + rows[1:2])
    assert summary.start_fallbacks == {reason: 2, "orbits: spglib finds no symmetry": 1}
    assert (f"0 failed, 3 first-stage candidates fell back (2: {reason}; 1 other) (actors"
            in summary.line())
