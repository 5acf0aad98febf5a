"""The campaign driver: a campaign is a job of the task engine, run on Ray.

:class:`~campaign.jobs.campaign.CampaignJob` says what the tasks are (unconditional
tasks, then one inpainting task per selected host); :func:`campaign.engine.run_job`
skips what is on disk, submits, writes each task's part atomically and queues the
follow-ups; :class:`~campaign.distributed.executor.RayCampaignExecutor` runs the tasks on
sampler and relaxation actors (the pipeline and its in-flight bound). :func:`run_campaign`
adds the folder's checks, its lock and fingerprint, and the run's summary.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from campaign.config.model import CampaignConfig
from campaign.distributed.executor import RayCampaignExecutor
from campaign.distributed.preflight import check_hull, prepare_folder
from campaign.distributed.summary import CampaignError, CampaignSummary
from campaign.distributed.workers import auto_in_flight, runner_settings
from campaign.engine import RunReport, run_job
from campaign.engine.folder import check_fingerprint, folder_lock
from campaign.engine.ray_toolkit import init_ray
from campaign.engine.store import ResultStore
from campaign.jobs.campaign import CampaignJob
from campaign.jobs.tasks import count_unconditional_tasks
from campaign.stages.fingerprint import runner_fingerprint
from campaign.stages.runner import RunnerFactory, build_runner

__all__ = ["CampaignError", "CampaignSummary", "drive", "run_campaign"]

logger = logging.getLogger("campaign")


def drive(config: CampaignConfig, *, progress: bool = True,
          runner_factory: RunnerFactory = build_runner, parts_quarantined: int = 0
          ) -> CampaignSummary:
    """Run (or resume) the campaign's job on the Ray this process is connected to; the
    summary is kept in the folder (``_runs/``), also after an interrupt."""
    store = ResultStore(config.output)
    summary = CampaignSummary(output=str(store.directory),
                              tasks_planned=count_unconditional_tasks(config),
                              parts_quarantined=parts_quarantined)
    job = CampaignJob(config)
    limit = config.resources.max_candidates_in_flight or auto_in_flight(config)
    executor = RayCampaignExecutor(config, job.specs, summary, limit, runner_factory)

    def written(task: Any, rows: list[Any]) -> None:
        summary.tasks_written += bool(rows)
        summary.candidates_written += len(rows)
        summary.candidates_failed += sum(r.status != "ok" for r in rows)
        summary.count_start_fallbacks(config.generation, rows)

    started = time.monotonic()
    report = RunReport()
    try:
        run_job(job, store, executor, progress=progress, on_written=written, report=report)
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        summary.tasks_skipped = report.skipped
        summary.elapsed_s = time.monotonic() - started
        summary.keep(store.directory)
    return summary


def run_campaign(
    config: CampaignConfig,
    *,
    address: str | None = None,
    progress: bool = True,
    log_to_driver: bool = False,
    ray_init_kwargs: Mapping[str, Any] | None = None,
    runner_factory: RunnerFactory = build_runner,
) -> CampaignSummary:
    """Run (or resume) a campaign on the Ray this process is connected to, else on a new one
    (:func:`~campaign.engine.ray_toolkit.init_ray`: ``address``, ``RAY_ADDRESS``, or a
    private local Ray on loopback). ``runner_factory`` builds each actor's stage runner."""
    import ray

    check_hull(config)
    with folder_lock(config.output, command=f"chggen run ({config.name})"):
        check_fingerprint(config.output, runner_fingerprint(runner_settings(config)))
        quarantined = prepare_folder(ResultStore(config.output), config)
        print(f"chggen: {config.plan_counts().line()}", flush=True)
        own_ray = init_ray(address, log_to_driver=log_to_driver, **dict(ray_init_kwargs or {}))
        try:
            return drive(config, progress=progress, runner_factory=runner_factory,
                         parts_quarantined=len(quarantined))
        finally:
            if own_ray:
                ray.shutdown()
