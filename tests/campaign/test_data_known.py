"""``chggen data build --sources known``: filters with counts, formula splits, optional
single-point energies with their hull filter, and the errors of bad options."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pymatgen.core import Lattice, Structure

from campaign.cli import main
from campaign.jobs.data.build import BuildOptions, DataBuildError, run_build
from chggen_kernels.testing import diamond, fcc
from chggen_kernels.training import load_training_data


def _structures() -> list[tuple[str, Structure]]:
    cubic = Lattice.cubic
    return [
        ("mp-149", diamond()),
        ("mp-149-dup", diamond().make_supercell([1, 1, 2]) or diamond()),
        ("mp-30", fcc(3.61, "Cu")),
        ("li-bcc", Structure(cubic(3.44), ["Li", "Li"], [[0, 0, 0], [0.5] * 3])),
        ("lisi-cscl", Structure(cubic(3.0), ["Li", "Si"], [[0, 0, 0], [0.5] * 3])),
        ("lisi-nacl", Structure(cubic(5.2), ["Li"] * 4 + ["Si"] * 4,
                                [[0, 0, 0], [0, .5, .5], [.5, 0, .5], [.5, .5, 0],
                                 [.5, 0, 0], [0, .5, 0], [0, 0, .5], [.5, .5, .5]])),
        ("li2si", Structure(cubic(4.0), ["Li", "Li", "Si"],
                            [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0.5, 0.5]])),
    ]


@pytest.fixture()
def known_file(tmp_path: Path) -> Path:
    path = tmp_path / "known.parquet"
    pq.write_table(pa.Table.from_pylist([
        {"source": "db-a" if i % 2 else "db-b", "source_id": sid, "origin": "test",
         "licence": "CC0", "structure": json.dumps(s.as_dict())}
        for i, (sid, s) in enumerate(_structures())]), path)
    return path


def _opts(tmp_path: Path, known: Path, **kw) -> BuildOptions:
    return BuildOptions(chemsys=kw.pop("chemsys", ()), sources=("known",),
                        out=tmp_path / "out", known=known, **kw)


def test_known_build_splits_by_formula_and_counts_every_filter(tmp_path, known_file):
    opts = _opts(tmp_path, known_file, chemsys=("Li-Si",), val_fraction=0.0,
                 test_fraction=0.0, test_formulas=("Si2Li4",))
    summary = run_build(opts, stream=io.StringIO())
    m = summary.manifest
    assert m["filters"]["db-a"] == {"read": 3, "duplicate": 1, "kept": 2}
    assert m["filters"]["db-b"] == {"read": 4, "elements": 1, "kept": 3}
    assert m["test_formulas"] == ["Li2Si"]
    assert m["splits"]["train"]["crystals"] == 4 and m["splits"]["test"]["crystals"] == 1
    train = load_training_data(opts.out / "train.parquet")
    assert sorted(c.structure.composition.reduced_formula for c in train.crystals) == \
        ["Li", "LiSi", "LiSi", "Si"]  # both LiSi polymorphs on the same side
    assert {c.provenance["licence"] for c in train.crystals} == {"CC0"}
    assert not (opts.out / "val.parquet").exists()
    assert summary.n_train == 4


def test_single_points_feed_an_energy_above_hull_filter(tmp_path, known_file):
    energies = {"Si": -5.4, "Li": -1.9, "Li2Si": -3.4}

    def fake_energies(structures):
        out = []
        for s in structures:
            f = s.composition.reduced_formula
            # the CsCl LiSi is 0.5 eV/atom above the NaCl one; the NaCl one is on the hull
            out.append(energies.get(f, -4.0 if len(s) == 8 else -3.5))
        return out

    opts = _opts(tmp_path, known_file, chemsys=("Li-Si",), single_point=True, ehull_max=0.1,
                 val_fraction=0.0, test_fraction=0.0)
    m = run_build(opts, energy_function=fake_energies, stream=io.StringIO()).manifest
    assert m["filters"]["db-b"]["e_above_hull"] == 1  # lisi-cscl (source db-b, row 4)
    assert m["filters"]["db-b"]["kept"] == 2
    crystals = load_training_data(opts.out / "train.parquet").crystals
    assert {round(c.energy_per_atom, 3) for c in crystals} == {-5.4, -1.9, -4.0, -3.4}


@pytest.mark.parametrize(("args", "message"), [
    (["--sources", "known"], "--known = None: --sources known needs --known PATH"),
    (["--sources", "known", "prototypes", "--known", "KNOWN"],
     "--sources = ['known', 'prototypes']: 'known' builds on its own, not with ['prototypes']"),
    (["--sources", "known", "--known", "KNOWN", "--test-fraction", "0.99",
      "--val-fraction", "0.2"],
     "--val-fraction = 0.2: --val-fraction + --test-fraction must be below 1, got 1.19"),
    (["--sources", "known", "--known", "KNOWN", "--test-formulas", "Xx9"],
     "--test-formulas = 'Xx9': not a formula"),
    (["--sources", "known", "--known", "missing.parquet"],
     "--known = 'missing.parquet': not a file"),
])
def test_known_options_are_refused_with_the_field(tmp_path, known_file, capsys, args, message):
    args = [str(known_file) if a == "KNOWN" else a for a in args]
    code = main(["data", "build", "--out", str(tmp_path / "out"), *args])
    assert code == 2
    assert message in capsys.readouterr().err


def test_known_build_from_the_command_line(tmp_path, known_file, capsys):
    out = tmp_path / "cli"
    code = main(["data", "build", "--sources", "known", "--known", str(known_file), "--out",
                 str(out), "--max-atoms", "4", "--test-fraction", "0", "--val-fraction", "0"])
    assert code == 0
    m = json.loads((out / "manifest.json").read_text())
    assert m["filters"]["db-a"]["max_atoms"] == 2  # the 16-atom diamond and the 8-atom NaCl
    assert m["outputs"]["train.parquet"]["rows"] == m["splits"]["train"]["crystals"] == 4


def test_known_options_need_the_known_source(tmp_path, known_file):
    with pytest.raises(DataBuildError, match=r"--chemsys = \[\]: give at least one chemical"):
        BuildOptions(chemsys=(), sources=("prototypes",), out=tmp_path)
