"""Workflow stages on tiny crystals: generate (tiny random-weight model) and relax_and_score
(real CHGNet, offline Li-Si hull). Known answers: exact cell volumes, exact compositions,
host atoms held, E_d equal to the energy above the lower convex hull of the shipped
references. inpainting_specs (framework refinement): ``test_workflow_inpainting``."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure

from chggen_kernels.model import ScoreModel, count_parameters
from chggen_kernels.relax import BatchRelaxer, Relaxer, RelaxResult, RelaxSettings
from chggen_kernels.sampling import SamplerSettings
from chggen_kernels.thermo import KnownPhaseLabeller, OfflineHullSource
from chggen_kernels.training.tiny import tiny_model_config
from chggen_kernels.workflow import (
    CandidateSpec,
    Cell,
    GeneratedCandidate,
    HullProvider,
    generate,
    relax_and_score,
    relax_and_score_many,
)

SETTINGS = SamplerSettings.from_preset(
    "reference", n_levels=8, n_corrector_steps=1, sigma_max=5.0, sigma_min=0.01, resample_passes=2,
    jump_length=2)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def model() -> ScoreModel:
    torch.manual_seed(0)
    config = tiny_model_config(n_layers=1, hidden_irreps="4x0e+2x1o", radial_hidden=(8,),
                               n_radial_basis=4, species_embedding_dim=4, noise_embedding_dim=4)
    net = ScoreModel(config).eval()
    assert count_parameters(net) < 10_000
    return net


@pytest.fixture(scope="module")
def relaxer() -> Relaxer:
    return Relaxer(RelaxSettings(n_threads=1, max_steps=50))


@pytest.fixture(scope="module")
def hull() -> HullProvider:
    return HullProvider(OfflineHullSource())


def unconditional(index: int, composition: dict[str, int], family: str | None,
                  ratio: str | None = None, vpa: float | None = 18.0) -> CandidateSpec:
    return CandidateSpec(candidate_id=f"t-u{index:03d}", task_id="t", composition=composition,
                         mode="unconditional", seed=100 + index, lattice_family=family,
                         lattice_ratio=ratio, volume_per_atom_prior=vpa)


def generated_from(structure: Structure, candidate_id: str = "t-u000") -> GeneratedCandidate:
    composition = {el.symbol: int(n) for el, n in structure.composition.items()}
    spec = CandidateSpec(candidate_id=candidate_id, task_id="t", composition=composition,
                         mode="unconditional", seed=1, lattice_family="cubic",
                         volume_per_atom_prior=structure.volume / len(structure))
    return GeneratedCandidate(spec, "ok", structure.as_dict(), None, 0.01,
                              SETTINGS.to_dict(), "hand-made")


def counts(structure: Structure) -> dict[str, int]:
    return {el.symbol: int(n) for el, n in structure.composition.items()}


# ------------------------------------------------------------------ generate
def test_generate_unconditional_composition_volume_and_lattice(model: ScoreModel) -> None:
    specs = [
        unconditional(0, {"Li": 3, "Si": 1}, "cubic"),
        unconditional(1, {"Li": 1, "Si": 2}, "hexagonal", "1:1.5"),
        unconditional(2, {"Li": 2, "Si": 2}, "triclinic", "1.25:0.75", vpa=21.5),
        unconditional(3, {"Si": 2}, None),  # no planned lattice: a failed candidate
    ]
    out = generate(model, specs, SETTINGS, model_checkpoint="tiny.pt")
    assert [g.status for g in out] == ["ok"] * 3 + ["failed"]
    assert "lattice_family must be one of" in out[3].failure_reason
    for spec, candidate in zip(specs[:3], out[:3], strict=True):
        assert candidate.spec is spec  # the planned lattice is what is sampled
        assert candidate.model_checkpoint == "tiny.pt"
        assert candidate.sampler_settings == SETTINGS.to_dict() and candidate.t_sample_s > 0
        assert candidate.structure is None and candidate.crystal.cartesian  # arrays, no dict
        s = candidate.generated_structure()
        assert counts(s) == spec.composition
        assert np.isfinite(s.cart_coords).all()
        assert np.all((s.frac_coords >= -1e-6) & (s.frac_coords < 1 + 1e-6))
        assert s.volume == pytest.approx(spec.n_atoms * spec.volume_per_atom_prior, rel=1e-5)
    cubic, hexagonal, triclinic = (g.generated_structure().lattice for g in out[:3])
    assert cubic.abc == pytest.approx((cubic.a,) * 3, rel=1e-5)
    assert cubic.angles == pytest.approx((90, 90, 90), abs=1e-3)
    assert hexagonal.angles == pytest.approx((90, 90, 120), abs=1e-3)
    assert hexagonal.c / hexagonal.a == pytest.approx(1.5, rel=1e-5)
    assert triclinic.b / triclinic.a == pytest.approx(1.25, rel=1e-5)
    assert triclinic.angles == pytest.approx((80, 85, 100), abs=1e-3)
    # Deterministic: a crystal depends only on its own spec (seed), not on the batch.
    again = generate(model, specs[2:3], SETTINGS)
    np.testing.assert_allclose(again[0].crystal.cart_coords(), out[2].crystal.cart_coords(),
                               atol=1e-4)


def test_generate_inpainting_keeps_host_and_places_guests(model: ScoreModel) -> None:
    host = Structure(Lattice.tetragonal(4.2, 6.0), ["Si", "Si"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    spec = CandidateSpec(candidate_id="t-i000", task_id="t", composition={"Si": 2, "Li": 3},
                         mode="inpaint", seed=7, volume_per_atom_prior=host.volume / 5,
                         guest_species=("Li",), n_guest=3, host=Cell.from_structure(host),
                         spacegroup_framework=139)
    mixed = [spec, unconditional(0, {"Li": 1, "Si": 1}, "cubic")]
    out = generate(model, mixed, SETTINGS)
    assert [g.status for g in out] == ["ok", "ok"]
    assert out[1].spec.mode == "unconditional"  # order kept across the per-mode batches
    s = out[0].generated_structure()
    assert counts(s) == {"Si": 2, "Li": 3}
    np.testing.assert_allclose(s.lattice.matrix, host.lattice.matrix, atol=1e-4)
    assert [site.specie.symbol for site in s][:2] == ["Si", "Si"]
    for i in range(2):  # host atoms end within a few sigma_min of where they were given
        d = s.lattice.get_distance_and_image(s.frac_coords[i], host.frac_coords[i])[0]
        assert d < 5 * SETTINGS.sigma_min
    guest_moves = [s.lattice.get_distance_and_image(s.frac_coords[i], host.frac_coords[0])[0]
                   for i in range(2, 5)]
    assert max(guest_moves) > 0.5  # the guests were generated, not parked on the host


def test_generate_failures_stay_with_their_spec() -> None:
    def nan_for_lithium(batch, sigma):
        score = torch.zeros_like(batch.positions)
        score[batch.atomic_numbers == 3] = float("nan")
        return score

    specs = [
        unconditional(0, {"Si": 2}, "cubic"),
        unconditional(1, {"Li": 1, "Si": 1}, "cubic"),
        unconditional(2, {"Si": 1}, "cubic", vpa=None),
        CandidateSpec(candidate_id="t-i000", task_id="t", composition={"Si": 1}, mode="inpaint",
                      seed=1, host=Structure(Lattice.cubic(3), ["Si"], [[0, 0, 0]]).as_dict()),
    ]
    out = generate(nan_for_lithium, specs, SETTINGS)
    assert [g.status for g in out] == ["ok", "failed", "failed", "failed"]
    assert out[1].failure_reason.startswith("sampler: non-finite positions at level")
    assert out[1].structure is None and out[1].crystal is None
    assert "volume_per_atom_prior must be positive, got None" in out[2].failure_reason
    assert "needs guest_species and n_guest >= 1" in out[3].failure_reason
    # A failed sample becomes a failed row, never an exception.
    record = relax_and_score(out[1], relaxer=None, hull=None)
    assert record.status == "failed" and record.failure_reason == out[1].failure_reason
    assert record.composition == "Li1Si1" and record.energy_relaxed_per_atom is None


# ------------------------------------------------------------------ relax_and_score
def lower_hull_energy(elements: tuple[str, str], x: float, exclude_x: float | None = None
                      ) -> float:
    """Energy per atom of the lower convex hull of the shipped references at fraction
    ``x`` of ``elements[1]``, ignoring entries at ``exclude_x`` (binary systems only)."""
    points = []
    for entry in OfflineHullSource().entries(list(elements)):
        comp = entry.composition
        xi = comp.get_atomic_fraction(elements[1])
        if exclude_x is None or not math.isclose(xi, exclude_x):
            points.append((xi, entry.energy_per_atom))
    best = math.inf
    for (x1, e1), (x2, e2) in itertools.product(points, repeat=2):
        if x1 <= x <= x2 and x2 > x1:
            best = min(best, e1 + (e2 - e1) * (x - x1) / (x2 - x1))
        elif math.isclose(x1, x) and math.isclose(x2, x):
            best = min(best, e1)
    return best


def test_relax_and_score_complete_ok_record(relaxer: Relaxer, hull: HullProvider) -> None:
    cscl = Structure(Lattice.cubic(3.2), ["Li", "Si"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    record = relax_and_score(generated_from(cscl), relaxer, hull,
                             known_phases=KnownPhaseLabeller())
    assert record.status == "ok", record.failure_reason
    row = record.to_dict()
    allowed_null = {"failure_reason", "parent_id", "guest_species", "lattice_ratio",
                    "spacegroup_framework", "wyckoff_letters", "symmetric_fallback",
                    "framework_method", "framework_symprec", "known_phase_id",
                    "start_from", "spacegroup_start",
                    # the potential's columns: the stage runner sets them from its settings
                    # (campaign.stages.runner.StageRunner; a bare relaxer does not say what it is)
                    "mlip", "mlip_version", "mlip_weights_sha256"}
    assert sorted(k for k, v in row.items() if v is None) == sorted(allowed_null)
    volume_change = record.delta_v_relax  # relaxed / generated cell volume - 1
    relaxed = Structure.from_dict(json.loads(record.structure_relaxed))
    assert volume_change == pytest.approx(relaxed.volume / cscl.volume - 1, abs=1e-6)
    # E_d (Bartel) of a LiSi candidate: its energy above the hull of all other phases, or,
    # where a known LiSi phase lies below that hull, its energy above that phase.
    others = lower_hull_energy(("Li", "Si"), 0.5, 0.5)
    known = min((e.energy_per_atom for e in OfflineHullSource().entries(["Li", "Si"])
                 if e.composition.reduced_formula == "LiSi"), default=math.inf)
    expected = record.energy_relaxed_per_atom - min(others, known)
    assert record.e_d == pytest.approx(expected, abs=1e-6)
    # e_above_hull: against the full hull (may be negative: below the current hull).
    full = record.energy_relaxed_per_atom - lower_hull_energy(("Li", "Si"), 0.5)
    assert record.e_above_hull == pytest.approx(full, abs=1e-6)
    assert record.hull_source == "offline:chggen-known-phases-v1+chggen-data-build-gaps-v1"
    assert record.hull_known_compounds >= 6  # the known Li-Si phases
    assert record.hull_known_composition is True  # the hull holds a LiSi entry
    # The decomposition names the phases the candidate is measured against.
    phases = {p for p in record.decomposition.replace("+", " ").split()
              if not p[0].isdigit() and not p.startswith("(")}  # "(mp-27705)": an id
    if known < others:
        assert phases == {"LiSi"}
    else:  # the stable phases on either side of LiSi on the hull
        stable = {e.composition.reduced_formula for e in hull.phase_diagram("Li-Si").stable_entries}
        assert phases <= stable and len(phases) == 2
    # ... and carries their hull entries' source ids and energies
    products = json.loads(record.decomposition_products)
    assert {p["formula"] for p in products} == phases and all(p["source_id"] for p in products)
    assert all(f"({p['source_id']})" in record.decomposition for p in products)
    # CsCl-type LiSi is not the known LiSi (mp-795, I4_1/a)
    assert record.novelty == "known-composition"
    # Symmetric start, symmetric forces: CsCl stays Pm-3m through the cell relaxation.
    assert (record.spacegroup_generated, record.spacegroup_relaxed) == (221, 221)
    assert record.spacegroup_symbol_relaxed == "Pm-3m" and record.is_symmetric
    assert record.delta_e_relax == pytest.approx(
        record.energy_generated_per_atom - record.energy_relaxed_per_atom, abs=1e-9)
    assert record.delta_e_relax > -1e-4 and 1 <= record.relax_steps <= 50
    relaxed = Structure.from_dict(json.loads(record.structure_relaxed))
    from_cif = Structure.from_str(record.cif_relaxed, fmt="cif")
    assert counts(from_cif) == counts(relaxed) == {"Li": 1, "Si": 1}
    assert from_cif.volume == pytest.approx(relaxed.volume, rel=1e-3)
    assert (record.chemsys, record.formula, record.n_atoms) == ("Li-Si", "LiSi", 2)


class _RaisingRelaxer:
    def relax(self, structure):
        raise RuntimeError("CHGNet exploded")


class _FixedRelaxer:
    """Returns the input as 'relaxed' at a fixed energy (eV/atom): no CHGNet needed."""

    def __init__(self, energy: float) -> None:
        self.energy = energy

    def relax(self, structure):
        return RelaxResult("ok", None, structure, self.energy, self.energy, 0.0, 0.0,
                           "fractional_displacement", 3, True, 0.01, 0.01, structure.volume,
                           structure.volume, len(structure), 0.1)


def test_relax_and_score_failures_are_rows(relaxer: Relaxer, hull: HullProvider) -> None:
    overlapping = Structure(Lattice.cubic(5.0), ["Li", "Si"], [[0, 0, 0], [0.04, 0, 0]])
    record = relax_and_score(generated_from(overlapping), relaxer, hull)
    assert record.status == "failed"
    assert record.failure_reason.startswith("relaxation: min_distance")
    assert record.spacegroup_generated is not None and record.e_d is None

    cscl = Structure(Lattice.cubic(3.2), ["Li", "Si"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    record = relax_and_score(generated_from(cscl), _RaisingRelaxer(), hull)
    assert record.status == "failed"
    assert record.failure_reason == "RuntimeError: CHGNet exploded"

    rocksalt = Structure(Lattice.cubic(5.1), ["Li", "Po"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    record = relax_and_score(generated_from(rocksalt), _FixedRelaxer(-3.5), hull)
    assert record.status == "failed"
    assert record.failure_reason.startswith("thermodynamics: ")
    assert "no elemental reference for Po" in record.failure_reason
    assert record.energy_relaxed_per_atom == -3.5 and record.spacegroup_relaxed == 221

    squeezed = Structure(Lattice.cubic(5.0), ["Li", "Si"], [[0, 0, 0], [0.16, 0, 0]])  # 0.8 Å
    record = relax_and_score(generated_from(squeezed), _FixedRelaxer(-5.0), hull)
    assert record.status == "failed" and record.failure_reason.startswith("screening:")

    record = relax_and_score(generated_from(cscl), _FixedRelaxer(-3.0), hull=None)
    assert record.status == "ok" and record.e_d is None and record.hull_source is None


class _BatchRaisingRelaxer(_FixedRelaxer):
    """Fixed energies one by one; its batched call raises, and Si8 raises alone too."""

    def relax_many(self, structures):
        raise RuntimeError("batched CHGNet exploded")

    def relax(self, structure):
        if structure.composition.reduced_formula == "Si":
            raise RuntimeError("CHGNet exploded on Si")
        return super().relax(structure)


def test_relax_and_score_many_equals_one_by_one(relaxer: Relaxer, hull: HullProvider) -> None:
    cells = [Structure(Lattice.cubic(3.2), ["Li", "Si"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
             Structure(Lattice.cubic(5.0), ["Li", "Si"], [[0, 0, 0], [0.04, 0, 0]]),
             Structure(Lattice.cubic(4.3), ["Li", "Li", "Si"],
                       [[0, 0, 0], [0.5, 0.5, 0.1], [0.5, 0.0, 0.5]])]
    generated = [generated_from(c, f"t-u{k:03d}") for k, c in enumerate(cells)]
    generated.insert(1, dataclasses.replace(generated[0], spec=dataclasses.replace(
        generated[0].spec, candidate_id="t-s000"), status="failed", structure=None,
        failure_reason="sampler: diverged"))
    one = [relax_and_score(g, relaxer, hull) for g in generated]
    batched = relax_and_score_many(generated, BatchRelaxer(relaxer.settings,
                                                           model=relaxer.calculator.model), hull)
    assert [r.candidate_id for r in batched] == [g.spec.candidate_id for g in generated]
    assert [r.status for r in batched] == [r.status for r in one] == \
        ["ok", "failed", "failed", "ok"]
    assert batched[1].failure_reason == "sampler: diverged"
    assert batched[2].failure_reason == one[2].failure_reason
    for a, b in zip(one, batched, strict=True):
        if a.status == "ok":
            assert b.energy_relaxed_per_atom == pytest.approx(a.energy_relaxed_per_atom,
                                                              abs=1e-3)  # eV/atom
            assert (b.spacegroup_relaxed, b.e_d is None) == (a.spacegroup_relaxed, False)


def test_a_failing_batch_is_relaxed_one_by_one(hull: HullProvider) -> None:
    cscl = Structure(Lattice.cubic(3.2), ["Li", "Si"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    silicon = Structure(Lattice.cubic(5.43), ["Si"] * 2, [[0, 0, 0], [0.25, 0.25, 0.25]])
    generated = [generated_from(cscl, "t-u000"), generated_from(silicon, "t-u001"),
                 generated_from(cscl, "t-u002")]
    records = relax_and_score_many(generated, _BatchRaisingRelaxer(-3.0), hull=None)
    assert [r.status for r in records] == ["ok", "failed", "ok"]
    assert records[1].failure_reason == "RuntimeError: CHGNet exploded on Si"
    assert relax_and_score_many([], _BatchRaisingRelaxer(-3.0), hull=None) == []
