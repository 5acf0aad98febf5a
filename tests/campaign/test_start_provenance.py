"""Where a symmetric or template candidate started (``start_from``, ``spacegroup_start``)
in the report's cards and caption, ``chggen top`` and ``chggen export``; folders of an
older chggen (without those columns) still read."""

from __future__ import annotations

import csv
import numbers
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from campaign.cli import main
from campaign.commands.top import start_text
from campaign.engine.store import ResultStore
from campaign.report import build_report, export_candidates
from tests.campaign._report_data import (
    antifluorite_li2si,
    cscl_lisi,
    diamond_si,
    mix,
    p1_li3si,
    record,
)

TEMPLATE = "template mp-7845 Zn3As2 (As->P, similarity 0.93)"
SYMMETRIC = "sg 227, learned (12 of 40 known A|8 crystals)"
START_COLUMNS = ["start_from", "spacegroup_start"]


def _row(candidate_id: str, structure, mode: str, e_d: float, x_si: float,
         start_from: str | None = None, spacegroup_start: int | None = None,
         task_id: str = "t1") -> dict:
    row = record(candidate_id, structure, task_id=task_id, mode=mode, e_d=e_d,
                 energy=mix(x_si, -0.1), spacegroup=(225, "Fm-3m"))
    return row | {"start_from": start_from, "spacegroup_start": spacegroup_start}


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A template and a symmetric candidate, and an older part without the columns."""
    store = ResultStore(tmp_path_factory.mktemp("starts") / "run")
    store.write_task("t1", [
        _row("lisi-tpl", cscl_lisi(), "template-symmetric", -0.02, 0.5, TEMPLATE, 221),
        _row("si-sym", diamond_si(), "symmetric", 0.0, 1.0, SYMMETRIC, 227),
        _row("li2si-unc", antifluorite_li2si(), "unconditional", 0.01, 1 / 3),
    ])
    path = store.write_task("t2", [_row("li3si-old", p1_li3si(), "inpaint", 0.12, 0.25,
                                        task_id="t2")])
    pq.write_table(pq.read_table(path).drop_columns(START_COLUMNS), path)
    return store.directory


def test_start_text_is_short() -> None:
    assert start_text({"start_from": TEMPLATE}) == "mp-7845 Zn3As2"
    assert start_text({"start_from": TEMPLATE + ", repeat 1"}) == "mp-7845 Zn3As2"
    assert start_text({"start_from": SYMMETRIC}) == "sg 227"
    assert start_text({"start_from": "template: no known phase of stoichiometry type "
                                     "AB3|8 other than the target formula; symmetric "
                                     "(sg 221, uniform prior)"}) == "no template"
    assert start_text({"start_from": "uniform prior (smoothing) and more"}) == (
        "uniform prior (smooth...")
    assert start_text({"start_from": None}) == start_text({}) == ""
    fell_back = {"start_from": "uniform prior", "mode": "unconditional",
                 "symmetric_fallback": "symmetric start: no crystal of 4 atoms with atoms "
                                       ">= 1.0 Å apart in 50 draws"}
    assert start_text(fell_back) == "fell back"


def test_top_shows_the_start_column_only_when_a_row_has_one(folder, tmp_path,
                                                            capsys) -> None:
    assert main(["top", str(folder)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:6] == ["rank", "candidate_id", "formula", "cell", "mode", "start"]
    lines = {line.split()[1]: line for line in out[1:]}
    assert re.search(r" template-symmetric +mp-7845 Zn3As2 ", lines["lisi-tpl"])
    assert re.search(r" symmetric +sg 227 ", lines["si-sym"])
    assert set(lines) == {"lisi-tpl", "si-sym", "li2si-unc", "li3si-old"}  # older row read
    assert max(len(line) for line in out) < 250  # the long start_from is not printed whole
    plain = ResultStore(tmp_path / "plain")
    plain.write_task("t1", [_row("li2si", antifluorite_li2si(), "unconditional", 0.0, 1 / 3)])
    assert main(["top", str(plain.directory)]) == 0
    assert " start " not in capsys.readouterr().out.splitlines()[0]


def test_report_cards_say_where_the_start_came_from(folder) -> None:
    page = build_report(folder, n_cells=0).html_path.read_text(encoding="utf-8")
    assert ("<th>start</th><td>template mp-7845 Zn3As2 (As-&gt;P, similarity 0.93); start "
            "in space group 221</td>") in page
    assert f"<th>start</th><td>{SYMMETRIC}</td>" in page  # the text names its group
    assert page.count("<th>start</th>") == 2  # not for unconditional or older rows
    assert ("by mode: first stage (unconditional, symmetric, symmetric template) versus "
            "inpainting (inpainting) (paper Fig. 6)") in page  # the symmetry figure's caption


@pytest.mark.parametrize("fmt", ["cif", "extxyz"])
def test_export_manifest_has_the_start(folder, tmp_path, fmt) -> None:
    result = export_candidates(folder, tmp_path / fmt, top=10, fmt=fmt)
    with result.manifest_path.open() as handle:
        rows = {r["candidate_id"]: r for r in csv.DictReader(handle)}
    assert rows["lisi-tpl"]["start_from"] == TEMPLATE
    assert rows["si-sym"]["start_from"] == SYMMETRIC
    assert rows["li2si-unc"]["start_from"] == rows["li3si-old"]["start_from"] == ""
    if fmt == "extxyz":
        from ase.io import read

        frames = {f.info["candidate_id"]: f.info for f in read(result.paths[0], ":")}
        assert frames["lisi-tpl"]["start_from"] == TEMPLATE
        # the column holds nulls (float in pandas); the frame still gets an integer
        assert frames["lisi-tpl"]["spacegroup_start"] == 221
        assert isinstance(frames["lisi-tpl"]["spacegroup_start"], numbers.Integral)
        assert "start_from" not in frames["li3si-old"]
