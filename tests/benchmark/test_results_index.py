"""benchmarks/results/ has an index (README.md) that lists every file and is up to date
(what the README and the docs cite: test_results_cited.py)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"


def test_index_lists_every_file_and_is_current() -> None:
    index = (RESULTS / "README.md").read_text()
    listed = set(re.findall(r"^\| `([^`]+)` \|", index, flags=re.MULTILINE))
    present = {p.name for p in RESULTS.iterdir() if p.name != "README.md"}
    assert listed == present
    check = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "index_results.py"),
                            "--check"], capture_output=True, text=True)
    assert check.returncode == 0, "run python benchmarks/index_results.py"

