"""First-order gradients for CHGNet inference.

CHGNet computes forces and stress as ``torch.autograd.grad(energy, ...)`` with
``create_graph=True`` in every call, also at inference, so each optimiser step records the
graph of the backward pass for a second derivative that a relaxation never takes. Inside
:func:`first_order_gradients` every ``torch.autograd.grad`` call is made with
``create_graph=False``: the same forces and stresses (the values of a first derivative do
not depend on that flag), 10-20 % less CPU per FIRE step on the development machine
(``docs/relaxation.md``).

The switch is process-wide while any block is open (reference-counted, so nested and
concurrent blocks are safe) and is undone when the last one closes; a graph the caller
would have kept (``retain_graph`` defaults to ``create_graph``) is still kept. The
relaxers open it only around CHGNet (an injected ASE calculator relaxes without it). No
code of chggen trains a model while it relaxes in the same process; a caller that needs
second derivatives must not run inside such a block.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["first_order_gradients"]

_lock = threading.Lock()
_state: dict[str, Any] = {"depth": 0, "original": None}


def _first_order(original: Any) -> Any:
    import inspect

    signature = inspect.signature(original)

    def grad(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        asked = bool(bound.arguments.get("create_graph", False))
        if bound.arguments.get("retain_graph") is None:
            # torch's default: retain_graph = create_graph; keep the graph the caller
            # would have kept (CHGNet asks for the stress after the forces)
            bound.arguments["retain_graph"] = asked
        bound.arguments["create_graph"] = False
        return original(*bound.args, **bound.kwargs)

    grad.__wrapped__ = original  # type: ignore[attr-defined]
    return grad


@contextlib.contextmanager
def first_order_gradients() -> Iterator[None]:
    """``torch.autograd.grad`` without ``create_graph`` for the duration of the block."""
    import torch

    with _lock:
        if _state["depth"] == 0:
            _state["original"] = torch.autograd.grad
            torch.autograd.grad = _first_order(_state["original"])
        _state["depth"] += 1
    try:
        yield
    finally:
        with _lock:
            _state["depth"] -= 1
            if _state["depth"] == 0:
                torch.autograd.grad = _state["original"]
                _state["original"] = None
