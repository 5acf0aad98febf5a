"""match@k, found-as-lowest, best - known and LES from candidate rows."""

from __future__ import annotations

import pytest

from chggen_kernels.benchmark import (
    csp_markdown,
    hosts_markdown,
    score_csp_compound,
    score_host,
    summarise_csp,
    summarise_hosts,
)
from chggen_kernels.evaluation import wilson_interval


def row(i: int, energy: float | None, matched: bool, status: str = "ok",
        rms: float | None = None, strict: bool = False) -> dict:
    return {"budget_index": i, "status": status, "energy_per_atom": energy,
            "matched": matched, "matched_strict": strict, "rms": rms,
            "rms_angstrom": None if rms is None else 2 * rms}


def test_first_match_and_match_at_k() -> None:
    rows = [row(1, -1.0, False), row(2, -1.1, False), row(3, -1.2, True, rms=0.1),
            row(4, -0.9, True, rms=0.05, strict=True)]
    s = score_csp_compound(rows, -1.3, compound_id="c", method="m")
    assert s.first_match == 3 and s.first_strict_match == 4
    assert not s.matched_at(3, strict=True) and s.matched_at(4, strict=True)
    assert [s.matched_at(k) for k in (1, 2, 3, 4)] == [False, False, True, True]
    assert s.rms == 0.05 and s.rms_angstrom == 0.1  # best match's distances
    assert s.lowest_energy == -1.2 and s.lowest_matches
    assert s.found_as_lowest
    assert s.best_minus_reference == pytest.approx(0.1)


def test_failed_rows_never_match_and_lowest_below_reference_counts() -> None:
    rows = [row(1, -9.0, True, status="failed"), row(2, -2.0, False)]
    s = score_csp_compound(rows, -1.5, compound_id="c", method="m")
    assert s.first_match is None and not s.matched_at(2)
    assert s.n_candidates == 2 and s.n_ok == 1
    assert not s.lowest_matches and s.lowest_below_reference
    assert s.found_as_lowest  # below the relaxed known structure's energy
    above = score_csp_compound([row(1, -1.0, False)], -1.5, compound_id="c", method="m")
    assert not above.found_as_lowest and above.best_minus_reference == pytest.approx(0.5)
    tolerant = score_csp_compound([row(1, -1.49, False)], -1.5, compound_id="c", method="m",
                                  energy_tol=0.02)
    assert tolerant.found_as_lowest


def test_no_reference_energy_leaves_energy_scores_empty() -> None:
    s = score_csp_compound([row(1, -1.0, False)], None, compound_id="c", method="m")
    assert s.lowest_below_reference is None and s.best_minus_reference is None
    assert not s.found_as_lowest


def test_summary_counts_and_wilson_intervals() -> None:
    scores = [score_csp_compound([row(1, -1.0, True, rms=0.1)], -1.0, compound_id="a",
                                 method="m"),
              score_csp_compound([row(1, -1.0, False), row(2, -1.0, True, rms=0.3)], -1.0,
                                 compound_id="b", method="m"),
              score_csp_compound([row(1, -1.0, False)], -1.0, compound_id="c", method="m")]
    summary = summarise_csp(scores, k_max=2)
    m = summary["methods"]["m"]
    assert [(c["k"], c["hits"], c["n"]) for c in m["match_at_k"]] == [(1, 1, 3), (2, 2, 3)]
    assert m["match_at_k"][1]["ci95"] == pytest.approx(list(wilson_interval(2, 3)))
    assert m["rms"]["mean"] == pytest.approx(0.2)
    assert [c["hits"] for c in m["match_at_k_strict"]] == [0, 0]
    text = csp_markdown(summary, {"a": "NaCl"})
    assert "2/3 67 % [21-94]" in text and "| a | NaCl | 1 / +0.000 |" in text


def host_row(energies: dict, matched: dict, valid: dict | None = None,
             strict: dict | None = None) -> dict:
    out = {}
    for stage in ("generated", "guests_relaxed", "relaxed"):
        out[f"energy_{stage}"] = energies.get(stage)
        out[f"matched_{stage}"] = matched.get(stage, False)
        out[f"matched_strict_{stage}"] = (strict or {}).get(stage, False)
        out[f"valid_{stage}"] = (valid or {}).get(stage, True)
    return out


def test_energy_below_reference_counts_for_les() -> None:
    rows = [host_row({"generated": -0.5, "guests_relaxed": -1.0, "relaxed": -2.1}, {})]
    s = score_host(rows, -2.0, compound_id="h", method="m")
    assert not s.stages["generated"].les and not s.stages["guests_relaxed"].les
    assert s.stages["relaxed"].les and s.stages["relaxed"].recovered
    assert not s.stages["relaxed"].matched
    assert s.stages["relaxed"].best_minus_reference == pytest.approx(-0.1)


def test_energy_above_reference_is_not_les_but_a_match_recovers() -> None:
    rows = [host_row({"relaxed": -1.9}, {"relaxed": True}),
            host_row({"relaxed": -1.95}, {})]
    s = score_host(rows, -2.0, compound_id="h", method="m")
    assert not s.stages["relaxed"].les
    assert s.stages["relaxed"].matched and s.stages["relaxed"].recovered
    assert not s.stages["relaxed"].recovered_strict  # a loose match only
    strict = score_host([host_row({"relaxed": -1.9}, {"relaxed": True}, strict={
        "relaxed": True})], -2.0, compound_id="h", method="m")
    assert strict.stages["relaxed"].recovered_strict
    assert not s.stages["generated"].recovered  # no energy at that stage


def test_screened_out_stage_counts_for_nothing() -> None:
    rows = [host_row({"relaxed": -5.0}, {"relaxed": True}, {"relaxed": False})]
    s = score_host(rows, -2.0, compound_id="h", method="m")
    assert not s.stages["relaxed"].les and not s.stages["relaxed"].matched


def test_host_summary_and_table() -> None:
    scores = [score_host([host_row({"relaxed": -2.5}, {})], -2.0, compound_id="a", method="m"),
              score_host([host_row({"relaxed": -1.5}, {})], -2.0, compound_id="b", method="m")]
    summary = summarise_hosts(scores)
    relaxed = summary["methods"]["m"]["relaxed"]
    assert (relaxed["recovered"]["hits"], relaxed["recovered"]["n"]) == (1, 2)
    assert relaxed["les"]["rate"] == 0.5
    assert "| m | relaxed | 2 | 2 | 1/2 50 % [9-91]" in hosts_markdown(summary)
