"""EquivariantLinear: e3nn's layer, one dense matrix product when no gradient is wanted."""

from __future__ import annotations

import pickle

import pytest
import torch
from e3nn import o3

from chggen_kernels.model import EquivariantLinear

IRREPS = [("8x0e+4x1o+2x2e", "3x0e+5x1o+1x2e"), ("2x0e+3x0o+2x1e", "4x0o+1x1e"),
          ("4x0e", "16x0e+16x1o+8x2e")]


def _layer(irreps_in: str, irreps_out: str, dtype: torch.dtype = torch.float64
           ) -> EquivariantLinear:
    torch.manual_seed(0)
    layer = EquivariantLinear(o3.Irreps(irreps_in), o3.Irreps(irreps_out)).to(dtype)
    with torch.no_grad():
        layer.weight.normal_()
    return layer


@pytest.mark.parametrize(("irreps_in", "irreps_out"), IRREPS)
def test_dense_path_equals_e3nn_path(irreps_in: str, irreps_out: str) -> None:
    layer = _layer(irreps_in, irreps_out)
    x = torch.randn(7, layer.irreps_in.dim, dtype=torch.float64)
    reference = o3.Linear(layer.irreps_in, layer.irreps_out, _optimize_einsums=False).double()
    reference.load_state_dict(layer.state_dict())
    assert layer._dense is None
    with torch.no_grad():
        dense = layer(x)
        e3nn = reference(x)
    assert layer._dense is not None  # the dense path ran
    torch.testing.assert_close(dense, e3nn, rtol=0, atol=1e-12)
    with torch.inference_mode():
        torch.testing.assert_close(layer(x), e3nn, rtol=0, atol=1e-12)
    with torch.enable_grad():
        assert torch.equal(layer(x), reference(x))  # grad mode: e3nn's own forward


def test_dense_path_is_equivariant_including_parity() -> None:
    layer = _layer(*IRREPS[1])
    x = torch.randn(5, layer.irreps_in.dim, dtype=torch.float64)
    rotation = o3.rand_matrix(dtype=torch.float64)
    for inversion in (False, True):
        d_in = layer.irreps_in.D_from_matrix(-rotation if inversion else rotation)
        d_out = layer.irreps_out.D_from_matrix(-rotation if inversion else rotation)
        with torch.no_grad():
            torch.testing.assert_close(layer(x @ d_in.T), layer(x) @ d_out.T,
                                       rtol=0, atol=1e-12)


def test_dense_matrix_follows_weight_updates() -> None:
    layer = _layer(*IRREPS[0])
    x = torch.randn(3, layer.irreps_in.dim, dtype=torch.float64)
    with torch.no_grad():
        before = layer(x)
        layer.weight.mul_(2.0)  # in place, as an optimiser step or load_state_dict
        after = layer(x)
    torch.testing.assert_close(after, 2.0 * before, rtol=0, atol=1e-12)
    other = _layer(*IRREPS[0])
    with torch.no_grad():
        other.weight.normal_()
        layer.load_state_dict(other.state_dict())
        torch.testing.assert_close(layer(x), other(x), rtol=0, atol=1e-12)


def test_float32_and_leading_dimensions() -> None:
    layer = _layer(*IRREPS[0], dtype=torch.float32)
    x = torch.randn(2, 3, layer.irreps_in.dim)
    with torch.no_grad():
        out = layer(x)
    assert out.shape == (2, 3, layer.irreps_out.dim) and out.dtype == torch.float32
    with torch.enable_grad():
        torch.testing.assert_close(out, layer(x).detach(), rtol=1e-5, atol=1e-5)


def test_gradients_flow_in_training_and_state_dict_is_e3nns() -> None:
    layer = _layer(*IRREPS[0])
    x = torch.randn(4, layer.irreps_in.dim, dtype=torch.float64)
    layer(x).square().sum().backward()
    assert layer.weight.grad is not None and bool(layer.weight.grad.abs().sum() > 0)
    reference = o3.Linear(layer.irreps_in, layer.irreps_out, _optimize_einsums=False)
    assert list(layer.state_dict()) == list(reference.state_dict())


def test_layer_made_in_inference_mode_runs_e3nns_forward() -> None:
    with torch.inference_mode():
        layer = EquivariantLinear(o3.Irreps("2x0e+1x1o"), o3.Irreps("1x1o"))
        x = torch.randn(3, layer.irreps_in.dim)
        out = layer(x)
    assert layer._dense is None and out.shape == (3, 3)


def test_pickled_layer_rebuilds_its_matrix() -> None:
    layer = _layer(*IRREPS[2])
    x = torch.randn(3, layer.irreps_in.dim, dtype=torch.float64)
    with torch.no_grad():
        expected = layer(x)
        copy = pickle.loads(pickle.dumps(layer))
        assert copy._dense is None
        torch.testing.assert_close(copy(x), expected, rtol=0, atol=1e-12)
