"""``chggen benchmark csp|hosts`` end to end with fake relaxers and a zero score."""

from __future__ import annotations

import json
from multiprocessing.pool import ThreadPool
from pathlib import Path

import pandas as pd
import pytest

from campaign.cli import build_parser, run_command
from campaign.commands import benchmark as command
from campaign.jobs.benchmark.runner import init_worker
from chggen_kernels.testing import diamond, rock_salt
from chggen_kernels.training import TrainingCrystal
from chggen_kernels.training.parquet import write_training_parquet
from tests.benchmark.fakes import FakeRelaxer, fake_chain

TARGETS = {"NaCl": rock_salt(primitive=True), "Si": diamond().get_primitive_structure()}


@pytest.fixture(scope="module")
def known(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("known") / "known.parquet"
    write_training_parquet(path, [
        TrainingCrystal("nacl-rs", rock_salt(), "test", provenance={"source_id": "rs"}),
        TrainingCrystal("si-dia", diamond(), "test", provenance={"source_id": "dia"}),
    ])
    return str(path)


def args(*argv: str):
    return build_parser().parse_args(["benchmark", *argv, "--quiet"])


def csp_args(known: str, out: Path, *extra: str):
    return args("csp", known, "--set", "all", "--k", "4", "--out", str(out), *extra)


def test_csp_writes_candidates_summary_table_and_figure(known: str, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture) -> None:
    relaxer = FakeRelaxer(TARGETS, snap_every=3)
    out = tmp_path / "csp"
    assert run_command(csp_args(known, out), make_chain=lambda: fake_chain(relaxer)) == 0
    for name in ("candidates.parquet", "summary.json", "summary.md", "match_at_k.png",
                 "_fingerprint.json"):
        assert (out / name).is_file(), name
    rows = pd.read_parquet(out / "candidates.parquet")
    assert len(rows) == 2 * 4 * 4  # compounds x methods x k
    assert sorted(rows.groupby("task_id")["budget_index"].apply(list).iloc[0]) == [1, 2, 3, 4]
    random = rows[rows.method == "random"]
    assert set(random.candidate_mode) == {"random-search"}
    # the space group and Wyckoff letters each random crystal was drawn with
    assert random.spacegroup_start.between(1, 230).all()
    assert list(random.start_from) == [f"sg {g:.0f}" for g in random.spacegroup_start], \
        (list(random.start_from), list(random.spacegroup_start))
    assert random.label.str.contains(":").all()  # "Na:4a;Cl:4b"
    nacl_inpaint = rows[(rows.method == "inpaint") & (rows.formula == "NaCl")]
    assert list(nacl_inpaint.candidate_mode[:2]) == ["unconditional"] * 2  # ceil(4/2) first
    si_inpaint = rows[(rows.method == "inpaint") & (rows.formula == "Si")]
    assert set(si_inpaint.candidate_mode) == {"unconditional"}  # one element: no guest
    matched = rows[rows.matched.fillna(False).astype(bool)]
    assert len(matched) > 0 and (matched.energy_per_atom == -2.0).all()
    summary = json.loads((out / "summary.json").read_text())
    scores = summary["scores"]
    for method, entry in scores["methods"].items():
        sub = rows[rows.method == method]
        for point in entry["match_at_k"]:
            hits = sum(bool(((g.budget_index <= point["k"]) & g.matched.fillna(False)
                             .astype(bool)).any()) for _, g in sub.groupby("compound_id"))
            assert point["hits"] == hits and point["n"] == 2, (method, point)
    table = (out / "summary.md").read_text()
    assert "| random |" in table and "match@4" in table
    assert "match@4" in capsys.readouterr().out


def test_csp_resumes_finished_parts_and_refuses_other_settings(
        known: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "csp"
    first = FakeRelaxer(TARGETS, snap_every=2)
    assert run_command(csp_args(known, out, "--methods", "random", "unconditional"),
                       make_chain=lambda: fake_chain(first)) == 0
    before = (out / "candidates.parquet").read_bytes()

    def broken() -> None:
        raise AssertionError("nothing is left to run: the chain must not be built")

    assert run_command(csp_args(known, out, "--methods", "random", "unconditional"),
                       make_chain=broken) == 0
    assert pd.read_parquet(out / "candidates.parquet").equals(pd.read_parquet(
        __import__("io").BytesIO(before)))
    part = out / "candidates" / "part-si-dia.unconditional.parquet"
    part.unlink()
    again = FakeRelaxer(TARGETS)
    assert run_command(csp_args(known, out, "--methods", "random", "unconditional"),
                       make_chain=lambda: fake_chain(again)) == 0
    assert part.is_file() and again.calls == 4  # only the missing task ran
    part.write_bytes(part.read_bytes()[:100])  # truncated (a crash of another tool)
    again = FakeRelaxer(TARGETS)
    assert run_command(csp_args(known, out, "--methods", "random", "unconditional"),
                       make_chain=lambda: fake_chain(again)) == 0
    assert again.calls == 4 and len(pd.read_parquet(part)) == 4  # quarantined, run again
    err = capsys.readouterr().err
    assert "part-si-dia.unconditional.parquet" in err and "its task runs again" in err
    (moved,) = (out / "candidates" / "_quarantine").iterdir()
    assert moved.name.startswith("part-si-dia.unconditional.parquet.")
    capsys.readouterr()
    assert run_command(csp_args(known, out, "--k", "5"), make_chain=broken) == 2
    err = capsys.readouterr().err
    assert "was written with other settings (k: folder 4, now 5); rerun with the folder's " \
        "settings to resume, or pick another --out" in err and err.count("\n") == 1
    # the summary of the finished tasks, running nothing (a long run's partial result)
    (out / "summary.md").unlink()
    aside = part.rename(tmp_path / part.name)
    assert run_command(csp_args(known, out, "--methods", "random", "unconditional",
                                "--summary-only"), make_chain=broken) == 0
    assert "| unconditional |" in (out / "summary.md").read_text() and not part.exists()
    partial = json.loads((out / "summary.json").read_text())["scores"]["methods"]
    assert partial["unconditional"]["n_compounds"] == 1  # si-dia's part is missing
    aside.rename(part)
    # a folder written before the fingerprint file: settings in _benchmark.json, migrated
    fingerprint = out / "_fingerprint.json"
    recorded = json.loads(fingerprint.read_text())
    (out / "_benchmark.json").write_text(json.dumps(recorded["values"]))
    fingerprint.unlink()
    assert run_command(csp_args(known, out, "--methods", "random", "unconditional"),
                       make_chain=broken) == 0  # resumed: nothing ran
    assert json.loads(fingerprint.read_text())["digest"] == recorded["digest"]
    assert not (out / "_benchmark.json").exists()


@pytest.mark.parametrize(("extra", "message"), [
    (("--methods", "nope"), "--methods nope: choose from random, random-prior, unconditional"),
    (("--k", "0"), "--k must be >= 1, got 0"),
    (("--limit", "0"), "--limit must be >= 1, got 0"),
    (("--min-atoms", "21"), "--min-atoms must be 1-20 (--max-atoms), got 21"),
    (("--n-levels", "1"), "n_levels"),
    (("--checkpoint", "missing.pt"), "checkpoint 'missing.pt' does not exist (--checkpoint)"),
])
def test_csp_bad_input_is_refused_before_work(known: str, tmp_path: Path, extra: tuple,
                                              message: str, capsys: pytest.CaptureFixture
                                              ) -> None:
    def broken() -> None:
        raise AssertionError("bad input must be refused before the chain is built")

    assert run_command(csp_args(known, tmp_path / "o", *extra), make_chain=broken) == 2
    err = capsys.readouterr().err
    assert err.startswith("chggen benchmark csp: ") and message in err
    assert len(err.strip().splitlines()) == 1


def test_known_given_is_benchmarked_and_the_shipped_set_runs_without_one(
        known: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    a = args("csp", known, "--set", "default", "--out", str(tmp_path / "o"))
    assert run_command(a, make_chain=lambda: None) == 2  # KNOWN lacks the shipped crystals
    assert "pass --set all" in capsys.readouterr().err
    assert run_command(args("csp", str(tmp_path / "none.parquet")), make_chain=None) == 2
    capsys.readouterr()
    assert run_command(args("csp", known, "--dry-run"), make_chain=None) == 0  # all of KNOWN
    assert capsys.readouterr().out.startswith("benchmark csp: 2 compounds x 4 methods")
    for argv in (("csp", "--dry-run"), ("csp", "default", "--dry-run")):  # the shipped set
        assert run_command(args(*argv), make_chain=None) == 0
        assert capsys.readouterr().out.startswith("benchmark csp: 12 compounds x 4 methods")


def test_min_atoms_keeps_the_cells_searched_of_that_size(capsys: pytest.CaptureFixture
                                                        ) -> None:
    """The extended set's 10-20 atom class is 30 compounds; Sr2NiWO6 is stored as a
    20-atom cell and searched as its 10-atom primitive cell, so --min-atoms 11 leaves it
    out with --cell primitive and keeps it with --cell given."""
    def planned(*extra: str) -> str:
        assert run_command(args("csp", "--set", "extended", "--dry-run", *extra),
                           make_chain=None) == 0
        return capsys.readouterr().out

    assert planned("--min-atoms", "10").startswith("benchmark csp: 30 compounds x 4 methods")
    primitive, given = planned("--min-atoms", "11"), planned("--min-atoms", "11", "--cell",
                                                            "given")
    n = [int(text.split(": ")[1].split(" compounds")[0]) for text in (primitive, given)]
    assert n[1] == n[0] + 1
    # the size filter comes before --limit: the first 2 of the 10-20 class
    assert planned("--min-atoms", "10", "--limit", "2").startswith("benchmark csp: 2 compounds")
    assert run_command(args("csp", "--set", "extended", "--min-atoms", "19", "--max-atoms",
                            "19", "--dry-run"), make_chain=None) == 2
    assert "no crystal of KNOWN with 19-19 atoms in --set extended" in capsys.readouterr().err


def test_failing_candidates_are_rows_and_a_failing_task_is_retried(
        known: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "csp"
    broken_si = FakeRelaxer(TARGETS, fail_formulas=("Si",))
    a = csp_args(known, out, "--methods", "unconditional")
    assert run_command(a, make_chain=lambda: fake_chain(broken_si)) == 1
    assert "si-dia.reference: RuntimeError: fake calculator broke" in capsys.readouterr().err
    rows = pd.read_parquet(out / "candidates.parquet")
    si = rows[rows.formula == "Si"]
    assert len(si) == 4 and set(si.status) == {"failed"}
    assert si.failure_reason.str.contains("fake calculator broke").all()
    assert not (out / "reference" / "part-si-dia.reference.parquet").exists()
    fixed = FakeRelaxer(TARGETS)
    assert run_command(a, make_chain=lambda: fake_chain(fixed)) == 0
    assert fixed.calls == 1  # the reference only


def test_pool_runs_every_task(known: str, tmp_path: Path) -> None:
    from campaign.jobs.benchmark.driver import execute

    def pool_factory(workers, address, make_chain, run_one):
        return ThreadPool(workers, initializer=init_worker, initargs=(make_chain, run_one))

    spec = command.spec_from_args(csp_args(known, tmp_path / "p", "--workers", "2"))
    summary, report = execute(spec, make_chain=lambda: fake_chain(FakeRelaxer(TARGETS)),
                              pool_factory=pool_factory)
    assert report.ran == 2 * 5 and not report.failed
    assert summary["scores"]["methods"]["random"]["n_compounds"] == 2


def test_hosts_recovers_rock_salt_from_voronoi_and_wyckoff_sites(known: str,
                                                                 tmp_path: Path) -> None:
    out = tmp_path / "hosts"
    relaxer = FakeRelaxer({"NaCl": rock_salt()})
    a = args("hosts", known, "--set", "all", "--guest", "Na", "--n-samples", "2",
             "--cell", "given", "--out", str(out))  # 4 Cl framework atoms, 4 Na to place
    assert run_command(a, make_chain=lambda: fake_chain(relaxer)) == 0
    rows = pd.read_parquet(out / "candidates.parquet")
    assert set(rows.compound_id) == {"nacl-rs"}  # Si holds no Na
    assert len(rows) == 4 * 2 and set(rows.n_guest) == {4}
    voronoi = rows[rows.method == "voronoi"].iloc[0]  # sample 0: the most open sites
    assert voronoi.matched_relaxed and voronoi.matched_strict_relaxed
    assert voronoi.energy_relaxed == -2.0
    assert voronoi.guests_relax_steps == 1 and voronoi.relax_steps == 1  # both relaxations
    summary = json.loads((out / "summary.json").read_text())["scores"]["methods"]
    for stage in ("generated", "guests_relaxed", "relaxed"):
        assert summary["voronoi"][stage]["recovered"]["hits"] == 1
        assert summary["inpaint-symmetric"][stage]["matched"]["hits"] == 1  # 4a/4b orbits
        assert summary["random"][stage]["recovered"]["hits"] == 0
    assert (out / "host_recovery.png").is_file()
    assert "| voronoi | relaxed | 1 | 2 | 1/1 100 %" in (out / "summary.md").read_text()


def test_real_chain_factory_with_a_tiny_checkpoint(known: str, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    import campaign.stages.resources
    from chggen_kernels.model import ScoreModel
    from chggen_kernels.training import CheckpointMetadata, save_checkpoint
    from chggen_kernels.training.tiny import tiny_model_config

    torch.manual_seed(0)
    config = tiny_model_config(n_layers=1, hidden_irreps="4x0e+2x1o", radial_hidden=(8,),
                               n_radial_basis=4, species_embedding_dim=4, noise_embedding_dim=4)
    checkpoint = tmp_path / "tiny.pt"
    save_checkpoint(checkpoint, config.to_dict(), ScoreModel(config).state_dict(),
                    CheckpointMetadata(data_hash="feedbeef", sigma_min=0.05, sigma_max=2.0))
    relaxer = FakeRelaxer(TARGETS)
    monkeypatch.setattr(campaign.stages.resources, "load_relaxer", lambda settings: relaxer)
    out = tmp_path / "real"
    a = csp_args(known, out, "--k", "2", "--methods", "unconditional", "--limit", "1",
                 "--checkpoint", str(checkpoint), "--n-levels", "3", "--n-corrector", "0")
    assert run_command(a) == 0
    rows = pd.read_parquet(out / "candidates.parquet")
    assert len(rows) == 2 and rows.model_checkpoint.str.contains("tiny.pt").all()
    assert relaxer.calls == 1 + 2  # the reference and two candidates


def test_hosts_guest_must_be_an_element(known: str, tmp_path: Path,
                                        capsys: pytest.CaptureFixture) -> None:
    a = args("hosts", known, "--set", "all", "--guest", "Xx", "--out", str(tmp_path / "h"))
    assert run_command(a, make_chain=lambda: None) == 2
    assert "--guest must be an element symbol, got 'Xx'" in capsys.readouterr().err


def test_sampler_preset_reaches_the_chain(known: str, tmp_path: Path) -> None:
    from campaign.stages.resources import resolve_sampler_settings

    chosen = command.spec_from_args(csp_args(known, tmp_path / "a", "--sampler", "reference",
                                             "--n-levels", "50")).chain.sampler
    assert chosen == {"preset": "reference", "n_levels": 50}
    resolved = resolve_sampler_settings(chosen, None)
    assert (resolved.preset, resolved.n_levels, resolved.inpaint_n_levels) == \
        ("reference", 50, None)
    default = command.spec_from_args(csp_args(known, tmp_path / "b")).chain.sampler
    assert resolve_sampler_settings(default, None).preset == "fast-pc"
