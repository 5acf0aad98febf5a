"""Autoscaling on one machine: scale-up on demand, node loss, idle scale-down (fake runner).

A :class:`campaign.distributed.fake_cluster.FakeAutoscalingCluster` (Ray's fake multi-node
autoscaler, the node types of cluster.yaml scaled to one CPU each, every process on
127.0.0.1) starts with its head alone (CPU 0). A campaign with one sampler actor
(``sampler_node``, one logical GPU) and one relaxation actor (``relax_node``) and
``wait_for_resources`` runs against it with the fake stage runner (``--sample-s`` and
``--relax-s`` seconds per candidate), so the autoscaler must start a ``gpu_sampler`` and
a ``cpu_relax`` node. With ``--kill`` (default) the raylet of the sampler node is SIGKILLed
once ``--kill-at`` of the candidates are relaxed, then, once the replacement sampler has
produced, the relaxation node's: Ray restarts the actors, the autoscaler terminates the
dead nodes (no heartbeat) and launches new ones, and the campaign must end with every
candidate exactly once. Then it waits for the idle nodes to be terminated.

Recorded: node up and down times (``ray.nodes()`` polled every 0.25 s), the autoscaler's
launch and terminate events (its log), every sampling and relaxation call (node, start,
end), the candidates (lost, duplicated, failed), every socket of the cluster and of this
driver sampled each second (off loopback: must be none), and the processes left after the
cluster is ended (must be none). Run from the repository root::

    python benchmarks/bench_autoscaling.py                 # about 2-3 minutes on 2 cores

Writes ``benchmarks/results/autoscaling.json`` and ``autoscaling_timeline.png``.
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _autoscaling_threads import Killer, Watcher  # noqa: E402
from plot_autoscaling import plot  # noqa: E402
from stamp import stamp, stamped  # noqa: E402

from campaign.config.model import validate_config  # noqa: E402
from campaign.distributed.fake_cluster import (  # noqa: E402
    FakeAutoscalingCluster,
    node_types_from_cluster_yaml,
)

RESULTS = ROOT / "benchmarks" / "results"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--idle-timeout-min", type=float, default=0.25,
                   help="autoscaler idle_timeout_minutes")
    p.add_argument("--heartbeat-timeout-s", type=int, default=10,
                   help="AUTOSCALER_HEARTBEAT_TIMEOUT_S: a silent node is terminated after it")
    p.add_argument("--status-fix", action="store_true",
                   help="StatusFixedProvider: Ray's fake provider with worker nodes "
                        "'up-to-date', so that a silent node is terminated after the "
                        "heartbeat timeout (else only once idle_timeout_minutes passed)")
    p.add_argument("--max-task-retries", type=int, default=3,
                   help="resources.max_task_retries of the campaign (-1: until the actor "
                        "is back)")
    p.add_argument("--samples-per-task", type=int, default=8,
                   help="candidates per task (9 tasks)")
    p.add_argument("--sample-s", type=float, default=0.2, help="fake sampling s/candidate")
    p.add_argument("--relax-s", type=float, default=0.5, help="fake relaxation s/candidate")
    p.add_argument("--kill", action=argparse.BooleanOptionalAction, default=True,
                   help="SIGKILL the sampler node's raylet, then the relaxation node's")
    p.add_argument("--kill-mode", choices=("raylet", "node"), default="raylet",
                   help="raylet: the raylet alone; node: the raylet and its process tree "
                        "(workers, agents) at once, as when a machine is lost")
    p.add_argument("--kill-at", type=float, default=0.2,
                   help="fraction of candidates relaxed before the first kill")
    p.add_argument("--scale-down-wait-s", type=float, default=120.0)
    p.add_argument("--keep-temp", action="store_true",
                   help="keep the cluster's temporary directory (Ray's logs)")
    p.add_argument("--output", default=str(RESULTS / "autoscaling.json"))
    p.add_argument("--figure", default=str(RESULTS / "autoscaling_timeline.png"))
    return p.parse_args(argv)


def campaign_config(output: Path, samples_per_task: int, max_task_retries: int) -> Any:
    """9 tasks, one actor of each kind, asking what examples/li_si_cluster.yaml asks."""
    return validate_config({
        "name": "autoscale_bench",
        "compositions": {"cells": ["Li3Si", "Li4Si2", "Li5Si2"]},
        "lattice": {"families": ["cubic", "hexagonal", "tetragonal"]},
        "samples_per_task": samples_per_task, "volume_per_atom": 20.0, "output": str(output),
        "resources": {"sampler_actors": 1, "gpus_per_sampler": 1, "cpus_per_sampler": 1,
                      "sampler_resources": {"sampler_node": 1}, "relax_actors": 1,
                      "cpus_per_relax_actor": 1, "relax_resources": {"relax_node": 1},
                      "max_candidates_in_flight": 6, "wait_for_resources": True,
                      "max_task_retries": max_task_retries},
    })


def check_candidates(config: Any) -> dict[str, Any]:
    """Expected ids against the folder: written, lost, duplicated, failed."""
    import pandas as pd

    from campaign.jobs.tasks import task_specs, unconditional_tasks

    expected = {s.candidate_id for task in unconditional_tasks(config)
                for s in task_specs(task, config.seed, 20.0)}
    parts = list(Path(config.output).glob("part-*.parquet"))
    table = pd.read_parquet(config.output) if parts else pd.DataFrame(
        {"candidate_id": [], "status": [], "failure_reason": []})
    counts = collections.Counter(table["candidate_id"])
    failed = table[table["status"] != "ok"]
    return {"expected": len(expected), "rows": len(table),
            "lost": sorted(expected - set(counts)),
            "duplicated": sorted(i for i, n in counts.items() if n > 1),
            "unexpected": sorted(set(counts) - expected), "failed": len(failed),
            "failure_reasons": dict(collections.Counter(failed["failure_reason"]))}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import ray

    from campaign.distributed.driver import CampaignError, run_campaign
    from tests.campaign.fake_runner import FakeRunnerFactory
    from tests.campaign.placed_runner import PlacedRunnerFactory, read_events, register_by_value

    work = Path(tempfile.mkdtemp(prefix="bench_autoscale_"))
    config = campaign_config(work / "out", args.samples_per_task, args.max_task_retries)
    log = str(work / "calls.jsonl")
    types = node_types_from_cluster_yaml(ROOT / "cluster.yaml", cpus_per_node=1, max_workers=1)
    cluster = FakeAutoscalingCluster(types, idle_timeout_minutes=args.idle_timeout_min,
                                     heartbeat_timeout_s=args.heartbeat_timeout_s,
                                     node_status_fix=args.status_fix)
    t_cluster = time.time()
    cluster.start()
    head_start_s = time.time() - t_cluster
    register_by_value()
    result: dict[str, Any] = {}
    watcher = Watcher(cluster)
    killer = Killer(cluster, log, 9 * args.samples_per_task, args.kill_at, args.kill_mode)
    factory = PlacedRunnerFactory(FakeRunnerFactory(
        sample_seconds=args.sample_s, relax_seconds=args.relax_s), log)
    summary, error = None, None
    try:
        with cluster.driver_env():
            ray.init(address=cluster.address, log_to_driver=False)
            try:
                watcher.poll_nodes()
                watcher.start()
                if args.kill:
                    killer.start()
                t0 = time.time()
                try:
                    summary = run_campaign(config, address=cluster.address, progress=False,
                                           runner_factory=factory)
                except CampaignError as exc:  # e.g. 25 candidates in a row lost their worker
                    error = str(exc)
                t_end = time.time()
                killer.stop()
                deadline = time.time() + args.scale_down_wait_s
                while (watcher.alive_workers() or cluster.worker_node_processes()) and \
                        time.time() < deadline:
                    time.sleep(0.25)
                t_idle = time.time()
            finally:
                killer.stop()
                watcher.stop()
                watcher.sample_sockets()
                ray.shutdown()  # before the cluster goes: else Ray waits 60 s for its GCS
        result = report(args, cluster, watcher, killer, read_events(log), t0, t_end, t_idle,
                        summary, check_candidates(config), head_start_s)
        result["campaign_error"] = error
        # what the driver kept in the results folder: node events, actor placement and the
        # tasks in flight on a lost node (campaign.distributed.nodes)
        result["run_summaries"] = [json.loads(path.read_text()).get("nodes") for path in
                                   sorted((Path(config.output) / "_runs").glob("*.json"))]
    finally:
        left = cluster.shutdown(keep_temp=args.keep_temp)
        if args.keep_temp:
            print(f"Ray's logs: {cluster.session_dir}/logs; campaign: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
        time.sleep(1.0)
        result["processes_ended_at_shutdown"] = left
        result["processes_left_after_shutdown"] = len(cluster.processes())
    Path(args.output).write_text(json.dumps(stamped(result, stamp(argv, __file__)), indent=1,
                                            default=str))
    plot(result, args.figure)
    print(json.dumps(result["measured"], indent=1))
    print(f"wrote {args.output} and {args.figure}")
    ok = (not error and not result["candidates"]["lost"] and not result["candidates"]["duplicated"]
          and not result["off_loopback_sockets"] and not result["processes_left_after_shutdown"])
    return 0 if ok else 1


def _type_of(resources: dict[str, float]) -> str:
    if resources.get("sampler_node"):
        return "gpu_sampler"
    if resources.get("relax_node"):
        return "cpu_relax"
    return "head"


def report(args: argparse.Namespace, cluster: FakeAutoscalingCluster, watcher: Watcher,
           killer: Killer, calls: list[dict[str, Any]], t0: float, t_end: float,
           t_idle: float, summary: Any, candidates: dict[str, Any], head_start_s: float
           ) -> dict[str, Any]:
    """The timeline (seconds from the campaign's start) and the measured latencies."""
    import ray

    def rel(t: float | None) -> float | None:
        return None if t is None else round(t - t0, 3)

    nodes = [{"node_id": n["node_id"], "type": _type_of(n["resources"]), "up_s": rel(n["up"]),
              "down_s": rel(n["down"]), "death": n["death"]} for n in watcher.nodes.values()]
    events = [{**e, "t_s": rel(e.pop("t"))} for e in cluster.autoscaler_events()]
    loads = [{"kind": c["kind"], "node_id": c["node"], "t_s": rel(c["t"])}
             for c in calls if c["event"] == "load"]
    by_type: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for n in sorted(nodes, key=lambda n: n["up_s"] if n["up_s"] is not None else 1e9):
        by_type[n["type"]].append(n)
    first = {k: v[0] for k, v in by_type.items() if k != "head"}
    launches = collections.defaultdict(list)
    for e in events:
        if e["event"] == "launch":
            launches[e["node_type"]].append(e["t_s"])
    queued = [e["t_s"] for e in events if e["event"] == "queue"]
    kills = []
    for k in killer.kills:
        node_type = "gpu_sampler" if k["kind"] == "sampler" else "cpu_relax"
        t_kill = rel(k["t"])
        later = [n for n in by_type[node_type] if (n["up_s"] or -1.0) > t_kill]
        reload = [x["t_s"] for x in loads if x["kind"] == k["kind"] and x["t_s"] > t_kill]
        relaunch = [t for t in launches[node_type] if t > t_kill]
        terminated = [e["t_s"] for e in events
                      if e["event"] == "terminate" and e["node_id"] == k["node_id"]]
        dead = next((n for n in nodes if n["node_id"] == k["node_id"]), {})
        kills.append({
            "kind": k["kind"], "node_id": k["node_id"], "raylet_pid": k["raylet_pid"],
            "also_killed": k["also_killed"],
            "relaxed_before": k["relaxed_before"], "t_s": t_kill,
            "node_marked_dead_s": dead.get("down_s"),
            "autoscaler_terminated_s": terminated[0] if terminated else None,
            "relaunch_s": relaunch[0] if relaunch else None,
            "replacement_up_s": later[0]["up_s"] if later else None,
            "actor_reloaded_s": reload[0] if reload else None,
            "replaced_after_s": round(reload[0] - t_kill, 2) if reload else None})
    idle_downs = {n["node_id"]: n["down_s"] for n in nodes
                  if n["type"] != "head" and n["down_s"] is not None
                  and n["down_s"] >= rel(t_end) - 1.0}
    measured = {
        "head_start_s": round(head_start_s, 2),
        "campaign_s": rel(t_end),
        "first_launch_queued_s": queued[0] if queued else None,
        "scale_up": {t: {"launch_s": launches[t][0] if launches[t] else None,
                         "node_up_s": n["up_s"],
                         "actor_ready_s": next((x["t_s"] for x in loads
                                                if x["node_id"] == n["node_id"]), None)}
                     for t, n in first.items()},
        "node_loss": [{key: k[key] for key in (
            "kind", "t_s", "node_marked_dead_s", "autoscaler_terminated_s", "relaunch_s",
            "replacement_up_s", "actor_reloaded_s", "replaced_after_s")} for k in kills],
        "scale_down_after_campaign_end_s": {
            next(n["type"] for n in nodes if n["node_id"] == i): round(d - rel(t_end), 2)
            for i, d in idle_downs.items()},
        "idle_timeout_s": args.idle_timeout_min * 60,
        "all_workers_gone_s": rel(t_idle),
        "candidates_lost": len(candidates["lost"]),
        "candidates_duplicated": len(candidates["duplicated"]),
        "candidates_failed": candidates["failed"],
        # at-least-once execution, exactly-once results: calls retried after a node loss
        "executed_more_than_once": {kind: sum(n > 1 for n in collections.Counter(
            i for c in calls if c["event"] == kind for i in c["ids"]).values())
            for kind in ("generate", "relax")},
    }
    return {
        "benchmark": "autoscaling", "ray": ray.__version__,
        "settings": {"node_types": cluster.worker_types, "kill": args.kill,
                     "kill_mode": args.kill_mode, "status_fix": args.status_fix,
                     "samples_per_task": args.samples_per_task,
                     "max_task_retries": args.max_task_retries,
                     "kill_at": args.kill_at, "sample_s": args.sample_s,
                     "relax_s": args.relax_s, "idle_timeout_minutes": args.idle_timeout_min,
                     "heartbeat_timeout_s": args.heartbeat_timeout_s,
                     "update_interval_s": cluster.update_interval_s},
        "measured": measured,
        "summary": None if summary is None else {
            "candidates_written": summary.candidates_written,
            "candidates_failed": summary.candidates_failed,
            "tasks_written": summary.tasks_written, "actor_start_s": summary.actor_start_s},
        "candidates": candidates, "nodes": nodes, "autoscaler_events": events,
        "actor_loads": loads, "kills": kills,
        "calls": [{"event": c["event"], "node_id": c["node"], "t0_s": rel(c["t0"]),
                   "t1_s": rel(c["t1"]), "n": len(c["ids"]), "ids": c["ids"]}
                  for c in calls if c["event"] != "load"],
        "off_loopback_sockets": sorted(watcher.off_loopback),
        "socket_samples": watcher.socket_samples,
    }


if __name__ == "__main__":
    sys.exit(main())
