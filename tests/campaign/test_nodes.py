"""The driver's view of nodes: events, tasks in flight on a lost node, the kept summary."""

from __future__ import annotations

import json

from campaign.distributed.nodes import POLL_S, NodeWatch
from campaign.distributed.summary import CampaignSummary


def _node(address: str, **resources: float) -> dict:
    return {"NodeManagerAddress": address, "Alive": True,
            "Resources": {"CPU": 1.0, "memory": 1e9, f"node:{address}": 1.0, **resources}}


def test_node_up_and_down_events_name_the_tasks_in_flight_there() -> None:
    table = {"head": _node("127.0.0.1")}
    now = [0.0]
    watch = NodeWatch(nodes=lambda: dict(table), clock=lambda: now[0])
    watch.place({"sampler 0": "gpu-node-aaaa", "relax 0": "cpu-node-bbbb"})
    in_flight = {"sampler 0": ["task-a", "task-b"], "relax 0": ["task-c"]}
    table["gpu-node-aaaa"] = _node("127.0.0.2", sampler_node=1.0)
    table["cpu-node-bbbb"] = _node("127.0.0.3", relax_node=1.0)
    now[0] = 1.0
    ups = watch.poll(in_flight.get)
    assert sorted(e["event"] for e in ups) == ["node up", "node up"]
    assert {e["node_id"]: e["resources"] for e in ups}["gpu-node-aaa"] == {
        "CPU": 1.0, "sampler_node": 1.0}
    del table["gpu-node-aaaa"]
    now[0] = 1.0 + POLL_S / 2
    assert watch.poll(in_flight.get) == []  # the table is read at most every POLL_S s
    now[0] = 1.0 + POLL_S
    (down,) = watch.poll(in_flight.get)
    assert down["event"] == "node down" and down["actors"] == ["sampler 0"]
    assert down["tasks_in_flight"] == ["task-a", "task-b"]
    report = watch.report()
    assert report["tasks_retried_after_node_loss"] == {"task-a": "gpu-node-aaaa",
                                                       "task-b": "gpu-node-aaaa"}
    assert [e["event"] for e in report["node_events"]] == ["node up", "node up", "node down"]


def test_summary_is_kept_in_the_results_folder_and_names_node_events(tmp_path) -> None:
    summary = CampaignSummary(output=str(tmp_path), tasks_written=3, candidates_written=6)
    summary.nodes = {"node_events": [{"event": "node down"}],
                     "tasks_retried_after_node_loss": {"t1": "n"}}
    path = summary.keep(tmp_path)
    assert path.parent.name == "_runs" and path.name.endswith(".json")
    assert json.loads(path.read_text())["nodes"]["tasks_retried_after_node_loss"] == {"t1": "n"}
    assert "1 node events, 1 tasks retried after a node loss" in summary.line()
