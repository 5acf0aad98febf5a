"""CHGNet relaxation stage: physics on tiny crystals, every failure path, RMSD definition."""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
import pytest
import torch
from ase.calculators.calculator import Calculator, all_changes
from pymatgen.core import Lattice, Structure
from pymatgen.io.ase import AseAtomsAdaptor

from chggen_kernels.relax import (
    Relaxer,
    RelaxResult,
    RelaxSettings,
    fractional_displacement_rmsd,
    relaxation_rmsd,
)
from chggen_kernels.workflow.records import CandidateRecord


@pytest.fixture(scope="module")
def relaxer() -> Relaxer:
    """One pretrained CHGNet for the whole module (loading takes ~4 s), one torch thread."""
    return Relaxer(RelaxSettings(n_threads=1))


def strained_si() -> Structure:
    """Diamond Si, fcc primitive cell at a = 5.60 Å (CHGNet: ~5.45), one atom displaced."""
    a = 5.60
    lattice = Lattice([[0, a / 2, a / 2], [a / 2, 0, a / 2], [a / 2, a / 2, 0]])
    return Structure(lattice, ["Si", "Si"], [[0, 0, 0], [0.26, 0.25, 0.24]])


def expanded_bcc_li() -> Structure:
    """bcc Li, conventional cell at a = 3.80 Å (27.4 Å^3/atom; CHGNet/PBE ~20 Å^3/atom)."""
    return Structure(Lattice.cubic(3.80), ["Li", "Li"], [[0, 0, 0], [0.5, 0.5, 0.5]])


class FakeCalculator(Calculator):
    """ASE calculator with a prescribed energy per atom and stress (forces zero).

    ``energy_per_atom(atoms)`` and ``stress(atoms)`` (Voigt, eV/Å^3) are callables;
    ``error`` makes every call raise.
    """

    implemented_properties = ("energy", "forces", "stress")

    def __init__(self, energy_per_atom, stress=None, error: Exception | None = None) -> None:
        super().__init__()
        self.energy_per_atom, self.stress_fn, self.error = energy_per_atom, stress, error

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        if self.error is not None:
            raise self.error
        n = len(self.atoms)
        self.results["energy"] = self.energy_per_atom(self.atoms) * n
        self.results["free_energy"] = self.results["energy"]
        self.results["forces"] = np.zeros((n, 3))
        stress = np.zeros(6) if self.stress_fn is None else self.stress_fn(self.atoms)
        self.results["stress"] = np.asarray(stress, dtype=float)


# ------------------------------------------------------------------ settings
@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("fmax", 0.0, "RelaxSettings.fmax must be a finite number > 0, got 0.0"),
        ("fmax", math.nan, "RelaxSettings.fmax must be a finite number > 0, got nan"),
        ("max_steps", 0, "RelaxSettings.max_steps must be an int >= 1, got 0"),
        ("max_steps", 2.5, "RelaxSettings.max_steps must be an int >= 1, got 2.5"),
        ("optimizer", "Adam", "RelaxSettings.optimizer must be one of"),
        ("cell_filter", "StrainFilter", "RelaxSettings.cell_filter must be one of"),
        ("min_distance", -1.0, "RelaxSettings.min_distance must be a finite number > 0, got -1.0"),
        ("max_volume_ratio", 1.0, "RelaxSettings.max_volume_ratio must be > 1, got 1.0"),
        ("n_threads", 0, "RelaxSettings.n_threads must be None or an int >= 1, got 0"),
        ("blas_threads", 1.0, "RelaxSettings.blas_threads must be None or an int >= 1, got 1.0"),
        ("device", "gpu", "RelaxSettings.device must be 'cpu', 'cuda', 'cuda:<index>' or 'mps', "
                          "got 'gpu'"),
        ("relax_cell", "yes", "RelaxSettings.relax_cell must be a bool, got 'yes'"),
    ],
)
def test_settings_validation_names_field_and_value(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        RelaxSettings(**{field: value})


def test_settings_defaults_are_the_reference() -> None:
    s = RelaxSettings()
    assert (s.fmax, s.max_steps, s.optimizer, s.relax_cell, s.cell_filter) == (
        0.1, 500, "FIRE", True, "FrechetCellFilter"
    )
    assert RelaxSettings(device="cuda:1").device == "cuda:1"


# ------------------------------------------------------------------ real CHGNet physics
def test_strained_si_relaxes_down_and_converges(relaxer: Relaxer) -> None:
    result = relaxer.relax(strained_si())
    assert result.status == "ok" and result.failure_reason is None
    assert result.converged and result.max_force_final < 0.1
    assert 0 < result.n_steps < 500
    # Relaxation lowers the CHGNet energy; Si is about -5.3 eV/atom in CHGNet (MP2020 scale).
    assert result.delta_e == pytest.approx(
        result.energy_initial_per_atom - result.energy_relaxed_per_atom
    )
    assert result.delta_e > 0.005
    assert -5.5 < result.energy_relaxed_per_atom < -5.1
    # The cell contracts towards diamond Si (about 20.0-20.5 Å^3/atom).
    assert 19.0 < result.volume_relaxed / 2 < 21.5 < result.volume_initial / 2
    # The displaced atom goes back: small, finite RMSD (displacement ~0.03 Å per atom).
    assert result.rmsd_method == "structure_matcher"
    assert 0.005 < result.rmsd < 0.1
    relaxed = result.structure_relaxed
    assert relaxed.is_ordered and len(relaxed) == 2
    assert np.all((relaxed.frac_coords >= 0) & (relaxed.frac_coords < 1))
    assert relaxed.get_distance(0, 1) == pytest.approx(2.36, abs=0.06)  # Si-Si bond
    assert result.t_relax_s > 0


def test_expanded_bcc_li_contracts(relaxer: Relaxer) -> None:
    result = relaxer.relax(AseAtomsAdaptor.get_atoms(expanded_bcc_li()))  # ASE input too
    assert result.ok and result.converged
    assert result.delta_e > 0.02
    assert 18.5 < result.volume_relaxed / 2 < 22.0  # from 27.4 Å^3/atom
    # Pure isotropic contraction: the matcher (scale=True) sees no displacement.
    assert result.rmsd == pytest.approx(0.0, abs=1e-3)


def test_step_limit_gives_ok_but_not_converged(relaxer: Relaxer) -> None:
    short = Relaxer(RelaxSettings(max_steps=1, n_threads=1), model=relaxer.calculator.model)
    result = short.relax(strained_si())
    assert result.status == "ok"
    assert result.n_steps == 1
    assert not result.converged
    assert result.max_force_final > 0.1


def test_relax_many_keeps_order_and_isolates_failures(relaxer: Relaxer) -> None:
    close = Structure(Lattice.cubic(5.0), ["Li", "Li"], [[0, 0, 0], [0.06, 0, 0]])
    charged = expanded_bcc_li()
    charged.add_oxidation_state_by_element({"Li": 1})  # oxidation states are dropped
    results = relaxer.relax_many([close, charged])
    assert [r.status for r in results] == ["failed", "ok"]
    assert [str(sp) for sp in results[1].structure_relaxed.species] == ["Li", "Li"]


def test_exception_inside_chgnet_is_a_failed_result(
    relaxer: Relaxer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("graph\nconversion exploded")

    monkeypatch.setattr(relaxer.calculator.model, "predict_graph", broken)
    result = relaxer.relax(expanded_bcc_li())
    assert result.status == "failed"
    assert result.failure_reason == "calculator_error: RuntimeError: graph conversion exploded"
    assert result.failure_code == "calculator_error"
    assert result.structure_relaxed is None and result.energy_relaxed_per_atom is None


# ------------------------------------------------------------------ screening failures
def test_atoms_too_close_fail_before_relaxing(relaxer: Relaxer) -> None:
    close = Structure(Lattice.cubic(5.0), ["Li", "Li"], [[0, 0, 0], [0.06, 0, 0]])
    result = relaxer.relax(close)
    assert result.status == "failed"
    assert result.failure_reason == (
        "min_distance: sites 0 (Li) and 1 (Li) are 0.300 Å apart, below min_distance 0.5 Å"
    )
    assert result.n_steps == 0 and result.energy_initial_per_atom is None


def test_atom_close_to_its_own_image_fails(relaxer: Relaxer) -> None:
    tiny = Structure(Lattice.orthorhombic(0.3, 4, 4), ["Li"], [[0, 0, 0]])
    result = relaxer.relax(tiny)
    assert result.failure_reason == (
        "min_distance: site 0 (Li) is 0.300 Å from its own periodic image, "
        "below min_distance 0.5 Å"
    )


def test_isolated_atom_fails(relaxer: Relaxer) -> None:
    # Two Li 2.8 Å apart; the Si at the cube centre is >= 7 Å from every atom and image.
    s = Structure(
        Lattice.cubic(14.0),
        ["Li", "Li", "Si"],
        [[0, 0, 0], [0.2, 0, 0], [0.5, 0.5, 0.5]],
    )
    result = relaxer.relax(s)
    assert result.failure_reason == (
        "isolated_atom: site(s) 2 (Si) have no neighbour within isolated_distance 6 Å"
    )


def test_disordered_and_empty_inputs_fail(relaxer: Relaxer) -> None:
    disordered = Structure(Lattice.cubic(3.5), [{"Li": 0.5}], [[0, 0, 0]])
    assert relaxer.relax(disordered).failure_reason == (
        "invalid_structure: the structure is disordered (partial occupancies)"
    )
    empty = Structure(Lattice.cubic(3.5), [], [])
    assert relaxer.relax(empty).failure_reason == "invalid_structure: the structure has no sites"
    dummy = Structure(Lattice.cubic(3.5), ["Li", "X"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    assert relaxer.relax(dummy).failure_reason == (
        "invalid_structure: site 1 holds X0+, not a chemical element"
    )


# ------------------------------------------------------------------ fake calculators
def fake_relaxer(calc: Calculator, **settings) -> Relaxer:
    return Relaxer(RelaxSettings(**settings), model=calc)


def test_non_finite_energy_fails() -> None:
    result = fake_relaxer(FakeCalculator(lambda atoms: math.nan)).relax(expanded_bcc_li())
    assert result.status == "failed"
    assert result.failure_reason == "non_finite: energy per atom is nan at step 0"


def test_non_finite_stress_fails() -> None:
    calc = FakeCalculator(lambda atoms: -1.0, stress=lambda atoms: [math.inf, 0, 0, 0, 0, 0])
    result = fake_relaxer(calc).relax(expanded_bcc_li())
    assert result.failure_reason == "non_finite: stress contains NaN/inf at step 0"
    assert result.energy_initial_per_atom == -1.0


def test_non_finite_forces_fail() -> None:
    class NanForces(FakeCalculator):
        def calculate(self, *args, **kwargs) -> None:
            super().calculate(*args, **kwargs)
            self.results["forces"][0, 0] = math.nan

    result = fake_relaxer(NanForces(lambda atoms: -1.0)).relax(expanded_bcc_li())
    assert result.failure_reason == "non_finite: forces contain NaN/inf at step 0"


def test_huge_energy_fails() -> None:
    result = fake_relaxer(FakeCalculator(lambda atoms: -1e6)).relax(expanded_bcc_li())
    assert result.failure_reason == (
        "energy_out_of_range: |energy| 1e+06 eV/atom exceeds max_abs_energy_per_atom 100 at step 0"
    )


@pytest.mark.parametrize(("sign", "kind"), [(-1.0, "exploded"), (1.0, "collapsed")])
def test_exploding_or_collapsing_cell_fails(sign: float, kind: str) -> None:
    # E = sign * c * V, so stress = (1/V) dE/dstrain = sign * c on the diagonal: the cell
    # is pulled open (sign -1) or squeezed (sign +1) without limit; the volume guard
    # must stop the run.
    c = 0.05  # eV/Å^3

    def energy_per_atom(atoms):
        return sign * c * atoms.get_volume() / len(atoms)

    calc = FakeCalculator(energy_per_atom, stress=lambda atoms: [sign * c] * 3 + [0, 0, 0])
    result = fake_relaxer(calc, max_steps=2000).relax(expanded_bcc_li())
    assert result.status == "failed"
    assert result.failure_code == "volume_change"
    assert f"the cell {kind}: volume 54.872 ->" in result.failure_reason
    assert 0 < result.n_steps < 2000


def test_exception_in_calculator_fails() -> None:
    calc = FakeCalculator(lambda atoms: 0.0, error=ValueError("bad\n  input"))
    result = fake_relaxer(calc).relax(expanded_bcc_li())
    assert result.failure_reason == "calculator_error: ValueError: bad input"


def test_threads_are_applied_during_relax_and_restored() -> None:
    seen = []

    def energy_per_atom(atoms):
        seen.append(torch.get_num_threads())
        return -1.0

    torch.set_num_threads(2)
    fake_relaxer(FakeCalculator(energy_per_atom), n_threads=1).relax(expanded_bcc_li())
    assert seen and set(seen) == {1}
    assert torch.get_num_threads() == 2


# ------------------------------------------------------------------ RMSD definition
def four_atom_cell(a: float = 4.0) -> Structure:
    frac = [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]
    return Structure(Lattice.cubic(a), ["Cu"] * 4, frac)


def test_rmsd_known_answer_single_displacement() -> None:
    # One of N atoms moved by delta; after removing the mean translation the RMS is
    # delta * sqrt(N - 1) / N (N = 4, delta = 0.2 Å -> 0.0866 Å).
    ref = four_atom_cell()
    moved = ref.copy()
    moved.translate_sites([1], [0.2, 0, 0], frac_coords=False)
    expected = 0.2 * math.sqrt(3) / 4
    rmsd, method = relaxation_rmsd(moved, ref)
    assert method == "structure_matcher"
    assert rmsd == pytest.approx(expected, rel=1e-6)
    assert fractional_displacement_rmsd(moved, ref) == pytest.approx(expected, rel=1e-9)
    # Too tight a site tolerance: the matcher gives up, the documented fallback is used.
    rmsd_fb, method_fb = relaxation_rmsd(moved, ref, stol=1e-4)
    assert method_fb == "fractional_displacement"
    assert rmsd_fb == pytest.approx(expected, rel=1e-9)


def test_rmsd_volume_convention_is_geometric_mean() -> None:
    # Generated at volume V1 with one atom displaced; relaxed = ideal at V2 = 1.331 V1
    # (a x 1.1). Both are compared at sqrt(V1 V2): a length scale of 1.1**0.5.
    generated = four_atom_cell(4.0)
    generated.translate_sites([1], [0.2, 0, 0], frac_coords=False)
    relaxed = four_atom_cell(4.4)
    rmsd, method = relaxation_rmsd(generated, relaxed)
    assert method == "structure_matcher"
    assert rmsd == pytest.approx(0.2 * math.sqrt(3) / 4 * 1.1**0.5, rel=1e-6)


def test_rmsd_of_unrelated_site_lists_is_nan() -> None:
    a = four_atom_cell()
    b = Structure(Lattice.cubic(4.0), ["Ag"] * 4, a.frac_coords)
    rmsd, method = relaxation_rmsd(a, b)
    assert method == "none" and math.isnan(rmsd)


def test_rmsd_fallback_wraps_minimum_image() -> None:
    ref = four_atom_cell()
    moved = ref.copy()
    moved.replace(0, "Cu", [0.99, 0.0, 0.0])  # -0.04 Å across the boundary, not +3.96
    assert fractional_displacement_rmsd(moved, ref) == pytest.approx(
        0.04 * math.sqrt(3) / 4, rel=1e-6
    )


# ------------------------------------------------------------------ rows
def test_to_row_uses_candidate_record_columns() -> None:
    result = RelaxResult(
        status="ok", failure_reason=None, structure_relaxed=expanded_bcc_li(),
        energy_initial_per_atom=-1.8, energy_relaxed_per_atom=-1.9, delta_e=0.1,
        rmsd=math.nan, rmsd_method="none", n_steps=3, converged=True, max_force_final=0.01,
        max_atomic_force_final=0.0, volume_initial=54.9, volume_relaxed=40.1, n_atoms=2,
        t_relax_s=0.5,
    )
    row = result.to_row()
    record_fields = {f.name for f in dataclasses.fields(CandidateRecord)}
    for key in ("status", "failure_reason", "energy_generated_per_atom",
                "energy_relaxed_per_atom", "delta_e_relax", "rmsd_relax", "relax_steps",
                "relax_converged", "t_relax_s", "structure_relaxed"):
        assert key in record_fields and key in row
    assert row["rmsd_relax"] is None  # NaN becomes a null
    assert Structure.from_str(row["structure_relaxed"], fmt="json") == expanded_bcc_li()
    assert "structure_relaxed" not in result.to_row(include_structure=False)
