"""Batched CHGNet relaxation: agreement with one-by-one, failure isolation, order, refill."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from chggen_kernels import testing
from chggen_kernels.relax import (
    BatchRelaxer,
    Relaxer,
    RelaxSettings,
    make_relaxer,
    uses_batched_relaxation,
)


@pytest.fixture(scope="module")
def relaxer() -> Relaxer:
    """One pretrained CHGNet for the module (loading takes ~4 s), one torch thread."""
    return Relaxer(RelaxSettings(n_threads=1))


@pytest.fixture(scope="module")
def chgnet(relaxer: Relaxer) -> Any:
    return relaxer.calculator.model


def perturbed(structure: Structure, volume_scale: float, seed: int) -> Structure:
    """``structure`` with its volume scaled and every atom moved 0.05 Å (seeded)."""
    s = structure.copy()
    s.scale_lattice(s.volume * volume_scale)
    rng = np.random.default_rng(seed)
    step = rng.normal(size=(len(s), 3))
    step *= 0.05 / np.linalg.norm(step, axis=1, keepdims=True)
    return Structure(s.lattice, s.species, s.cart_coords + step, coords_are_cartesian=True)


def tiny_cells() -> list[Structure]:
    """Four slightly perturbed tiny crystals of 2-4 atoms (Si, LiF, Li, Al)."""
    return [
        perturbed(testing.diamond(5.43).get_primitive_structure(), 1.06, 0),
        perturbed(testing.rock_salt(4.03, ("Li", "F"), primitive=True), 0.95, 1),
        perturbed(testing.bcc(3.44, "Li"), 1.08, 2),
        perturbed(testing.fcc(4.04, "Al"), 1.04, 3),
    ]


class Spy:
    """A CHGNet stand-in that records every batch and can corrupt or break some graphs.

    ``poison(graph)`` -> ``"nan"`` gives that structure a NaN energy, ``"raise"`` makes
    any batch holding it raise; ``None`` leaves the real CHGNet prediction alone.
    """

    def __init__(self, model: Any, poison=lambda graph: None) -> None:
        self.model, self.poison = model, poison
        self.graph_converter, self.is_intensive = model.graph_converter, model.is_intensive
        self.batches: list[list[int]] = []  # atoms of each graph, per call

    def predict_graph(self, graphs, **kwargs):
        self.batches.append([len(g.atomic_number) for g in graphs])
        if any(self.poison(g) == "raise" for g in graphs):
            raise RuntimeError("poisoned\n graph")
        out = self.model.predict_graph(graphs, **kwargs)
        out = [out] if isinstance(out, dict) else out
        for g, pred in zip(graphs, out, strict=True):
            if self.poison(g) == "nan":
                pred["e"] = pred["e"] * math.nan
        return out


def has_element(z: int):
    return lambda graph: bool((graph.atomic_number == z).any())


def test_batched_agrees_with_one_by_one(relaxer: Relaxer, chgnet: Any) -> None:
    cells = tiny_cells()
    one = relaxer.relax_many(cells)
    batched = BatchRelaxer(RelaxSettings(n_threads=1), model=chgnet)
    many = batched.relax_many(cells)
    assert [r.status for r in many] == ["ok"] * 4 == [r.status for r in one]
    for a, b in zip(one, many, strict=True):
        assert abs(a.energy_relaxed_per_atom - b.energy_relaxed_per_atom) < 1e-3  # eV/atom
        assert abs(a.energy_initial_per_atom - b.energy_initial_per_atom) < 1e-5
        assert a.converged and b.converged and b.max_force_final < 0.1
        assert b.n_atoms == a.n_atoms and b.volume_relaxed == pytest.approx(a.volume_relaxed,
                                                                           rel=1e-3)
        assert b.delta_e > 0
    # One batched forward per step: as many calls as the longest relaxation has evaluations.
    assert batched.n_forwards == max(r.n_steps for r in many) + 1
    assert batched.n_forwards < sum(r.n_steps + 1 for r in many)


def test_failures_match_one_by_one_and_leave_the_others_alone(
    relaxer: Relaxer, chgnet: Any
) -> None:
    si, lif, li, _ = tiny_cells()
    on_top = Structure(Lattice.cubic(4.0), ["Li", "Li"], [[0, 0, 0], [0.01, 0, 0]])
    non_finite = Structure(Lattice.cubic(4.0), ["Si", "Si"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    non_finite.replace(1, "Si", [math.nan, 0.5, 0.5])
    inputs = [si, on_top, lif, non_finite, li]
    one = relaxer.relax_many(inputs)
    many = BatchRelaxer(RelaxSettings(n_threads=1), model=chgnet).relax_many(inputs)
    assert [r.status for r in many] == ["ok", "failed", "ok", "failed", "ok"]
    assert [r.failure_reason for r in many] == [r.failure_reason for r in one]
    assert many[1].failure_code == "min_distance" and many[3].failure_code == "invalid_structure"
    # Order kept: each result is its input's crystal.
    for inp, res in zip(inputs, many, strict=True):
        if res.ok:
            assert res.structure_relaxed.composition == inp.composition


def test_a_structure_failing_mid_batch_fails_alone(chgnet: Any) -> None:
    si, lif, li, al = tiny_cells()
    nan_for_f = Spy(chgnet, poison=lambda g: "nan" if has_element(9)(g) else None)
    results = BatchRelaxer(RelaxSettings(n_threads=1), model=nan_for_f).relax_many(
        [si, lif, al]
    )
    assert [r.status for r in results] == ["ok", "failed", "ok"]
    assert results[1].failure_reason == "non_finite: energy per atom is nan at step 0"
    assert nan_for_f.batches[0] == [2, 2, 4]  # LiF was in the first batched forward

    raising_for_al = Spy(chgnet, poison=lambda g: "raise" if has_element(13)(g) else None)
    results = BatchRelaxer(RelaxSettings(n_threads=1), model=raising_for_al).relax_many(
        [si, al, li]
    )
    assert [r.status for r in results] == ["ok", "failed", "ok"]
    assert results[1].failure_reason == "calculator_error: RuntimeError: poisoned graph"
    assert results[0].converged and results[2].converged


def test_refill_keeps_the_atom_budget_and_the_order(relaxer: Relaxer, chgnet: Any) -> None:
    cells = tiny_cells()  # 2, 2, 2, 4 atoms
    inputs = [cells[0], cells[1], cells[2], cells[3], cells[1], cells[0]]
    spy = Spy(chgnet)
    results = BatchRelaxer(RelaxSettings(n_threads=1), model=spy,
                           max_batch_atoms=4).relax_many(inputs)
    assert all(r.ok and r.converged for r in results)
    assert max(sum(batch) for batch in spy.batches) <= 4
    assert len(spy.batches[0]) == 2  # two 2-atom cells fill the budget of 4
    seen = set(map(tuple, spy.batches))
    assert (4,) in seen  # the 4-atom cell ran alone (budget reached)
    one = relaxer.relax_many(cells)
    reference = [one[0], one[1], one[2], one[3], one[1], one[0]]
    for ref, res, inp in zip(reference, results, inputs, strict=True):
        assert res.structure_relaxed.composition == inp.composition
        assert abs(ref.energy_relaxed_per_atom - res.energy_relaxed_per_atom) < 1e-3


def test_step_limit_and_oversized_structure(chgnet: Any) -> None:
    strained = perturbed(testing.diamond(5.60), 1.0, 4)  # 8 atoms, budget 2: runs alone
    result = BatchRelaxer(RelaxSettings(max_steps=1, n_threads=1), model=chgnet,
                          max_batch_atoms=2).relax(strained)
    assert result.status == "ok" and result.n_steps == 1 and not result.converged
    assert result.max_force_final > 0.1


def test_bad_arguments_raise(chgnet: Any) -> None:
    with pytest.raises(ValueError, match="max_batch_atoms must be an int >= 1, got 0"):
        BatchRelaxer(model=chgnet, max_batch_atoms=0)
    with pytest.raises(TypeError, match="BatchRelaxer model must be a CHGNet"):
        BatchRelaxer(model=object())
    with pytest.raises(TypeError, match="BatchRelaxer settings must be a RelaxSettings"):
        BatchRelaxer({"fmax": 0.1}, model=chgnet)  # type: ignore[arg-type]


def test_mode_is_batched_on_cuda_only(chgnet: Any) -> None:
    assert uses_batched_relaxation(RelaxSettings(device="cuda"))
    assert uses_batched_relaxation(RelaxSettings(device="cuda:1"))
    assert not uses_batched_relaxation(RelaxSettings())  # the CPU default: one by one
    assert not uses_batched_relaxation(RelaxSettings(device="mps"))
    assert type(make_relaxer(RelaxSettings(n_threads=1), model=chgnet)) is Relaxer
