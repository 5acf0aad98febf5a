"""The task engine: every long job of chggen is a list of tasks run by one loop.

* :func:`run_job` (:mod:`campaign.engine.run`): skip what the store holds, submit with
  bounded in-flight work, write each task's rows, retry, follow-ups, progress;
* executors: :class:`InProcessExecutor`, :class:`PoolExecutor` (process or Ray pool,
  :func:`make_pool`), :class:`RayActorExecutor` (Ray actors holding a worker each);
* jobs (:mod:`campaign.jobs`): a :class:`JobBase` subclass per kind of work: the
  campaign's (:mod:`campaign.jobs.campaign`, on Ray through
  :class:`campaign.distributed.executor.RayCampaignExecutor`), the same chain in process
  (:mod:`campaign.jobs.chain`), the benchmark's (:mod:`campaign.jobs.benchmark.runner`)
  and the data build's relaxations (:mod:`campaign.jobs.data.relax`).
"""

from campaign.engine.executors import (
    InProcessExecutor,
    PoolExecutor,
    init_worker,
    make_pool,
    run_guarded,
)
from campaign.engine.ray_actors import RayActorExecutor, TaskActor
from campaign.engine.run import Executor, Job, JobBase, Outcome, RunReport, Store, run_job

__all__ = [
    "Executor",
    "InProcessExecutor",
    "Job",
    "JobBase",
    "Outcome",
    "PoolExecutor",
    "RayActorExecutor",
    "RunReport",
    "Store",
    "TaskActor",
    "init_worker",
    "make_pool",
    "run_guarded",
    "run_job",
]
