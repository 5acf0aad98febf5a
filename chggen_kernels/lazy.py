"""Lazy re-exports for packages (PEP 562): a public name is imported on first access.

A package's ``__init__`` lists ``name -> defining module`` and gets ``__getattr__`` and
``__dir__`` from :func:`lazy_exports`, so importing one light submodule (settings, error
types, constants) never pulls in torch, e3nn, pymatgen or CHGNet through the package.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, namespace: dict[str, Any], exports: Mapping[str, str]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package`` whose public ``exports`` map each name to
    the module defining it; ``namespace`` is the package's ``globals()`` (a name, once
    imported, is cached there)."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted([*namespace, *exports])

    return __getattr__, __dir__
