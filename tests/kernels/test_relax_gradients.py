"""first_order_gradients: CHGNet's forces and stresses without the second-order graph."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from chggen_kernels.relax.gradients import first_order_gradients
from chggen_kernels.testing import diamond


def _cubic(x: torch.Tensor) -> torch.Tensor:
    return (x**3).sum()


def test_inside_the_block_gradients_are_first_order_with_the_same_values() -> None:
    original = torch.autograd.grad
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    (outside,) = torch.autograd.grad(_cubic(x), x, create_graph=True)
    assert outside.requires_grad  # a second derivative can be taken outside
    with first_order_gradients():
        (inside,) = torch.autograd.grad(_cubic(x), x, create_graph=True)
        assert not inside.requires_grad
    assert torch.equal(inside, outside.detach()) and inside.tolist() == [3.0, 12.0]
    assert torch.autograd.grad is original


def test_nested_and_failing_blocks_restore_autograd() -> None:
    original = torch.autograd.grad
    with pytest.raises(RuntimeError, match="boom"), first_order_gradients():
        with first_order_gradients():
            assert torch.autograd.grad is not original
        assert torch.autograd.grad is not original  # the outer block is still open
        raise RuntimeError("boom")
    assert torch.autograd.grad is original


def test_concurrent_blocks_restore_autograd_when_the_last_closes() -> None:
    original = torch.autograd.grad
    inside = threading.Barrier(2)
    closed = threading.Event()
    seen: list[bool] = []

    def first() -> None:
        with first_order_gradients():
            inside.wait()
        closed.set()

    def second() -> None:
        with first_order_gradients():
            inside.wait()
            closed.wait(5)
            seen.append(torch.autograd.grad is not original)  # still patched here

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads) and seen == [True]
    assert torch.autograd.grad is original


def test_a_graph_the_caller_keeps_is_still_kept() -> None:
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    with first_order_gradients():
        y = _cubic(x)
        torch.autograd.grad(y, x, None, None, True)  # create_graph given positionally
        (again,) = torch.autograd.grad(y, x)  # the graph was retained, as torch would
    assert again.tolist() == [3.0, 12.0]


def test_chgnet_energy_forces_and_stress_are_unchanged() -> None:
    from chgnet.model import CHGNet

    model = CHGNet.load(verbose=False)
    structure = diamond().get_primitive_structure()
    # one atom moved by a fixed 0.11 Å: a random perturb can land near a symmetric cell
    structure.translate_sites([0], [0.08, -0.05, 0.06], frac_coords=False)
    structure.apply_strain(0.02)
    reference = model.predict_structure(structure, task="efs")
    with first_order_gradients():
        fast = model.predict_structure(structure, task="efs")
    # float32 rounding of another backward graph: eV/atom, eV/Å, GPa
    for key, atol in (("e", 1e-6), ("f", 1e-5), ("s", 1e-4)):
        np.testing.assert_allclose(fast[key], reference[key], rtol=0, atol=atol)
    assert np.abs(reference["f"]).max() > 0.3  # a perturbed cell: the check is not vacuous
