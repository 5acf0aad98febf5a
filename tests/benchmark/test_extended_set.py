"""The extended CSP set: the selection rule, the shipped list and ``--set extended``."""

from __future__ import annotations

import math
import random

import pytest
from pymatgen.core import Composition

from campaign.cli import main
from campaign.jobs.benchmark.default_set import CSP_DEFAULT
from campaign.jobs.benchmark.extended_set import EXTENDED_CSP
from campaign.jobs.benchmark.known_input import shipped_sets_path
from chggen_kernels.benchmark.selection import choose_extended_set
from chggen_kernels.datasets import read_known_structures

ELEMENTS = ("Li", "Na", "K", "Mg", "Ca", "Si", "P", "S", "Cl", "O")


def synthetic(n_formulas: int = 300, seed: int = 7) -> list[tuple]:
    """Entries like a test split's: some formulas twice (two polymorphs), sizes 1-24."""
    rng = random.Random(seed)
    out = []
    for i in range(n_formulas):
        n_el = rng.choice((1, 2, 2, 2, 3, 4))
        elements = tuple(sorted(rng.sample(ELEMENTS, n_el)))
        formula = f"F{i}"
        for copy in range(rng.choice((1, 1, 2))):
            sid = f"{rng.getrandbits(64):016x}"
            out.append((sid, formula, rng.randint(1, 24), elements, f"src-{i}-{copy}"))
    return out


ENTRIES = synthetic()
ELEMENTS_OF = {e[0]: e[3] for e in ENTRIES}


def _ternary(chosen: list) -> int:
    return sum(len(ELEMENTS_OF[c.structure_id]) >= 3 for c in chosen)


@pytest.mark.parametrize("seed", [0, 1, 5])
def test_rule_meets_the_counts_one_crystal_per_formula(seed: int) -> None:
    chosen = choose_extended_set(ENTRIES, seed=seed)
    assert len(chosen) == 60
    assert _ternary(chosen) >= 20
    assert sum(10 <= c.n_atoms <= 20 for c in chosen) >= 30
    assert all(c.n_atoms <= 20 for c in chosen)
    formulas = [c.formula for c in chosen]
    assert len(set(formulas)) == len(formulas)
    lowest: dict[str, str] = {}
    for sid, formula, n, _, _ in ENTRIES:
        if n <= 20:
            lowest[formula] = min(lowest.get(formula, sid), sid)
    assert all(c.structure_id == lowest[c.formula] for c in chosen)
    assert all(c.reason.startswith(f"seeded sample (seed {seed})") for c in chosen)


def test_rule_is_deterministic_given_the_seed_and_independent_of_file_order() -> None:
    one = choose_extended_set(ENTRIES, seed=3)
    assert one == choose_extended_set(ENTRIES, seed=3)
    assert one == choose_extended_set(list(reversed(ENTRIES)), seed=3)
    draws = {tuple(c.structure_id for c in choose_extended_set(ENTRIES, seed=s))
             for s in range(4)}
    assert len(draws) == 4


def test_rule_takes_included_ids_first_one_per_formula() -> None:
    twice = [e for e in ENTRIES if e[2] <= 20]
    dup = next(f for f in {e[1] for e in twice} if sum(e[1] == f for e in twice) == 2)
    a, b = sorted((e for e in twice if e[1] == dup), key=lambda e: e[0], reverse=True)
    other = next(e for e in twice if e[1] != dup)
    chosen = choose_extended_set(ENTRIES, include=[a[0], b[0], other[0]],
                                 include_reason="default CSP set")
    assert [c.structure_id for c in chosen[:2]] == [a[0], other[0]]  # b: same formula as a
    assert chosen[0].reason == "default CSP set"
    assert len(chosen) == 60 and len({c.formula for c in chosen}) == 60
    with pytest.raises(ValueError, match="not among the entries"):
        choose_extended_set(ENTRIES, include=["nope"])


def test_rule_refuses_when_a_quota_cannot_be_met() -> None:
    binaries = [e for e in ENTRIES if len(e[3]) < 3]
    with pytest.raises(ValueError, match="three or more elements"):
        choose_extended_set(binaries)
    small = [e for e in ENTRIES if e[2] <= 9]
    with pytest.raises(ValueError, match="10-20 atoms"):
        choose_extended_set(small)
    with pytest.raises(ValueError, match="small_max"):
        choose_extended_set(ENTRIES, small_max=10)


def test_shipped_extended_set_has_the_promised_shape() -> None:
    assert len(EXTENDED_CSP) >= 60
    n_elements = [len(Composition(e.formula).elements) for e in EXTENDED_CSP]
    assert sum(n >= 3 for n in n_elements) >= 20
    assert sum(10 <= e.n_atoms <= 20 for e in EXTENDED_CSP) >= math.ceil(len(EXTENDED_CSP) / 2)
    assert len({e.formula for e in EXTENDED_CSP}) == len(EXTENDED_CSP)
    assert {e.formula for e in CSP_DEFAULT} <= {e.formula for e in EXTENDED_CSP}
    assert all(e.source_id and e.reason for e in EXTENDED_CSP)


def test_every_set_crystal_is_in_the_shipped_file_with_provenance() -> None:
    rows = {r.structure_id: r for r in read_known_structures(shipped_sets_path())}
    for entry in EXTENDED_CSP:
        row = rows[entry.structure_id]  # the id reproduces from the shipped row
        assert row.formula == entry.formula and row.source_id == entry.source_id
        assert len(row.structure.get_primitive_structure()) == entry.n_atoms
    assert {e.structure_id for e in CSP_DEFAULT} <= set(rows)
    assert all(r.source and r.source_id and r.licence and r.origin for r in rows.values())
    assert all(r.licence.startswith("GPL-3.0") for r in rows.values()
               if r.source.startswith("aflow"))
    assert shipped_sets_path().stat().st_size < 1_000_000


def test_dry_run_of_the_extended_set_prints_its_plan(capsys: pytest.CaptureFixture) -> None:
    assert main(["benchmark", "csp", "--set", "extended", "--dry-run", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"benchmark csp: {len(EXTENDED_CSP)} compounds x 4 methods x 20 = "
                          f"{len(EXTENDED_CSP) * 4 * 20:,} candidates")
    assert "dry run: nothing started" in out
    assert main(["benchmark", "csp", "default", "--set", "extended", "--dry-run",
                 "--quiet", "--k", "5"]) == 0
    assert capsys.readouterr().out.startswith(f"benchmark csp: {len(EXTENDED_CSP)} compounds")
    with pytest.raises(SystemExit):  # a CSP set: hosts offers default and all only
        main(["benchmark", "hosts", "--guest", "Li", "--set", "extended", "--dry-run"])
