"""Equivariant score model: symmetries, periodicity, noise conditioning, configuration.

Everything runs in float64 on tiny crystals with parameters perturbed away from their
(zero-residual) initialisation, so that the symmetry checks are not vacuous.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from e3nn import o3
from pymatgen.core import Lattice, Structure

from chggen_kernels import (
    CrystalBatch,
    ScoreModel,
    ScoreModelConfig,
    cpu_default_config,
    gpu_preset_config,
)
from chggen_kernels.model import UVUConvolution
from chggen_kernels.model.slots import NeighborSlots
from chggen_kernels.testing import (
    assert_batch_consistent,
    assert_permutation_equivariant,
    assert_rotation_equivariant,
    assert_supercell_invariant,
    assert_translation_invariant,
    bcc,
    perovskite,
    random_triclinic,
    randomize_parameters,
    rock_salt,
    wurtzite,
)

NOISE_MODES = ("log_sigma", "none")


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Tensors here are tiny: a second thread only adds synchronisation (and the suite
    shares two cores), so run this module single-threaded."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _model(noise_conditioning: str = "log_sigma", **overrides) -> ScoreModel:
    """Small float64 model, no neighbour cap (so supercells see identical graphs)."""
    config = cpu_default_config(
        max_neighbors=None,
        avg_num_neighbors=16.0,
        noise_conditioning=noise_conditioning,
        **overrides,
    )
    model = ScoreModel(config).double()
    randomize_parameters(model, std=0.3, seed=1)
    return model


@pytest.fixture(scope="module")
def models() -> dict[str, ScoreModel]:
    return {mode: _model(mode) for mode in NOISE_MODES}


@pytest.fixture(params=NOISE_MODES)
def model(request: pytest.FixtureRequest, models: dict[str, ScoreModel]) -> ScoreModel:
    return models[request.param]


def _rattled(structure: Structure, rng: np.random.Generator, amount: float = 0.15) -> Structure:
    cart = structure.cart_coords + rng.normal(0, amount, (len(structure), 3))
    return Structure(structure.lattice, structure.species, cart, coords_are_cartesian=True)


@pytest.fixture(scope="module")
def batch() -> CrystalBatch:
    rng = np.random.default_rng(3)
    structures = [
        _rattled(rock_salt(), rng),
        _rattled(wurtzite(), rng),
        random_triclinic(rng, 3, species=("Li", "Si"), unwrapped=True),
        _rattled(perovskite(), rng),
    ]
    return CrystalBatch.from_structures(structures)


SIGMA = torch.tensor([0.1, 0.5, 1.0, 2.0], dtype=torch.float64)


# ---------------------------------------------------------------------- symmetries
def test_rotation_equivariance(model: ScoreModel, batch: CrystalBatch) -> None:
    assert_rotation_equivariant(model, batch, SIGMA, seed=0, n_trials=2)


def test_improper_rotation_equivariance(model: ScoreModel, batch: CrystalBatch) -> None:
    # True-parity irreps (1o output): the model is E(3)-, not only SE(3)-equivariant.
    assert_rotation_equivariant(model, batch, SIGMA, seed=1, n_trials=1, inversion=True)


def test_translation_and_lattice_shift_invariance(model: ScoreModel, batch: CrystalBatch) -> None:
    assert_translation_invariant(model, batch, SIGMA, seed=0)


def test_permutation_equivariance(model: ScoreModel, batch: CrystalBatch) -> None:
    assert_permutation_equivariant(model, batch, SIGMA, seed=0)


@pytest.mark.parametrize("scaling", [(2, 1, 1), (1, 2, 2)])
def test_supercell_invariance(
    models: dict[str, ScoreModel], batch: CrystalBatch, scaling: tuple[int, int, int]
) -> None:
    assert_supercell_invariant(models["log_sigma"], batch, SIGMA, scaling=scaling)


def test_batch_matches_single_crystals(model: ScoreModel, batch: CrystalBatch) -> None:
    assert_batch_consistent(model, batch, SIGMA)


def test_capped_model_is_batch_consistent_and_equivariant(batch: CrystalBatch) -> None:
    capped = ScoreModel(cpu_default_config(max_neighbors=6)).double()
    randomize_parameters(capped, seed=2)
    assert_batch_consistent(capped, batch, SIGMA)
    assert_rotation_equivariant(capped, batch, SIGMA, n_trials=1)


def test_centrosymmetric_sites_have_zero_score(model: ScoreModel) -> None:
    # Every site of rock salt, bcc and cubic perovskite is an inversion centre, so a
    # polar-vector field equivariant under O(3) must vanish there.
    ideal = CrystalBatch.from_structures([rock_salt(), bcc(), perovskite()])
    with torch.no_grad():
        score = model(ideal, torch.full((3,), 0.3, dtype=torch.float64))
    assert score.abs().max() < 1e-10


def test_wurtzite_score_is_along_the_polar_axis(model: ScoreModel) -> None:
    # Site symmetry 3m: the only allowed vector is along c; it is not zero by symmetry.
    s = wurtzite()
    with torch.no_grad():
        score = model(CrystalBatch.from_structures([s]), torch.tensor([0.3], dtype=torch.float64))
    assert score[:, :2].abs().max() < 1e-12
    assert score[:, 2].abs().min() > 1e-6


# ---------------------------------------------------------------------- robustness
def test_isolated_atom_gives_finite_zero_score_and_gradients() -> None:
    model = _model(cutoff=5.0)  # fresh: this test accumulates gradients
    lone = Structure(Lattice.cubic(20.0), ["Si"], [[0.3, 0.4, 0.5]])
    pair = Structure(Lattice.cubic(8.0), ["Si", "O"], [[0, 0, 0], [0.2, 0.1, 0.05]])
    batch = CrystalBatch.from_structures([lone, pair])
    score = model(batch, torch.tensor([0.5, 0.5], dtype=torch.float64))
    assert torch.isfinite(score).all()
    torch.testing.assert_close(score[0], torch.zeros(3, dtype=torch.float64))
    assert score[1:].abs().max() > 1e-6
    score.square().sum().backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_nearly_overlapping_atoms_stay_finite(models: dict[str, ScoreModel]) -> None:
    model = models["log_sigma"]
    s = Structure(Lattice.cubic(6.0), ["Si", "Si", "O"],
                  [[0.5, 0.5, 0.5], [0.5, 0.5, 0.5 + 1e-5], [0.1, 0.2, 0.3]])
    score = model(CrystalBatch.from_structures([s]), torch.tensor([1.0], dtype=torch.float64))
    assert torch.isfinite(score).all()


def test_score_is_continuous_when_a_neighbor_crosses_the_cutoff(
    models: dict[str, ScoreModel],
) -> None:
    model = models["log_sigma"]
    cutoff = model.config.cutoff

    def score_of_atom0(distance: float) -> torch.Tensor:
        # Li slides along +x through the cutoff sphere of atom 0; atom 1 sits behind
        # atom 0, so the Li stays beyond atom 1's cutoff throughout.
        s = Structure(Lattice.cubic(30.0), ["Si", "O", "Li"],
                      [[10, 10, 10], [8.6, 10.4, 10.2], [10 + distance, 10, 10]],
                      coords_are_cartesian=True)
        with torch.no_grad():
            batch = CrystalBatch.from_structures([s])
            return model(batch, torch.tensor([1.0], dtype=torch.float64))[0]

    step = 1e-4
    jump_at_cutoff = (score_of_atom0(cutoff - step) - score_of_atom0(cutoff + step)).norm()
    change_inside = (score_of_atom0(cutoff - 2 - step) - score_of_atom0(cutoff - 2 + step)).norm()
    assert change_inside > 1e-9  # the Li does interact at shorter range
    assert jump_at_cutoff < 1e-6 * change_inside


def test_float32_forward_and_backward() -> None:
    model = ScoreModel(cpu_default_config())
    randomize_parameters(model)
    rng = np.random.default_rng(0)
    batch = CrystalBatch.from_structures(
        [random_triclinic(rng, 6, ("Zn", "P", "S")) for _ in range(3)], dtype=torch.float32
    )
    score = model(batch, torch.tensor([0.01, 0.3, 5.0]))
    assert score.dtype == torch.float32 and score.shape == (18, 3)
    score.sum().backward()
    assert torch.isfinite(score).all()


# ---------------------------------------------------------------------- noise conditioning
def test_unconditioned_model_scales_exactly_as_one_over_sigma(
    models: dict[str, ScoreModel], batch: CrystalBatch
) -> None:
    model = models["none"]
    with torch.no_grad():
        s1 = model(batch, SIGMA)
        s2 = model(batch, 4.0 * SIGMA)
    torch.testing.assert_close(s2, s1 / 4.0, rtol=1e-12, atol=1e-14)


def test_conditioned_model_output_depends_on_log_sigma(
    models: dict[str, ScoreModel], batch: CrystalBatch
) -> None:
    model = models["log_sigma"]
    with torch.no_grad():
        f1 = model(batch, SIGMA) * SIGMA[batch.crystal_index, None]
        f2 = model(batch, 4.0 * SIGMA) * 4.0 * SIGMA[batch.crystal_index, None]
    # sigma * score is the network output; conditioning makes it change with sigma.
    assert (f1 - f2).abs().max() > 1e-3 * f1.abs().max()


def test_sigma_shape_and_value_are_checked(
    models: dict[str, ScoreModel], batch: CrystalBatch
) -> None:
    model = models["log_sigma"]
    shape_message = r"sigma must have shape \(n_crystals,\) = \(4,\), got \(3,\)"
    with pytest.raises(ValueError, match=shape_message):
        model(batch, SIGMA[:3])
    with pytest.raises(ValueError, match="sigma must be positive and finite"):
        model(batch, torch.tensor([0.1, 0.0, 1.0, 1.0], dtype=torch.float64))
    scalar = model(batch, torch.tensor(0.5, dtype=torch.float64))
    torch.testing.assert_close(scalar, model(batch, torch.full((4,), 0.5, dtype=torch.float64)))


# ---------------------------------------------------------------------- the convolution kernel
@pytest.mark.parametrize("sorted_edges", [True, False])
def test_slot_convolution_matches_e3nn_tensor_product(sorted_edges: bool) -> None:
    torch.manual_seed(0)
    irreps = o3.Irreps("3x0o+8x0e+4x1o+2x1e+3x2e")
    sh_irreps = o3.Irreps.spherical_harmonics(2)
    conv = UVUConvolution(irreps, sh_irreps, {ir for _, ir in irreps})
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # e3nn stores its Wigner 3j in the default dtype
    try:
        reference = o3.TensorProduct(
            irreps, sh_irreps, conv.irreps_out,
            [(a, b, c, "uvu", True) for a, b, c in conv.instructions],
            shared_weights=False, internal_weights=False,
        )
    finally:
        torch.set_default_dtype(default)
    n_atoms, n_edges = 7, 40
    x = torch.randn(n_atoms, irreps.dim, dtype=torch.float64, requires_grad=True)
    w = torch.randn(n_edges, conv.weight_numel, dtype=torch.float64, requires_grad=True)
    edge_index = torch.randint(0, n_atoms, (2, n_edges))
    edge_index[0, :3] = 0  # one centre with several edges; some centres get none
    edge_index[0, edge_index[0] == n_atoms - 1] = 1
    if sorted_edges:
        edge_index = edge_index[:, torch.argsort(edge_index[0], stable=True)]
    vec = torch.randn(n_edges, 3, dtype=torch.float64, requires_grad=True)
    y = o3.spherical_harmonics(sh_irreps, vec, True, normalization="component")
    slots = NeighborSlots.from_edge_index(edge_index, n_atoms)
    assert slots.width == int(torch.bincount(edge_index[0]).max())
    assert sorted(slots.edge_slot.tolist()) == sorted(set(slots.edge_slot.tolist()))
    ours = conv(x, slots.scatter(y), slots.scatter(w), slots)
    theirs = torch.zeros(n_atoms, conv.irreps_out.dim, dtype=torch.float64).index_add_(
        0, edge_index[0], reference(x[edge_index[1]], y, w)
    )
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)
    probe = torch.randn_like(theirs)
    g_ours = torch.autograd.grad((ours * probe).sum(), [x, w, vec], retain_graph=True)
    g_theirs = torch.autograd.grad((theirs * probe).sum(), [x, w, vec])
    for a, b in zip(g_ours, g_theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------- configuration
def test_parameter_counts_and_description() -> None:
    cpu = ScoreModel(cpu_default_config())
    gpu = ScoreModel(gpu_preset_config())
    assert cpu.n_parameters <= 1_000_000
    assert cpu.n_parameters < gpu.n_parameters
    assert f"{cpu.n_parameters:,} parameters" in cpu.describe()
    assert gpu.config.hidden_irreps == "64x0e+32x1o+16x2e"
    assert (gpu.config.cutoff, gpu.config.max_neighbors) == (7.0, 60)
    assert gpu.config.message_normalization == pytest.approx(30**0.5)


def test_zero_initialised_residuals_give_zero_score_at_init(batch: CrystalBatch) -> None:
    model = ScoreModel(cpu_default_config()).double()
    with torch.no_grad():
        assert model(batch, SIGMA).abs().max() == 0.0


def test_config_round_trips_through_json() -> None:
    config = cpu_default_config(noise_conditioning="none", radial_hidden=(16, 8))
    again = ScoreModelConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config
    assert isinstance(again.radial_hidden, tuple)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"cutoff": -1.0}, r"ScoreModelConfig.cutoff must be a positive finite number, got -1.0"),
        ({"n_layers": 0}, r"ScoreModelConfig.n_layers must be an integer >= 1, got 0"),
        ({"max_neighbors": 0}, r"ScoreModelConfig.max_neighbors must be an integer >= 1, got 0"),
        (
            {"noise_conditioning": "sigma"},
            r"ScoreModelConfig.noise_conditioning must be one of \('log_sigma', 'none'\), "
            r"got 'sigma'",
        ),
        (
            {"hidden_irreps": "16x0e+8x1e"},
            r"ScoreModelConfig.hidden_irreps must contain 1o \(polar-vector\) channels, "
            r"got '16x0e\+8x1e'",
        ),
        ({"hidden_irreps": "16x0e+x"}, r"ScoreModelConfig.hidden_irreps is not a valid e3nn"),
        (
            {"hidden_irreps": "8x0e+4x1o+2x3o"},
            r"ScoreModelConfig.hidden_irreps has degree 3 above lmax=2",
        ),
        (
            {"max_neighbors": None, "avg_num_neighbors": None},
            r"ScoreModelConfig.avg_num_neighbors must be given when max_neighbors is None",
        ),
        (
            {"radial_hidden": (16, 0)},
            r"ScoreModelConfig.radial_hidden must be a sequence of positive integers, "
            r"got \(16, 0\)",
        ),
        ({"max_atomic_number": 200}, r"ScoreModelConfig.max_atomic_number must be <= 118, got 200"),
    ],
)
def test_config_validation_messages(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(cpu_default_config(), **changes)


def test_checkpoint_round_trip_reproduces_the_scores(
    models: dict[str, ScoreModel], batch: CrystalBatch
) -> None:
    model = models["log_sigma"]
    saved = {"config": json.dumps(model.config.to_dict()), "state": model.state_dict()}
    again = ScoreModel(ScoreModelConfig.from_dict(json.loads(saved["config"]))).double()
    again.load_state_dict(saved["state"])
    with torch.no_grad():
        torch.testing.assert_close(again(batch, SIGMA), model(batch, SIGMA), rtol=0, atol=0)


def test_from_dict_rejects_unknown_fields() -> None:
    data = cpu_default_config().to_dict() | {"cuttof": 5.0}
    with pytest.raises(ValueError, match=r"ScoreModelConfig.cuttof = .*: unknown field \(known: "):
        ScoreModelConfig.from_dict(data)


def test_dtype_mismatch_is_reported(models: dict[str, ScoreModel]) -> None:
    batch = CrystalBatch.from_structures([bcc()], dtype=torch.float32)
    with pytest.raises(ValueError, match="batch positions are torch.float32 but the model"):
        models["none"](batch, torch.tensor([1.0]))


def test_atomic_number_beyond_embedding_is_rejected() -> None:
    model = ScoreModel(cpu_default_config(max_atomic_number=20))
    batch = CrystalBatch.from_structures([bcc(species="Fe")], dtype=torch.float32)
    message = "atomic number 26 exceeds the model's max_atomic_number=20"
    with pytest.raises(ValueError, match=message):
        model(batch, torch.tensor([1.0]))
