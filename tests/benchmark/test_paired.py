"""Paired comparison of methods (McNemar's exact test), task CPU cost and size classes.
Known answers: binomial tails by hand, counts of hand-made compounds."""

from __future__ import annotations

import math

import pytest

from chggen_kernels.benchmark.paired import mcnemar_exact, paired_against
from chggen_kernels.benchmark.scoring import (
    SIZE_CLASSES,
    CspScore,
    cpu_cost,
    score_csp_compound,
    summarise_csp,
)


def score(method: str, compound: str, first_match: int | None, n_atoms: int | None = None,
          cpu_s: float | None = None) -> CspScore:
    return CspScore(compound_id=compound, method=method, n_candidates=5, n_ok=5,
                    first_match=first_match, first_strict_match=None, rms=None,
                    rms_angstrom=None, lowest_energy=None, reference_energy=None,
                    lowest_matches=False, lowest_below_reference=None,
                    best_minus_reference=None, n_atoms=n_atoms, cpu_s=cpu_s)


# ------------------------------------------------------------------ McNemar
@pytest.mark.parametrize(("b", "c", "p"), [
    (0, 0, 1.0),
    (5, 0, 0.0625),  # 2 / 2^5
    (0, 5, 0.0625),
    (6, 1, 0.125),  # 2 (1 + 7) / 2^7
    (10, 2, 0.0386),  # 2 (1 + 12 + 66) / 2^12 = 0.03857
    (3, 3, 1.0),  # 2 P(X <= 3 | n = 6) = 1.3125, capped at 1
    (1, 0, 1.0),
])
def test_mcnemar_known_values(b: int, c: int, p: float) -> None:
    assert mcnemar_exact(b, c) == pytest.approx(p, abs=5e-5)


def test_mcnemar_is_the_two_sided_binomial_tail() -> None:
    for b in range(12):
        for c in range(12):
            n = b + c
            tail = sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2**n if n else 0.5
            assert mcnemar_exact(b, c) == pytest.approx(min(1.0, 2 * tail), rel=1e-12)
            assert mcnemar_exact(b, c) == mcnemar_exact(c, b)  # symmetric
    # more discordant pairs the same way: smaller p
    assert mcnemar_exact(20, 0) < mcnemar_exact(10, 0) < mcnemar_exact(5, 0)
    assert mcnemar_exact(10, 2) == pytest.approx(2 * 79 / 4096, rel=1e-12)


def test_mcnemar_matches_scipys_exact_binomial_test() -> None:
    stats = pytest.importorskip("scipy.stats")
    for b, c in [(7, 2), (15, 4), (3, 9), (20, 20), (1, 12)]:
        expected = stats.binomtest(b, b + c, 0.5, alternative="two-sided").pvalue
        assert mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(("b", "c"), [(-1, 0), (0, -3)])
def test_mcnemar_refuses_negative_counts(b: int, c: int) -> None:
    with pytest.raises(ValueError, match=rf"^discordant counts must be >= 0, got {b}, {c}$"):
        mcnemar_exact(b, c)


# ------------------------------------------------------------------ paired_against
def test_paired_against_counts_discordant_and_concordant_compounds() -> None:
    scores = [
        # random finds a (at 2) and c (at 7: not within k = 5)
        score("random", "a", 2), score("random", "b", None), score("random", "c", 7),
        score("random", "d", None), score("random", "e", 1),
        # template: a both, b template only, c template only (3 <= 5), d neither, e random only
        score("template", "a", 1), score("template", "b", 4), score("template", "c", 3),
        score("template", "d", None), score("template", "e", None),
        score("template", "z", 1),  # not run by the baseline: not paired
        # symmetric on two compounds only
        score("symmetric", "a", None), score("symmetric", "e", 5),
    ]
    out = paired_against(scores, "random", 5)
    assert set(out) == {"template", "symmetric"}
    assert out["template"] == {"k": 5, "n_compounds": 5, "method_only": 2, "baseline_only": 1,
                               "both": 1, "p_mcnemar": 1.0}
    assert out["symmetric"] == {"k": 5, "n_compounds": 2, "method_only": 0,
                                "baseline_only": 1, "both": 1, "p_mcnemar": 1.0}
    # at k = 1 only e (random) and a, z (template) count
    at_1 = paired_against(scores, "random", 1)["template"]
    assert (at_1["method_only"], at_1["baseline_only"], at_1["both"]) == (1, 1, 0)


def test_paired_against_gives_the_exact_p_of_a_lopsided_comparison() -> None:
    scores = [score("random", f"c{i}", None) for i in range(12)]
    scores += [score("random", "c12", 1), score("random", "c13", 1)]
    scores += [score("new", f"c{i}", 1) for i in range(10)]  # 10 found by the new one only
    scores += [score("new", f"c{i}", None) for i in range(10, 14)]  # c12, c13: random only
    out = paired_against(scores, "random", 1)["new"]
    assert (out["method_only"], out["baseline_only"], out["both"]) == (10, 2, 0)
    assert out["n_compounds"] == 14
    assert out["p_mcnemar"] == pytest.approx(0.03857, abs=1e-5)


def test_paired_against_without_the_baseline_is_empty() -> None:
    assert paired_against([score("template", "a", 1)], "random", 5) == {}
    assert paired_against([], "random", 5) == {}


def test_summary_reports_the_comparison_with_random() -> None:
    scores = [score("random", "a", None), score("random", "b", 1),
              score("template", "a", 2), score("template", "b", 1)]
    summary = summarise_csp(scores, k_max=2)
    assert summary["paired_vs_random"]["template"]["method_only"] == 1
    assert summary["paired_vs_random"]["template"]["both"] == 1
    assert "random" not in summary["paired_vs_random"]


# ------------------------------------------------------------------ CPU cost and sizes
def test_score_reads_atoms_and_task_cpu_time_from_the_rows() -> None:
    rows = [{"budget_index": 1, "status": "ok", "energy_per_atom": -1.0, "matched": True,
             "rms": 0.1, "rms_angstrom": 0.2, "n_atoms": 6, "cpu_task_s": 12.5},
            {"budget_index": 2, "status": "ok", "energy_per_atom": -1.1, "matched": False,
             "rms": None, "rms_angstrom": None, "n_atoms": 6, "cpu_task_s": 12.5}]
    s = score_csp_compound(rows, -1.0, compound_id="c", method="m")
    assert (s.n_atoms, s.cpu_s) == (6, 12.5)
    bare = score_csp_compound([{k: v for k, v in rows[0].items()
                                if k not in ("n_atoms", "cpu_task_s")}],
                              -1.0, compound_id="c", method="m")
    assert (bare.n_atoms, bare.cpu_s) == (None, None)
    nan_cpu = score_csp_compound([rows[0] | {"cpu_task_s": float("nan")}], -1.0,
                                 compound_id="c", method="m")
    assert nan_cpu.cpu_s is None
    empty = score_csp_compound([], -1.0, compound_id="c", method="m")
    assert (empty.n_atoms, empty.cpu_s) == (None, None)


def test_cpu_cost_per_compound_and_per_match() -> None:
    group = [score("m", "a", 1, cpu_s=10.0), score("m", "b", None, cpu_s=30.0),
             score("m", "c", 3, cpu_s=20.0), score("m", "d", 1, cpu_s=None)]
    cost = cpu_cost(group, k_max=5)
    # d has no time: neither its seconds nor its match count
    assert cost == {"n_timed": 3, "cpu_s_total": 60.0, "cpu_s_per_compound": 20.0,
                    "cpu_s_per_match": 30.0}
    assert cpu_cost(group, k_max=2)["cpu_s_per_match"] == 60.0  # c matched at 3 > 2
    assert cpu_cost([score("m", "b", None, cpu_s=5.0)], 5)["cpu_s_per_match"] is None
    assert cpu_cost([], 5) == {"n_timed": 0, "cpu_s_total": 0, "cpu_s_per_compound": None,
                               "cpu_s_per_match": None}


def test_size_classes_split_at_10_and_20_atoms() -> None:
    lt10, mid = SIZE_CLASSES["lt10"], SIZE_CLASSES["10to20"]
    assert [lt10(n) for n in (1, 9, 10, None)] == [True, True, False, False]
    assert [mid(n) for n in (9, 10, 20, 21, None)] == [False, True, True, False, False]
    scores = [score("m", "a", 1, n_atoms=2), score("m", "b", None, n_atoms=9),
              score("m", "c", 1, n_atoms=10), score("m", "d", 4, n_atoms=20),
              score("m", "e", 1, n_atoms=21), score("m", "f", 1, n_atoms=None)]
    classes = summarise_csp(scores, k_max=5)["methods"]["m"]["size_classes"]
    assert classes["lt10"]["n_compounds"] == 2
    assert classes["lt10"]["match_at_1"]["hits"] == 1 and classes["lt10"]["match_at_1"]["n"] == 2
    assert classes["10to20"]["n_compounds"] == 2
    assert classes["10to20"]["match_at_1"]["hits"] == 1
    assert classes["10to20"]["match_at_5"]["hits"] == 2
    assert classes["10to20"]["match_at_5"]["rate"] == 1.0
