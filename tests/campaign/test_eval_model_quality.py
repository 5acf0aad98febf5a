"""benchmarks/eval_model_quality.py: argument checks, and one end-to-end run with a tiny
untrained model, 3 noise levels and a fake relaxer (returns the structure unchanged with
a fixed energy change), so that the numbers in the JSON are known."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def script():
    import chggen_kernels.workflow  # noqa: F401 - the package import (seconds) belongs here

    spec = importlib.util.spec_from_file_location(
        "eval_model_quality", ROOT / "benchmarks" / "eval_model_quality.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["eval_model_quality"] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("eval_model_quality", None)


def _error(script, capsys, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exc:
        script.parse_args(argv)
    assert exc.value.code == 2
    return capsys.readouterr().err


def test_default_groups(script) -> None:
    args = script.parse_args([])
    got = [(g.system, g.guest, g.formula, g.z, g.atoms_per_cell) for g in args.groups]
    assert got == [
        ("Zn-P-S", "Zn", "ZnP2S6", 1, 9), ("Zn-P-S", "Zn", "ZnP2S6", 2, 18),
        ("Zn-P-S", "Zn", "Zn2P2S7", 1, 11), ("Zn-P-S", "Zn", "Zn2P2S7", 2, 22),
        ("Li-Si", "Li", "Li2Si", 2, 6), ("Li-Si", "Li", "Li2Si", 4, 12),
        ("Li-Si", "Li", "Li5Si2", 1, 7), ("Li-Si", "Li", "Li5Si2", 2, 14),
        ("Li-Si", "Li", "Li4Si", 2, 10)]
    assert args.groups[1].composition == {"P": 4, "S": 12, "Zn": 2}
    assert (args.levels, args.correctors, args.modes) == (200, 5, ["unconditional", "inpaint"])


@pytest.mark.parametrize(("argv", "message"), [
    (["--samples", "-1"], "--samples must be >= 0, got -1"),
    (["--levels", "1"], "--levels must be >= 2"),
    (["--workers", "0"], "--workers must be >= 1"),
    (["--modes", "inpaint"], "inpainting needs 'unconditional'"),
    (["--modes", "unconditional", "painting"], "'painting' is not available"),
    (["--sizes", "ZnP2S6"], "expected FORMULA:Z[,Z...]"),
    (["--sizes", "ZnP2S6:x"], "got 'ZnP2S6:x'"),
    (["--sizes", "Li2Si:0"], "Z = 0 gives 0 atoms"),
    (["--sizes", "Li2Si:40"], "at most 64 atoms"),
    (["--sizes", "CuO:1"], "--guest Cu-O=ELEMENT"),
    (["--sizes", "Li2Si:1", "Li4Si2:1"], "appear twice"),
    (["--guest", "Cu-O"], "expected CHEMSYS=ELEMENT"),
    (["--samples", "0"], "nothing to do"),
    (["--checkpoint", "/nonexistent/model.pt"], "does not exist"),
    (["--fmax", "0"], "--fmax must be > 0"),
])
def test_bad_arguments_name_the_option(script, capsys, argv, message) -> None:
    assert message in _error(script, capsys, argv)


def test_guest_option_and_inpaint_symmetric_only_when_available(script, capsys) -> None:
    args = script.parse_args(["--sizes", "CuO:2", "--guest", "O-Cu=Cu"])
    assert [(g.system, g.guest, g.atoms_per_cell) for g in args.groups] == [("Cu-O", "Cu", 4)]
    argv = ["--modes", "unconditional", "inpaint-symmetric"]
    if "inpaint-symmetric" in script.available_modes():
        assert script.parse_args(argv).modes == argv[1:]
    else:
        assert "'inpaint-symmetric' is not available" in _error(script, capsys, argv)


class FakeRelaxer:
    """Returns the structure unchanged: E 0.25 eV/atom lower, RMSD 0.05 Å."""

    def relax(self, structure):
        from chggen_kernels.relax import RelaxResult

        return RelaxResult(
            status="ok", failure_reason=None, structure_relaxed=structure,
            energy_initial_per_atom=-3.0, energy_relaxed_per_atom=-3.25, delta_e=0.25,
            rmsd=0.05, rmsd_method="structure_matcher", n_steps=1, converged=True,
            max_force_final=0.0, max_atomic_force_final=0.0, volume_initial=structure.volume,
            volume_relaxed=structure.volume, n_atoms=len(structure), t_relax_s=0.0)


def test_end_to_end_tiny_model(script, tmp_path, monkeypatch, capsys) -> None:
    from chggen_kernels.training import TrainingCrystal, write_training_parquet
    from chggen_kernels.training.tiny import tiny_crystals, write_untrained_checkpoint

    threads = torch.get_num_threads()
    ckpt = write_untrained_checkpoint(tmp_path / "tiny.pt", {"Li": 18.0, "Si": 20.0})
    parquet = write_training_parquet(tmp_path / "val.parquet", [
        TrainingCrystal(structure_id=f"v{i}", structure=s)
        for i, s in enumerate(tiny_crystals(3, seed=2))])
    monkeypatch.setattr(script, "make_relaxer", lambda fmax, max_steps: FakeRelaxer())
    out = tmp_path / "q.json"
    try:
        assert script.main([
            "--checkpoint", str(ckpt), "--sizes", "LiSi:1", "Li2Si:1", "--samples", "3",
            "--levels", "3", "--correctors", "0", "--hull", "none", "--output", str(out),
            "--validation-parquet", str(parquet), "--val-draws", "1", "--markdown"]) == 0
    finally:
        torch.set_num_threads(threads)
    result = json.loads(out.read_text())
    assert result["settings"]["sampler_reduced"] is True
    assert result["settings"]["sampler"]["n_levels"] == 3
    assert result["validation"]["n_crystals"] == 3
    for row in result["validation"]["bins"]:  # untrained checkpoint vs untrained model
        assert row["trained"] == pytest.approx(row["untrained"])
    groups = {(g["formula"], g["mode"]): g for g in result["groups_summary"]}
    assert set(groups) == {(f, m) for f in ("LiSi", "Li2Si") for m in ("unconditional",
                                                                        "inpaint")}
    for formula, atoms in (("LiSi", 2), ("Li2Si", 3)):
        unc, inp = groups[formula, "unconditional"], groups[formula, "inpaint"]
        assert unc["n_samples"] == 3 and unc["atoms_per_cell"] == atoms and unc["z"] == 1
        assert inp["hosts"]["n_hosts"] == unc["n_relaxed"]
        assert inp["n_samples"] == inp["hosts"]["n_symmetric_framework"]  # 1 per host
        assert sum(inp["hosts"]["framework_spacegroups"].values()) == inp["n_samples"]
    assert groups["Li2Si", "inpaint"]["n_samples"] >= 1  # the inpainting path ran
    (frameworks,) = result["frameworks_summary"]  # every host's ladder, refined or not
    assert frameworks["system"] == "Li-Si"
    assert frameworks["n_frameworks"] == sum(groups[f, "unconditional"]["n_relaxed"]
                                             for f in ("LiSi", "Li2Si"))
    assert frameworks["n_above_p1bar"] >= sum(groups[f, "inpaint"]["hosts"][
        "n_symmetric_framework"] for f in ("LiSi", "Li2Si"))
    # the reference ladder (spglib alone) is counted beside it, on the same hosts
    (reference,) = result["frameworks_summary_reference_ladder"]
    assert reference["n_frameworks"] == frameworks["n_frameworks"]
    assert reference["n_above_p1bar"] <= frameworks["n_above_p1bar"]
    rows = result["rows"]
    assert len(rows) == sum(g["n_samples"] for g in groups.values())
    ok = [r for r in rows if r["status"] == "ok"]
    for r in ok:
        assert r["delta_e_relax"] == 0.25 and r["rmsd_relax"] == 0.05
    for summary in result["systems_summary"]:
        assert summary["system"] == "Li-Si"
        if summary["n_relaxed"]:
            assert summary["median_delta_e_relax"] == 0.25
            assert summary["n_symmetric"] == sum(
                1 for r in ok if r["mode"] == summary["mode"] and r["spacegroup_relaxed"] > 2)
    inpainted = [r for r in rows if r["mode"] == "inpaint"]
    assert all(r["parent_id"] and r["spacegroup_framework"] > 2 for r in inpainted)
    assert math.isfinite(result["wall_time_s"]) and result["checkpoint"]["sha256"]
    printed = capsys.readouterr().out
    assert "**reduced**" in printed and "| Li-Si | LiSi | 2 | unconditional | 3 |" in printed
    assert f"| Li-Si | {frameworks['n_frameworks']} | {frameworks['n_above_p1']}/" in printed
    again = script.main(["--from-json", str(out), "--markdown"])
    assert again == 0 and capsys.readouterr().out.strip() == printed.strip()
