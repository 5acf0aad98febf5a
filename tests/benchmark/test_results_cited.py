"""Results you can trust: every result file the README, the docs, the model card and the
examples cite exists and is in the index (benchmarks/results/README.md), or is cited as an
older version in git history (``COMMIT:benchmarks/results/FILE``) that git has; and every
JSON result carries a complete stamp (benchmarks/stamp.py)."""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"
RESULTS = BENCHMARKS / "results"

NAME = r"[\w*-]+(?:\.[\w-]+)*?\.(?:json|md|png|\{[a-z,]+\})"
# benchmarks/results/FILE, optionally COMMIT: before it (a version in git history)
PATH_CITATION = re.compile(rf"(?:\b([0-9a-f]{{7,40}}):)?benchmarks/results/({NAME})")
# results/FILE written without benchmarks/ (docs/sampling.md does)
BARE_PATH_CITATION = re.compile(rf"(?<![\w~/.:-])results/({NAME})")
# `FILE` alone, counted when FILE is named like a result
NAME_CITATION = re.compile(rf"`({NAME})`")


def _module(name: str):
    spec = importlib.util.spec_from_file_location(f"_results_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cited_texts() -> list[Path]:
    """README, docs, model card(s), examples and benchmarks/*.md."""
    texts = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
             *sorted(ROOT.glob("chggen_kernels/**/MODEL_CARD.md")),
             *sorted(BENCHMARKS.glob("*.md"))]
    examples = ROOT / "examples"
    if examples.is_dir():
        texts += sorted(p for p in examples.rglob("*") if p.is_file()
                        and p.suffix in {".md", ".py", ".yaml", ".yml", ".ipynb", ".sh", ".txt"})
    return texts


def expand(name: str) -> list[str]:
    """``a.{json,md}`` -> ``a.json``, ``a.md``."""
    brace = re.search(r"\.\{([a-z,]+)\}$", name)
    if not brace:
        return [name]
    return [f"{name[:brace.start()]}.{ext}" for ext in brace.group(1).split(",")]


def citations(text: str, kinds: list[str]) -> set[tuple[str | None, str]]:
    """(commit or None, file name) of every result cited in ``text``."""
    text = re.sub(r"results/\s+", "results/", text)  # a path broken across two lines
    found = {(commit or None, name) for commit, raw in PATH_CITATION.findall(text)
             for name in expand(raw)}
    found |= {(None, name) for raw in BARE_PATH_CITATION.findall(text) for name in expand(raw)}
    found |= {(None, name) for raw in NAME_CITATION.findall(text) for name in expand(raw)
              if any(re.match(pattern, name) for pattern in kinds)}
    return {(c, n) for c, n in found if n != "README.md"}  # the index itself


def _git_has(commit: str, name: str) -> bool | None:
    """Whether git has benchmarks/results/``name`` at ``commit``; None when it cannot say
    (no git, not a repository, or a shallow clone without that commit)."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        return None

    def ok(spec: str) -> bool:
        return subprocess.run(["git", "cat-file", "-e", spec], cwd=ROOT,
                              capture_output=True).returncode == 0

    if not ok(f"{commit}^{{commit}}"):
        return None
    return ok(f"{commit}:benchmarks/results/{name}")


def test_the_patterns_find_each_form() -> None:
    kinds = [r"^model_quality", r"^sampler\.json"]
    text = ("see `benchmarks/results/model_quality.{json,md}`, `abc1234:benchmarks/results/\n"
            "  model_quality_run_b.json`, results/sampler_bias.json, `sampler.json`, "
            "`summary.json`, ~/results/li_si/x.json and `benchmarks/results/README.md`")
    assert citations(text, kinds) == {
        (None, "model_quality.json"), (None, "model_quality.md"),
        ("abc1234", "model_quality_run_b.json"), (None, "sampler_bias.json"),
        (None, "sampler.json")}


def test_every_cited_result_exists_and_is_indexed() -> None:
    index = (RESULTS / "README.md").read_text()
    present = {p.name for p in RESULTS.iterdir()}
    # named like a result: a pattern of the index, or the first word of a result's name
    kinds = [pattern for pattern, _, _ in _module("index_results").KINDS]
    kinds += sorted({rf"^{re.escape(re.split('[_.]', n)[0])}[_.]" for n in present
                     if n != "README.md"})
    problems, seen = [], 0
    for path in cited_texts():
        where = path.relative_to(ROOT)
        for commit, name in sorted(citations(path.read_text(errors="replace"), kinds),
                                   key=lambda c: (c[0] or "", c[1])):
            seen += 1
            if commit is not None:
                if _git_has(commit, name) is False:
                    problems.append(f"{where}: {commit}:benchmarks/results/{name} is not in git")
                continue
            matches = fnmatch.filter(present, name) if "*" in name else [name]
            if not any((RESULTS / m).is_file() for m in matches):
                problems.append(f"{where}: {name} is cited but not in benchmarks/results/ (cite "
                                "the current file, or COMMIT:benchmarks/results/FILE)")
            elif not all(f"`{m}`" in index for m in matches if (RESULTS / m).is_file()):
                problems.append(f"{where}: {name} is cited but not in the index "
                                "(python benchmarks/index_results.py)")
    assert seen > 10, "hardly any citation found: the patterns are wrong"
    assert not problems, "\n".join(problems)


def test_every_json_result_is_stamped() -> None:
    stamp = _module("stamp")
    results = sorted(RESULTS.glob("*.json"))
    assert results
    bad = {p.name: stamp.problems(json.loads(p.read_text())) for p in results}
    assert not {k: v for k, v in bad.items() if v}
    for path in results:  # the stamp is the first key, where a reader looks first
        assert next(iter(json.loads(path.read_text()))) == "stamp", path.name


def test_a_fresh_stamp_is_complete(monkeypatch: pytest.MonkeyPatch) -> None:
    stamp = _module("stamp")
    monkeypatch.setattr(sys, "argv", ["benchmarks/bench_x.py", "--n", "2"])
    fresh = stamp.stamp()
    assert fresh["command"] == "python benchmarks/bench_x.py --n 2"
    assert stamp.stamp(["--k", "a b"], str(BENCHMARKS / "bench_y.py"))["command"] == (
        "python benchmarks/bench_y.py --k 'a b'")
    result = stamp.stamped({"value": 1, "stamp": {"old": True}}, fresh)
    assert list(result) == ["stamp", "value"]
    assert "no 'stamp'" in stamp.problems({"value": 1})
    if fresh["commit"] is None:
        pytest.skip("not a git checkout: the stamp has no commit")
    assert stamp.problems(result) == []
    recovered = dict(fresh, dirty=None, load_average=None, recovered_from_git=True)
    assert stamp.problems({"stamp": recovered}) == ["a recovered stamp without 'sources'"]
