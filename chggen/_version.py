"""``chggen.__version__``: the installed distribution's version, read on first access
(``importlib.metadata`` costs more to import than the rest of ``import chggen``)."""

from __future__ import annotations

__all__ = ["__version__"]


def _version() -> str:
    """The package metadata's version; the kernels' own when chggen is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("chggen")
    except PackageNotFoundError:  # pragma: no cover - a checkout that is not installed
        from chggen_kernels import __version__ as kernels_version

        return kernels_version


__version__ = _version()
