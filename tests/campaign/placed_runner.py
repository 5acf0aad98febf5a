"""A stage runner that records where and when it worked, for the autoscaling test and benchmark.

:class:`PlacedRunnerFactory` wraps a :class:`tests.campaign.fake_runner.FakeRunnerFactory`;
each runner it builds appends one JSON line to ``log_path`` (all nodes of the fake cluster
share this machine's file system) per event:

* ``{"event": "load", "kind": "sampler" | "relax", "node", "pid", "t"}`` when the actor
  loads its models (its full Ray node id: the fake nodes' ids share their first 51 hex
  digits, so the fake runner's 12-digit label cannot tell them apart);
* ``{"event": "generate" | "relax", "node", "pid", "t0", "t1", "ids"}`` per call.

Ray pickles the factory by value (:func:`register_by_value`), as for the fake runner.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.campaign import fake_runner
from tests.campaign.fake_runner import FakeRunnerFactory

__all__ = ["PlacedRunner", "PlacedRunnerFactory", "read_events", "register_by_value"]


def register_by_value() -> None:
    """Let Ray pickle this module's and the fake runner's classes by value."""
    import ray.cloudpickle

    fake_runner.register_by_value()
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


def read_events(log_path: str | Path) -> list[dict[str, Any]]:
    """The events logged so far (a line being written is skipped)."""
    path = Path(log_path)
    if not path.exists():
        return []
    events = []
    for line in path.read_text().splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events


def _node_id() -> str:
    import ray

    return ray.get_runtime_context().get_node_id() if ray.is_initialized() else "local"


class PlacedRunnerFactory:
    """``factory(settings)``: the wrapped factory's runner, logging to ``log_path``."""

    def __init__(self, inner: FakeRunnerFactory, log_path: str) -> None:
        self.inner = inner
        self.log_path = log_path

    def __call__(self, settings: Any) -> PlacedRunner:
        return PlacedRunner(self.inner(settings), self.log_path)


class PlacedRunner:
    """The wrapped runner's interface, each call logged (module docstring)."""

    def __init__(self, runner: Any, log_path: str) -> None:
        self.runner = runner
        self.log_path = log_path
        self.node = "local"

    def __getattr__(self, name: str) -> Any:  # model_label, settings, ...
        return getattr(self.runner, name)

    def _log(self, **event: Any) -> None:
        line = json.dumps({**event, "node": self.node, "pid": os.getpid()}) + "\n"
        with open(self.log_path, "a") as log:  # one write: lines do not interleave
            log.write(line)

    def load(self, *, model: bool = True, relaxer: bool = True) -> None:
        self.runner.load(model=model, relaxer=relaxer)
        self.node = _node_id()
        self._log(event="load", kind="sampler" if model else "relax", t=time.time())

    def generate(self, specs: Sequence[Any], progress: Any = None) -> list[Any]:
        t0 = time.time()
        out = self.runner.generate(specs, progress)
        self._log(event="generate", t0=t0, t1=time.time(),
                  ids=[s.candidate_id for s in specs])
        return out

    def relax_and_score_many(self, candidates: Sequence[Any]) -> list[Any]:
        t0 = time.time()
        out = self.runner.relax_and_score_many(candidates)
        self._log(event="relax", t0=t0, t1=time.time(),
                  ids=[c.spec.candidate_id for c in candidates])
        return out

    def relax_and_score(self, candidate: Any) -> Any:
        return self.relax_and_score_many([candidate])[0]

    def inpainting_specs(self, *args: Any, **kwargs: Any) -> Any:
        return self.runner.inpainting_specs(*args, **kwargs)
