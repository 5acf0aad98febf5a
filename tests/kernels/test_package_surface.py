"""The top-level package is a lazy, curated public surface."""

from __future__ import annotations

import subprocess
import sys

import pytest

import chggen_kernels


def test_import_loads_no_heavy_dependency() -> None:
    code = (
        "import sys, chggen_kernels\n"
        "heavy = [m for m in ('torch', 'pymatgen', 'chgnet', 'e3nn', 'scipy')\n"
        "         if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_every_public_name_resolves_to_its_module() -> None:
    for name in chggen_kernels.__all__:
        value = getattr(chggen_kernels, name)
        assert value.__module__.startswith("chggen_kernels"), name
    assert "CrystalBatch" in dir(chggen_kernels)


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'Crystalbatch'"):
        chggen_kernels.Crystalbatch  # noqa: B018
