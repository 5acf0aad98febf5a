"""Run one fuzz case in a forked child under a memory ceiling, and classify the outcome.

The child inherits the test process (its imports are already paid for) and gets
``RLIMIT_AS`` = its current address space + ``headroom_mb``: an input that makes the
validation allocate more is a crash, not a swap storm. Outcomes: ``accepted`` (the
function returned), ``refused`` (a chggen ``InputError``: one line per problem, as the
command line prints it), ``crash`` (anything else: another exception, a signal, the
memory ceiling, the time limit), with the error text.
"""

from __future__ import annotations

import os
import pickle
import resource
import signal
import traceback
from collections.abc import Callable
from typing import Any

from chggen_kernels.errors import InputError

HEADROOM_MB = int(os.environ.get("CHGGEN_FUZZ_HEADROOM_MB", "768"))
TIME_LIMIT_S = 20


def _address_space_bytes() -> int:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[0])
    return pages * os.sysconf("SC_PAGE_SIZE")


def tally(suite: str, outcome: str, detail: str) -> None:
    """Append the outcome to the JSON-lines file named by ``CHGGEN_FUZZ_TALLY`` (the long
    run, ``benchmarks/fuzz_inputs.py``, counts cases tried, accepted, refused, crashed)."""
    path = os.environ.get("CHGGEN_FUZZ_TALLY")
    if path:
        import json

        with open(path, "a") as handle:
            handle.write(json.dumps({"suite": suite, "outcome": outcome,
                                     "detail": detail.splitlines()[0][:300] if detail
                                     else ""}) + "\n")


def run_forked(function: Callable[[], Any], headroom_mb: int = HEADROOM_MB
               ) -> tuple[str, str]:
    """``(outcome, detail)`` of ``function()`` run in a forked child (see the module)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never returns
        os.close(read_end)
        code, result = 0, ("accepted", "")
        try:
            ceiling = _address_space_bytes() + headroom_mb * 2**20
            resource.setrlimit(resource.RLIMIT_AS, (ceiling, ceiling))
            signal.alarm(TIME_LIMIT_S)
            function()
        except InputError as exc:
            result = ("refused", str(exc))
        except BaseException as exc:  # noqa: BLE001 - every other outcome is a crash
            result = ("crash", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"[:4000])
        try:
            os.write(write_end, pickle.dumps(result))
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as handle:
        data = handle.read()
    _, status = os.waitpid(pid, 0)
    if not data:
        return "crash", f"child ended without a result (wait status {status})"
    return pickle.loads(data)
