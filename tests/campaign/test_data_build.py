"""``chggen data build`` in process with the fake relaxer: order, resume, failures, outputs,
external caches and command-line errors. (The Ray path starts a local Ray, which takes
well over 20 s on the shared test machine; only its actor class is tested here, the Ray
path by ``benchmarks/check_data_build_ray.py``.)"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from pymatgen.core import Lattice, Structure

from campaign.cli import main
from campaign.engine import TaskActor
from campaign.engine.folder import FolderSettingsError
from campaign.jobs.data.build import BuildOptions, gather_candidates, run_build
from campaign.jobs.data.cache import RelaxStore, read_any_cache
from campaign.jobs.data.relax import blocks, build_relaxer, relax_one
from chggen_kernels.datasets import append_record, system_of
from chggen_kernels.thermo import OfflineHullSource, get_hull
from chggen_kernels.training import load_training_data
from tests.campaign.fake_relaxer import FakeRelaxer, fails, fake_energy, fake_relaxer

FCC = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])


def _library() -> list[tuple[str, Structure]]:
    """Ten small prototypes standing in for pymatgen's AFLOW library (which takes ~10 s to
    load): five elemental, five binary, one of them as a conventional and a primitive cell."""
    cubic = Lattice.cubic
    return [
        ("A_cP1", Structure(cubic(2.7), ["Cu"], [[0, 0, 0]])),
        ("A_cI2", Structure(cubic(3.2), ["W", "W"], [[0, 0, 0], [0.5] * 3])),
        ("A_cF4", Structure(cubic(3.6), ["Cu"] * 4, FCC)),
        ("A_hP2", Structure(Lattice.hexagonal(3.2, 5.2), ["Mg", "Mg"],
                            [[1 / 3, 2 / 3, 0.25], [2 / 3, 1 / 3, 0.75]])),
        ("A_cF8", Structure(cubic(5.4), ["C"] * 8, np.concatenate([FCC, FCC + 0.25]))),
        ("AB_cP2", Structure(cubic(3.0), ["Cs", "Cl"], [[0, 0, 0], [0.5] * 3])),
        ("AB_cF8", Structure(cubic(5.6), ["Na"] * 4 + ["Cl"] * 4,
                             np.concatenate([FCC, FCC + [0.5, 0, 0]]))),
        ("AB_cF8p", Structure(Lattice([[0, 2.8, 2.8], [2.8, 0, 2.8], [2.8, 2.8, 0]]),
                              ["Na", "Cl"], [[0, 0, 0], [0.5] * 3])),
        ("AB2_cF12p", Structure(Lattice([[0, 2.7, 2.7], [2.7, 0, 2.7], [2.7, 2.7, 0]]),
                                ["Ca", "F", "F"], [[0, 0, 0], [0.25] * 3, [0.75] * 3])),
        ("AB3_cP4", Structure(cubic(3.7), ["Au", "Cu", "Cu", "Cu"],
                              [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])),
    ]


@pytest.fixture(autouse=True)
def small_library(monkeypatch) -> None:
    monkeypatch.setattr("chggen_kernels.datasets.sources._library", _library)


class CountingFactory:
    """Relaxer factory remembering every structure it relaxed."""

    def __init__(self) -> None:
        self.relaxer = FakeRelaxer()

    def __call__(self, settings):
        return self.relaxer


def _options(out: Path, **kwargs) -> BuildOptions:
    base = {"chemsys": ("Li-Si",), "sources": ("prototypes",), "out": out, "max_atoms": 8,
            "undecorated": False}
    return BuildOptions(**{**base, **kwargs})


def test_order_is_smallest_first_with_systems_interleaved(tmp_path) -> None:
    opts = _options(tmp_path, chemsys=("Li-Si", "Zn-P-S"), undecorated=True)
    order = gather_candidates(opts)
    assert len(order) == 20 + 45 + 10  # Li-Si, Zn-P-S decorations, own species
    assert len({c.structure_id for c in order}) == len(order)
    systems = [system_of((el.symbol for el in c.structure.composition.elements),
                         ["Li-Si", "Zn-P-S"]) for c in order]
    assert systems[:30] == ["Li-Si", "P-S-Zn", "other"] * 10  # the three pools interleaved
    for name in ("Li-Si", "P-S-Zn", "other"):
        sizes = [len(c.structure) for c, s in zip(order, systems, strict=True) if s == name]
        assert sizes == sorted(sizes)
    limited = gather_candidates(_options(tmp_path, chemsys=("Li-Si", "Zn-P-S"),
                                         undecorated=True, limit=12))
    assert [c.structure_id for c in limited] == [c.structure_id for c in order[:12]]


def test_resume_relaxes_only_new_candidates_and_failures_are_excluded(tmp_path) -> None:
    out = tmp_path / "build"
    first = CountingFactory()
    summary = run_build(_options(out, limit=8), relaxer_factory=first)
    assert first.relaxer.calls == 8 and summary.n_cached == 0
    second = CountingFactory()
    summary = run_build(_options(out), relaxer_factory=second)
    assert second.relaxer.calls == 12 and summary.n_cached == 8
    third = CountingFactory()
    summary = run_build(_options(out), relaxer_factory=third)
    assert third.relaxer.calls == 0

    cache = read_any_cache(out)
    assert cache.n_lines == 20 and len(cache.records) == 20
    failed = {sid for sid, r in cache.records.items() if r["status"] == "failed"}
    assert failed  # the fake fails one structure in seven
    manifest = json.loads((out / "manifest.json").read_text())
    total = manifest["counts"]["total"]
    assert total["candidates"] == 20 and total["failed"] == len(failed)
    assert total["relaxed_ok"] == 20 - len(failed) and total["pending"] == 0
    assert manifest["counts"]["failure_codes"] == {"calculator_error": len(failed)}

    data = load_training_data(out / "train.parquet")
    ids = {c.structure_id for c in data.crystals}
    assert len(ids) == total["kept_dedup"] == manifest["outputs"]["train.parquet"]["rows"]
    assert not ids & failed
    for crystal in data.crystals:
        assert crystal.energy_per_atom == pytest.approx(fake_energy(crystal.structure))
        assert float(crystal.provenance["e_above_hull"]) <= 0.1
        assert crystal.provenance["system"] == "Li-Si" and crystal.source == "prototypes"
    table = pq.read_table(out / "train.parquet")
    assert {"prototype", "e_above_hull", "relaxer", "n_duplicates"} <= set(table.column_names)
    assert manifest["outputs"]["train.parquet"]["data_hash"] == data.hash
    assert manifest["command"].startswith("chggen data build --chemsys Li-Si --sources "
                                          "prototypes --out")
    assert "--max-atoms 8 --no-undecorated" in manifest["command"]
    diagram = get_hull(OfflineHullSource(out / "reference_hull.json"), "Li-Si")
    assert {e.composition.reduced_formula for e in diagram.stable_entries} >= {"Li", "Si"}


def test_no_relax_counts_pending_and_external_cache_is_reused(tmp_path) -> None:
    elsewhere = tmp_path / "elsewhere"
    run_build(_options(tmp_path / "a", limit=8, relaxed_cache=elsewhere),
              relaxer_factory=CountingFactory())
    assert not (tmp_path / "a" / "relaxed").exists()
    summary = run_build(_options(tmp_path / "b", limit=10, no_relax=True, read_cache=(elsewhere,)))
    counts = summary.manifest["counts"]["total"]
    assert counts["pending"] == 2 and counts["relaxed_ok"] + counts["failed"] == 8
    assert read_any_cache(tmp_path / "b").ids == read_any_cache(elsewhere).ids
    factory = CountingFactory()
    run_build(_options(tmp_path / "b", limit=10, read_cache=(elsewhere,)), relaxer_factory=factory)
    assert factory.relaxer.calls == 2


def test_the_cache_is_a_checked_results_folder(tmp_path, capsys) -> None:
    out = tmp_path / "build"
    run_build(_options(out, limit=12), relaxer_factory=CountingFactory())
    parts = sorted((out / "relaxed").glob("part-*.parquet"))
    assert len(parts) == 2  # blocks of 8 candidates, each one atomic part
    parts[0].write_bytes(parts[0].read_bytes()[:50])  # truncated by a crash elsewhere
    again = CountingFactory()
    run_build(_options(out, limit=12), relaxer_factory=again)
    assert again.relaxer.calls == 8  # its block was quarantined and relaxed again
    assert "its task runs again" in capsys.readouterr().err
    assert len(list((out / "relaxed" / "_quarantine").iterdir())) == 1
    with pytest.raises(FolderSettingsError, match=r"was written with other settings \(relaxer"
                       r".*fmax=0\.1 .*fmax=0\.05.*give another --relaxed-cache"):
        run_build(_options(out, limit=12, fmax=0.05), relaxer_factory=CountingFactory())


def test_an_older_jsonl_cache_is_imported_in_place(tmp_path, capsys) -> None:
    first = tmp_path / "first"
    run_build(_options(first, limit=8), relaxer_factory=CountingFactory())
    out = tmp_path / "older"
    out.mkdir()
    for record in read_any_cache(first).records.values():  # as an older chggen wrote it
        append_record(out / "relaxed.jsonl", record)
    factory = CountingFactory()
    run_build(_options(out, limit=10), relaxer_factory=factory)
    assert factory.relaxer.calls == 2  # the 8 imported records are reused
    assert not (out / "relaxed.jsonl").exists()
    assert (out / "relaxed" / "_imported" / "relaxed.jsonl").is_file()
    assert "imported 8 records of the older cache" in capsys.readouterr().err
    assert RelaxStore(out / "relaxed").read().records.keys() >= read_any_cache(first).ids


def test_retry_failed_relaxes_failed_records_again(tmp_path) -> None:
    out = tmp_path / "build"
    run_build(_options(out), relaxer_factory=CountingFactory())
    n_failed = sum(r["status"] == "failed"
                   for r in read_any_cache(out).records.values())
    factory = CountingFactory()
    run_build(_options(out, retry_failed=True), relaxer_factory=factory)
    assert factory.relaxer.calls == n_failed > 0


def test_relax_actor_builds_records_without_ray(tmp_path) -> None:
    order = gather_candidates(_options(tmp_path, limit=8))
    actor = TaskActor(functools.partial(build_relaxer, fake_relaxer, {"fmax": 0.05}),
                      functools.partial(relax_one, label="fake"))
    outcomes = [actor.run(b) for b in blocks(order, 3)]
    assert [o.error for o in outcomes] == [None] * 3
    records = [row for o in outcomes for row in o.rows]
    assert [r["status"] == "failed" for r in records] == [fails(c.structure) for c in order]
    assert [r["structure_id"] for r in records] == [c.structure_id for c in order]
    assert actor.worker.settings.fmax == 0.05


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--chemsys", "Li-Xx"], "'Xx' is not a chemical element symbol"),
        (["--chemsys", "Li-Si", "--sources", "prototypes", "dft"], "'dft'"),
        (["--chemsys", "Li-Si", "--ehull-max", "-0.5"], "'-0.5' is not a finite number >= 0"),
        (["--chemsys", "Li-Si", "--workers", "0"], "'0' is not an integer >= 1"),
        (["--chemsys", "Li-Si", "--max-atoms", "many"], "'many' is not an integer >= 1"),
        (["--chemsys", "Li-Si", "--sources", "files"],
         "--files = None: --sources files needs --files PATH"),
        (["--chemsys", "Li-Si", "--relaxer", "tests.campaign.fake_relaxer:fake_relaxer"],
         "unrecognized arguments: --relaxer"),  # test doubles are not selectable
        (["--chemsys", "Li-Si", "--sources", "mp"], "MP_API_KEY"),
        (["--chemsys", "Li-Si", "--hull-references", "/nonexistent/h.json"],
         "--hull-references = '/nonexistent/h.json': hull entry file '/nonexistent/h.json' "
         "does not exist"),
    ],
)
def test_command_line_errors_name_the_value(tmp_path, capsys, monkeypatch, args, message) -> None:
    monkeypatch.delenv("MP_API_KEY", raising=False)
    try:
        code = main(["data", "build", "--out", str(tmp_path / "out"), *args])
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    assert message in capsys.readouterr().err


def _templates_file(path: Path) -> Path:
    """A known-structures Parquet with a P-S compound (K, In cations), a Zn-S compound and a
    row that cannot be read."""
    import pyarrow as pa

    kinps = Structure(Lattice.cubic(6.0), ["K", "In", "P", "S", "S", "S", "S"],
                      [[0, 0, 0], [0.5, 0, 0], [0.5, 0.5, 0.5], [0.7, 0.7, 0.7],
                       [0.3, 0.3, 0.7], [0.3, 0.7, 0.3], [0.7, 0.3, 0.3]])
    zns = Structure(Lattice.cubic(5.4), ["Zn"] * 4 + ["S"] * 4, np.concatenate([FCC, FCC + 0.25]))
    rows = [json.dumps(kinps.as_dict()), json.dumps(zns.as_dict()), "not json"]
    pq.write_table(pa.table({"structure": rows, "source": ["demo"] * 3,
                             "source_id": ["kinps", "zns", "bad"]}), path)
    return path


def test_substituted_source_turns_template_cations_into_the_system_element(tmp_path) -> None:
    templates = _templates_file(tmp_path / "templates.parquet")
    out = tmp_path / "build"
    notes: dict = {}
    opts = _options(out, chemsys=("Zn-P-S",), sources=("substituted",), templates=templates,
                    substitute=("Zn",))
    candidates = gather_candidates(opts, notes=notes)
    assert [c.structure.composition.reduced_formula for c in candidates] == ["Zn2PS4"]
    assert candidates[0].prototype == "demo:kinps:In+K->Zn"
    assert notes["templates_read"] == 2 and len(notes["templates_unreadable"]) == 1
    factory = CountingFactory()
    run_build(opts, relaxer_factory=factory)
    assert factory.relaxer.calls == 1
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["total"]["candidates"] == 1
    assert f"--templates {templates} --substitute Zn" in manifest["command"]


#: a valid substituted-source command line for Zn-P-S, to which one bad option is added
_ZN_FROM_TEMPLATES = ["--sources", "substituted", "--templates", "TEMPLATES", "--substitute",
                      "Zn"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sources", "substituted", "--substitute", "Zn"],
         "--templates = None: --sources substituted needs --templates PATH"),
        (["--sources", "substituted", "--templates", "/nonexistent/t.parquet", "--substitute",
          "Zn"], "--templates = '/nonexistent/t.parquet': not a file"),
        (["--sources", "substituted", "--templates", "TEMPLATES"],
         "--substitute = []: --sources substituted needs --substitute ELEMENT ..."),
        (["--sources", "substituted", "--templates", "TEMPLATES", "--substitute", "Li"],
         "--substitute = 'Li': not an element of --chemsys ['P-S-Zn']"),
        (["--templates", "TEMPLATES"],
         "--templates = 'TEMPLATES': given but 'substituted' is not in --sources"),
        (["--analogues", "P=As"], "--analogues = ['P=As']: given but 'substituted' is not in "
         "--sources"),
        ([*_ZN_FROM_TEMPLATES, "--analogues", "P"],
         "--analogues = 'P': write ELEMENT=ANALOGUE[,ANALOGUE...], e.g. P=As,Sb"),
        ([*_ZN_FROM_TEMPLATES, "--analogues", "Se=Te"],
         "--analogues = 'Se=Te': 'Se' is not an element of --chemsys ['P-S-Zn']"),
        ([*_ZN_FROM_TEMPLATES, "--analogues", "S=O,Zn"],
         "--analogues = 'S=O,Zn': 'Zn' is not an element outside --chemsys"),
        ([*_ZN_FROM_TEMPLATES, "--analogues", "S=Xq"],
         "--analogues = 'S=Xq': 'Xq' is not an element outside --chemsys"),
        ([*_ZN_FROM_TEMPLATES, "--analogues", "S=O", "S=Se"],
         "--analogues = 'S=Se': 'S' is given twice"),
    ],
)
def test_substituted_source_errors_name_the_option(tmp_path, capsys, args, message) -> None:
    templates = str(_templates_file(tmp_path / "t.parquet"))
    args = [templates if a == "TEMPLATES" else a for a in args]
    message = message.replace("TEMPLATES", templates)
    code = main(["data", "build", "--chemsys", "Zn-P-S", "--out", str(tmp_path / "out"), *args])
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_command_line_reproduces_the_build_and_names_only_given_inputs(tmp_path) -> None:
    from campaign.commands import data as data_command
    from campaign.jobs.data.build import command_line

    plain = _options(tmp_path / "o", max_atoms=8)
    line = command_line(plain)
    assert "--templates" not in line and "--substitute" not in line and "--files" not in line
    files = tmp_path / "cifs"
    files.mkdir()
    with_files = _options(tmp_path / "o", sources=("prototypes", "files"), files=files)
    assert f"--files {files}" in command_line(with_files)
    templates = _templates_file(tmp_path / "t.parquet")
    subst = _options(tmp_path / "o", chemsys=("Zn-P-S",), sources=("substituted",),
                     templates=templates, substitute=("Zn",))
    words = command_line(subst).split()[3:]  # what follows "chggen data build"
    import argparse

    parser = argparse.ArgumentParser()
    data_command.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["data", "build", *words])
    assert (args.templates, args.substitute, args.sources) == (templates, ["Zn"],
                                                               ["substituted"])
    analogues = _options(tmp_path / "o", chemsys=("Zn-P-S",), sources=("substituted",),
                         templates=templates, substitute=("Zn",), analogues=("P=As,Sb",))
    args = parser.parse_args(["data", "build", *command_line(analogues).split()[3:]])
    assert args.analogues == ["P=As,Sb"]
    assert analogues.analogue_map() == {"P": ("As", "Sb")}
