"""Where the convex hull comes from: Materials Project, a user file, or shipped references.

Every source has a ``name`` (recorded as ``hull_source`` with each result) and
``entries(elements)``, the entries whose elements lie inside ``elements``.
:func:`get_hull` turns them into a pymatgen ``PhaseDiagram`` and checks that every element
has a reference.

Energies are used as given. Materials Project entries are fetched with
``compatible_only=True`` and ``thermo_types=["GGA_GGA+U"]``, i.e. already carrying the
MaterialsProject2020 corrections; CHGNet energies are trained on that scale and go onto
the same diagram without any further correction.
"""

from __future__ import annotations

import datetime
import importlib.resources
import json
import os
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from chggen_kernels.errors import RunFailedError
from chggen_kernels.thermo.energy import ThermoInputError, parse_chemsys

if TYPE_CHECKING:
    from pymatgen.analysis.phase_diagram import PhaseDiagram

__all__ = [
    "DEFAULT_HULL_SOURCE",
    "HULL_SOURCE_NAMES",
    "FileHullSource",
    "HullSource",
    "HullSourceError",
    "MPHullSource",
    "MissingReferenceError",
    "OfflineHullSource",
    "get_hull",
    "build_hull_data_path",
    "check_hull_source",
    "hull_source_file",
    "hull_source_from_name",
    "known_phases_data_path",
    "reference_data_path",
]

MP_THERMO_TYPES = ("GGA_GGA+U",)


class HullSourceError(RunFailedError):
    """A hull source could not deliver entries (no API key, failed query, ...)."""


class MissingReferenceError(ThermoInputError):
    """The hull source has no elemental reference for some element of the chemical system."""


@runtime_checkable
class HullSource(Protocol):
    """Anything with a ``name`` and ``entries(elements) -> list of pymatgen entries``."""

    @property
    def name(self) -> str: ...

    def entries(self, elements: Sequence[str]) -> list[Any]: ...


def _inside(entries: Iterable[Any], elements: Sequence[str]) -> list[Any]:
    allowed = set(elements)
    return [e for e in entries if {el.symbol for el in e.composition.elements} <= allowed]


_HINT = ("supply a hull file (FileHullSource: CSV with columns formula,energy_per_atom in "
         "eV/atom, or JSON entries) or use the Materials Project (MPHullSource with the "
         "MP_API_KEY environment variable)")


def get_hull(source: HullSource, chemsys: str | Iterable[str]) -> PhaseDiagram:
    """Phase diagram of ``chemsys`` (e.g. ``"Li-Si"``) from ``source``.

    Raises:
        MissingReferenceError: an element has no elemental entry in the source.
    """
    elements = parse_chemsys(chemsys)
    entries = _inside(source.entries(elements), elements)
    have = {e.composition.elements[0].symbol for e in entries if e.composition.is_element}
    missing = [el for el in elements if el not in have]
    if missing:
        raise MissingReferenceError(
            f"hull source {source.name} has no elemental reference for "
            f"{', '.join(missing)} (chemical system {'-'.join(elements)}); {_HINT}"
        )
    from pymatgen.analysis.phase_diagram import PhaseDiagram
    from pymatgen.core import Element

    return PhaseDiagram(entries, elements=[Element(el) for el in elements])


# ------------------------------------------------------------------ shipped references
def reference_data_path() -> Path:
    """Path of the reference hull shipped with the package (``data/reference_hull.json``)."""
    return Path(str(importlib.resources.files("chggen_kernels") / "data" / "reference_hull.json"))


def known_phases_data_path() -> Path:
    """Path of the hull of known phases shipped with the package (``data/hull_known_phases.json``).

    The lowest CHGNet energy per composition of known crystals (Materials Project,
    Alexandria, JARVIS, WBM, OBELiX): relaxed for Li-Si, Zn-P-S, Li-P-S and their subsystems
    and for the elemental polymorphs of every element, single points of the DFT structures
    elsewhere (``kind`` per entry). Compositions, energies and source ids only.
    """
    return Path(str(importlib.resources.files("chggen_kernels") / "data" /
                    "hull_known_phases.json"))


def build_hull_data_path() -> Path:
    """Path of the entries of the shipped training-set build at compositions no known phase
    covers (``data/reference_hull_build.json``, ``kind = "own_build"``)."""
    return Path(
        str(importlib.resources.files("chggen_kernels") / "data" / "reference_hull_build.json")
    )


class OfflineHullSource:
    """Reference entries computed by this project with CHGNet, shipped in the package.

    By default two files: the known phases (:func:`known_phases_data_path`: every element,
    the compounds of the known-crystal collections) and our own training-set build's
    entries at compositions where no known phase exists (:func:`build_hull_data_path`).
    Both are on the same CHGNet energy scale. The name is ``offline:<labels>``, the labels
    naming the versions of the files. ``path`` (one file or several) replaces the defaults;
    the curated references of ``build_reference.py`` (:func:`reference_data_path`) are one
    such file.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
    ) -> None:
        if path is None:
            paths = [known_phases_data_path(), build_hull_data_path()]
        elif isinstance(path, (str, os.PathLike)):
            paths = [Path(path)]
        else:
            paths = [Path(p) for p in path]
        if not paths:
            raise ThermoInputError("OfflineHullSource.path: no hull file given")
        self.paths = paths
        self._entries: list[Any] | None = None
        self._label = "chggen-chgnet"

    @property
    def name(self) -> str:
        return f"offline:{self._label}"

    def _load(self) -> list[Any]:
        if self._entries is None:
            from chggen_kernels.thermo import entries_io

            labels, entries = [], []
            with warnings.catch_warnings():  # noble-gas phases: no electronegativity
                warnings.filterwarnings("ignore", "No Pauling electronegativity")
                for p in self.paths:
                    raw = json.loads(p.read_text())
                    if isinstance(raw, dict) and raw.get("label"):
                        labels.append(str(raw["label"]))
                    entries.extend(entries_io.read_entries(p))
            if labels:
                self._label = "+".join(labels)
            self._entries = entries
        return self._entries

    @property
    def elements(self) -> tuple[str, ...]:
        """Elements with an elemental reference in this source."""
        return tuple(sorted({e.composition.elements[0].symbol for e in self._load()
                             if e.composition.is_element}))

    def entries(self, elements: Sequence[str]) -> list[Any]:
        return _inside(self._load(), elements)

    def __repr__(self) -> str:
        paths = [str(p) for p in self.paths]
        return f"OfflineHullSource(path={paths[0] if len(paths) == 1 else paths!r})"


class FileHullSource:
    """Entries from a user's file: CSV (formula, energy_per_atom in eV/atom) or JSON."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._entries: list[Any] | None = None

    @property
    def name(self) -> str:
        return f"file:{self.path.name}"

    def entries(self, elements: Sequence[str]) -> list[Any]:
        if self._entries is None:
            from chggen_kernels.thermo import entries_io

            self._entries = entries_io.read_entries(self.path)
        return _inside(self._entries, elements)

    def __repr__(self) -> str:
        return f"FileHullSource(path={str(self.path)!r})"


# ------------------------------------------------------------------ Materials Project
def default_cache_dir() -> Path:
    """``mp_entries`` in chggen's cache (:func:`chggen_kernels.files.user_cache_dir`:
    ``$CHGGEN_CACHE``, else ``$XDG_CACHE_HOME/chggen``, else ``~/.cache/chggen``)."""
    from chggen_kernels.files import user_cache_dir

    return user_cache_dir() / "mp_entries"


def _default_client_factory(api_key: str) -> Any:
    try:
        from mp_api.client import MPRester
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise HullSourceError(
            "MPHullSource needs the mp-api package (pip install 'chggen[mp]')"
        ) from exc
    return MPRester(api_key)


class MPHullSource:
    """GGA/GGA+U entries of the Materials Project, cached on disk per chemical system.

    Args:
        api_key: Materials Project API key; ``None`` reads ``MP_API_KEY`` when a query is
            needed (a cached chemical system needs no key). The key is never written to
            the cache, logged, or shown in ``repr``.
        cache_dir: directory of the JSON cache (default :func:`default_cache_dir`).
        client_factory: ``api_key -> client`` with ``get_entries_in_chemsys``; defaults to
            ``mp_api.client.MPRester``. Tests inject a fake here.
    """

    def __init__(
        self,
        api_key: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        client_factory: Callable[[str], Any] | None = None,
    ) -> None:
        self._api_key = api_key
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self._client_factory = client_factory or _default_client_factory

    @property
    def name(self) -> str:
        return "mp:" + "+".join(MP_THERMO_TYPES)

    def __repr__(self) -> str:
        return f"MPHullSource(cache_dir={str(self.cache_dir)!r})"

    def cache_path(self, elements: Sequence[str]) -> Path:
        """Cache file of one chemical system (elements sorted)."""
        return self.cache_dir / f"{'-'.join(sorted(elements))}_GGA_GGA+U.json"

    def _key(self) -> str:
        key = self._api_key or os.environ.get("MP_API_KEY")
        if not key:
            raise HullSourceError(
                "no Materials Project API key: pass MPHullSource(api_key=...) or set the "
                "MP_API_KEY environment variable (or use OfflineHullSource / FileHullSource)"
            )
        return key

    def _query(self, elements: Sequence[str]) -> list[Any]:
        key = self._key()
        try:
            client = self._client_factory(key)
            kwargs = {"compatible_only": True,
                      "additional_criteria": {"thermo_types": list(MP_THERMO_TYPES)}}
            if hasattr(client, "__enter__"):
                with client as rester:
                    return list(rester.get_entries_in_chemsys(list(elements), **kwargs))
            return list(client.get_entries_in_chemsys(list(elements), **kwargs))
        except HullSourceError:
            raise
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}".replace(key, "***")
            raise HullSourceError(
                f"Materials Project query for {'-'.join(elements)} failed ({message})"
            ) from None

    def entries(self, elements: Sequence[str]) -> list[Any]:
        elements = parse_chemsys(elements)
        path = self.cache_path(elements)
        if path.is_file():
            data = json.loads(path.read_text())
            from monty.json import MontyDecoder

            return _inside(MontyDecoder().process_decoded(data["entries"]), elements)
        entries = self._query(elements)
        from chggen_kernels.thermo import entries_io

        entries_io.write_json_atomic(path, {
            "format": "chggen-mp-entries",
            "chemsys": "-".join(elements),
            "thermo_types": list(MP_THERMO_TYPES),
            "compatible_only": True,
            "retrieved_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "entries": [e.as_dict() for e in entries],
        })
        return _inside(entries, elements)


# ------------------------------------------------------------------ source names
#: The hull every command uses unless told otherwise.
DEFAULT_HULL_SOURCE = "offline"
HULL_SOURCE_NAMES = ("offline", "mp", "none")


def hull_source_file(value: str) -> Path | None:
    """The existing file a hull source ``value`` names (``~`` expanded); ``None`` for a
    source name (:data:`HULL_SOURCE_NAMES`) or a path that is no file."""
    if value in HULL_SOURCE_NAMES:
        return None
    path = Path(str(value)).expanduser()
    return path if path.is_file() else None


def check_hull_source(value: str) -> str:
    """``value`` if it names a hull source: ``offline``, ``mp``, ``none`` or an existing
    CSV/JSON file of reference energies; else :class:`ThermoInputError` naming it."""
    if value in HULL_SOURCE_NAMES or hull_source_file(value) is not None:
        return value
    raise ThermoInputError(f"hull source {value!r} is not 'offline', 'mp', 'none' or an "
                           "existing CSV/JSON file of reference energies")


def hull_source_from_name(value: str) -> HullSource | None:
    """The :class:`HullSource` a name stands for (``None`` for ``"none"``: no E_d)."""
    check_hull_source(value)
    if value == "none":
        return None
    if value == "offline":
        return OfflineHullSource()
    if value == "mp":
        return MPHullSource()
    return FileHullSource(hull_source_file(value))  # type: ignore[arg-type]  # checked
