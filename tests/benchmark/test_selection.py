"""The default-set rule and the compound selection of KNOWN."""

from __future__ import annotations

import pytest

from campaign.jobs.benchmark.default_set import CSP_DEFAULT, HOSTS_DEFAULT
from campaign.jobs.benchmark.known_input import BenchmarkInputError, Compound, select_compounds
from chggen_kernels.benchmark import choose_benchmark_set, in_systems
from chggen_kernels.testing import diamond, rock_salt

ENTRIES = [
    ("a", "Li2Si", 6, ("Li", "Si"), "mp-1"),
    ("b", "ZnS", 2, ("S", "Zn"), "mp-2"),
    ("c", "NaCl", 2, ("Cl", "Na"), "mp-3"),
    ("d", "NaCl", 8, ("Cl", "Na"), "mp-4"),
    ("e", "LiF", 2, ("F", "Li"), "mp-5"),
    ("f", "Li15Si4", 38, ("Li", "Si"), "mp-6"),
    ("g", "Cu", 1, ("Cu",), "mp-7"),
    ("h", "Li", 1, ("Li",), "mp-8"),
]


def test_targets_first_then_one_crystal_per_other_formula() -> None:
    chosen = choose_benchmark_set(ENTRIES, n_random=10, max_atoms=20)
    assert [c.structure_id for c in chosen[:3]] == ["a", "b", "h"]  # f is too large
    assert chosen[0].reason == "target system Li-Si"
    others = [c.structure_id for c in chosen[3:]]
    assert sorted(others) == ["c", "e", "g"]  # one NaCl (the first), LiF, Cu
    assert all(c.reason.startswith("random sample (seed 0)") for c in chosen[3:])


def test_random_sample_is_seeded_and_sized() -> None:
    one = choose_benchmark_set(ENTRIES, n_random=2, seed=1)
    assert one == choose_benchmark_set(ENTRIES, n_random=2, seed=1)
    assert len(one) == 3 + 2
    draws = {tuple(c.structure_id for c in choose_benchmark_set(ENTRIES, n_random=1, seed=s))
             for s in range(10)}
    assert len(draws) > 1


def test_require_keeps_compounds_of_the_guest() -> None:
    chosen = choose_benchmark_set(ENTRIES, n_random=5, require="Li")
    assert [c.structure_id for c in chosen] == ["a", "e"]  # Li alone has no framework
    assert in_systems(("P", "S", "Zn"), ("Li-Si", "P-S-Zn")) == "P-S-Zn"
    assert in_systems(("Cu",), ("Li-Si",)) is None


def test_shipped_sets_are_small_and_hold_the_forced_hold_outs() -> None:
    formulas = {e.formula for e in CSP_DEFAULT}
    assert {"Li2Si", "Zn3P2", "Li3P", "Li2PS3"} <= formulas
    assert all(e.n_atoms <= 20 for e in CSP_DEFAULT + HOSTS_DEFAULT)
    assert all("Li" in e.formula for e in HOSTS_DEFAULT)
    assert len({e.structure_id for e in CSP_DEFAULT}) == len(CSP_DEFAULT) == 12


def test_select_compounds_default_all_limit_and_require() -> None:
    compounds = [Compound("x", rock_salt()), Compound("y", diamond()),
                 Compound("z", rock_salt(species=("Li", "F")))]
    assert [c.compound_id for c in select_compounds(compounds, "default", ["z", "x"],
                                                    max_atoms=20, limit=None)] == ["z", "x"]
    assert [c.compound_id for c in select_compounds(compounds, "all", [], max_atoms=20,
                                                    limit=2)] == ["x", "y"]
    assert [c.compound_id for c in select_compounds(compounds, "all", [], max_atoms=20,
                                                    limit=None, require="Li")] == ["z"]
    with pytest.raises(BenchmarkInputError, match="pass --set all"):
        select_compounds(compounds, "default", ["nope"], max_atoms=20, limit=None)
    with pytest.raises(BenchmarkInputError, match="at most 4 atoms"):
        select_compounds(compounds, "all", [], max_atoms=4, limit=None)
