"""Hostile input refused before work: bounded config files, limits, ``chggen check`` and
``--dry-run``, the structure check at every entry point, locks and full disks."""

from __future__ import annotations

import errno
import json
import os
import re
from pathlib import Path

import pytest
import yaml
from pymatgen.core import Lattice, Structure

from campaign.cli import main
from campaign.config.model import CampaignConfigError, validate_config
from campaign.engine.folder import LOCK_NAME, folder_lock
from campaign.inputs.limits import LimitError, Limits, parse_limit_options
from campaign.inputs.text import load_yaml_text

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "li_si.yaml"


def billion_laughs(levels: int = 9) -> str:
    """Nine levels of nine-fold aliases: 9^9 nodes from 1 kB of text."""
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    previous = "a"
    for name in "bcdefghijklmnop"[: levels - 1]:
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
        previous = name
    return "\n".join([*lines, f"name: *{previous}"]) + "\n"


def _run_one_line(argv: list[str], capsys) -> str:
    code = main(argv)
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in captured.err, captured.err
    return lines[0]


@pytest.mark.parametrize(("content", "message"), [
    (billion_laughs(), "expands to more than 100,000 YAML nodes (anchors and aliases); refused "
                       "before building it"),
    ("a: &a [1, *a]\n", "an alias refers to a node that contains it (recursive alias)"),
    ("[" * 20000, "nested too deeply to be a configuration"),
    ("name: !!python/object/apply:os.system ['true']\n", "not valid YAML (could not determine "
                                                         "a constructor for the tag"),
    (b"\xff\xfe\x00binary", "not a UTF-8 text file (byte 0xff at offset 0)"),
    ("x" * 1_000_001, "1.0 MB, larger than the 1.0 MB a campaign file may hold"),
])
def test_bad_config_files_are_one_line_exit_2(tmp_path, capsys, content, message) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    line = _run_one_line(["run", str(path)], capsys)
    assert line.startswith(f"chggen run: campaign file {str(path)!r}: {message}")


def test_aliases_within_bounds_still_load() -> None:
    assert load_yaml_text("a: &x {b: 1}\nc: *x\n", source="s") == {"a": {"b": 1}, "c": {"b": 1}}
    assert load_yaml_text("", source="s") is None
    with pytest.raises(Exception, match="expands to more than 100 YAML nodes"):
        load_yaml_text(billion_laughs(3), source="s", max_nodes=100)


def _config(**changes) -> dict:
    data = yaml.safe_load(EXAMPLE.read_text())
    data.update(changes)
    return data


@pytest.mark.parametrize(("changes", "message"), [
    ({"samples_per_task": 10**9}, "samples_per_task = 1,000,000,000: more than "
     "limits.samples_per_task = 2,000 (candidates of one task are sampled as one batch); "
     "raise limits.samples_per_task to allow it"),
    ({"seed_blocks": 10**9}, "seed_blocks = 1,000,000,000: more than limits.seed_blocks = 1,000"),
    ({"atoms_per_cell": {"min": 1, "max": 5000}}, "atoms_per_cell.max = 5,000: more than "
     "limits.atoms_per_cell = 200"),
    ({"compositions": {"chemical_systems": ["Li-Si-P-S"]}, "atoms_per_cell": {"max": 200},
      "modes": ["unconditional"]}, "compositions to enumerate = 64,684,950: more than "
     "limits.cells = 20,000"),
    ({"seed_blocks": 1000, "samples_per_task": 1000}, "planned inpainting hosts = 29,000: "
     "more than limits.hosts = 10,000"),
    ({"seed_blocks": 1000, "samples_per_task": 1000, "modes": ["unconditional"]},
     "planned candidates = 29,000,000: more than limits.candidates = 100,000"),
    ({"compositions": {"cells": ["Og2Li2"]}, "modes": ["unconditional"]},
     "compositions: element Og (Z = 118) is not supported by the potential chgnet"),
])
def test_sizes_beyond_the_limits_are_refused_before_planning(changes, message) -> None:
    with pytest.raises(CampaignConfigError) as info:
        validate_config(_config(**changes), source="c")
    assert str(info.value).startswith(f"c: {message}"), str(info.value)


def test_limits_block_raises_a_limit_and_unknown_names_are_refused() -> None:
    config = validate_config(_config(samples_per_task=3000,
                                     limits={"samples_per_task": 5000}), source="c")
    assert config.samples_per_task == 3000 and config.limits.samples_per_task == 5000
    with pytest.raises(CampaignConfigError, match=r"limits.hostz = 3: unknown field"):
        validate_config(_config(limits={"hostz": 3}), source="c")
    assert parse_limit_options(["atoms_per_cell=400", "hosts=1_000"]) == Limits(
        atoms_per_cell=400, hosts=1000)
    with pytest.raises(LimitError) as unknown:  # the one unknown-field message
        parse_limit_options(["atoms=4"])
    assert str(unknown.value) == ("--limits atoms = 4: unknown field (known: samples_per_task, "
                                  "seed_blocks, cells, candidates, atoms_per_cell, hosts, "
                                  "benchmark_k)")
    with pytest.raises(LimitError, match=r"--limits 'atoms': expected NAME=VALUE with NAME "
                                         r"one of samples_per_task, "):
        parse_limit_options(["atoms"])
    with pytest.raises(LimitError, match=r"--limits 'hosts=many': 'many' is not an integer"):
        parse_limit_options(["hosts=many"])
    with pytest.raises(LimitError, match=r"--limits hosts = 0: Input should be greater"):
        parse_limit_options(["hosts=0"])


def test_scan_budget_probe_is_refused_and_a_10000_candidate_scan_plans(capsys) -> None:
    line = _run_one_line(["scan", "Li-Si", "--budget", "1000000000", "--print-config"], capsys)
    assert line == ("chggen scan: --budget = 1,000,000,000: more than limits.candidates = "
                    "100,000 (each candidate is sampled, relaxed and written); raise "
                    "limits.candidates to allow it")
    assert main(["scan", "Li-Si", "--budget", "10000", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "= at most 9,996 candidates" in out and out.endswith("dry run: nothing started\n")
    assert main(["scan", "Li-Si", "--budget", "200000", "--limits", "candidates=300000",
                 "--limits", "samples_per_task=10000", "--print-config"]) == 0
    assert "limits:\n  samples_per_task: 10000" in capsys.readouterr().out


def test_check_prints_the_plan_resources_and_cost_and_starts_nothing(tmp_path, capsys) -> None:
    assert main(["check", str(EXAMPLE), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("campaign 'li_si': modes unconditional, inpaint; output ")
    assert re.fullmatch(r"plan: \d+ cells x \d+ lattice choices x 1 seed blocks = \d+ tasks; "
                        r"[\d,]+ unconditional \+ at most [\d,]+ inpainted \(from at most "
                        r"[\d,]+ hosts\) = at most [\d,]+ candidates", out[1])
    assert any(line.startswith("actors: ") for line in out)
    assert any(line.startswith("estimated cost: ") for line in out)
    assert out[-1] == "dry run: nothing started" and not (tmp_path / "out").exists()
    assert main(["run", str(EXAMPLE), "--out", str(tmp_path / "o2"), "--dry-run"]) == 0
    assert not (tmp_path / "o2").exists()


def _no_model(monkeypatch) -> None:
    import campaign.commands.generate as generate
    import campaign.commands.inpaint as inpaint

    def refuse(*_args, **_kwargs):
        raise AssertionError("the model must not be loaded")

    monkeypatch.setattr(generate, "build_runner_for_args", refuse)
    monkeypatch.setattr(inpaint, "build_runner_for_args", refuse)


def test_inpaint_refuses_a_huge_host_before_the_model_loads(tmp_path, capsys,
                                                            monkeypatch) -> None:
    _no_model(monkeypatch)
    host = Structure(Lattice.cubic(4.0), ["Si"], [[0, 0, 0]]) * (18, 17, 17)
    path = tmp_path / "big.cif"
    host.to(filename=str(path))
    line = _run_one_line(["inpaint", str(path), "--guest", "Li:4"], capsys)
    assert line == (f"chggen inpaint: host {path}: at least 5,202 atoms, more than "
                    "limits.atoms_per_cell = 200 (refused before parsing)")
    og = tmp_path / "og.cif"
    Structure(Lattice.cubic(5.0), ["Og"], [[0, 0, 0]]).to(filename=str(og))
    line = _run_one_line(["inpaint", str(og), "--guest", "Li:4", "--hull", "none"], capsys)
    assert line.endswith("element Og (Z = 118) is not supported by the potential chgnet "
                         "(elements Z 1-94)")


def test_generate_and_inpaint_dry_runs_start_nothing(tmp_path, capsys, monkeypatch) -> None:
    _no_model(monkeypatch)
    assert main(["generate", "Li2Si", "--n-samples", "8", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("generate Li2Si1: 8 samples of 3 atoms") and "estimated cost" in out
    line = _run_one_line(["generate", "Li2Si", "--n-samples", "5000"], capsys)
    assert line.startswith("chggen generate: --n-samples = 5,000: more than "
                           "limits.samples_per_task = 2,000")
    assert main(["generate", "Li2Si", "--n-samples", "5000", "--limits",
                 "samples_per_task=5000", "--dry-run"]) == 0
    host = tmp_path / "h.cif"
    Structure(Lattice.cubic(4.0), ["Si", "Li"], [[0, 0, 0], [0.5] * 3]).to(filename=str(host))
    assert main(["inpaint", str(host), "--guest", "Li", "--dry-run"]) == 0
    assert "dry run: nothing started" in capsys.readouterr().out


def test_benchmark_lists_and_skips_bad_structures_and_refuses_when_none_is_left(
        tmp_path, capsys) -> None:
    folder = tmp_path / "known"
    folder.mkdir()
    Structure(Lattice.cubic(5.0), ["Og"], [[0, 0, 0]]).to(filename=str(folder / "og.cif"))
    argv = ["benchmark", "csp", str(folder), "--set", "all", "--out", str(tmp_path / "b"),
            "--dry-run"]
    line = _run_one_line(argv, capsys)
    assert line.startswith("chggen benchmark csp: no usable structure left; benchmark csp: 0 "
                           "of 1 structures usable; skipped: og.cif (Og) (element Og (Z = 118)")
    Structure(Lattice.cubic(2.9), ["Li", "Li"], [[0, 0, 0], [0.5] * 3]).to(
        filename=str(folder / "li.cif"))
    assert main([*argv, "--k", "5"]) == 0
    captured = capsys.readouterr()
    assert "benchmark csp: skipping og.cif (Og): element Og (Z = 118)" in captured.err
    assert "benchmark csp: 1 of 2 structures usable; skipped: og" in captured.err
    assert "1 compounds x 4 methods x 5 = 20 candidates" in captured.out
    line = _run_one_line(["benchmark", "csp", str(folder), "--set", "all", "--k", "5000",
                          "--dry-run"], capsys)
    assert "--k = 5,000: more than limits.benchmark_k = 1,000" in line


def test_data_build_refuses_when_no_structure_is_usable(tmp_path) -> None:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    from campaign.jobs.data.build import BuildOptions, run_build
    from chggen_kernels.errors import InputError

    path = tmp_path / "known.parquet"
    og = Structure(Lattice.cubic(5.0), ["Og"], [[0, 0, 0]])
    pq.write_table(pa.Table.from_pylist([{
        "source": "s", "source_id": "og-1", "origin": "t", "licence": "CC0",
        "structure": json.dumps(og.as_dict())}]), path)
    opts = BuildOptions(chemsys=(), sources=("known",), out=tmp_path / "out", known=path)
    with pytest.raises(InputError, match=r"data build: no usable structure left in .*"
                                         r"\(unusable 1\)"):
        run_build(opts, stream=io.StringIO())


def test_an_empty_lock_file_is_taken_over_only_after_checking_and_said(tmp_path) -> None:
    (tmp_path / LOCK_NAME).write_text("")
    said: list[str] = []
    with folder_lock(tmp_path, warn=said.append):
        pass
    assert said == [f"results folder {str(tmp_path)!r}: taking over a lock file that names no "
                    "holder (empty; left by a writer that could not record itself, e.g. on a "
                    "full disk); no process holds it"]
    said.clear()
    with folder_lock(tmp_path, warn=said.append):  # no file left: nothing to say
        pass
    assert said == []


def test_a_full_disk_at_the_lock_leaves_no_empty_lock_and_names_the_path(tmp_path,
                                                                         monkeypatch) -> None:
    def full(*_args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "pwrite", full)
    with pytest.raises(OSError) as info, folder_lock(tmp_path):
        pass
    assert info.value.filename == str(tmp_path / LOCK_NAME)
    assert not (tmp_path / LOCK_NAME).exists()


def test_a_new_seed_on_an_existing_folder_is_said_in_one_line(tmp_path) -> None:
    from campaign.distributed.preflight import seed_change

    (tmp_path / "_campaign.yaml").write_text("name: x\nseed: 0\n")
    assert seed_change(tmp_path, 0) is None
    assert seed_change(tmp_path, 3) == (
        f"results folder {str(tmp_path)!r}: seed 3 differs from the seed 0 it was written "
        "with; the tasks of seed 3 are added beside the existing ones (both stay in the "
        "folder)")
    assert seed_change(tmp_path / "new", 3) is None


def test_sigterm_unwinds_like_ctrl_c_with_one_line_and_exit_143(capsys) -> None:
    import signal
    import time

    from campaign import cli

    released: list[str] = []

    def work(_args) -> int:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
            return 0
        finally:
            released.append("cleanup ran")

    args = type("Args", (), {"command": "run", "func": staticmethod(work)})()
    previous = signal.signal(signal.SIGTERM, cli._terminate)
    try:
        assert cli.run_command(args) == 143
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert released == ["cleanup ran"]
    assert capsys.readouterr().err == ("chggen run: terminated (SIGTERM); run the same command "
                                       "again to resume\n")


def test_a_lock_of_the_same_job_on_another_host_is_taken_over(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("CHGGEN_JOB_ID", raising=False)
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    (tmp_path / LOCK_NAME).write_text(json.dumps(
        {"host": "node-that-died", "pid": 7, "started": 1.0, "command": "chggen run (x)",
         "job": "SLURM_JOB_ID=4242"}))
    said: list[str] = []
    with folder_lock(tmp_path, warn=said.append) as path:
        assert json.loads(path.read_text())["job"] == "SLURM_JOB_ID=4242"
    assert said == [f"results folder {str(tmp_path)!r}: taking over the lock of job "
                    "SLURM_JOB_ID=4242 from host 'node-that-died' (the same job resubmitted "
                    "here)"]
    (tmp_path / LOCK_NAME).write_text(json.dumps(
        {"host": "node-that-died", "pid": 7, "started": 1.0, "command": "chggen run (x)",
         "job": "SLURM_JOB_ID=17"}))
    with pytest.raises(Exception, match="if that process is gone, delete"), \
            folder_lock(tmp_path):
        pass
