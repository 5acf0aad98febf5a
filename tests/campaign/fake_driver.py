"""``python -m tests.campaign.fake_driver CONFIG ADDRESS RELAX_SECONDS``: ``chggen run`` with
the fake runner, for the interrupted-driver test (a real process receiving SIGINT)."""

from __future__ import annotations

import sys

from campaign.commands.run import execute
from campaign.config.model import load_config
from campaign.engine.ray_toolkit import loopback_only
from tests.campaign.fake_runner import FakeRunnerFactory, register_by_value


def main() -> int:
    import signal

    # a child of a background job inherits an ignored SIGINT; the test sends one
    signal.signal(signal.SIGINT, signal.default_int_handler)
    config_path, address, relax_seconds = sys.argv[1:4]
    import ray

    with loopback_only():  # the test's Ray listens on 127.0.0.1 only
        ray.init(address=address, log_to_driver=False)
    register_by_value()
    factory = FakeRunnerFactory(relax_seconds=float(relax_seconds))
    return execute(load_config(config_path), address, False, False, runner_factory=factory)


if __name__ == "__main__":
    sys.exit(main())
