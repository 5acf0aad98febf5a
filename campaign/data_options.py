"""The options of one ``chggen data build`` (:class:`BuildOptions`), checked on creation.

Relaxation defaults are :class:`~chggen_kernels.relax.RelaxSettings`'s; bad values raise
:class:`DataBuildError` naming the option and the value. Energies eV/atom, forces eV/Å.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from chggen_kernels.datasets import parse_chemsys
from chggen_kernels.relax import RelaxSettings

__all__ = ["SOURCES", "BuildOptions", "DataBuildError"]

SOURCES = ("prototypes", "random", "mp", "files", "known")


class DataBuildError(ValueError):
    """Bad build input (options, sources); the message names the option and the value."""


@dataclasses.dataclass(frozen=True)
class BuildOptions:
    """The arguments of one build (``build.yaml``). Energies eV/atom, forces eV/Å."""

    chemsys: tuple[str, ...]
    sources: tuple[str, ...]
    out: Path
    files: Path | None = None
    random_per_system: int = 60
    max_atoms: int = 20
    ehull_max: float = 0.1
    mp_ehull_max: float = 0.1
    fmax: float = RelaxSettings.fmax
    max_steps: int = RelaxSettings.max_steps
    workers: int = 1
    limit: int | None = None
    seed: int = 0
    undecorated: bool = True
    keep_unreferenced: bool = True
    hull_references: Path | None = None
    relaxed_cache: Path | None = None
    read_cache: tuple[Path, ...] = ()
    retry_failed: bool = False
    no_relax: bool = False
    address: str | None = None
    known: Path | None = None
    min_distance: float = 0.5
    val_fraction: float = 0.05
    test_fraction: float = 0.05
    test_formulas: tuple[str, ...] = ()
    single_point: bool = False

    def __post_init__(self) -> None:
        if "known" in self.sources:
            self._check_known()
        elif not self.chemsys:
            raise DataBuildError("--chemsys: give at least one chemical system")
        for system in self.chemsys:
            try:
                parse_chemsys(system)
            except ValueError as exc:
                raise DataBuildError(f"--chemsys: {exc}") from None
        for source in self.sources:
            if source not in SOURCES:
                raise DataBuildError(f"--sources: {source!r} is not one of {list(SOURCES)}")
        if not self.sources:
            raise DataBuildError("--sources: give at least one source")
        if "files" in self.sources and self.files is None:
            raise DataBuildError("--sources files needs --files PATH")
        if self.files is not None and "files" not in self.sources:
            raise DataBuildError(f"--files {str(self.files)!r} given but 'files' is not in "
                                 "--sources")
        for name in ("random_per_system", "max_atoms", "max_steps", "workers"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < (0 if name == "random_per_system" else 1):
                raise DataBuildError(f"--{name.replace('_', '-')}: got {value!r}")
        for name in ("ehull_max", "mp_ehull_max", "fmax"):
            value = getattr(self, name)
            if not (value >= 0) or (name == "fmax" and value == 0):
                raise DataBuildError(f"--{name.replace('_', '-')}: got {value!r}")

    def _check_known(self) -> None:
        if self.known is None:
            raise DataBuildError("--sources known needs --known PATH")
        others = [s for s in self.sources if s != "known"]
        if others:
            raise DataBuildError(f"--sources: 'known' builds on its own, not with {others} "
                                 "(build those separately and train on both files)")
        if not Path(self.known).is_file():
            raise DataBuildError(f"--known: {str(self.known)!r} is not a file")
        if not (self.min_distance >= 0):
            raise DataBuildError(f"--min-distance: got {self.min_distance!r}")
        for name in ("val_fraction", "test_fraction"):
            value = getattr(self, name)
            if not (0 <= value < 1):
                raise DataBuildError(f"--{name.replace('_', '-')}: got {value!r}, expected "
                                     "a fraction in [0, 1)")
        if self.val_fraction + self.test_fraction >= 1:
            raise DataBuildError("--val-fraction + --test-fraction must be below 1, got "
                                 f"{self.val_fraction + self.test_fraction:g}")
        from pymatgen.core import Composition, Element

        for formula in self.test_formulas:
            try:
                ok = all(isinstance(el, Element) for el in Composition(formula).elements)
            except Exception:  # pymatgen raises several types
                ok = False
            if not ok:
                raise DataBuildError(f"--test-formulas: {formula!r} is not a formula")

    @property
    def cache_path(self) -> Path:
        return self.relaxed_cache if self.relaxed_cache is not None else self.out / "relaxed.jsonl"

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = [str(v) for v in value]
            out[f.name] = value
        return out
