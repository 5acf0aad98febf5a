"""``--mlip``: any foundation potential relaxes, and E_d uses a hull of the same potential.

Real potentials throughout (tests never mock chggen): ASE's EMT through
``--mlip tests.mlip_factories:emt`` (Cu-Au: the shipped known phases have at most 4
atoms), SevenNet-0 when ``sevenn`` is installed (CI installs the ``[sevennet]`` extra), a
tiny random-weight score model, the chggen cache in a temporary folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import textwrap
from pathlib import Path

import pytest
import torch
from pymatgen.core import Lattice, Structure

import chggen
from campaign.cli import main
from campaign.engine.store import read_results
from chggen_kernels.relax import Relaxer, RelaxSettings
from chggen_kernels.relax.potentials import PotentialError, resolve_potential
from chggen_kernels.thermo.known_structures import read_known_phase_structures
from chggen_kernels.thermo.potential_hull import PotentialHullSource, hull_relax_settings

FAST = ["--n-levels", "6", "--n-corrector", "1", "--max-steps", "12", "--threads", "1"]
EMT = "tests.mlip_factories:emt"
FACTORIES = Path(__file__).resolve().parents[1] / "mlip_factories.py"
# the shipped known phases of Cu-Au: one structure per composition, with its source id
CU_AU_PHASES = {"Au": "Au-2", "Cu": "Cu-3", "Cu3Au": "mp-2258", "CuAu": "mp-522",
                "CuAu3": "mp-2103"}


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    """chggen's cache (hulls of other potentials) in a folder of the test's own."""
    monkeypatch.setenv("CHGGEN_CACHE", str(tmp_path / "cache"))
    previous = torch.get_num_threads()
    yield tmp_path / "cache"
    torch.set_num_threads(previous)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------ module:factory
def test_factory_potential_relaxes_ranks_against_its_own_hull_and_is_recorded(
        tmp_path, checkpoint, capsys, _cache) -> None:
    out = tmp_path / "run"
    argv = ["generate", "CuAu", "--n-samples", "2", "--mlip", EMT, "--checkpoint", checkpoint,
            "--out", str(out), *FAST]
    assert main(argv) == 0
    err = capsys.readouterr().err
    # the hull: every shipped Cu-Au known phase relaxed with EMT, before any candidate
    assert "tests.mlip_factories:emt hull: relaxing the 3 known phases of Au-Cu" in err
    assert ("tests.mlip_factories:emt hull: Au-Cu: 5 phases (5 known phases relaxed in"
            in err) and "the same phases as the CHGNet hull" in err
    assert err.index("hull: Au-Cu: 5 phases") < err.index("sampling 2 unconditional")
    cached = sorted(p.name for p in (_cache / "hulls").glob("tests.mlip_factories.emt-*/*"))
    assert cached == ["Au-Cu.json", "Au.json", "Cu.json"]
    entries = [e for path in (_cache / "hulls").glob("*/*.json")
               for e in json.loads(path.read_text())["entries"]]
    assert {e["formula"]: e["source_id"] for e in entries} == CU_AU_PHASES
    # the rows: the potential (name, version, weights hash) and the hull of that potential
    rows = read_results(out)
    assert set(rows["mlip"]) == {EMT} and set(rows["mlip_version"]) == {""}
    assert set(rows["mlip_weights_sha256"]) == {_sha256(FACTORIES)}
    ok = rows[rows["status"] == "ok"]
    assert len(ok) >= 1 and ok["e_d"].notna().all()
    assert set(ok["hull_source"]) == {
        "offline-tests.mlip_factories.emt:chggen-known-phases-v1"}
    known_ids = set(CU_AU_PHASES.values())
    for text in ok["decomposition_products"]:
        assert {p["source_id"] for p in json.loads(text)} <= known_ids
    recorded = json.loads((out / "_fingerprint.json").read_text())["values"]
    assert recorded["potential"] == {"name": EMT, "version": "",
                                     "weights_sha256": _sha256(FACTORIES)}

    # a resume with another potential is refused in one line, before any candidate
    weights = resolve_potential("chgnet").weights_sha256
    chgnet = resolve_potential("chgnet").version
    assert main(["generate", "CuAu", "--n-samples", "2", "--checkpoint", checkpoint,
                 "--out", str(out), *FAST, "--quiet"]) == 2
    assert capsys.readouterr().err == (
        f"chggen generate: results folder {str(out)!r} was relaxed with the potential "
        f"{EMT} (weights {_sha256(FACTORIES)[:12]}), not chgnet {chgnet} (weights "
        f"{weights[:12]}): energies of two potentials do not mix; resume with --mlip "
        f"{EMT}, give another output folder, or --new-folder (writes chgnet's candidates "
        "beside it)\n")
    assert len(read_results(out)) == len(rows)
    # the same potential resumes, its hull read from the cache
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "relaxing the" not in err.split("sampling")[0]
    assert "tests.mlip_factories:emt hull: Au-Cu: 5 phases (read from the cache)" in err


def test_a_potentials_hull_is_read_back_from_the_cache(_cache) -> None:
    potential = resolve_potential(EMT)
    lines: list[str] = []
    first = PotentialHullSource(potential, log=lines.append)
    build = first.prepare("Cu-Au")
    assert (build.phases, build.relaxed_now, build.differ) == (5, 5, 0)
    assert any("Au-Cu 1/3 Cu3Au (mp-2258, 4 atoms)" in line for line in lines)

    def no_relaxing() -> Relaxer:
        raise AssertionError("the cached hull was relaxed again")

    again = PotentialHullSource(potential, no_relaxing, log=None)
    assert again.cache_dir == first.cache_dir
    build = again.prepare("Au-Cu")
    assert (build.phases, build.relaxed_now) == (5, 0)
    assert build.line(again.label).endswith("(read from the cache); the same phases as the "
                                            "CHGNet hull")
    energies = {e.composition.reduced_formula: e.energy_per_atom
                for e in again.entries(["Cu", "Au"])}
    # the energies are the potential's own relaxations of the shipped structures
    relaxer = Relaxer(hull_relax_settings(EMT))
    for phase in read_known_phase_structures(formulas=["CuAu"]):
        assert energies["CuAu"] == pytest.approx(
            relaxer.relax(phase.structure).energy_relaxed_per_atom, abs=1e-6)
    # another potential never reads it
    other = PotentialHullSource(resolve_potential("tests.mlip_factories:nan_above_4"),
                                log=None)
    assert other.cache_dir != first.cache_dir


def test_failed_phases_and_phases_without_structure_are_counted(capsys, _cache) -> None:
    from campaign.stages.resources import make_hull_provider
    from chggen_kernels.thermo.sources import build_hull_data_path

    # NaN above 2 atoms: Cu3Au and CuAu3 fail to relax and are left out, and said so
    relax = RelaxSettings(mlip="tests.mlip_factories:nan_above_2")
    provider = make_hull_provider("offline", "Cu-Au", relax=relax, progress=False)
    assert sorted(e.composition.reduced_formula for e in provider.source.entries(["Cu", "Au"])
                  ) == ["Au", "Cu", "CuAu"]
    err = capsys.readouterr().err
    assert err.startswith("chggen: warning: tests.mlip_factories:nan_above_2 hull: Au-Cu: 3 "
                          "phases (5 known phases relaxed in ")
    assert err.endswith("; 2 of the CHGNet hull's 5 phases differ: 2 whose relaxation "
                        "failed: Cu3Au (mp-2258), CuAu3 (mp-2103)\n") and err.count("\n") == 1
    # Li-P: the CHGNet hull's own-build entries ship no structure; every relaxation fails
    source = PotentialHullSource(resolve_potential("tests.mlip_factories:nan_always"),
                                 log=None)
    build = source.prepare("Li-P")
    own_build = sorted(e["formula"] for e in json.loads(build_hull_data_path().read_text())[
        "entries"] if set(_elements(e["formula"])) <= {"Li", "P"})
    assert sorted(build.without_structure) == own_build == [
        "Li2P3", "Li3P2", "Li4P", "Li5P", "LiP3", "LiP4"]
    assert build.phases == 0 and len(build.failed) == build.differ - len(own_build) > 0
    assert all(reason.startswith("non_finite: energy per atom is nan at step 0")
               for _, _, reason in build.failed)
    assert f"without a shipped structure (own-build entries): {', '.join(own_build[:5])} ..." \
        in build.line(source.label)


def _elements(formula: str) -> list[str]:
    import re

    return re.findall(r"[A-Z][a-z]?", formula)


def test_nan_energies_make_failed_rows_and_the_run_goes_on(_cache) -> None:
    cu_au = Structure(Lattice.tetragonal(2.8, 3.7), ["Cu", "Au"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    results = chggen.evaluate({"small": cu_au, "big": cu_au * (1, 1, 3)},
                              mlip="tests.mlip_factories:nan_above_4", quiet=True)
    rows = results.table.set_index("parent_id")
    assert rows.at["user:small", "status"] == "ok"
    assert rows.at["user:small", "e_d"] == rows.at["user:small", "e_d"]  # not NaN
    assert rows.at["user:big", "status"] == "failed"
    assert rows.at["user:big", "failure_reason"] == (
        "relaxation: non_finite: energy per atom is nan at step 0")
    assert set(rows["mlip"]) == {"tests.mlip_factories:nan_above_4"}


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(("mlip", "message"), [
    ("nosuch", "mlip 'nosuch': unknown potential; give one of chgnet, sevennet, an entry point "
     "of group chggen.mlips (none installed) or module:factory (a callable returning an ASE "
     "calculator)"),
    ("nosuchmod.calc:make", "mlip 'nosuchmod.calc:make': cannot import module "
     "'nosuchmod.calc' (ModuleNotFoundError: No module named 'nosuchmod')"),
    ("tests.mlip_factories:nothing", "mlip 'tests.mlip_factories:nothing': module "
     "'tests.mlip_factories' has no attribute 'nothing'"),
    ("tests.mlip_factories:NOT_CALLABLE", "mlip 'tests.mlip_factories:NOT_CALLABLE': "
     "tests.mlip_factories.NOT_CALLABLE is not callable (int)"),
    ("tests.mlip_factories:broken", "mlip 'tests.mlip_factories:broken': the factory raised "
     "RuntimeError: no licence for this potential"),
    ("tests.mlip_factories:not_a_calculator", "mlip 'tests.mlip_factories:not_a_calculator': "
     "the factory returned dict, not an ASE calculator (ase.calculators.calculator"
     ".Calculator)"),
])
def test_bad_potentials_are_one_line_exit_2_before_the_model_loads(
        tmp_path, mlip, message, capsys, _cache) -> None:
    # the checkpoint does not exist: refusing the potential first proves it came first
    missing = str(tmp_path / "missing.pt")
    assert main(["generate", "CuAu", "--mlip", mlip, "--checkpoint", missing,
                 "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert capsys.readouterr().err == f"chggen generate: {message}\n"
    assert not (tmp_path / "out").exists() and not _cache.exists()
    if "the factory" not in message:  # a campaign file refuses it the same way
        config = tmp_path / "c.yaml"
        config.write_text(f"compositions: {{formulas: [CuAu]}}\nmlip: '{mlip}'\n")
        assert main(["check", str(config)]) == 2
        assert capsys.readouterr().err == \
            f"chggen check: campaign file {str(config)!r}: {message}\n"
    with pytest.raises(PotentialError) as caught:
        chggen.evaluate(Structure(Lattice.cubic(3.0), ["Cu", "Au"],
                                  [[0, 0, 0], [0.5, 0.5, 0.5]]), mlip=mlip, quiet=True)
    assert str(caught.value) == message


def test_scan_run_and_benchmark_take_the_potential(tmp_path, capsys) -> None:
    assert main(["scan", "Cu-Au", "--mlip", EMT, "--print-config"]) == 0
    assert f"  mlip: {EMT}\n" in capsys.readouterr().out  # relax.mlip of the campaign
    config = tmp_path / "c.yaml"
    config.write_text(f"compositions: {{formulas: [CuAu]}}\nmlip: {EMT}\n")
    assert main(["check", str(config)]) == 0
    assert f"relaxation: potential {EMT}, fmax 0.1 eV/Å" in capsys.readouterr().out
    config.write_text(f"compositions: {{formulas: [CuAu]}}\nmlip: {EMT}\n"
                      "relax: {mlip: sevennet}\n")
    assert main(["check", str(config)]) == 2
    assert capsys.readouterr().err == (
        f"chggen check: campaign file {str(config)!r}: mlip = '{EMT}' and relax.mlip = "
        "'sevennet' differ: give the potential once\n")
    # a factory that raises: refused when first called, before Ray starts or a folder exists
    config.write_text("compositions: {formulas: [CuAu]}\nmlip: tests.mlip_factories:broken\n"
                      f"output: {tmp_path / 'out'}\n")
    assert main(["run", str(config)]) == 2
    assert capsys.readouterr().err == ("chggen run: mlip 'tests.mlip_factories:broken': the "
                                       "factory raised RuntimeError: no licence for this "
                                       "potential\n")
    assert not (tmp_path / "out").exists()
    assert main(["benchmark", "csp", "--mlip", "nosuch", "--dry-run"]) == 2
    assert capsys.readouterr().err.startswith(
        "chggen benchmark csp: mlip 'nosuch': unknown potential; give one of chgnet")


def test_named_potentials_declare_their_elements(tmp_path, capsys) -> None:
    assert main(["generate", "LiPu2", "--quiet", "--dry-run"]) == 0  # CHGNet: Z <= 94
    capsys.readouterr()
    assert main(["generate", "LiAm", "--quiet", "--dry-run"]) == 2
    assert capsys.readouterr().err == ("chggen generate: formula 'LiAm': element Am (Z = 95) "
                                       "is not supported by the potential chgnet (elements Z "
                                       "1-94)\n")
    # a module:factory potential is not checked
    assert main(["generate", "LiAm", "--mlip", EMT, "--quiet", "--dry-run"]) == 0


def test_an_entry_point_of_group_chggen_mlips_names_a_potential(tmp_path, monkeypatch) -> None:
    dist = tmp_path / "site" / "emt_for_chggen-1.2.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: emt-for-chggen\n"
                                   "Version: 1.2\n")
    (dist / "entry_points.txt").write_text(textwrap.dedent("""\
        [chggen.mlips]
        emt-from-entry-point = tests.mlip_factories:emt
        """))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    potential = resolve_potential("emt-from-entry-point")
    assert (potential.kind, potential.version) == ("entry_point", "1.2")
    assert potential.weights_sha256 == _sha256(FACTORIES)
    relaxed = Relaxer(RelaxSettings(mlip="emt-from-entry-point", max_steps=5)).relax(
        Structure(Lattice.cubic(3.6), ["Cu"] * 4,
                  [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]))
    assert relaxed.ok


def test_a_folder_written_before_potentials_were_recorded_resumes_with_chgnet(tmp_path) -> None:
    from campaign.engine.folder import FINGERPRINT_NAME, check_fingerprint
    from campaign.stages.fingerprint import runner_fingerprint
    from campaign.stages.runner import RunnerSettings

    folder = tmp_path / "old"
    fingerprint = runner_fingerprint(RunnerSettings())
    older = {k: v for k, v in fingerprint.plain.items() if k != "potential"}
    older["relax"] = {k: v for k, v in older["relax"].items() if k != "mlip"}
    folder.mkdir()
    (folder / FINGERPRINT_NAME).write_text(json.dumps({"values": older}))
    check_fingerprint(folder, fingerprint)  # CHGNet, the only potential then: adopted
    with pytest.raises(chggen.InputError, match="was relaxed with the potential chgnet"):
        check_fingerprint(folder, runner_fingerprint(RunnerSettings(
            relax=RelaxSettings(mlip=EMT))))


# ------------------------------------------------------------------ SevenNet
def test_sevennet_ranks_against_a_sevennet_hull_offline(tmp_path, checkpoint, capsys,
                                                        _cache) -> None:
    pytest.importorskip("sevenn", reason="the [sevennet] extra is not installed")
    from chggen_kernels.relax.potentials import sevennet_checkpoint

    out = tmp_path / "sevennet"
    # Li-Zn: 4 small known phases (15 atoms), relaxed with SevenNet-0 in a few seconds
    assert main(["generate", "LiZn", "--n-samples", "2", "--mlip", "sevennet",
                 "--checkpoint", checkpoint, "--out", str(out), *FAST]) == 0
    err = capsys.readouterr().err
    assert "sevennet hull: Li-Zn: 4 phases (4 known phases relaxed in" in err
    rows = read_results(out)
    import importlib.metadata

    assert set(rows["mlip"]) == {"sevennet"}
    assert set(rows["mlip_version"]) == {importlib.metadata.version("sevenn")}
    assert set(rows["mlip_weights_sha256"]) == {_sha256(sevennet_checkpoint())}
    ok = rows[rows["status"] == "ok"]
    assert len(ok) >= 1 and ok["e_d"].notna().all()
    assert set(ok["hull_source"]) == {"offline-sevennet:chggen-known-phases-v1"}
    # SevenNet-0 declares its 89 elements: Po is not one of them
    assert main(["generate", "LiPo", "--mlip", "sevennet", "--quiet", "--dry-run"]) == 2
    assert capsys.readouterr().err == ("chggen generate: formula 'LiPo': element Po is not "
                                       "supported by the potential sevennet (89 elements)\n")
    assert os.environ["CHGGEN_CACHE"] == str(_cache)
