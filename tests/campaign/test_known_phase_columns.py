"""What a results folder says of each E_d and each structure: the decomposition products
with their hull source ids, and the known-phase label, in ``chggen top`` and the report;
folders of an older chggen (without those columns) still read, the labels unknown."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from campaign.cli import main
from campaign.engine.store import ResultsError, ResultStore, read_results
from campaign.report import build_report
from tests.campaign._report_data import (
    antifluorite_li2si,
    cscl_lisi,
    mix,
    p1_li3si,
    record,
)

NEW_COLUMNS = ["decomposition_products", "novelty", "known_phase_id"]
LI2SI_PRODUCTS = [
    {"formula": "Li2Si", "source_id": "mp-27705", "fraction": 0.75, "energy_per_atom": -3.2942},
    {"formula": "Si", "source_id": "Si-22", "fraction": 0.25, "energy_per_atom": -5.3142},
]


def _labelled(candidate_id: str, structure, e_d: float, novelty: str,
              known_id: str | None = None, task_id: str = "t1") -> dict:
    row = record(candidate_id, structure, task_id=task_id, energy=mix(0.5, -0.1), e_d=e_d,
                 spacegroup=(225, "Fm-3m"))
    return row | {"decomposition": "0.75 Li2Si (mp-27705) + 0.25 Si (Si-22)",
                  "decomposition_products": json.dumps(LI2SI_PRODUCTS),
                  "novelty": novelty, "known_phase_id": known_id}


def _write_old_part(store: ResultStore, task_id: str, rows: list[dict]) -> None:
    """A part as a chggen before the new columns wrote it."""
    path = store.write_task(task_id, rows)
    pq.write_table(pq.read_table(path).drop_columns(NEW_COLUMNS), path)


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    store = ResultStore(tmp_path / "run")
    store.write_task("t1", [
        _labelled("li2si-known", antifluorite_li2si(), 0.004, "known-phase", "mp-27705"),
        _labelled("lisi-new", cscl_lisi(), 0.010, "known-composition"),
    ])
    _write_old_part(store, "t2", [record("li3si-old", p1_li3si(), task_id="t2",
                                         energy=mix(0.25, 0.02), e_d=0.120,
                                         spacegroup=(1, "P1"))])
    return store.directory


def test_top_shows_the_decomposition_ids_and_the_known_phase(folder, capsys) -> None:
    assert main(["top", str(folder)]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[1]: line for line in out.splitlines()[1:]}
    assert "known phase (mp-27705)" in lines["li2si-known"]
    assert "0.75 Li2Si (mp-27705) + 0.25 Si (Si-22)" in lines["li2si-known"]
    assert "known composition, new structure" in lines["lisi-new"]
    assert "unknown" in lines["li3si-old"]  # an older chggen's row: no label


def test_an_older_part_reads_with_the_new_columns_null(folder) -> None:
    table = read_results(folder)
    old = table[table["candidate_id"] == "li3si-old"].iloc[0]
    assert all(pd.isna(old[c]) for c in NEW_COLUMNS) and old["e_d"] == pytest.approx(0.12)
    new = table.set_index("candidate_id").loc["li2si-known"]
    assert (new["novelty"], new["known_phase_id"]) == ("known-phase", "mp-27705")
    subset = read_results(folder, columns=["candidate_id", "novelty"])
    assert list(subset.columns) == ["candidate_id", "novelty"] and len(subset) == 3


def test_resuming_into_an_older_folder_is_refused_in_one_line(folder) -> None:
    with pytest.raises(ResultsError) as caught:
        ResultStore(folder).check_folder()  # what a resume checks first
    message = str(caught.value)
    assert "\n" not in message and "part-t2.parquet" in message
    assert "missing columns decomposition_products, known_phase_id, novelty" in message
    assert "another chggen version; write to a new folder" in message


def test_the_report_shows_ids_and_labels_and_reads_older_rows(folder) -> None:
    page = build_report(folder, n_cells=0).html_path.read_text()
    assert "0.75 Li2Si" in page and "[mp-27705]" in page and "[Si-22]" in page
    assert "known phase Li2Si (mp-27705)" in page  # the card
    assert "known composition, new structure" in page
    assert "<td class=\"text\">unknown</td>" in page  # the older row in the ranked table
