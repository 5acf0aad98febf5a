"""inpainting_specs on hand-built records (framework refinement, no CHGNet): guest counts
scaled by the refined cell's multiplicity, the host carried as arrays (legacy dict hosts
accepted), the refinement ladder's two-fold pass recorded, and no specs where there is no
usable framework; one refined spec is generated with the tiny random-weight model."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from chggen_kernels.model import ScoreModel
from chggen_kernels.symmetry import SymmetryTolerance
from chggen_kernels.workflow import (
    CandidateRecord,
    Cell,
    candidate_seed,
    failed_record,
    generate,
    initial_crystal,
    inpainting_specs,
)
from tests.kernels.test_workflow_stages import (
    SETTINGS,
    _one_thread,
    counts,
    generated_from,
    model,
)

__all__ = ["_one_thread", "model"]  # the fixtures, shared with test_workflow_stages


def ok_record(structure: Structure, candidate_id: str = "t-u000") -> CandidateRecord:
    """A successful record as relax_and_score would write it for ``structure``."""
    record = failed_record(generated_from(structure, candidate_id), "placeholder")
    return dataclasses.replace(record, status="ok", failure_reason=None,
                               structure_relaxed=json.dumps(structure.as_dict()), e_d=0.0)


# ------------------------------------------------------------------ inpainting_specs
def fcc_primitive(a: float) -> Lattice:
    return Lattice([[0, a / 2, a / 2], [a / 2, 0, a / 2], [a / 2, a / 2, 0]])


def rocksalt_licl(a: float = 5.1) -> Structure:
    """Rock-salt LiCl, primitive cell (2 atoms); cubic lattice constant ``a`` Å."""
    return Structure(fcc_primitive(a), ["Li", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def test_specs_carry_the_host_as_arrays_and_accept_legacy_dict_hosts() -> None:
    import pickle

    record = ok_record(rocksalt_licl(), "t-u004")
    specs = inpainting_specs(record, ["Li"], n_samples=2, task_id="t2", campaign_seed=50)
    # the host's row as a plain dict (what the campaign hands over) gives the same specs
    assert inpainting_specs(record.to_dict(), ["Li"], n_samples=2, task_id="t2",
                            campaign_seed=50) == specs
    host = specs[0].host
    assert host is specs[1].host and not host.cartesian and len(host) == 4
    # a spec made with a pymatgen as_dict() host (as before issue 31) holds the same Cell
    legacy = dataclasses.replace(specs[0], host=host.to_structure().as_dict())
    assert isinstance(legacy.host, Cell) and legacy == specs[0]
    assert initial_crystal(legacy)[0].tolist() == initial_crystal(specs[0])[0].tolist()
    # ... and so does one unpickled from the time hosts were dicts
    stored = pickle.dumps(specs[0])
    old = pickle.loads(stored)
    object.__setattr__(old, "host", host.as_dict())
    assert isinstance(pickle.loads(pickle.dumps(old)).host, Cell)
    assert pickle.loads(stored) == specs[0]
    with pytest.raises(TypeError, match="a host must be a Cell"):
        dataclasses.replace(specs[0], host="Cl4")
    # the framework's arrays are exactly those of the refined Structure
    structure = host.to_structure()
    assert np.array_equal(host.cart_coords(), structure.cart_coords)
    assert host.volume() == structure.volume and host.composition() == {"Cl": 4}


def test_inpainting_specs_scale_guests_by_multiplicity(model: ScoreModel) -> None:
    record = ok_record(rocksalt_licl(), "t-u004")
    assert len(Structure.from_dict(json.loads(record.structure_relaxed))) == 2
    specs = inpainting_specs(record, ["Li"], n_samples=3, task_id="t2", campaign_seed=50)
    assert len(specs) == 3
    for k, spec in enumerate(specs):
        # framework fcc Cl: 1 atom primitive -> 4 atoms conventional, so 1 Li -> 4 Li
        assert spec.mode == "inpaint" and spec.composition == {"Cl": 4, "Li": 4}
        assert (spec.n_guest, spec.guest_species) == (4, ("Li",))
        assert spec.spacegroup_framework == 225 and spec.parent_id == "t-u004"
        assert (spec.framework_method, spec.framework_symprec) == ("spglib", 0.1)  # rung 0
        assert spec.seed == candidate_seed(50, "t2", k) and spec.task_id == "t2"
        assert spec.candidate_id == f"t2-{k:03d}"
        assert isinstance(spec.host, Cell)  # spglib's arrays, no pymatgen dict
        host = spec.host.to_structure()
        assert counts(host) == {"Cl": 4}
        assert host.lattice.abc == pytest.approx((5.1,) * 3, abs=1e-3)
        assert spec.volume_per_atom_prior == pytest.approx(5.1**3 / 8, rel=1e-4)
    assert len({s.candidate_id for s in specs}) == 3
    positions, lattice, numbers, mask = initial_crystal(specs[0])
    assert mask.tolist() == [False] * 4 + [True] * 4 and numbers.tolist()[4:] == [3] * 4
    assert generate(model, specs[:1], SETTINGS)[0].status == "ok"

    primitive = inpainting_specs(record, ["Li"], n_samples=1, task_id="t3", campaign_seed=0,
                                 cell="primitive")
    assert primitive[0].composition == {"Cl": 1, "Li": 1} and primitive[0].n_guest == 1
    assert inpainting_specs(record, ["Li"], 1, task_id="t3", campaign_seed=0, max_atoms=7) == []


def test_inpainting_specs_two_guests_per_framework_atom() -> None:
    # Li2Si-like antifluorite, primitive cell: 1 Si + 2 Li
    antifluorite = Structure(fcc_primitive(6.1), ["Si", "Li", "Li"],
                             [[0, 0, 0], [0.25, 0.25, 0.25], [0.75, 0.75, 0.75]])
    specs = inpainting_specs(ok_record(antifluorite), ["Li"], n_samples=1, task_id="t",
                             campaign_seed=0)
    assert specs[0].composition == {"Si": 4, "Li": 8} and specs[0].n_guest == 8
    assert specs[0].spacegroup_framework == 225


def test_inpainting_specs_record_the_two_fold_pass() -> None:
    from tests.kernels.test_pseudosymmetry import generated_zn2p2s7

    # spglib sees only P1 in this generated framework; the ladder's second pass finds Cm
    specs = inpainting_specs(ok_record(generated_zn2p2s7()), ["Zn"], n_samples=1, task_id="t",
                             campaign_seed=0)
    assert (specs[0].framework_method, specs[0].framework_symprec) == ("twofold", 1.0)
    assert specs[0].spacegroup_framework == 8
    assert specs[0].composition == {"P": 4, "S": 14, "Zn": 4}  # C-centred: 2 formula units


def test_inpainting_specs_empty_when_no_usable_framework() -> None:
    rng = np.random.default_rng(3)
    lattice = Lattice.from_parameters(7.1, 8.3, 9.7, 71, 83, 104)
    random_p1 = Structure(lattice, ["Si"] * 5 + ["Li"], rng.uniform(size=(6, 3)))
    strict = (SymmetryTolerance(0.01, 1.0),)
    assert inpainting_specs(ok_record(random_p1), ["Li"], 2, task_id="t", campaign_seed=0,
                            ladder=strict) == []
    licl = ok_record(rocksalt_licl())
    # guest species absent
    assert inpainting_specs(licl, ["Na"], 2, task_id="t", campaign_seed=0) == []
    assert inpainting_specs(licl, ["Li"], 0, task_id="t", campaign_seed=0) == []
    failed = dataclasses.replace(licl, status="failed", failure_reason="relaxation: x")
    assert inpainting_specs(failed, ["Li"], 2, task_id="t", campaign_seed=0) == []
    only_guests = ok_record(Structure(Lattice.cubic(3.5), ["Li"], [[0, 0, 0]]))
    assert inpainting_specs(only_guests, ["Li"], 2, task_id="t", campaign_seed=0) == []
