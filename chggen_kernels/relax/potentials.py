"""The machine-learned interatomic potentials (MLIPs) chggen relaxes with.

A potential is named by a string (``RelaxSettings.mlip``; ``--mlip`` on the command line,
``mlip:`` in a campaign file, ``mlip=`` in the Python API), resolved in this order:

* ``chgnet`` (:data:`~chggen_kernels.relax.settings.DEFAULT_MLIP`): CHGNet 0.3.0, whose
  weights ship inside the ``chgnet`` wheel (a dependency of chggen);
* ``sevennet``: SevenNet-0 (11Jul2024), whose weights ship inside the ``sevenn`` wheel
  (``pip install 'chggen[sevennet]'``);
* the name of an entry point of group ``chggen.mlips`` (a package that registers its
  potential for chggen): the entry point is a factory as below;
* ``module:factory`` (``mypkg.calc:make``, the attribute may be dotted): the module is
  imported (from the installed packages, else from the current folder) and ``factory()``
  is called once per process; it must return an ASE calculator
  (``ase.calculators.calculator.Calculator``). A factory that takes a ``device`` keyword is
  given the run's torch device.

:func:`resolve_potential` checks the name (an unknown name, a module that cannot be
imported or a factory that is not callable is :class:`PotentialError`, one line) without
calling anything; :meth:`Potential.calculator` calls the factory (one that raises or
returns no calculator is :class:`PotentialError` too). chggen itself never downloads
weights: a potential whose factory downloads them does so on its own (docs/potentials.md).

Every potential is recorded with its ``name``, ``version`` (the package version) and
``weights_sha256`` (the SHA-256 of the weights file for ``chgnet`` and ``sevennet``; for an
entry point or a factory, chggen cannot see the weights and hashes the source file that
defines the factory instead). A named potential declares the elements it supports
(:class:`~chggen_kernels.structure_check.ElementSupport`: CHGNet Z 1-94, SevenNet-0 the 89
elements of its checkpoint); a factory's are not checked.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib
import importlib.metadata
import importlib.util
import inspect
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chggen_kernels.errors import InputError
from chggen_kernels.relax.settings import DEFAULT_MLIP

if TYPE_CHECKING:  # pragma: no cover
    from ase.calculators.calculator import BaseCalculator

    from chggen_kernels.structure_check import ElementSupport

__all__ = [
    "BUILTIN_POTENTIALS",
    "DEFAULT_MLIP",
    "ENTRY_POINT_GROUP",
    "Potential",
    "PotentialError",
    "check_calculator",
    "check_potential_name",
    "resolve_potential",
]

#: The entry point group a package registers its potential in (name -> factory).
ENTRY_POINT_GROUP = "chggen.mlips"
#: The potentials chggen names itself, and what each is.
BUILTIN_POTENTIALS = {
    "chgnet": "CHGNet 0.3.0 (weights in the chgnet wheel)",
    "sevennet": "SevenNet-0 11Jul2024 (weights in the sevenn wheel; pip install "
                "'chggen[sevennet]')",
}
_CHGNET_MODEL = "0.3.0"
_SEVENNET_MODEL = "7net-0"
_SEVENNET_CHECKPOINT = ("pretrained_potentials", "SevenNet_0__11Jul2024",
                        "checkpoint_sevennet_0.pth")


class PotentialError(InputError):
    """A potential that cannot be used: an unknown name, a factory that cannot be imported,
    raises or returns no calculator. One line starting ``mlip '<name>':`` (exit 2)."""


@dataclasses.dataclass(frozen=True)
class Potential:
    """A resolved potential: what it is and how to make its ASE calculator.

    Attributes:
        name: as given (``chgnet``, ``sevennet``, an entry point name, ``module:factory``).
        kind: ``builtin``, ``entry_point`` or ``factory``.
        version: the version of the package that provides it (``""`` when unknown).
        weights_sha256: SHA-256 of the weights file (builtins) or of the file defining
            the factory (entry points, factories).
        description: one line for people, e.g. ``"CHGNet 0.3.0 (chgnet 0.4.2)"``.
        support: the elements it supports (``None``: not declared, not checked).
    """

    name: str
    kind: str
    version: str
    weights_sha256: str
    description: str
    support: ElementSupport | None = None
    factory: Callable[..., Any] | None = dataclasses.field(default=None, compare=False,
                                                           repr=False)

    @property
    def is_chgnet(self) -> bool:
        return self.name == "chgnet"

    @property
    def slug(self) -> str:
        """The name as a file-name and label part: ``mypkg.calc:make`` -> ``mypkg.calc.make``."""
        return "".join(c if c.isalnum() or c in "._-" else "." for c in self.name)

    def record(self) -> dict[str, str]:
        """What every results row and the folder's fingerprint record of it."""
        return {"name": self.name, "version": self.version,
                "weights_sha256": self.weights_sha256}

    def columns(self) -> dict[str, str]:
        """The results columns ``mlip``, ``mlip_version``, ``mlip_weights_sha256``."""
        return {"mlip": self.name, "mlip_version": self.version,
                "mlip_weights_sha256": self.weights_sha256}

    def label(self) -> str:
        """``"sevennet 0.13.0 (weights 1a2b3c4d5e6f)"``."""
        version = f" {self.version}" if self.version else ""
        return f"{self.name}{version} (weights {self.weights_sha256[:12]})"

    def calculator(self, device: str = "cpu") -> BaseCalculator:
        """A new ASE calculator of this potential on ``device``.

        Raises:
            PotentialError: the factory raised, or returned something that is not an ASE
                calculator.
        """
        if self.kind == "builtin":
            return _BUILTIN_CALCULATORS[self.name](device)
        assert self.factory is not None
        try:
            takes_device = "device" in inspect.signature(self.factory).parameters
        except (TypeError, ValueError):  # a builtin or C callable: no signature
            takes_device = False
        try:
            made = self.factory(device=device) if takes_device else self.factory()
        except Exception as exc:  # noqa: BLE001 - any failure of user code is one line
            raise PotentialError(f"mlip {self.name!r}: the factory raised "
                                 f"{type(exc).__name__}: {_one_line(exc)}") from None
        return check_calculator(self.name, made)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


def check_calculator(name: str, made: Any) -> BaseCalculator:
    """``made`` if it is an ASE calculator, else :class:`PotentialError` naming ``name``."""
    from ase.calculators.calculator import BaseCalculator

    if not isinstance(made, BaseCalculator):
        raise PotentialError(f"mlip {name!r}: the factory returned "
                             f"{type(made).__name__}, not an ASE calculator "
                             "(ase.calculators.calculator.Calculator)")
    return made


@functools.lru_cache(maxsize=32)
def file_sha256(path: str) -> str:
    """SHA-256 (hex) of a file's bytes (cached per process: weights files do not change
    under a running process)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _package_dir(package: str) -> Path | None:
    """The folder of an installed package, found without importing it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    locations = list(spec.submodule_search_locations or []) if spec else []
    return Path(locations[0]) if locations else None


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return ""


# ------------------------------------------------------------------ builtins
def _chgnet() -> Potential:
    from chggen_kernels.structure_check import CHGNET_SUPPORT

    folder = _package_dir("chgnet")
    weights = sorted((folder / "pretrained" / _CHGNET_MODEL).glob("*.pth.tar")) if folder \
        else []
    if not weights:
        raise PotentialError("mlip 'chgnet': the chgnet package or its CHGNet "
                             f"{_CHGNET_MODEL} weights are not installed (pip install chgnet)")
    version = _version("chgnet")
    return Potential("chgnet", "builtin", version, file_sha256(str(weights[0])),
                     f"CHGNet {_CHGNET_MODEL} (chgnet {version})", CHGNET_SUPPORT)


def sevennet_checkpoint() -> Path:
    """The SevenNet-0 checkpoint inside the installed ``sevenn`` wheel.

    Raises:
        PotentialError: ``sevenn`` is not installed, or ships no SevenNet-0 weights.
    """
    folder = _package_dir("sevenn")
    if folder is None:
        raise PotentialError("mlip 'sevennet': needs the sevenn package, which is not "
                             "installed (pip install 'chggen[sevennet]')")
    path = folder.joinpath(*_SEVENNET_CHECKPOINT)
    if path.is_file():
        return path
    try:  # another layout of a newer wheel: ask sevenn
        from sevenn.util import pretrained_name_to_path

        found = Path(pretrained_name_to_path(_SEVENNET_MODEL))
    except Exception as exc:  # noqa: BLE001 - one line whatever sevenn raises
        raise PotentialError(f"mlip 'sevennet': no SevenNet-0 weights in the sevenn package "
                             f"({type(exc).__name__}: {_one_line(exc)})") from None
    if not found.is_file():
        raise PotentialError(f"mlip 'sevennet': the SevenNet-0 weights {found} are missing "
                             "(reinstall sevenn)")
    return found


@functools.lru_cache(maxsize=1)
def _sevennet_elements(path: str) -> frozenset[str]:
    """The elements of a SevenNet checkpoint (``config['chemical_species']``)."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # the weights of an installed wheel, not a user's file: a full load is trusted
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    return frozenset(str(s) for s in checkpoint["config"]["chemical_species"])


def _sevennet() -> Potential:
    from chggen_kernels.structure_check import ElementSupport

    path = sevennet_checkpoint()
    version = _version("sevenn")
    support = ElementSupport(name="the potential sevennet",
                             elements=_sevennet_elements(str(path)))
    return Potential("sevennet", "builtin", version, file_sha256(str(path)),
                     f"SevenNet-0 11Jul2024 (sevenn {version})", support)


def _chgnet_calculator(device: str) -> BaseCalculator:
    from chggen_kernels.relax.relaxer import chgnet_calculator

    return chgnet_calculator(device)


def _sevennet_calculator(device: str) -> BaseCalculator:
    path = sevennet_checkpoint()
    with warnings.catch_warnings():  # "no tensor-product accelerator" on CPU
        warnings.simplefilter("ignore")
        try:
            from sevenn.calculator import SevenNetCalculator
        except ImportError as exc:
            raise PotentialError(f"mlip 'sevennet': cannot import sevenn "
                                 f"({type(exc).__name__}: {_one_line(exc)})") from None
        return SevenNetCalculator(model=str(path), device=device)


_BUILTINS: dict[str, Callable[[], Potential]] = {"chgnet": _chgnet, "sevennet": _sevennet}
_BUILTIN_CALCULATORS: dict[str, Callable[[str], BaseCalculator]] = {
    "chgnet": _chgnet_calculator, "sevennet": _sevennet_calculator}


# ------------------------------------------------------------------ factories
def _source_sha256(obj: Any, module: Any) -> str:
    """SHA-256 of the file defining ``obj`` (else of ``module``'s file; else of the name)."""
    for candidate in (obj, module):
        try:
            path = inspect.getsourcefile(candidate) or getattr(candidate, "__file__", None)
        except TypeError:
            path = getattr(candidate, "__file__", None)
        if path and Path(path).is_file():
            return file_sha256(str(Path(path).resolve()))
    return hashlib.sha256(repr(obj).encode()).hexdigest()


def _distribution_version(module_name: str) -> str:
    top = module_name.split(".", 1)[0]
    for distribution in importlib.metadata.packages_distributions().get(top, []):
        version = _version(distribution)
        if version:
            return version
    return ""


def _import_here_too(module_name: str) -> Any:
    """``import module_name`` from the installed packages, else from the current folder
    (as ``python -m`` would: the ``chggen`` script does not put it on ``sys.path``)."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        here = os.getcwd()
        top = module_name.split(".", 1)[0]
        if exc.name != top or here in sys.path or not (
                Path(here, top).is_dir() or Path(here, f"{top}.py").is_file()):
            raise
        sys.path.insert(0, here)  # only for this import: no lasting change of the process
        try:
            return importlib.import_module(module_name)
        finally:
            sys.path.remove(here)


def _factory(name: str) -> Potential:
    module_name, _, attribute = name.partition(":")
    if not module_name or not attribute:
        raise PotentialError(f"mlip {name!r}: module:factory needs both parts, e.g. "
                             "mypkg.calc:make")
    try:
        module = _import_here_too(module_name)
    except Exception as exc:  # noqa: BLE001 - ImportError or the module's own failure
        raise PotentialError(f"mlip {name!r}: cannot import module {module_name!r} "
                             f"({type(exc).__name__}: {_one_line(exc)})") from None
    factory: Any = module
    for part in attribute.split("."):
        if not hasattr(factory, part):
            raise PotentialError(f"mlip {name!r}: module {module_name!r} has no attribute "
                                 f"{attribute!r}")
        factory = getattr(factory, part)
    if not callable(factory):
        raise PotentialError(f"mlip {name!r}: {module_name}.{attribute} is not callable "
                             f"({type(factory).__name__})")
    version = _distribution_version(module_name)
    return Potential(name, "factory", version, _source_sha256(factory, module),
                     f"{module_name}.{attribute}()", None, factory)


def _entry_points() -> dict[str, Any]:
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def _entry_point(name: str, ep: Any) -> Potential:
    try:
        factory = ep.load()
    except Exception as exc:  # noqa: BLE001 - one line whatever the package raises
        raise PotentialError(f"mlip {name!r}: cannot import the entry point {ep.value!r} of "
                             f"group {ENTRY_POINT_GROUP} ({type(exc).__name__}: "
                             f"{_one_line(exc)})") from None
    if not callable(factory):
        raise PotentialError(f"mlip {name!r}: the entry point {ep.value!r} is not callable")
    dist = getattr(ep, "dist", None)
    version = str(getattr(dist, "version", "") or "")
    module = importlib.import_module(ep.value.split(":", 1)[0])
    return Potential(name, "entry_point", version, _source_sha256(factory, module),
                     f"entry point {ep.value}", None, factory)


@functools.lru_cache(maxsize=32)
def resolve_potential(name: str = DEFAULT_MLIP) -> Potential:
    """The :class:`Potential` of ``name`` (module docstring); its factory is not called.

    Raises:
        PotentialError: an unknown name, a package or module that cannot be imported, or a
            factory that is not callable (one line naming ``name``).
    """
    if not isinstance(name, str) or not name.strip():
        raise PotentialError(f"mlip {name!r}: not a potential name")
    if name in _BUILTINS:
        return _BUILTINS[name]()
    entry_points = _entry_points()
    if name in entry_points:
        return _entry_point(name, entry_points[name])
    if ":" in name:
        return _factory(name)
    installed = ", ".join(sorted(entry_points)) or "none installed"
    raise PotentialError(f"mlip {name!r}: unknown potential; give one of "
                         f"{', '.join(BUILTIN_POTENTIALS)}, an entry point of group "
                         f"{ENTRY_POINT_GROUP} ({installed}) or module:factory (a callable "
                         "returning an ASE calculator)")


def check_potential_name(name: str) -> None:
    """Refuse (:class:`PotentialError`, one line) a potential that cannot be resolved; the
    default, CHGNet (a dependency of chggen), is taken as it is, without hashing its
    weights, so that refusing other bad input stays fast."""
    if name != DEFAULT_MLIP:
        resolve_potential(name)
