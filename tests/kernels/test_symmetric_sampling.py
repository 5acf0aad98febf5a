"""Symmetric inpainting: the sampler with an orbit constraint (exact analytic scores) and
the workflow stages around it. Known answers: orbits regenerated exactly, special
positions on their sub-manifolds, the framework's space group kept at 0.01 Å, the plain
sampler unchanged."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure

from chggen_kernels.crystal import CrystalBatch
from chggen_kernels.sampling import SamplerSettings, periodic_gaussian_mixture_score, sample
from chggen_kernels.symmetry import final_symmetry
from chggen_kernels.testing import diamond, fcc
from chggen_kernels.workflow import (
    CandidateRecord,
    CandidateSpec,
    GeneratedCandidate,
    failed_record,
    generate,
    inpainting_specs,
    symmetric_specs,
)
from chggen_kernels.wyckoff import OrbitConstraint, crystal_orbits, parse_choice, wyckoff_table

SETTINGS = SamplerSettings.from_preset(
    "reference", n_levels=20, n_corrector_steps=1, resample_passes=2, jump_length=4, sigma_max=5.0,
    sigma_min=0.01)


pytestmark = pytest.mark.usefixtures("one_thread")


def fcc_cl(a: float = 5.64) -> Structure:
    """Cl framework of rock salt, conventional cubic cell (Fm-3m, 4a occupied)."""
    return fcc(a, "Cl")


def _problem(letters: str, n_guest: int, width: float = 0.15):
    """Rock-salt Cl framework, ``n_guest`` Na tied to ``letters``; a Gaussian-mixture density
    on symmetric sites (32f x=0.3, 4b, 24e x=0.22) as the exact score."""
    host = fcc_cl()
    table = wyckoff_table(host)
    species = ["Cl"] * 4 + ["Na"] * n_guest
    guest = [False] * 4 + [True] * n_guest
    orbits = crystal_orbits(table, parse_choice(letters), species, guest)
    sites = np.concatenate([table.site("32f").orbit([0.3, 0, 0]), table.site("4b").orbit(),
                            table.site("24e").orbit([0.22, 0, 0])])
    score = periodic_gaussian_mixture_score(torch.tensor(sites), torch.ones(len(sites)), width)
    rng = np.random.default_rng(0)
    lattice = host.lattice.matrix
    positions = np.concatenate([host.cart_coords, rng.uniform(size=(n_guest, 3)) @ lattice])
    numbers = np.array([17] * 4 + [11] * n_guest)
    return table, orbits, score, (positions, lattice, numbers), np.array(guest)


def _orbit_error(frac: np.ndarray, orbits) -> float:
    rep = frac[orbits.rep_atoms][orbits.member_orbit]
    expected = np.einsum("kij,kj->ki", orbits.rotations, rep) + orbits.translations
    d = frac[orbits.member_atoms] - expected
    return float(np.abs(d - np.round(d)).max())


def test_orbits_stay_exact_and_special_positions_on_their_submanifold() -> None:
    table, orbits, score, crystal, guest = _problem("Na:4b,32f,24e", 60)
    batch = CrystalBatch.from_arrays([crystal] * 3, masks=[guest] * 3, dtype=torch.float64)
    constraint = OrbitConstraint([orbits, None, orbits])
    out = sample(score, batch, SETTINGS, seeds=[1, 2, 3], constraint=constraint)
    structures = out.structures()
    for i in (0, 2):
        frac = structures[i].frac_coords
        assert _orbit_error(frac, orbits) < 1e-10
        rep_4b, rep_32f, rep_24e = frac[orbits.rep_atoms]
        assert np.abs(rep_4b - 0.5).max() < 1e-12  # 4b: (1/2, 1/2, 1/2), no free parameter
        assert np.ptp(rep_32f) < 1e-12  # 32f: (x, x, x)
        assert abs(rep_24e[1]) % 1 < 1e-12 and abs(rep_24e[2]) % 1 < 1e-12  # 24e: (x, 0, 0)
        # hosts are back at their positions, and the whole crystal keeps Fm-3m at 0.01 Å
        assert np.allclose(frac[:4], fcc_cl().frac_coords, atol=1e-12)
        assert final_symmetry(structures[i], 0.01, 5.0).number == 225
    # the unconstrained crystal of the same request is not symmetric
    assert final_symmetry(structures[1], 0.01, 5.0).number == 1


def test_without_orbits_the_sampler_is_unchanged() -> None:
    _, orbits, score, crystal, guest = _problem("Na:4b,32f", 36)
    batch = CrystalBatch.from_arrays([crystal] * 2, masks=[guest] * 2, dtype=torch.float64)
    settings = dataclasses.replace(SETTINGS, n_levels=10)
    plain = sample(score, batch, settings, seeds=[5, 6])
    empty = sample(score, batch, settings, seeds=[5, 6], constraint=OrbitConstraint([None, None]))
    assert torch.equal(plain.batch.positions, empty.batch.positions)  # bit for bit
    mixed = sample(score, batch, settings, seeds=[5, 6], constraint=OrbitConstraint([orbits, None]))
    n = batch.offsets[1].item()
    torch.testing.assert_close(mixed.batch.positions[n:], plain.batch.positions[n:], rtol=0,
                               atol=1e-8)  # an unconstrained neighbour is not affected
    assert (mixed.batch.positions[:n] - plain.batch.positions[:n]).abs().max() > 1e-3
    assert plain.n_score_calls == mixed.n_score_calls


def test_symmetrised_score_of_a_symmetric_density_is_the_score() -> None:
    table, orbits, score, crystal, guest = _problem("Na:4b,32f,24e", 60)
    positions, lattice, numbers = crystal
    batch = CrystalBatch.from_arrays([crystal], masks=[guest], dtype=torch.float64)
    bound = OrbitConstraint([orbits]).bind(batch, [0])
    on_orbits = bound.project(batch.positions)
    frac = on_orbits.numpy() @ np.linalg.inv(lattice)
    assert _orbit_error(frac, orbits) < 1e-12
    sym_batch = batch.replace(positions=on_orbits)
    sigma = torch.tensor([0.3], dtype=torch.float64)
    exact = score(sym_batch, sigma)
    torch.testing.assert_close(bound.symmetrize_score(exact), exact, rtol=0, atol=1e-10)
    # an arbitrary score becomes equivariant: member k gets the orbit's score mapped by R_k
    noise = torch.randn(batch.n_atoms, 3, dtype=torch.float64, generator=torch.Generator()
                        .manual_seed(0))
    sym = bound.symmetrize_score(noise).numpy()
    rep_score = sym[orbits.rep_atoms][orbits.member_orbit] @ np.linalg.inv(lattice)
    mapped = np.einsum("kij,kj->ki", orbits.rotations, rep_score) @ lattice
    assert np.abs(mapped - sym[orbits.member_atoms]).max() < 1e-12
    assert np.abs(sym[:4] - noise.numpy()[:4]).max() == 0  # hosts untouched
    assert np.abs(sym[orbits.rep_atoms[0]]).max() < 1e-12  # 4b cannot move


def test_bad_constraints_name_the_problem() -> None:
    _, orbits, score, crystal, guest = _problem("Na:4b", 4)
    batch = CrystalBatch.from_arrays([crystal], masks=[guest], dtype=torch.float64)
    with pytest.raises(ValueError, match="constraint has 2 crystals, the batch 1"):
        sample(score, batch, SETTINGS, constraint=OrbitConstraint([orbits, orbits]))
    on_host = dataclasses.replace(orbits, member_atoms=orbits.member_atoms - 4)
    with pytest.raises(ValueError, match="crystal 0: constrained atoms must be guests"):
        sample(score, batch, SETTINGS, constraint=OrbitConstraint([on_host]))
    with pytest.raises(TypeError, match="constraint of crystal 0 must be CrystalOrbits"):
        OrbitConstraint(["Na:4b"])
    table = wyckoff_table(fcc_cl())
    with pytest.raises(ValueError, match="Na: 5 guest atoms but the positions 4b hold 4"):
        crystal_orbits(table, parse_choice("Na:4b"), ["Cl"] * 4 + ["Na"] * 5, [0] * 4 + [1] * 5)


# ------------------------------------------------------------------ workflow
def _li_score():
    """Exact score of Li on the 8b and 16c sites of the diamond Si framework."""
    table = wyckoff_table(diamond())
    sites = np.concatenate([table.site("8b").orbit(), table.site("16c").orbit()])
    return periodic_gaussian_mixture_score(torch.tensor(sites), torch.ones(len(sites)), 0.15)


def _spec(n_li: int, k: int = 0, mode: str = "inpaint-symmetric") -> CandidateSpec:
    host = diamond()
    return CandidateSpec(candidate_id=f"t-s{k:03d}", task_id="t", composition={"Si": 8, "Li": n_li},
                         mode=mode, seed=10 + k, guest_species=("Li",), n_guest=n_li,
                         host=host.as_dict(), spacegroup_framework=227)


def test_generate_symmetric_keeps_the_framework_space_group() -> None:
    specs = symmetric_specs([_spec(24, k) for k in range(3)], seed=0)
    letters = [s.wyckoff_letters for s in specs]
    assert set(letters) == {"Li:8b,16c", "Li:8b,16d"} and letters[0] == letters[2]
    assert all(s.mode == "inpaint-symmetric" and s.symmetric_fallback is None for s in specs)
    out = generate(_li_score(), specs + [_spec(5, 9)], SETTINGS, dtype=torch.float64)
    for candidate in out[:3]:
        assert candidate.status == "ok"
        structure = candidate.generated_structure()
        assert final_symmetry(structure, 0.01, 5.0).number == 227
    fallback = out[3]  # 5 Li: no orbit sizes of Fd-3m add up to 5 -> plain inpainting
    assert fallback.status == "ok" and fallback.spec.wyckoff_letters is None
    assert "no combination of Wyckoff positions of Fd-3m (227) holds 5 Li" in (
        fallback.spec.symmetric_fallback)
    record = failed_record(fallback, "x")
    assert record.symmetric_fallback == fallback.spec.symmetric_fallback
    assert failed_record(out[0], "x").wyckoff_letters == letters[0]
    assert "wyckoff_letters" in CandidateRecord.__dataclass_fields__


def test_letters_that_do_not_fit_fall_back_per_candidate() -> None:
    bad = dataclasses.replace(_spec(8), wyckoff_letters="Li:16c")  # 16 sites for 8 Li
    out = generate(_li_score(), [bad], SETTINGS, dtype=torch.float64)[0]
    assert out.status == "ok" and out.spec.wyckoff_letters is None
    assert out.spec.symmetric_fallback.startswith("wyckoff: Li: 8 guest atoms")


def test_inpainting_specs_symmetric_mode_from_a_relaxed_record() -> None:
    a = 6.1  # Li2Si antifluorite in its primitive cell: Si fcc framework, Li on 8c
    lattice = Lattice([[0, a / 2, a / 2], [a / 2, 0, a / 2], [a / 2, a / 2, 0]])
    antifluorite = Structure(lattice, ["Si", "Li", "Li"],
                             [[0, 0, 0], [0.25, 0.25, 0.25], [0.75, 0.75, 0.75]])
    composition = {"Si": 1, "Li": 2}
    spec = CandidateSpec(candidate_id="t-u000", task_id="t", composition=composition,
                         mode="unconditional", seed=1, lattice_family="cubic",
                         volume_per_atom_prior=20.0)
    record = failed_record(GeneratedCandidate(spec, "ok", antifluorite.as_dict(), None, 0.0,
                                              {}, "m"), "x")
    record = dataclasses.replace(record, status="ok", failure_reason=None,
                                 structure_relaxed=json.dumps(antifluorite.as_dict()))
    specs = inpainting_specs(record, ["Li"], 2, task_id="t9", campaign_seed=7,
                             mode="inpaint-symmetric")
    assert [s.wyckoff_letters for s in specs] == ["Li:8c", "Li:8c"]  # 4a is Si, 4b + 4? none
    assert all(s.mode == "inpaint-symmetric" and s.n_guest == 8 for s in specs)
    assert [s.candidate_id for s in specs] == ["t9-000", "t9-001"]
    with pytest.raises(ValueError, match="mode must be one of"):
        inpainting_specs(record, ["Li"], 2, task_id="t9", campaign_seed=7, mode="symmetric")
    with pytest.raises(ValueError, match="max_combinations must be an integer >= 1, got 0"):
        symmetric_specs(specs, seed=0, max_combinations=0)
