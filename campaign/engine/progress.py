"""One progress display for every long command: a tqdm bar on a terminal, plain lines in a
log file.

:func:`progress_bar` returns a :class:`tqdm`-like object (``update``, ``set_postfix``,
``total``, ``refresh``, ``close``): on a terminal a real tqdm bar whose ETA is the average
rate since the start (``smoothing=0``: it does not swing with the last item's time); when
stderr is not a terminal (a log file, a batch job) a :class:`PlainProgress` that prints
one line at most every :data:`PLAIN_INTERVAL_S` seconds, and at the end, instead of
redrawing a bar every second; ``enabled=False`` (``--no-progress``) shows nothing.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

__all__ = ["PLAIN_INTERVAL_S", "PlainProgress", "progress_bar"]

PLAIN_INTERVAL_S = 30.0


def _duration(seconds: float) -> str:
    if seconds != seconds or seconds < 0:  # NaN: nothing done yet
        return "?"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


class PlainProgress:
    """Progress as plain lines: ``desc: 12/40 tasks (30 %), 1.2 min so far, about 2.8 min
    left; candidates=24 failed=0``, at most every ``interval_s`` seconds and once at the
    end. The ETA is the average rate since the start."""

    def __init__(self, total: int, desc: str, unit: str = "it", *,
                 stream: TextIO | None = None, interval_s: float = PLAIN_INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.total, self.desc, self.unit, self.n = total, desc, unit, 0
        self._stream, self._interval, self._clock = stream, interval_s, clock
        self._started = clock()
        self._last = self._started
        self._postfix = ""

    def line(self) -> str:
        elapsed = self._clock() - self._started
        left = elapsed * (self.total - self.n) / self.n if self.n else float("nan")
        share = f" ({100 * self.n / self.total:.0f} %)" if self.total else ""
        postfix = f"; {self._postfix}" if self._postfix else ""
        return (f"{self.desc}: {self.n}/{self.total} {self.unit}{share}, "
                f"{_duration(elapsed)} so far, about {_duration(left)} left{postfix}")

    def _print(self) -> None:
        print(self.line(), file=self._stream or sys.stderr, flush=True)
        self._last = self._clock()

    def update(self, n: int = 1) -> None:
        self.n += n
        if self._clock() - self._last >= self._interval:
            self._print()

    def set_postfix(self, refresh: bool = True, **values: Any) -> None:
        self._postfix = " ".join(f"{k}={v}" for k, v in values.items())

    def refresh(self) -> None:
        if self._clock() - self._last >= self._interval:
            self._print()

    def close(self) -> None:
        if self.n or self.total:
            self._print()

    def write(self, line: str) -> None:
        """A message line beside the progress (a failure, a note)."""
        print(line, file=self._stream or sys.stderr, flush=True)


class _Silent:
    """``enabled=False``: the same calls, nothing shown."""

    def __init__(self, total: int) -> None:
        self.total, self.n = total, 0

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_postfix(self, refresh: bool = True, **values: Any) -> None:
        return None

    def refresh(self) -> None:
        return None

    def close(self) -> None:
        return None

    def write(self, line: str) -> None:
        return None


class _Bar:
    """A tqdm bar with :meth:`write` (lines printed above the bar, not through it)."""

    def __init__(self, bar: Any) -> None:
        self._bar = bar

    def __getattr__(self, name: str) -> Any:
        return getattr(self._bar, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "_bar":
            object.__setattr__(self, name, value)
        else:
            setattr(self._bar, name, value)

    def write(self, line: str) -> None:
        self._bar.write(line, file=self._bar.fp)


def progress_bar(total: int, desc: str, unit: str = "it", *, enabled: bool = True,
                 stream: TextIO | None = None) -> Any:
    """A tqdm bar on a terminal, :class:`PlainProgress` lines otherwise, nothing when not
    ``enabled`` (see the module docstring)."""
    if not enabled:
        return _Silent(total)
    stream = stream or sys.stderr
    if not stream.isatty():
        return PlainProgress(total, desc, unit, stream=stream)
    from tqdm.auto import tqdm

    return _Bar(tqdm(total=total, desc=desc, unit=unit, file=stream, smoothing=0.0,
                     dynamic_ncols=True, mininterval=1.0))
