"""benchmarks/judge_csp_targets.py: issue 36's targets on summaries with known answers."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def judge_module():
    spec = importlib.util.spec_from_file_location(
        "judge_csp_targets", ROOT / "benchmarks" / "judge_csp_targets.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["judge_csp_targets"] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("judge_csp_targets", None)


def _summary(scores: dict[str, list[tuple[int | None, bool, float]]], atoms: list[int]):
    """``scores``: per method, per compound (first match, found as lowest, CPU s)."""
    compounds = [{"compound_id": f"c{i}", "formula": f"X{i}", "n_atoms": n}
                 for i, n in enumerate(atoms)]
    rows = [{"method": m, "compound_id": f"c{i}", "n_atoms": atoms[i], "first_match": first,
             "found_as_lowest": lowest, "cpu_s": cpu, "best_minus_reference": 0.0}
            for m, per in scores.items() for i, (first, lowest, cpu) in enumerate(per)]
    k_max = max([20] + [f for per in scores.values() for f, _, _ in per if f is not None])
    return {"compounds": compounds, "scores": {"compounds": rows, "k_max": k_max}}


def _by_name(result):
    return {t["target"]: t for t in result["targets"]}


def test_a_method_that_meets_every_target(judge_module) -> None:
    # 8 compounds, 4 of 10-20 atoms; random finds 4 at 20 (2 large), 1 at 1, lowest 3;
    # the method finds 8 at 20, 3 at 1, lowest 8, and spends a third of the CPU
    random = [(None, False, 90.0)] * 4 + [(1, True, 90.0), (5, True, 90.0), (20, True, 90.0),
                                          (7, False, 90.0)]
    method = [(1, True, 30.0), (1, True, 30.0), (2, True, 30.0), (3, True, 30.0),
              (1, True, 30.0), (4, True, 30.0), (9, True, 30.0), (2, True, 30.0)]
    atoms = [12, 14, 4, 5, 16, 18, 6, 8]
    result = judge_module.judge(_summary({"random": random, "m": method}, atoms), "m",
                                "random", 20)
    t = _by_name(result)
    assert result["n_compounds"] == 8 and result["n_10to20"] == 4
    assert (t["match_at_1"]["method"], t["match_at_1"]["baseline"]) == (3, 1)
    assert (t["misses_at_k"]["method"], t["misses_at_k"]["allowed"]) == (0, 2.0)
    assert (t["misses_found_as_lowest"]["method"], t["misses_found_as_lowest"]["baseline"]) \
        == (0, 5)
    assert (t["match_at_k_10to20"]["method"], t["match_at_k_10to20"]["needed"]) == (4, 4.0)
    assert (t["paired_test"]["method_only"], t["paired_test"]["baseline_only"]) == (4, 0)
    assert t["paired_test"]["p"] == pytest.approx(0.125)  # 2 * (1/2)^4: not significant
    assert not t["paired_test"]["passed"] and not result["all_passed"]
    assert t["cpu_s_per_match"]["method"] == pytest.approx(30.0)
    assert t["cpu_s_per_match"]["baseline"] == pytest.approx(8 * 90.0 / 4)
    assert all(t[name]["passed"] for name in t if name != "paired_test")
    assert result["missed_at_k"] == []


def test_missed_targets_say_by_how_much_and_list_the_compounds(judge_module) -> None:
    random = [(3, True, 10.0), (None, False, 10.0), (2, True, 10.0)]
    method = [(None, False, 40.0), (None, True, 40.0), (6, True, 40.0)]
    summary = _summary({"random": random, "m": method, "other": random}, [12, 4, 15])
    result = judge_module.judge(summary, "m", "random", 5)
    t = _by_name(result)
    assert (t["match_at_k_10to20"]["method"], t["match_at_k_10to20"]["needed"]) == (0, 4.0)
    assert t["match_at_k_10to20"]["short_by"] == 4.0 and not t["match_at_k_10to20"]["passed"]
    assert t["misses_at_k"]["over_by"] == pytest.approx(3 - 0.5)
    # CPU per match is at the run's budget (20): 40 CPU-s x 3 / 1 match against 30 / 2
    assert (t["cpu_s_per_match"]["method"], t["cpu_s_per_match"]["baseline"]) == (120.0, 15.0)
    assert not t["cpu_s_per_match"]["passed"]
    assert [m["compound_id"] for m in result["missed_at_k"]] == ["c0", "c1", "c2"]
    assert result["missed_at_k"][0]["found_by"] == ["other", "random"]
    assert result["missed_at_k"][1]["found_by"] == []


def test_only_compounds_both_methods_ran_are_compared(judge_module) -> None:
    summary = _summary({"random": [(None, False, 1.0)] * 3,
                        "m": [(1, True, 1.0)] * 3}, [4, 5, 6])
    summary["scores"]["compounds"] = [r for r in summary["scores"]["compounds"]
                                      if not (r["method"] == "m" and r["compound_id"] == "c2")]
    result = judge_module.judge(summary, "m", "random", 20)
    assert result["n_compounds"] == 2 and result["n_compounds_in_set"] == 3
    # no finds by the baseline at 1: the method needs at least one of its own
    assert _by_name(result)["match_at_1"]["passed"]
    zero = _summary({"random": [(None, False, 1.0)], "m": [(None, False, 1.0)]}, [4])
    assert not _by_name(judge_module.judge(zero, "m", "random", 20))["match_at_1"]["passed"]
    with pytest.raises(SystemExit, match="no compound has scores for both 'x' and 'random'"):
        judge_module.judge(summary, "x", "random", 20)
    with pytest.raises(SystemExit, match=r"--k must be 1-20 \(the run's budget\), got 21"):
        judge_module.judge(summary, "m", "random", 21)
    nothing = _by_name(judge_module.judge(zero, "m", "random"))["cpu_s_per_match"]
    assert (nothing["method"], nothing["baseline"], nothing["passed"]) == (None, None, False)


def test_command_line_writes_a_stamped_result(judge_module, tmp_path, capsys) -> None:
    summary = _summary({"random": [(None, False, 1.0)], "m": [(1, True, 1.0)]}, [4])
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(summary))
    out = tmp_path / "targets.json"
    assert judge_module.main([str(path), "--method", "m", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert list(data)[0] == "stamp" and data["method"] == "m" and data["k"] == 20
    assert "| match_at_1 | 1 | 0 | >= 1 | yes |" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="--k must be 1-20"):
        judge_module.main([str(path), "--k", "0"])


@pytest.fixture(scope="module")
def coverage_module():
    spec = importlib.util.spec_from_file_location(
        "diagnose_template_starts", ROOT / "benchmarks" / "diagnose_template_starts.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["diagnose_template_starts"] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("diagnose_template_starts", None)


def test_template_coverage_ranks_the_structure_type(coverage_module) -> None:
    """benchmarks/diagnose_template_starts.py: KBr in rock salt finds its type at rank 2
    (CsCl ranks first by similarity), KBr in CsCl at rank 1, KBr3 has no template."""
    from pymatgen.core import Lattice, Structure

    from campaign.jobs.benchmark.known_input import Compound
    from chggen_kernels.templates import TemplateLibrary
    from chggen_kernels.testing import rock_salt
    from chggen_kernels.thermo.known_structures import KnownPhase

    def cscl(species: tuple[str, str], a: float) -> Structure:
        return Structure(Lattice.cubic(a), list(species), [[0, 0, 0], [0.5, 0.5, 0.5]])

    library = TemplateLibrary([KnownPhase(i, "test", "hand-made", "CC0", s) for i, s in
                               (("t-nacl", rock_salt()), ("t-cscl", cscl(("Cs", "Cl"), 4.12)))])
    kbr3 = Structure(Lattice.cubic(5.0), ["K", "Br", "Br", "Br"],
                     [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    compounds = [Compound("rs", rock_salt(6.6, ("K", "Br"))),
                 Compound("cs", cscl(("K", "Br"), 4.0)), Compound("ab3", kbr3)]
    result = coverage_module.diagnose(compounds, library, k=1)
    ranks = {r["compound_id"]: (r["n_templates"], r["rank_same_elements"],
                                r["rank_any_mapping"]) for r in result["compounds"]}
    assert ranks == {"rs": (2, 2, 2), "cs": (2, 1, 1), "ab3": (0, None, None)}
    assert (result["type_within_k"], result["type_beyond_k"], result["type_absent"],
            result["no_template_of_type"]) == (1, 1, 1, 1)
    assert result["compounds"][0]["template_same_elements"].startswith("t-nacl NaCl (")


def test_the_method_is_paired_with_every_other_method_on_the_compounds_both_ran(
        judge_module) -> None:
    # "a" ran on 3 compounds only; at 1 the method finds c0, c1, "a" finds c2; at 20 the
    # method c0-c2 and "a" c2 alone
    method = [(1, True, 1.0), (1, True, 1.0), (3, True, 1.0), (None, False, 1.0)]
    random = [(None, False, 1.0)] * 4
    other = [(None, False, 1.0), (None, False, 1.0), (1, True, 1.0)]
    summary = _summary({"m": method, "random": random}, [4, 4, 12, 12])
    summary["scores"]["compounds"] += [
        {"method": "a", "compound_id": f"c{i}", "n_atoms": 4, "first_match": f,
         "found_as_lowest": low, "cpu_s": cpu} for i, (f, low, cpu) in enumerate(other)]
    pairs = {p["other"]: p for p in judge_module.judge(summary, "m", "random")[
        "paired_with_every_method"]}
    assert set(pairs) == {"a", "random"}
    a = pairs["a"]
    assert a["n_compounds"] == 3
    assert (a["match_at_1"]["method_only"], a["match_at_1"]["other_only"]) == (2, 1)
    assert a["match_at_1"]["p"] == pytest.approx(1.0)
    assert (a["match_at_20"]["method"], a["match_at_20"]["other"]) == (3, 1)
    assert a["match_at_20"]["p"] == pytest.approx(0.5)  # 2 against 0
    assert pairs["random"]["match_at_20"]["method_only"] == 3
