"""Results folder: explicit schema, atomic per-task files, pandas reads it, ``chggen top``."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from campaign.cli import main
from campaign.commands.top import EmptyResults, rank_candidates
from campaign.engine.store import (
    CANDIDATE_SCHEMA,
    ResultsError,
    ResultStore,
    read_results,
)
from campaign.stages.runner import failed_row as failed_record
from chggen_kernels.workflow.records import CandidateRecord, CandidateSpec


def _record(task_id: str, index: int, e_d: float | None = None, sg: int = 1) -> CandidateRecord:
    spec = CandidateSpec(
        candidate_id=f"{task_id}-{index:03d}", task_id=task_id,
        composition={"Li": 10, "Si": 4}, mode="unconditional", seed=index,
        lattice_family="cubic",
    )  # fmt: skip
    record = failed_record(spec, "relaxation: diverged")
    if e_d is not None:
        record.status, record.failure_reason, record.e_d = "ok", None, e_d
        record.spacegroup_relaxed, record.is_symmetric = sg, sg > 2
        record.spacegroup_symbol_relaxed = {1: "P1", 166: "R-3m"}.get(sg, "C2/m")
    return record


def test_schema_is_candidate_record() -> None:
    fields = dataclasses.fields(CandidateRecord)
    assert CANDIDATE_SCHEMA.names == [f.name for f in fields]
    assert CANDIDATE_SCHEMA.field("e_d").type == pa.float64()
    assert CANDIDATE_SCHEMA.field("e_d").nullable
    assert CANDIDATE_SCHEMA.field("n_atoms").type == pa.int64()
    assert not CANDIDATE_SCHEMA.field("n_atoms").nullable
    assert CANDIDATE_SCHEMA.field("is_symmetric").type == pa.bool_()
    assert CANDIDATE_SCHEMA.field("structure_relaxed").type == pa.string()


def test_failed_record_from_spec() -> None:
    record = _record("t1", 0)
    assert (record.status, record.failure_reason) == ("failed", "relaxation: diverged")
    assert (record.formula, record.composition, record.chemsys) == ("Li5Si2", "Li10Si4", "Li-Si")
    assert record.n_atoms == 14 and record.e_d is None and record.created_at


def test_write_read_and_pandas_read_folder(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "out")
    store.write_task("t1", [_record("t1", 0, 0.05), _record("t1", 1)])
    store.write_task("t2", [_record("t2", 0, -0.01, sg=166)])
    store.write_config("name: test\n")
    (store.directory / ".part-t3.parquet.123.tmp").write_bytes(b"half a file")
    assert store.done_task_ids() == {"t1", "t2"}
    table = pd.read_parquet(store.directory)  # the README's one-liner
    assert sorted(table["candidate_id"]) == ["t1-000", "t1-001", "t2-000"]
    assert table.set_index("candidate_id").loc["t1-001", "status"] == "failed"
    assert pd.isna(table.set_index("candidate_id").loc["t1-001", "e_d"])
    assert store.read_task("t2")[0]["spacegroup_relaxed"] == 166
    assert list(read_results(store.directory, ["e_d"]).columns) == ["e_d"]
    assert store.remove_stale_temporaries() == 1
    assert not list(store.directory.glob(".*.tmp"))


def test_rewriting_a_task_replaces_it(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    store.write_task("t1", [_record("t1", 0, 0.1)])
    store.write_task("t1", [_record("t1", 0, 0.2)])
    table = read_results(tmp_path)
    assert table["e_d"].tolist() == [0.2]


def test_crash_while_writing_leaves_no_part_file(tmp_path: Path, monkeypatch) -> None:
    store = ResultStore(tmp_path)

    def broken_write(table, where, **kwargs):
        Path(where).write_bytes(b"PAR1 truncated")
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", broken_write)
    with pytest.raises(OSError, match="disk full"):
        store.write_task("t1", [_record("t1", 0, 0.1)])
    assert store.done_task_ids() == set() and os.listdir(tmp_path) == []


def test_rows_must_match_the_schema(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    with pytest.raises(ResultsError, match=r"t2, candidate 't1-000': row belongs to task 't1'"):
        store.write_task("t2", [_record("t1", 0)])
    row = _record("t1", 0).to_dict()
    del row["e_d"]
    row["energy"] = 1.0
    with pytest.raises(ResultsError, match=r"missing columns \['e_d'\], unknown columns \['energy"):
        store.write_task("t1", [row])
    row = _record("t1", 0).to_dict() | {"formula": None}
    with pytest.raises(ResultsError, match=r"columns \['formula'\] must not be null"):
        store.write_task("t1", [row])
    row = _record("t1", 0).to_dict() | {"n_atoms": "fourteen"}
    with pytest.raises(ResultsError, match=r"task t1: rows do not match the schema"):
        store.write_task("t1", [row])


def test_folder_with_another_schema_is_refused(tmp_path: Path) -> None:
    pq.write_table(pa.table({"candidate_id": ["x"]}), tmp_path / "part-old.parquet")
    expected = (r"part-old\.parquet was written with a different schema \(missing columns "
                r"chemsys, cif_relaxed, composition, created_at and \d+ more\): another chggen")
    with pytest.raises(ResultsError, match=expected):
        ResultStore(tmp_path).check_schema()


# ---------------------------------------------------------------- chggen top
def _ranked_folder(tmp_path: Path) -> Path:
    store = ResultStore(tmp_path)
    store.write_task(
        "a", [_record("a", 0, 0.020, sg=166), _record("a", 1, -0.010), _record("a", 2)]
    )
    store.write_task("b", [_record("b", 0, 0.050, sg=12), _record("b", 1, 0.004, sg=12)])
    return tmp_path


def test_top_ranks_by_e_d_and_filters(tmp_path: Path) -> None:
    folder = _ranked_folder(tmp_path)
    ranked = rank_candidates(str(folder))
    assert ranked["candidate_id"].tolist() == ["a-001", "b-001", "a-000", "b-000"]  # no failed
    assert rank_candidates(str(folder), n=2)["candidate_id"].tolist() == ["a-001", "b-001"]
    assert rank_candidates(str(folder), max_e_d=0.03)["candidate_id"].tolist() == [
        "a-001", "b-001", "a-000",
    ]  # fmt: skip
    symmetric = rank_candidates(str(folder), max_e_d=0.03, symmetric=True)
    assert symmetric["candidate_id"].tolist() == ["b-001", "a-000"]


def test_top_command_output_and_messages(tmp_path: Path, capsys) -> None:
    folder = _ranked_folder(tmp_path / "ok")
    assert main(["top", str(folder), "-n", "2", "--symmetric"]) == 0
    out = capsys.readouterr().out
    assert out.index("b-001") < out.index("a-000") and "C2/m (12)" in out and "+0.0040" in out
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["top", str(empty)]) == 2
    assert "no candidates yet" in capsys.readouterr().err
    failed = ResultStore(tmp_path / "failed")
    failed.write_task("c", [_record("c", 0), _record("c", 1)])
    with pytest.raises(EmptyResults, match=r"all 2 candidates failed"):
        rank_candidates(str(failed.directory))


def test_top_groups_duplicate_structures_like_report_and_export(tmp_path: Path,
                                                                capsys) -> None:
    from pymatgen.core import Lattice, Structure

    li2si = Structure(Lattice.cubic(4.0), ["Li", "Li", "Si"],
                      [[0, 0, 0], [0.5, 0.5, 0], [0.25, 0.25, 0.5]])
    other = Structure(Lattice.cubic(4.4), ["Li", "Li", "Si"],
                      [[0, 0, 0], [0.5, 0, 0], [0, 0.5, 0.5]])
    records = []
    for k, (structure, e_d) in enumerate([(li2si, 0.01), (li2si.copy(), 0.02),
                                          (other, 0.015), (li2si * (1, 1, 1), 0.03)]):
        record = _record("g", k, e_d)
        record.structure_relaxed = structure.to_json()
        records.append(record)
    ResultStore(tmp_path).write_task("g", records)
    ranked = rank_candidates(str(tmp_path))
    assert ranked["candidate_id"].tolist() == ["g-000", "g-002"]
    assert ranked["n_duplicates"].tolist() == [2, 0]
    assert ranked["duplicate_ids"].tolist() == ["g-001,g-003", ""]
    assert main(["top", str(tmp_path), "--top", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    copies = out[0].index("copies") + len("copies")  # right-aligned under its header
    assert len(out) == 2 and out[1].split()[1] == "g-000" and out[1][:copies].split()[-1] == "3"


def test_every_column_is_documented_with_its_unit() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "columns.md").read_text()
    listed = set(re.findall(r"^\| `(\w+)` \|", docs, flags=re.MULTILINE))
    assert listed == set(CANDIDATE_SCHEMA.names)
