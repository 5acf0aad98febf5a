"""Model-quality aggregation on hand-made rows (known rates, medians, histograms) and the
trained-vs-untrained validation loss on a tiny checkpoint."""

from __future__ import annotations

import math

import pytest
import torch

from chggen_kernels.evaluation import (
    compare_sigma_bins,
    failure_category,
    is_symmetric_row,
    markdown_report,
    quality_card,
    summarize_by,
    summarize_frameworks,
    summarize_rows,
    validation_loss_comparison,
    wilson_interval,
)
from chggen_kernels.model import ScoreModel
from chggen_kernels.training import (
    CheckpointMetadata,
    load_training_data,
    save_checkpoint,
    split_train_val,
    write_training_parquet,
)
from chggen_kernels.training.data import TrainingCrystal
from chggen_kernels.training.tiny import tiny_crystals, tiny_model_config


def _row(status="ok", sg=1, de=0.1, rmsd=0.05, mode="unconditional", atoms=9, **extra):
    return {"candidate_id": f"c{sg}{de}", "status": status, "spacegroup_relaxed": sg,
            "delta_e_relax": de, "rmsd_relax": rmsd, "mode": mode, "atoms_per_cell": atoms,
            "n_atoms": atoms, "energy_relaxed_per_atom": -4.0 - (de or 0), "e_d": None,
            "failure_reason": None if status == "ok" else "relaxation: volume_change: x",
            "relax_converged": status == "ok", **extra}


def test_summarize_rows_known_rates_medians_histogram() -> None:
    rows = [_row(sg=1, de=0.1, rmsd=0.02), _row(sg=12, de=0.3, rmsd=math.nan),
            _row(sg=5, de=0.2, rmsd=0.10), _row(sg=2, de=None, rmsd=0.06),
            _row(status="failed", sg=None, de=None, rmsd=None)]
    s = summarize_rows(rows)
    assert (s["n_samples"], s["n_failed"], s["n_relaxed"], s["n_symmetric"]) == (5, 1, 4, 2)
    assert s["symmetry_success_rate"] == 0.5  # 2 of 4 relaxed (sg 5 and 12)
    assert s["symmetry_success_rate_all"] == pytest.approx(0.4)  # failures count as P1
    assert list(s["spacegroup_histogram"].items()) == [("1", 1), ("2", 1), ("5", 1), ("12", 1)]
    assert s["failures"] == {"relaxation": 1}
    assert s["median_delta_e_relax"] == pytest.approx(0.2)
    assert s["mean_delta_e_relax"] == pytest.approx(0.2)
    assert s["median_rmsd_relax"] == pytest.approx(0.06)  # the NaN RMSD is left out
    assert s["n_rmsd"] == 3
    assert s["median_energy_relaxed_per_atom"] == pytest.approx(-4.15)
    lo, hi = s["symmetry_success_rate_ci95"]
    assert lo < 0.5 < hi


def test_summarize_rows_empty_and_all_failed() -> None:
    empty = summarize_rows([])
    assert empty["n_samples"] == 0 and empty["symmetry_success_rate"] is None
    assert empty["median_delta_e_relax"] is None and empty["spacegroup_histogram"] == {}
    failed = summarize_rows([_row(status="failed", sg=None)] * 3)
    assert failed["symmetry_success_rate"] is None
    assert failed["symmetry_success_rate_all"] == 0.0


def test_failed_row_is_never_symmetric() -> None:
    assert not is_symmetric_row(_row(status="failed", sg=225))
    assert is_symmetric_row(_row(sg=3)) and not is_symmetric_row(_row(sg=2))
    assert failure_category("sampler: non-finite") == "sampler"
    assert failure_category(None) == "unknown"


def test_summarize_by_groups_and_orders_numerically() -> None:
    rows = ([_row(sg=10, atoms=18)] * 2 + [_row(sg=1, atoms=9)] * 3
            + [_row(sg=8, atoms=9, mode="inpaint")])
    out = summarize_by(rows, ["mode", "atoms_per_cell"])
    keys = [(g["mode"], g["atoms_per_cell"]) for g in out]
    assert keys == [("inpaint", 9), ("unconditional", 9), ("unconditional", 18)]
    assert [g["n_samples"] for g in out] == [1, 3, 2]
    assert [g["symmetry_success_rate"] for g in out] == [1.0, 0.0, 1.0]
    with pytest.raises(KeyError, match="system"):
        summarize_by(rows, ["system"])


def test_wilson_interval_known_values() -> None:
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    lo, hi = wilson_interval(5, 10)
    assert lo == pytest.approx(1 - hi) and lo == pytest.approx(0.2366, abs=1e-4)
    assert wilson_interval(0, 0) is None
    with pytest.raises(ValueError, match="k=3, n=2"):
        wilson_interval(3, 2)


def test_compare_sigma_bins() -> None:
    out = compare_sigma_bins({"a": 1.5, "b": 2.0}, {"a": 3.0, "b": 0.0})
    assert out[0] == {"sigma_bin": "a", "trained": 1.5, "untrained": 3.0,
                      "relative_change": -0.5}
    assert out[1]["relative_change"] is None
    with pytest.raises(ValueError, match="sigma bins differ"):
        compare_sigma_bins({"a": 1.0}, {"b": 1.0})


def test_markdown_report_marks_reduced_settings() -> None:
    group = {"system": "Zn-P-S", "formula": "ZnP2S6", "atoms_per_cell": 9,
             "mode": "unconditional", "hosts": None, **summarize_rows([_row(sg=5), _row()])}
    result = {"settings": {"sampler": {"n_levels": 20, "n_corrector_steps": 1},
                           "sampler_reduced": True, "seed": 3},
              "groups_summary": [group], "systems_summary": [group]}
    text = markdown_report(result)
    assert "**reduced**" in text and "20 levels x 1" in text
    assert "| Zn-P-S | ZnP2S6 | 9 | unconditional | 2 | 0 | 1 | 50.0 % [" in text
    result["settings"]["sampler_reduced"] = False
    assert "**reduced**" not in markdown_report(result)


def test_summarize_frameworks_counts_above_p1_and_above_p1bar() -> None:
    runs = [{"system": "Zn-P-S", "framework_spacegroups": {"1": 3, "2": 2, "6": 1}},
            {"system": "Zn-P-S", "framework_spacegroups": {"8": 2, "1": 1}},
            {"system": "Li-Si", "framework_spacegroups": {}}]
    li_si, zn_p_s = summarize_frameworks(runs)
    assert li_si["n_frameworks"] == 0 and li_si["above_p1_ci95"] is None
    assert (zn_p_s["n_frameworks"], zn_p_s["n_above_p1"], zn_p_s["n_above_p1bar"]) == (9, 5, 3)
    assert zn_p_s["spacegroup_histogram"] == {"1": 4, "2": 2, "6": 1, "8": 2}
    assert zn_p_s["above_p1bar_ci95"] == pytest.approx(wilson_interval(3, 9))
    text = markdown_report({"frameworks_summary": [zn_p_s]})
    assert "| Zn-P-S | 9 | 5/9 [" in text and "| 3/9 [" in text and "1: 4, 2: 2, 8: 2, 6: 1" in text
    assert quality_card({"frameworks_summary": [zn_p_s]})["frameworks"] == [
        {"system": "Zn-P-S", "n_frameworks": 9, "n_above_p1": 5, "n_above_p1bar": 3}]
    # the reference ladder's count (spglib alone) goes beside it, in the table and the card
    (reference,) = summarize_frameworks(
        [{"system": "Zn-P-S", "framework_spacegroups": {"1": 7, "8": 2}}])
    both = {"frameworks_summary": [zn_p_s], "frameworks_summary_reference_ladder": [reference]}
    assert "| 1: 4, 2: 2, 8: 2, 6: 1 | 2/9 [" in markdown_report(both)
    assert quality_card(both)["frameworks_reference_ladder"] == [
        {"system": "Zn-P-S", "n_frameworks": 9, "n_above_p1": 2, "n_above_p1bar": 2}]


def test_quality_card_keeps_failures_validation_and_the_corrector_ceiling() -> None:
    result = {
        "settings": {"sampler": {"n_levels": 200, "n_corrector_steps": 5,
                                 "corrector_sigma_max": 1.0},
                     "samples": 6, "sizes": {"ZnP2S6": [1, 2]}, "seed": 0},
        "systems_summary": [{"system": "Zn-P-S", "mode": "unconditional", "n_samples": 24,
                             "n_failed": 2, "n_relaxed": 22, "median_delta_e_relax": 0.1,
                             "not_kept": 1}],
        "validation": {"bins": [{"sigma_bin": "[1, 10]", "trained": 0.31}]},
    }
    card = quality_card(result)
    assert card["systems"][0]["n_failed"] == 2 and "not_kept" not in card["systems"][0]
    assert card["sampler"] == "200 levels x 5 corrector steps at or below 1.0 Å"
    assert card["validation_by_bin"] == {"[1, 10]": 0.31}
    assert (card["samples_per_cell"], card["seed"]) == (6, 0)
    assert quality_card({})["sampler"] == "? levels x ? corrector steps"
    assert "sampler 200 levels x 5 corrector steps at or below 1.0 Å (reference)" in (
        markdown_report({"settings": result["settings"]}))


# ---------------------------------------------------------------------------- validation
@pytest.fixture()
def tiny_data(tmp_path):
    crystals = [TrainingCrystal(structure_id=f"t{i}", structure=s)
                for i, s in enumerate(tiny_crystals(8, seed=1))]
    path = write_training_parquet(tmp_path / "val.parquet", crystals)
    return load_training_data(path)


def _checkpoint(path, data_hash="other", extra=None, perturb=False):
    torch.manual_seed(0)  # the comparison's untrained model uses the same seed
    config = tiny_model_config()
    model = ScoreModel(config)
    if perturb:
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.3 * torch.randn_like(p))
    meta = CheckpointMetadata(data_hash=data_hash, sigma_min=0.01, sigma_max=10.0,
                              extra=extra or {})
    return save_checkpoint(path, config.to_dict(), model.state_dict(), meta)


def test_validation_untrained_checkpoint_equals_baseline(tiny_data, tmp_path) -> None:
    path = _checkpoint(tmp_path / "untrained.pt")
    out = validation_loss_comparison(path, tiny_data, noise_draws=3)
    assert out["split"].startswith("every crystal")
    assert out["n_crystals"] == 8 and out["n_noisy_samples"] == 24
    assert [b["sigma_bin"] for b in out["bins"]] == ["sigma[0.01,0.1)", "sigma[0.1,1)",
                                                     "sigma[1,10]"]
    for row in out["bins"] + [out["all"]]:  # same weights, same noise: identical losses
        assert row["trained"] == row["untrained"] and row["relative_change"] == 0.0
    changed = validation_loss_comparison(_checkpoint(tmp_path / "p.pt", perturb=True),
                                         tiny_data, noise_draws=3)
    assert changed["all"]["trained"] != changed["all"]["untrained"]
    assert changed["all"]["untrained"] == out["all"]["untrained"]


def test_validation_reproduces_the_checkpoint_split(tiny_data, tmp_path) -> None:
    path = _checkpoint(tmp_path / "c.pt", data_hash=tiny_data.hash,
                       extra={"n_train": 6, "n_val": 2, "settings": {"seed": 4}})
    out = validation_loss_comparison(path, tiny_data, noise_draws=1)
    assert out["split"].startswith("checkpoint split reproduced (seed 4, 2 of 8")
    assert out["n_crystals"] == len(split_train_val(8, 0.25, 4)[1]) == 2
    ids = validation_loss_comparison(
        _checkpoint(tmp_path / "d.pt", extra={"validation_ids": ["t1", "t5", "t9"]}), tiny_data,
        noise_draws=1)
    assert ids["split"] == "checkpoint validation_ids (2 of 3 found)" and ids["n_crystals"] == 2
    foreign = validation_loss_comparison(
        _checkpoint(tmp_path / "e.pt", extra={"validation_ids": ["elsewhere-1"]}), tiny_data,
        noise_draws=1)  # ids of another data set: the whole file is held out
    assert foreign["split"].startswith("every crystal of the file")
    assert foreign["n_crystals"] == 8
