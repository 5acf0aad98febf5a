"""``chggen report``: figures, the self-contained HTML page, headline numbers, clear errors."""

from __future__ import annotations

import json
import re

import pytest

from campaign.cli import main
from campaign.engine.store import NotAResultsFolderError
from campaign.report import ReportError, build_report, load_candidates, summary_counts
from campaign.report.figures import symmetry_rates
from campaign.report.hull import binary_systems, candidate_formation_energies, infer_hull_spec
from tests.campaign._report_data import write_all_failed, write_results

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return write_results(tmp_path_factory.mktemp("run") / "results")


@pytest.fixture(scope="module")
def report(results):
    return build_report(results, n_cells=3)


def test_symmetry_rates_count_successful_candidates_per_size_and_mode(results):
    rates = symmetry_rates(load_candidates(results))
    got = {(int(r.n_atoms), r.mode): (int(r.n), int(r.n_symmetric)) for r in rates.itertuples()}
    assert got == {
        (2, "unconditional"): (2, 2),  # bcc Li, CsCl LiSi
        (2, "inpaint"): (2, 2),  # perturbed CsCl copy, bcc Li
        (4, "unconditional"): (1, 0),  # P1 Li3Si
        (4, "inpaint"): (1, 0),  # P-1 counts as not symmetric; the failed row is not counted
        (8, "unconditional"): (2, 2),  # diamond Si, rock-salt LiSi
        (12, "inpaint"): (1, 1),  # antifluorite Li2Si
    }


def test_summary_counts(results):
    s = summary_counts(load_candidates(results))
    assert (s["candidates"], s["ok"], s["failed"]) == (11, 9, 2)
    assert s["by_mode"]["unconditional"]["symmetric_rate"] == pytest.approx(4 / 5)
    assert s["by_mode"]["inpaint"]["e_d_below_0"] == 1
    assert s["by_mode"]["inpaint"]["e_d_below_threshold"] == 3  # -0.008, 0.001, 0.020
    assert "relaxation" in s["failure_reasons"] and "sampler" in s["failure_reasons"]


def test_formation_energies_use_the_hull_elemental_references(results):
    from chggen_kernels.thermo import OfflineHullSource, get_hull

    table = load_candidates(results)
    assert binary_systems(table) == ["Li-Si"]
    assert infer_hull_spec(table) == "offline"
    pd_lisi = get_hull(OfflineHullSource(), "Li-Si")
    points = candidate_formation_energies(table, pd_lisi, "Li-Si").set_index("candidate_id")
    # the synthetic energies were built as E = (1-x) E_Li + x E_Si + E_form
    assert points.at["lisi-cscl", "e_form"] == pytest.approx(-0.15, abs=1e-6)
    assert points.at["li2si-af", "x"] == pytest.approx(1 / 3)
    assert points.at["li2si-af", "e_form"] == pytest.approx(-0.10, abs=1e-6)
    assert points.at["li-bcc", "e_form"] == pytest.approx(0.0, abs=1e-6)
    assert len(points) == 9


def test_every_figure_is_a_nonempty_png(report):
    expected = {"symmetry_rate", "relaxation", "e_d", "spacegroups", "hull_Li-Si"}
    assert expected <= set(report.figures)
    cells = [name for name in report.figures if name.startswith("cells/")]
    assert len(cells) == 3
    for path in report.figures.values():
        data = path.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000, path
    assert report.notes == ()


def test_html_page_is_self_contained_with_table_and_images(report):
    page = report.html_path.read_text(encoding="utf-8")
    images = re.findall(r'<img src="([^"]+)"', page)
    assert len(images) == len(report.figures) == 8
    assert all(src.startswith("data:image/png;base64,iVBORw0KGgo") for src in images)
    # nothing loaded from elsewhere: the only scripts are inline (3Dmol.js and the viewer's)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<script src" not in page and "<link" not in page and "@import" not in page
    assert page.count("<script>") == 2 and "3Dmol-min.js.LICENSE.txt" in page
    assert '<table class="ranked">' in page
    # the ranked table: best E_d first, the perturbed CsCl copy merged into its original
    rows = re.findall(r"<tr><td>(\d+)</td><td class=\"text\">([^<]+)</td>", page)
    assert rows[0] == ("1", "lisi-cscl")
    assert "lisi-cscl-copy" not in [cid for _, cid in rows]
    assert len(rows) == 6  # 9 successful: CsCl copy, second bcc Li and second Li3Si merged
    assert "bad-relax" not in page


def test_table_csv_and_summary_json(report):
    lines = report.table_path.read_text().splitlines()
    assert lines[0].startswith("rank,candidate_id,formula")
    assert lines[1].startswith("1,lisi-cscl,LiSi")
    assert lines[1].endswith(",1,unknown,lisi-cscl-copy")  # known phase?: not labelled
    summary = json.loads(report.summary_path.read_text())
    assert summary["ok"] == 9 and summary["chemsys"] == ["Li", "Li-Si", "Si"]


def test_report_cli_writes_into_the_results_folder_without_breaking_parquet_reads(results):
    import pandas as pd

    assert main(["report", str(results), "--cells", "0", "--top", "3"]) == 0
    assert (results / "_report" / "index.html").stat().st_size > 10_000
    assert len(pd.read_parquet(results)) == 11  # the _report folder is ignored


def test_empty_folder_is_a_clear_message(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotAResultsFolderError, match="holds no candidates yet"):
        build_report(tmp_path / "empty")
    assert main(["report", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert "no candidates yet" in err and "Traceback" not in err


def test_all_failed_folder_is_a_clear_message(tmp_path, capsys):
    folder = write_all_failed(tmp_path / "failed")
    with pytest.raises(ReportError, match=r"all 3 candidates failed, .*2 x 'relaxation'"):
        build_report(folder)
    assert main(["report", str(folder)]) == 1
    assert "all 3 candidates failed" in capsys.readouterr().err


def test_missing_folder_and_bad_arguments(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(ValueError, match="top must be >= 1"):
        build_report(tmp_path, top=0)
