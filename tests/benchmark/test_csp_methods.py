"""``chggen benchmark csp``: the ablation methods, the free-Z variant and the CPU clock,
through the real driver with a fake relaxer and a zero score."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest
from pymatgen.core import Structure

from campaign.cli import run_command
from campaign.jobs.benchmark.csp import formula_unit_budgets
from tests.benchmark.fakes import FakeRelaxer, fake_chain
from tests.benchmark.test_benchmark_cli import TARGETS, csp_args, known  # noqa: F401


@pytest.mark.parametrize(("unit", "k", "max_atoms", "expected"), [
    ({"Na": 1, "Cl": 1}, 20, 20, [(z, 2) for z in range(1, 11)]),  # 2 atoms: Z = 1..10
    ({"Ti": 3, "O": 4}, 20, 20, [(1, 10), (2, 10)]),
    ({"Li": 2, "Si": 1}, 20, 20, [(1, 4), (2, 4), (3, 3), (4, 3), (5, 3), (6, 3)]),
    ({"Si": 1}, 3, 20, [(1, 1), (2, 1), (3, 1)]),  # fewer relaxations than Zs
    ({"Ba": 5, "Ge": 10, "As": 10}, 20, 20, [(1, 20)]),  # one unit over the limit: Z = 1
])
def test_formula_unit_budgets_spread_k_round_robin(unit: dict, k: int, max_atoms: int,
                                                   expected: list) -> None:
    budgets = formula_unit_budgets(unit, k, max_atoms)
    assert budgets == expected
    assert sum(n for _, n in budgets) == k


def test_free_z_searches_every_formula_unit_count_in_turn(known: str,  # noqa: F811
                                                          tmp_path: Path) -> None:
    """NaCl is 1 formula unit per primitive cell and Si 2; with --max-atoms 8 NaCl's 4
    relaxations go to Z = 1, 2, 3, 4 (2, 4, 6, 8 atoms) and Si's to 1, 2, 3, 4 atoms, and a
    relaxation that falls into the known crystal is a match only in a cell of its size."""
    relaxer = FakeRelaxer(TARGETS, snap_every=1)
    out = tmp_path / "zfree"
    argv = csp_args(known, out, "--methods", "random", "--z", "free", "--max-atoms", "8")
    assert run_command(argv, make_chain=lambda: fake_chain(relaxer)) == 0
    rows = pd.read_parquet(out / "candidates.parquet").sort_values("budget_index")
    atoms = {formula: list(group.n_atoms) for formula, group in rows.groupby("formula")}
    assert atoms == {"NaCl": [2, 4, 6, 8], "Si": [1, 2, 3, 4]}
    assert set(rows.n_atoms_known) == {2}
    matched = rows[rows.matched.fillna(False).astype(bool)]
    assert set(matched.n_atoms) == {2}  # the snapped target: only where Z fits
    nacl = rows[rows.formula == "NaCl"]
    assert nacl.seed.nunique() == 4  # every Z draws its own structures
    # a resumed folder with the other Z setting is refused
    given = csp_args(known, out, "--methods", "random", "--max-atoms", "8")
    assert run_command(given, make_chain=lambda: fake_chain(relaxer)) == 2


class BusyRelaxer(FakeRelaxer):
    """A fake relaxer that spends ``busy_s`` of CPU per relaxation."""

    def __init__(self, busy_s: float) -> None:
        super().__init__(TARGETS)
        self.busy_s = busy_s

    def relax(self, structure: Structure):
        t0 = time.process_time()
        while time.process_time() - t0 < self.busy_s:
            pass
        return super().relax(structure)


def test_cpu_of_a_task_counts_every_relaxation(known: str, tmp_path: Path) -> None:  # noqa: F811
    out = tmp_path / "cpu"
    argv = csp_args(known, out, "--methods", "random", "unconditional")
    assert run_command(argv, make_chain=lambda: fake_chain(BusyRelaxer(0.05))) == 0
    rows = pd.read_parquet(out / "candidates.parquet")
    per_task = rows.groupby("task_id").cpu_task_s
    assert (per_task.nunique() == 1).all()  # one clock per task, on every row
    assert (per_task.first() >= 4 * 0.05).all()  # k = 4 relaxations, all counted


def test_ablation_methods_take_their_own_starts(known: str, tmp_path: Path,  # noqa: F811
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import chggen_kernels.benchmark as kernels_benchmark

    priors = {}
    real = kernels_benchmark.random_search_structures

    def spy(composition, n, volume, seed, **kwargs):
        priors[len(priors)] = kwargs.get("prior")
        return real(composition, n, volume, seed, **kwargs)

    monkeypatch.setattr(kernels_benchmark, "random_search_structures", spy)
    out = tmp_path / "ablation"
    methods = ("random", "random-prior", "symmetric", "template", "template-raw",
               "template-symmetric")
    argv = csp_args(known, out, "--methods", *methods, "--k", "2", "--limit", "1")
    assert run_command(argv, make_chain=lambda: fake_chain(FakeRelaxer(TARGETS))) == 0
    rows = pd.read_parquet(out / "candidates.parquet")
    assert set(rows.formula) == {"NaCl"} and len(rows) == 2 * len(methods)
    # random search gets no prior, random-prior the learned one
    assert sorted(p is None for p in priors.values()) == [False, True]
    by = {m: g for m, g in rows.groupby("method")}
    for method in ("random", "random-prior"):
        assert by[method].spacegroup_start.between(1, 230).all()
        assert by[method].label.str.match(r"^(Na|Cl):").all()
    assert by["symmetric"].spacegroup_start.notna().all()
    for method in ("template", "template-raw", "template-symmetric"):
        starts = by[method].start_from
        assert starts.str.startswith("template ").all(), (method, list(starts))
        assert not starts.str.contains(" NaCl ").any()  # never a polymorph of the target
    raw, denoised = by["template-raw"], by["template-symmetric"]
    # the same ranked templates; raw relaxes them as they are, the others are denoised
    assert list(raw.start_from) == list(denoised.start_from)
    assert (raw.t_sample_s.fillna(0) == 0).all() and (denoised.t_sample_s > 0).all()
