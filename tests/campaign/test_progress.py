"""Progress: a bar on a terminal, a plain line at most every 30 s in a log file, a stable
ETA (the average rate since the start), nothing with --no-progress."""

from __future__ import annotations

import io

from campaign.engine.progress import PLAIN_INTERVAL_S, PlainProgress, progress_bar


def test_a_log_file_gets_plain_lines_at_most_every_interval_and_one_at_the_end() -> None:
    now = [0.0]
    stream = io.StringIO()
    bar = PlainProgress(40, "scan-Li-Si", "tasks", stream=stream, clock=lambda: now[0])
    for k in range(1, 11):  # 10 tasks, 6 s each: one line after 30 s
        now[0] = 6.0 * k
        bar.update(1)
        bar.set_postfix(candidates=2 * k, failed=0)
    bar.close()
    lines = stream.getvalue().splitlines()
    assert lines[0] == ("scan-Li-Si: 5/40 tasks (12 %), 30 s so far, about 3.5 min left; "
                        "candidates=8 failed=0")
    assert len(lines) == 3 and lines[-1].startswith("scan-Li-Si: 10/40 tasks (25 %), 60 s")
    assert PLAIN_INTERVAL_S == 30.0


def test_the_eta_is_the_average_rate_not_the_last_item() -> None:
    now = [0.0]
    bar = PlainProgress(4, "x", stream=io.StringIO(), clock=lambda: now[0])
    now[0] = 10.0
    bar.update(1)
    now[0] = 100.0  # one slow item
    bar.update(1)
    assert "about 100 s left" in bar.line()  # 2 left at 50 s each, not 90 s each


def test_not_a_terminal_is_plain_and_disabled_is_silent() -> None:
    stream = io.StringIO()
    bar = progress_bar(3, "x", enabled=True, stream=stream)
    assert isinstance(bar, PlainProgress)
    silent = progress_bar(3, "x", enabled=False, stream=stream)
    silent.update(3)
    silent.write("nothing")
    silent.close()
    assert stream.getvalue() == ""
