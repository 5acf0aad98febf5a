"""The Python API (``import chggen``) end to end: a tiny random-weight checkpoint, a few
noise levels, real CHGNet with a few steps, the offline Li-Si hull, and Ray for the
campaigns. Each function is checked against its command (same defaults, same rows, same
one-line refusals)."""

from __future__ import annotations

import argparse
import inspect
import subprocess
import sys

import ase.io
import pytest
from pymatgen.core import Lattice, Structure
from pymatgen.io.cif import CifWriter

import chggen
from campaign.cli import build_parser, main
from campaign.commands.top import rank_candidates
from campaign.engine.store import CANDIDATE_SCHEMA, read_results
from chggen._options import CliDefault
from chggen_kernels.workflow import rank_key
from tests.api.conftest import FAST, FAST_ARGV

GENERATE = {"n_samples": 2, "mode": "both", "guest": "Li", "samples_per_host": 1,
            "max_hosts": 1, "lattice_family": "cubic", "seed": 1}
GENERATE_ARGV = ["generate", "LiSi", "--n-samples", "2", "--mode", "both", "--guest", "Li",
                 "--samples-per-host", "1", "--max-hosts", "1", "--lattice-family", "cubic",
                 "--seed", "1"]


def li2si(a: float = 6.2, li: dict | str = "Li") -> Structure:
    """Anti-fluorite Li2Si (Fm-3m, conventional cell of 12 sites); ``li``: the Li site's
    species (``{"Li": 0.5}``: half occupied)."""
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), ["Si", li],
                                     [[0, 0, 0], [0.25, 0.25, 0.25]])


def subcommand(name: str) -> argparse.ArgumentParser:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


# ------------------------------------------------------------------ the package
def test_import_is_light_and_names_resolve() -> None:
    code = ("import sys, chggen\n"
            "names = [getattr(chggen, n) for n in chggen.__all__]\n"
            "heavy = {'torch', 'pymatgen', 'ray', 'pandas', 'numpy'} & set(sys.modules)\n"
            "assert not heavy, heavy\n"
            "assert chggen.__version__ and callable(chggen.generate)\n")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(("function", "command"), [
    ("generate", "generate"), ("inpaint", "inpaint"), ("scan", "scan"),
    ("run_campaign", "run"), ("evaluate", "generate")])
def test_keyword_defaults_are_the_commands(function: str, command: str) -> None:
    options = {flag[2:].replace("-", "_"): action.default
               for action in subcommand(command)._actions
               for flag in action.option_strings if flag.startswith("--")}
    checked = 0
    for name, parameter in inspect.signature(getattr(chggen, function)).parameters.items():
        if isinstance(parameter.default, CliDefault):
            assert repr(parameter.default) == repr(options[name]), name
            checked += 1
    assert checked >= 6


# ------------------------------------------------------------------ generate + Results
@pytest.fixture(scope="module")
def generated(checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("api") / "run"
    return chggen.generate("LiSi", checkpoint=checkpoint, out=out, **GENERATE, **FAST), out


def test_generate_gives_the_rows_of_the_command(generated, checkpoint, tmp_path) -> None:
    results, out = generated
    table = results.table
    assert list(table.columns) == CANDIDATE_SCHEMA.names
    assert sorted(table["candidate_id"]) == sorted(read_results(out)["candidate_id"])
    assert set(table["mode"]) == {"unconditional", "inpaint"} and results.modes is None
    ok = table[table["status"] == "ok"]
    assert len(ok) >= 2 and list(table.index[: len(ok)]) == list(ok.index)  # ok rows first
    rows = [{k: (None if v != v else v) for k, v in r.items()} for r in ok.to_dict("records")]
    assert rows == sorted(rows, key=rank_key)
    # the command with the same options: the same candidates, sampled the same way
    cli_out = tmp_path / "cli"
    assert main([*GENERATE_ARGV, "--checkpoint", checkpoint, "--out", str(cli_out),
                 *FAST_ARGV]) == 0
    cli = read_results(cli_out).set_index("candidate_id").sort_index()
    api = table.set_index("candidate_id").sort_index()
    assert list(cli.index) == list(api.index)
    assert list(cli["structure_generated"]) == list(api["structure_generated"])
    # best(n) ranks and groups as `chggen top` does
    assert list(results.best(20).table["candidate_id"]) == list(
        rank_candidates(str(out))["candidate_id"])


def test_results_methods(generated, tmp_path) -> None:
    results, out = generated
    ok_ids = list(results.table.loc[results.table["status"] == "ok", "candidate_id"])
    assert results.df is results.table and len(results) == len(results.table)
    best = results.best(1)
    assert isinstance(best, chggen.Results) and len(best) == 1
    assert best.table.at[0, "candidate_id"] == ok_ids[0]
    assert {"n_duplicates", "duplicate_ids"} <= set(best.table.columns)
    assert best.best(5).table.equals(best.table)  # already grouped
    structures = results.structures()
    assert [s.properties["candidate_id"] for s in structures] == ok_ids
    assert len(results.structures(relaxed=False)) == len(ok_ids)
    frames = results.to_ase()
    assert [a.info["candidate_id"] for a in frames] == ok_ids and "e_d" in frames[0].info
    cifs = results.to_cif(tmp_path / "cif")
    assert len(cifs) == len(ok_ids) and (tmp_path / "cif" / "manifest.csv").is_file()
    assert cifs[0].name.startswith("01_LiSi_sg") and ok_ids[0] in cifs[0].name
    assert Structure.from_file(cifs[0]).composition.reduced_formula == "LiSi"
    path = results.to_extxyz(tmp_path / "xyz" / "all.extxyz")
    assert [a.info["candidate_id"] for a in ase.io.read(path, index=":")] == ok_ids
    text = repr(results)
    assert text.startswith(f"<chggen.Results: {len(results)} candidates, {len(ok_ids)} ok")
    assert ok_ids[0] in text and "E_d (eV/atom)" in text
    page = best._repr_html_()
    assert "<table" in page and ok_ids[0] in page and "copies" in page
    loaded = chggen.load_results(out)
    assert list(loaded.table["candidate_id"]) == list(results.table["candidate_id"])
    assert loaded.folder == out
    with pytest.raises(chggen.InputError, match="n must be an integer >= 1"):
        results.best(0)


# ------------------------------------------------------------------ inpaint, evaluate
def test_inpaint_a_partly_occupied_host_file_and_a_structure(checkpoint, tmp_path) -> None:
    cif = tmp_path / "half.cif"
    CifWriter(li2si(li={"Li": 0.5})).write_file(str(cif))  # 4 Si + 8 sites of half a Li
    results = chggen.inpaint(cif, n_samples=2, checkpoint=checkpoint, **FAST)
    table = results.table
    assert len(table) == 2 and set(table["mode"]) == {"inpaint"}
    assert set(table["parent_id"]) == {"host:half.cif"} and set(table["n_guest"]) == {4}
    assert set(table["composition"]) == {"Li4Si4"}
    symmetric = chggen.inpaint(li2si().get_primitive_structure(), guest={"Li": 2},
                               n_samples=1, symmetric=True, checkpoint=checkpoint, **FAST)
    assert list(symmetric.table["mode"]) == ["inpaint-symmetric"]
    assert list(symmetric.table["n_guest"]) == [2]


def test_evaluate_ranks_own_structures(tmp_path) -> None:
    mine = {"CsCl": Structure(Lattice.cubic(3.2), ["Li", "Si"], [[0, 0, 0], [0.5] * 3]),
            "antifluorite": li2si().get_primitive_structure()}
    out = tmp_path / "mine"
    results = chggen.evaluate(mine, out=out, max_steps=30, threads=1, quiet=True)
    table = results.table
    assert list(table["status"]) == ["ok", "ok"] and set(table["mode"]) == {"unconditional"}
    assert set(table["parent_id"]) == {"user:CsCl", "user:antifluorite"}
    assert set(table["model_checkpoint"]) == {"user"} and table["e_d"].notna().all()
    assert list(table["e_d"]) == sorted(table["e_d"])
    assert table["hull_source"].str.startswith("offline:").all()
    assert list(chggen.load_results(out).table["candidate_id"]) == list(table["candidate_id"])
    assert len(results.best(2)) == 2


# ------------------------------------------------------------------ campaigns (Ray)
def test_scan_then_run_campaign_resumes_it(checkpoint, tmp_path) -> None:
    out = tmp_path / "scan"
    results = chggen.scan("Li-Si", budget=1, max_atoms=2, no_inpaint=True, out=out,
                          checkpoint=checkpoint, sampler="fast", relax_actors=1,
                          sampler_actors=1, no_progress=True)
    assert len(results) == 1 and results.folder == out
    assert results.notes[0].startswith("campaign finished")
    assert list(results.table["composition"]) == ["Li1Si1"]
    again = chggen.run_campaign(out / "_campaign.yaml", no_progress=True)
    assert "0 tasks written (1 already done)" in again.notes[0]
    assert list(again.table["candidate_id"]) == list(results.table["candidate_id"])


# ------------------------------------------------------------------ bad input
def _one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert isinstance(exc.value, chggen.InputError) and text and "\n" not in text
    return text


@pytest.mark.parametrize(("call", "argv"), [
    (lambda: chggen.generate("Xq2"), ["generate", "Xq2"]),
    (lambda: chggen.generate("LiSi", n_samples=0), ["generate", "LiSi", "--n-samples", "0"]),
    (lambda: chggen.generate("LiSi", limits={"atoms_per_cell": 1}),
     ["generate", "LiSi", "--limits", "atoms_per_cell=1"]),
    (lambda: chggen.scan("Li-Xq"), ["scan", "Li-Xq"]),
])
def test_bad_input_is_the_commands_one_line(call, argv, capsys) -> None:
    with pytest.raises(chggen.InputError) as exc:
        call()
    assert main(argv) == 2
    assert capsys.readouterr().err.strip() == f"chggen {argv[0]}: {_one_line(exc)}"


def test_bad_host_is_the_commands_one_line(tmp_path, capsys) -> None:
    cif = tmp_path / "ordered.cif"
    CifWriter(li2si()).write_file(str(cif))
    with pytest.raises(chggen.InputError) as exc:
        chggen.inpaint(cif)
    assert "no species is partly occupied" in _one_line(exc)
    assert main(["inpaint", str(cif)]) == 2
    assert capsys.readouterr().err.strip() == f"chggen inpaint: {exc.value}"


def test_bad_options_configs_structures_and_folders(tmp_path) -> None:
    with pytest.raises(TypeError) as exc:  # an OptionError is both
        chggen.generate("LiSi", n_level=6)
    assert "unknown option 'n_level'; did you mean n_levels" in _one_line(exc)
    with pytest.raises(chggen.InputError) as exc:
        chggen.generate("LiSi", mode="sideways")
    assert "argument --mode: invalid choice: 'sideways'" in _one_line(exc)
    with pytest.raises(chggen.InputError) as exc:
        chggen.run_campaign({"compositions": {"chemical_systems": ["Li-Si"]},
                             "samples_per_task": 0})
    assert "samples_per_task" in _one_line(exc)
    overlapping = Structure(Lattice.cubic(4.0), ["Li", "Si"], [[0, 0, 0], [0.01, 0, 0]])
    with pytest.raises(chggen.InputError) as exc:
        chggen.evaluate([overlapping])
    assert _one_line(exc).startswith("structure structure-0: overlapping atoms")
    with pytest.raises(chggen.InputError) as exc:
        chggen.evaluate({"half": li2si(li={"Li": 0.5})})
    assert "structure half: partly occupied sites" in _one_line(exc)
    with pytest.raises(chggen.InputError) as exc:
        chggen.load_results(tmp_path / "missing")
    assert "does not exist" in _one_line(exc)
