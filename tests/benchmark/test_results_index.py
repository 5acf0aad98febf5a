"""benchmarks/results/ has an index (README.md) that lists every file, is up to date, and
every result file the README, the docs and the model card cite exists and is listed."""

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


def test_every_cited_result_exists_and_is_indexed() -> None:
    index = (RESULTS / "README.md").read_text()
    texts = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
             ROOT / "chggen_kernels" / "data" / "MODEL_CARD.md"]
    cited = set()
    for path in texts:
        cited |= set(re.findall(r"benchmarks/results/([A-Za-z0-9_.-]+\.(?:json|md|png))",
                                path.read_text()))
    assert cited, "no citation found: the pattern is wrong"
    for name in sorted(cited - {"README.md"}):  # the index itself
        assert (RESULTS / name).is_file(), f"{name} is cited but does not exist"
        assert f"`{name}`" in index, f"{name} is cited but not in the index"
