"""A handful of hostile inputs through the real command line, as subprocesses: exit 2, one
stderr line, peak resident memory (``os.wait4``) below 1.5 GB. Wall time is measured in
``benchmarks/probe_inputs.py``, not here."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from tests.fuzz.test_fuzz_config import ADVERSARIAL, anchor_fan

MAX_RSS_MB = 1500.0


def run_cli(argv: list[str]) -> tuple[int, list[str], float]:
    """``(exit code, stderr lines, peak RSS MB)`` of ``chggen argv`` in a subprocess."""
    with tempfile.TemporaryFile() as err:
        process = subprocess.Popen([sys.executable, "-m", "campaign.cli", *argv],
                                   stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        err.seek(0)
        lines = err.read().decode(errors="replace").strip().splitlines()
    return os.waitstatus_to_exitcode(status), lines, usage.ru_maxrss / 1024


def _file(folder: Path, name: str, content: str | bytes) -> str:
    path = folder / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode(
        "utf-8", "surrogatepass"))
    return str(path)


CIF = ("data_x\n_cell_length_a 4\n_cell_length_b 4\n_cell_length_c 4\n_cell_angle_alpha 90\n"
       "_cell_angle_beta 90\n_cell_angle_gamma 90\nloop_\n_atom_site_label\n"
       "_atom_site_type_symbol\n_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\n")


@pytest.mark.parametrize(("name", "content", "command", "said"), [
    ("bomb.yaml", anchor_fan(9, 9), ["run"], "YAML nodes"),
    ("binary.yaml", bytes(range(256)) * 4, ["check"], "not a UTF-8 text file"),
    ("huge.yaml", "compositions: {cells: [LiSi]}\nsamples_per_task: 1000000000\n", ["check"],
     "limits.samples_per_task"),
    ("nan.cif", CIF + "Si1 Si nan 0 0\n", ["inpaint", "{path}", "--guest", "Li:1"],
     "not all finite"),
])
def test_real_cli_refuses_in_one_line_within_the_memory_bound(tmp_path, name, content,
                                                              command, said) -> None:
    path = _file(tmp_path, name, content)
    argv = [word.replace("{path}", path) for word in command]
    if "{path}" not in command:
        argv.append(path)
    code, lines, rss_mb = run_cli(argv)
    assert code == 2 and len(lines) == 1 and said in lines[0], lines
    assert rss_mb < MAX_RSS_MB


@settings(max_examples=3, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(ADVERSARIAL)
def test_generated_adversarial_configs_through_the_cli(content) -> None:
    with tempfile.TemporaryDirectory() as folder:
        code, lines, rss_mb = run_cli(["check", _file(Path(folder), "c.yaml", content)])
    assert code == 2 and len(lines) == 1, lines
    assert rss_mb < MAX_RSS_MB
