"""Locality-bias analysis: partial RDFs, coordination numbers, ``chggen analyze locality``."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from campaign.cli import main
from campaign.report import ReportError, analyze_locality
from chggen_kernels.analysis import (
    RDFSettings,
    coordination_distribution,
    coordination_numbers,
    pair_distance_histogram,
    partial_rdf,
)
from tests.campaign._report_data import (
    bcc_li,
    cscl_lisi,
    diamond_si,
    fcc,
    p1_li3si,
    write_all_failed,
    write_results,
)


def rock_salt_nacl() -> Structure:
    return fcc(5.64, [("Na", (0, 0, 0)), ("Cl", (0.5, 0, 0))])


def test_pair_histogram_counts_bcc_shells_with_all_images():
    counts = pair_distance_histogram(bcc_li(), RDFSettings(r_max=3.6, bin_width=0.1))
    li = counts[("Li", "Li")]
    # 2 atoms x 8 neighbours at sqrt(3)/2 a = 2.98 Å, 2 x 6 at a = 3.44 Å (own images)
    assert li[29] == 16 and li[34] == 12 and li.sum() == 28


def test_partial_rdf_integrates_to_the_coordination_number():
    nacl = rock_salt_nacl()
    settings = RDFSettings(r_max=4.2, bin_width=0.02)
    rdf = partial_rdf([nacl], settings)
    shell = 4 / 3 * np.pi * np.diff(settings.edges**3)
    density_cl = 4 / nacl.volume  # Cl atoms per Å^3
    cn = np.cumsum(rdf.g[("Cl", "Na")] * shell * density_cl)
    assert cn[rdf.r < 2.7][-1] == pytest.approx(0.0)
    assert cn[rdf.r < 3.0][-1] == pytest.approx(6.0)  # Na-Cl at a/2 = 2.82 Å
    cn_na = np.cumsum(rdf.g[("Na", "Na")] * shell * density_cl)
    assert cn_na[rdf.r < 4.1][-1] == pytest.approx(12.0)  # Na-Na at a/sqrt(2) = 3.99 Å


def test_partial_rdf_of_random_positions_is_one_and_pairs_average_over_holders():
    rng = np.random.default_rng(0)
    gas = Structure(Lattice.cubic(15.0), ["Li"] * 150 + ["Si"] * 50, rng.random((200, 3)))
    rdf = partial_rdf([gas, bcc_li()], RDFSettings(r_max=6.0, bin_width=0.1))
    assert rdf.n_structures == {("Li", "Li"): 2, ("Li", "Si"): 1, ("Si", "Si"): 1}
    far = rdf.r > 3.0
    assert rdf.g[("Li", "Si")][far].mean() == pytest.approx(1.0, abs=0.08)
    assert rdf.g[("Si", "Si")][far].mean() == pytest.approx(1.0, abs=0.08)


def test_rdf_settings_are_checked():
    with pytest.raises(ValueError, match=r"RDFSettings.r_max must be a positive length in Å, "
                                         r"got -1"):
        RDFSettings(r_max=-1)
    with pytest.raises(ValueError, match=r"bin_width must lie in \(0, r_max=6.0\) Å, got 7"):
        RDFSettings(bin_width=7)


@pytest.mark.parametrize("method", ["crystalnn", "min_dist"])
def test_coordination_numbers_of_rock_salt_and_bcc(method):
    assert set(coordination_numbers(rock_salt_nacl(), method)) == {("Na", 6), ("Cl", 6)}
    assert coordination_numbers(bcc_li(), method) == [("Li", 8), ("Li", 8)]
    assert set(coordination_numbers(diamond_si(), method, use_symmetry=False)) == {("Si", 4)}


def test_coordination_distribution_and_symmetry_shortcut_agree():
    p1 = p1_li3si()
    assert coordination_numbers(p1, "min_dist", use_symmetry=True) == coordination_numbers(
        p1, "min_dist", use_symmetry=False)
    stats = coordination_distribution([diamond_si(), cscl_lisi(), bcc_li()], "min_dist",
                                      elements=["Si"])
    assert stats.counts == {"Si": {4: 8, 8: 1}}
    assert stats.fractions("Si") == {4: pytest.approx(8 / 9), 8: pytest.approx(1 / 9)}
    assert stats.mean("Si") == pytest.approx((8 * 4 + 8) / 9)
    assert stats.n_structures == 3 and stats.n_failed == 0
    with pytest.raises(ValueError, match="coordination method must be one of"):
        coordination_distribution([bcc_li()], "voronoi")  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def reference_table(tmp_path_factory):
    """A training table: a Parquet file with a ``structure`` column (pymatgen JSON)."""
    import pandas as pd

    crystals = {"li": bcc_li(), "si": diamond_si(), "lisi": cscl_lisi(), "nacl": rock_salt_nacl()}
    path = tmp_path_factory.mktemp("training") / "train.parquet"
    pd.DataFrame({"structure_id": list(crystals),
                  "structure": [json.dumps(s.as_dict()) for s in crystals.values()]}
                 ).to_parquet(path)
    return path


def test_analyze_locality_against_a_training_table(tmp_path, reference_table):
    results = write_results(tmp_path / "results")
    out = analyze_locality(results, reference_table, cn_method="min_dist")
    assert out.output_dir == results / "_report" / "locality"
    for path in out.figures.values():
        assert path.read_bytes().startswith(b"\x89PNG") and path.stat().st_size > 5000
    summary = json.loads(out.summary_path.read_text())
    assert summary["n_generated"] == 10  # every row with a generated structure
    assert summary["n_training"] == 3  # NaCl is outside Li-Si
    assert summary["elements"] == ["Li", "Si"]
    li_si = summary["rdf"]["Li-Si"]
    assert li_si["n_training"] == 1  # only CsCl-type LiSi holds both
    assert li_si["highest_peak_training"] == pytest.approx(2.55, abs=0.03)  # sqrt(3)/2 a
    si = summary["coordination"]["Si"]
    assert si["fractions_training"] == {"4": pytest.approx(8 / 9), "8": pytest.approx(1 / 9)}
    assert 0.0 <= si["total_variation"] <= 1.0
    assert summary["coordination"]["Li"]["mean_training"] == pytest.approx(8.0)


def test_locality_cli_including_all_failed_runs_and_errors(tmp_path, reference_table, capsys):
    failed = write_all_failed(tmp_path / "failed")  # relaxations failed, samples exist
    code = main(["analyze", "locality", str(failed), "--reference", str(reference_table),
                 "--cn-method", "min_dist", "--out", str(tmp_path / "loc")])
    assert code == 0
    assert "3 generated vs 3 training structures" in capsys.readouterr().out
    assert (tmp_path / "loc" / "rdf.png").stat().st_size > 5000
    (tmp_path / "empty").mkdir()
    assert main(["analyze", "locality", str(tmp_path / "empty")]) == 2  # bad input
    assert "holds no candidates yet" in capsys.readouterr().err
    assert main(["analyze", "locality", str(failed), "--reference",
                 str(tmp_path / "missing.parquet")]) == 1
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(ReportError, match="none of the 4 crystals is made only of Na"):
        from campaign.report.locality import load_reference_structures

        load_reference_structures(reference_table, elements=["Na"])
