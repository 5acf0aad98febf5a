"""The options of one ``chggen data build`` (:class:`BuildOptions`), checked on creation.

Relaxation defaults are :class:`~chggen_kernels.relax.RelaxSettings`'s; bad values raise
:class:`DataBuildError` naming the option and the value. Energies eV/atom, forces eV/Å.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from pymatgen.core import Element

from chggen_kernels.datasets import parse_chemsys
from chggen_kernels.datasets.known import DEFAULT_TEST_FRACTION, DEFAULT_VAL_FRACTION
from chggen_kernels.datasets.sources import DEFAULT_MAX_ATOMS
from chggen_kernels.errors import InputError
from chggen_kernels.relax import RelaxSettings
from chggen_kernels.structure_check import DEFAULT_MIN_DISTANCE

__all__ = ["SOURCES", "BuildOptions", "DataBuildError"]

SOURCES = ("prototypes", "random", "mp", "files", "known", "substituted")


def _bad(field: str, value: Any, reason: str) -> None:
    """Raise the one message format of every settings error: ``field = value: reason``
    (the field spelled as its command-line option)."""
    raise DataBuildError(f"--{field.replace('_', '-')} = {value!r}: {reason}")


class DataBuildError(InputError):
    """Bad build input (options, sources); the message names the option and the value."""


@dataclasses.dataclass(frozen=True)
class BuildOptions:
    """The arguments of one build (``build.yaml``). Energies eV/atom, forces eV/Å.

    The defaults here are ``chggen data build``'s (its options read them)."""

    chemsys: tuple[str, ...]
    sources: tuple[str, ...]
    out: Path
    files: Path | None = None
    random_per_system: int = 60
    max_atoms: int = DEFAULT_MAX_ATOMS
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
    min_distance: float = DEFAULT_MIN_DISTANCE
    val_fraction: float = DEFAULT_VAL_FRACTION
    test_fraction: float = DEFAULT_TEST_FRACTION
    test_formulas: tuple[str, ...] = ()
    single_point: bool = False
    templates: Path | None = None
    substitute: tuple[str, ...] = ()
    analogues: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if "known" in self.sources:
            self._check_known()
        elif not self.chemsys:
            _bad("chemsys", list(self.chemsys), "give at least one chemical system")
        for system in self.chemsys:
            try:
                parse_chemsys(system)
            except ValueError as exc:
                _bad("chemsys", system, str(exc))
        for source in self.sources:
            if source not in SOURCES:
                _bad("sources", source, f"not one of {list(SOURCES)}")
        if not self.sources:
            _bad("sources", [], "give at least one source")
        if "files" in self.sources and self.files is None:
            _bad("files", None, "--sources files needs --files PATH")
        if self.files is not None and "files" not in self.sources:
            _bad("files", str(self.files), "given but 'files' is not in --sources")
        self._check_substituted()
        for name in ("random_per_system", "max_atoms", "max_steps", "workers"):
            value = getattr(self, name)
            minimum = 0 if name == "random_per_system" else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                _bad(name, value, f"must be an integer >= {minimum}")
        for name in ("ehull_max", "mp_ehull_max", "fmax"):
            value = getattr(self, name)
            if not (value >= 0) or (name == "fmax" and value == 0):
                _bad(name, value, "must be > 0" if name == "fmax" else "must be >= 0")

    def _check_substituted(self) -> None:
        if "substituted" not in self.sources:
            if self.templates is not None:
                _bad("templates", str(self.templates), "given but 'substituted' is not in "
                     "--sources")
            if self.substitute:
                _bad("substitute", list(self.substitute), "given but 'substituted' is not in "
                     "--sources")
            if self.analogues:
                _bad("analogues", list(self.analogues), "given but 'substituted' is not in "
                     "--sources")
            return
        if self.templates is None:
            _bad("templates", None, "--sources substituted needs --templates PATH")
        if not Path(self.templates).is_file():
            _bad("templates", str(self.templates), "not a file")
        if not self.substitute:
            _bad("substitute", [], "--sources substituted needs --substitute ELEMENT ...")
        inside = self._elements()
        for element in self.substitute:
            if element not in inside:
                _bad("substitute", element, f"not an element of --chemsys {list(self.chemsys)}")
        self.analogue_map()

    def _elements(self) -> set[str]:
        """Every element of every ``--chemsys`` system."""
        return {el for system in self.chemsys for el in parse_chemsys(system)}

    def analogue_map(self) -> dict[str, tuple[str, ...]]:
        """``--analogues P=As,Sb S=O,Se`` as {frame element: stand-ins}; refuses bad words."""
        inside = self._elements()
        out: dict[str, tuple[str, ...]] = {}
        for word in self.analogues:
            frame, sep, rest = word.partition("=")
            stand_ins = tuple(el for el in rest.split(",") if el)
            if not sep or not stand_ins:
                _bad("analogues", word, "write ELEMENT=ANALOGUE[,ANALOGUE...], e.g. P=As,Sb")
            if frame not in inside:
                _bad("analogues", word, f"{frame!r} is not an element of --chemsys "
                     f"{list(self.chemsys)}")
            if frame in out:
                _bad("analogues", word, f"{frame!r} is given twice")
            for el in stand_ins:
                if not Element.is_valid_symbol(el) or el in inside:
                    _bad("analogues", word, f"{el!r} is not an element outside --chemsys")
            out[frame] = stand_ins
        return out

    def _check_known(self) -> None:
        if self.known is None:
            _bad("known", None, "--sources known needs --known PATH")
        others = [s for s in self.sources if s != "known"]
        if others:
            _bad("sources", list(self.sources), f"'known' builds on its own, not with {others} "
                 "(build those separately and train on both files)")
        if not Path(self.known).is_file():
            _bad("known", str(self.known), "not a file")
        if not (self.min_distance >= 0):
            _bad("min_distance", self.min_distance, "must be >= 0 Å")
        for name in ("val_fraction", "test_fraction"):
            value = getattr(self, name)
            if not (0 <= value < 1):
                _bad(name, value, "expected a fraction in [0, 1)")
        if self.val_fraction + self.test_fraction >= 1:
            _bad("val_fraction", self.val_fraction, "--val-fraction + --test-fraction must be "
                 f"below 1, got {self.val_fraction + self.test_fraction:g}")
        from pymatgen.core import Composition, Element

        for formula in self.test_formulas:
            try:
                ok = all(isinstance(el, Element) for el in Composition(formula).elements)
            except Exception:  # pymatgen raises several types
                ok = False
            if not ok:
                _bad("test_formulas", formula, "not a formula")

    @property
    def cache_path(self) -> Path:
        """The relaxation cache folder (:mod:`campaign.jobs.data.cache`): ``DIR/relaxed``, or
        ``--relaxed-cache`` (a ``.jsonl`` file of an older build: the folder of its
        name, into which it is imported)."""
        if self.relaxed_cache is None:
            return self.out / "relaxed"
        given = self.relaxed_cache
        return given.with_suffix("") if given.suffix == ".jsonl" else given

    @property
    def older_cache(self) -> Path | None:
        """The JSONL cache of an older build that the cache folder imports, if any."""
        older = (self.relaxed_cache if self.relaxed_cache is not None
                 else self.out / "relaxed.jsonl")
        return older if older.suffix == ".jsonl" and older.is_file() else None

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
