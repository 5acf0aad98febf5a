"""``chggen generate`` and ``chggen inpaint`` end to end through the CLI's main(): a tiny
random-weight checkpoint, a few noise levels, real CHGNet, the offline Li-Si hull."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest
import torch
from pymatgen.core import Lattice, Structure
from pymatgen.io.cif import CifWriter

from campaign.cli import main
from campaign.commands.top import rank_candidates
from campaign.engine.store import read_results
from campaign.jobs.chain import host_specs, rank_table
from campaign.stages import resources
from chggen_kernels.hosts import parse_guest_spec, read_host
from chggen_kernels.model import ScoreModel
from chggen_kernels.relax import RelaxSettings
from chggen_kernels.workflow import select_hosts

FAST = ["--n-levels", "6", "--n-corrector", "1", "--resample-passes", "1", "--jump-length", "2",
        "--max-steps", "12", "--threads", "1", "--quiet"]


@pytest.fixture(autouse=True)
def _restore_threads():
    previous = torch.get_num_threads()
    yield
    torch.set_num_threads(previous)


def write_cif(path, structure: Structure) -> str:
    CifWriter(structure).write_file(str(path))
    return str(path)


# ------------------------------------------------------------------ generate
def test_generate_both_runs_the_whole_chain(tmp_path, checkpoint, capsys) -> None:
    out = tmp_path / "run"
    argv = ["generate", "LiSi", "--n-samples", "2", "--mode", "both", "--guest", "Li",
            "--samples-per-host", "1", "--max-hosts", "1", "--lattice-family", "cubic",
            "--checkpoint", checkpoint, "--out", str(out), "--seed", "1", *FAST]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    rows = read_results(out)
    uncond = rows[rows["mode"] == "unconditional"]
    inpainted = rows[rows["mode"] == "inpaint"]
    assert len(uncond) == 2 and set(rows["status"]) <= {"ok", "failed"}
    hosts = uncond[uncond["status"] == "ok"]
    assert len(hosts) >= 1
    # The lowest-E_d host: framework = 1 Si (symmetric), its 1 Li inpainted back.
    assert list(inpainted["parent_id"]) == [hosts.sort_values("e_d")["candidate_id"].iloc[0]]
    assert set(inpainted["composition"]) == {"Li1Si1"} and set(inpainted["n_guest"]) == {1}
    assert inpainted["spacegroup_framework"].ge(3).all()
    assert (uncond["volume_per_atom_prior"] == 20.0).all()  # from the checkpoint's prior
    for text in uncond["structure_generated"]:
        generated = Structure.from_dict(json.loads(text))
        assert generated.volume == pytest.approx(40.0, rel=1e-5)
        assert generated.lattice.angles == pytest.approx((90, 90, 90), abs=1e-3)
    assert rows["model_checkpoint"].str.startswith(checkpoint).all()
    # every row, failed ones too, names the potential that relaxed it (CHGNet by default)
    chgnet = resources.potential_columns(RelaxSettings())
    assert chgnet["mlip"] == "chgnet" and len(chgnet["mlip_weights_sha256"]) == 64
    for column, value in chgnet.items():
        assert set(rows[column]) == {value}
    settings = json.loads(rows["sampler_settings"].iloc[0])
    assert (settings["n_levels"], settings["sigma_max"], settings["sigma_min"]) == (6, 5.0, 0.01)
    ok = rows[rows["status"] == "ok"]
    assert ok["e_d"].notna().all()
    assert ok["hull_source"].str.startswith("offline:").all()
    assert (ok["hull_source"] == ok["hull_source"].iloc[0]).all()
    assert ok["relax_steps"].le(12).all() and ok["cif_relaxed"].notna().all()
    failed = rows[rows["status"] == "failed"]
    assert failed["failure_reason"].notna().all()
    # The printed table: every distinct successful candidate, lowest E_d first, ranked and
    # grouped as `chggen top` does.
    assert f"{len(ok)}/{len(rows)} candidates ok" in printed
    ranked_ids = [line.split()[1] for line in printed.splitlines()
                  if line.split() and line.split()[0].isdigit()]
    assert ranked_ids == list(rank_candidates(str(out))["candidate_id"])
    shown = ok.set_index("candidate_id").loc[ranked_ids, "e_d"].tolist()
    assert shown == sorted(shown)


def test_generate_all_failed_exit_1_rows_kept(tmp_path, checkpoint, capsys) -> None:
    out = tmp_path / "dense"
    # A cubic cell of 0.1 Å^3 (a = 0.46 Å): every atom is 0.46 Å from its own image.
    argv = ["generate", "LiSi", "--n-samples", "2", "--volume-per-atom", "0.05",
            "--lattice-family", "cubic", "--checkpoint", checkpoint, "--out", str(out), *FAST]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert "0/2 candidates ok" in captured.out
    assert "no successful candidate to rank (failures: relaxation" in captured.err
    rows = read_results(out)
    assert list(rows["status"]) == ["failed", "failed"]
    assert rows["failure_reason"].str.startswith("relaxation: min_distance").all()
    assert (rows["volume_per_atom_prior"] == 0.05).all()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["generate", "Xq2"], "formula 'Xq2': 'Xq' is not a chemical element"),
        (["generate", "Li2.5Si"], "atom counts must be positive integers"),
        (["generate", "LiSi", "--guest", "Na", "--mode", "both"], "--guest Na not in LiSi"),
        (["generate", "LiSi", "--mode", "inpaint"], "--mode inpaint needs --guest"),
        (["generate", "Li5Si2", "--atoms-per-cell", "10"], "not a positive multiple of the 7"),
        (["generate", "LiPo"], "no elemental reference for Po"),
        (["generate", "LiSi", "--hull", "nowhere.csv"], "is not 'offline', 'mp', 'none'"),
        (["generate", "LiSi", "--lattice-family", "cubicc"], "lattice family must be 'any' or"),
        (["generate", "LiSi", "--n-levels", "1"],
         "sampler.n_levels = 1: must be an integer >= 2, got 1"),
        (["generate", "LiSi", "--checkpoint", "missing.pt"], "missing.pt' does not exist"),
    ],
)
def test_generate_bad_input_is_one_line_exit_2(argv, message, capsys, checkpoint) -> None:
    if "--checkpoint" not in argv:
        argv = [*argv, "--checkpoint", checkpoint]
    assert main([*argv, "--quiet"]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and "Traceback" not in captured.err
    assert captured.err.startswith("chggen generate: ") and captured.out == ""


def test_model_loading_default_and_missing(tmp_path, monkeypatch, checkpoint, capsys) -> None:
    monkeypatch.setattr(resources, "default_model_path", lambda: tmp_path / "absent.pt")
    with pytest.raises(resources.ModelNotAvailableError,
                       match="ships no default model.*--checkpoint PATH"):
        resources.load_model(None)
    assert main(["generate", "LiSi", "--quiet"]) == 2
    assert "ships no default model" in capsys.readouterr().err

    monkeypatch.setattr(resources, "default_model_path", lambda: Path(checkpoint))
    loaded = resources.load_model(None)
    weights = hashlib.sha256(Path(checkpoint).read_bytes()).hexdigest()[:12]
    assert loaded.label == f"chggen:default_model.pt@0123456789ab, weights sha256 {weights}"
    assert loaded.volume_prior.volume_per_atom("Li3Si") == pytest.approx(20.0)
    assert isinstance(loaded.model, ScoreModel) and not loaded.model.training

    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint")
    with pytest.raises(resources.ModelNotAvailableError, match="corrupt"):
        resources.load_model(str(corrupt))


# ------------------------------------------------------------------ inpaint
def test_inpaint_places_guests_into_a_host_file(tmp_path, checkpoint, capsys) -> None:
    host = Structure(Lattice.tetragonal(4.2, 3.6), ["Si"], [[0, 0, 0]])
    path = write_cif(tmp_path / "host.cif", host)
    out = tmp_path / "inpaint"
    argv = ["inpaint", path, "--guest", "Li:2", "--n-samples", "1", "--checkpoint", checkpoint,
            "--out", str(out), *FAST]
    code = main(argv)
    printed = capsys.readouterr().out
    rows = read_results(out)
    assert len(rows) == 1
    row = rows.iloc[0]
    assert (row["mode"], row["composition"], row["n_guest"]) == ("inpaint", "Li2Si1", 2)
    assert row["parent_id"] == "host:host.cif" and row["guest_species"] == "Li"
    generated = Structure.from_dict(json.loads(row["structure_generated"]))
    assert generated.lattice.abc == pytest.approx((4.2, 4.2, 3.6), abs=1e-4)
    assert generated[0].specie.symbol == "Si"
    assert generated.lattice.get_distance_and_image(generated[0].frac_coords, [0, 0, 0])[0] < 0.05
    assert code == 0 and row["status"] == "ok" and pd.notna(row["e_d"])
    assert "1/1 candidates ok (1/1 inpaint)" in printed and row["candidate_id"] in printed


def test_disordered_host_gives_framework_and_guest_count(tmp_path) -> None:
    # An intercalation compound: Si framework, four Li sites half occupied -> place 2 Li.
    half = {"Li": 0.5}
    disordered = Structure(Lattice.cubic(4.6), ["Si", half, half, half, half],
                           [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5],
                            [0.5, 0.5, 0.5]])
    path = write_cif(tmp_path / "intercalated.cif", disordered)
    host = read_host(path, parse_guest_spec("Li"))
    specs = host_specs(host, n_samples=2, seed=3)
    assert host.count_origin == {"Li": "occupancy"} and host.n_guest_sites_removed == 4
    assert [s.composition for s in specs] == [{"Li": 2, "Si": 1}] * 2
    assert {s.n_guest for s in specs} == {2} and specs[0].spacegroup_framework == 221
    assert specs[0].seed != specs[1].seed and specs[0].candidate_id != specs[1].candidate_id
    assert specs[0].volume_per_atom_prior == pytest.approx(4.6**3 / 3)


def _host_file(tmp_path, kind: str) -> str:
    if kind == "missing":
        return str(tmp_path / "nothing.cif")
    if kind == "garbage":
        path = tmp_path / "garbage.cif"
        path.write_text("data_x\n_cell_length_a banana\nloop_\n_atom_site_label\n")
        return str(path)
    if kind == "only-guests":
        return write_cif(tmp_path / "li.cif", Structure(Lattice.cubic(3.5), ["Li"], [[0, 0, 0]]))
    if kind == "overlap":
        overlap = Structure(Lattice.cubic(5.0), ["Si", "Si"], [[0, 0, 0], [0.04, 0, 0]])
        return write_cif(tmp_path / "overlap.cif", overlap)
    host = Structure(Lattice.cubic(4.0), ["Si", {"Li": 0.5}, {"Li": 0.25}],
                     [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0, 0]])
    return write_cif(tmp_path / "fraction.cif", host)


@pytest.mark.parametrize(
    ("kind", "guest", "message"),
    [
        ("missing", "Li:2", "file not found"),
        ("garbage", "Li:2", "_cell_length_a = 'banana' is not a positive finite number"),
        ("only-guests", "Li:2", "nothing left after removing the guest species Li"),
        ("overlap", "Li:1", "overlapping atoms"),
        ("fraction", "Li:500", "500 guests do not fit"),
        ("fraction", "Li:0", "count for Li must be positive"),
        ("fraction", "Li", "occupancies of Li sum to 0.75, not within 0.1 of an integer"),
        ("fraction", "Xx:2", "'Xx' is not a chemical element symbol"),
    ],
)
def test_bad_host_is_one_line_exit_2(tmp_path, capsys, checkpoint, kind, guest, message) -> None:
    argv = ["inpaint", _host_file(tmp_path, kind), "--guest", guest, "--checkpoint", checkpoint]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("chggen inpaint: ") and message in captured.err
    assert "Traceback" not in captured.err and captured.out == ""


# ------------------------------------------------------------------ ranking and hosts
def _record(candidate_id: str, mode: str, status: str, e_d, energy=-3.0):
    from chggen_kernels.workflow import CandidateSpec, GeneratedCandidate, failed_record

    host = Structure(Lattice.cubic(3.0), ["Si"], [[0, 0, 0]])
    spec = CandidateSpec(candidate_id=candidate_id, task_id="t", composition={"Li": 1, "Si": 1},
                         mode=mode, seed=0, host=host.as_dict() if mode == "inpaint" else None)
    record = failed_record(GeneratedCandidate(spec, "ok", None, None, 0.0, {}, "m"), "x")
    relaxed = json.dumps(host.as_dict()) if status == "ok" else None
    return dataclasses.replace(record, status=status, e_d=e_d, energy_relaxed_per_atom=energy,
                               structure_relaxed=relaxed)


def test_rank_table_and_select_hosts_follow_one_rule() -> None:
    records = [
        _record("t-000", "unconditional", "ok", 0.05),
        _record("t-001", "unconditional", "failed", None),
        _record("t-002", "unconditional", "ok", -0.02),
        _record("t-003", "unconditional", "ok", None, energy=-4.0),
        _record("i-000", "inpaint", "ok", -0.03),
    ]
    ranked = rank_table(records)
    assert list(ranked["candidate_id"]) == ["i-000", "t-002", "t-000", "t-003"]
    assert list(rank_table(records, ("inpaint",))["candidate_id"]) == ["i-000"]
    assert rank_table(records[1:2]).empty
    rows = [r.to_dict() for r in records]
    hosts = [r["candidate_id"] for r in select_hosts(rows, max_hosts=None)]
    assert hosts == ["t-002", "t-000", "t-003"]  # lowest E_d first, no E_d last
    assert [r["candidate_id"] for r in select_hosts(rows[::-1], max_hosts=1)] == ["t-002"]
    assert [r["candidate_id"] for r in select_hosts(rows, None, max_e_d=0.0)] == ["t-002"]
