"""The one structure check of every entry point, with the run's limits and potential.

``generate``, ``inpaint``, ``scan``, ``run``, ``benchmark``, ``data build``, ``train`` and
the Python API check what they are given here, before any model loads:

* :func:`check_input_structure`: one structure (a file's crystal) -> one line, exit 2;
* :func:`check_host`: a host read by :func:`~chggen_kernels.hosts.read_host`, framework
  plus the guests to place;
* :func:`check_elements`: the elements of compositions (``generate Li2Si``, a campaign);
* :func:`screen_structures`: a set (benchmark compounds, data-build inputs, training
  crystals): the bad ones are listed, skipped and counted; the run is refused only when
  none is left.

The score model embeds every element (Z 1-118); the named potential declares what it
supports (CHGNet: Z 1-94; SevenNet-0: the 89 elements of its checkpoint; a
``module:factory`` potential is not checked). The rules themselves are
:func:`chggen_kernels.structure_check.check_structure`'s.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from campaign.inputs.limits import Limits, check_limit
from chggen_kernels.errors import InputError
from chggen_kernels.structure_check import (
    CHGNET_SUPPORT,
    ElementSupport,
    StructureCheckError,
    check_structure,
)

if TYPE_CHECKING:
    from pymatgen.core import Structure

    from chggen_kernels.hosts import HostSpec

__all__ = [
    "ScreenResult",
    "check_elements",
    "check_host",
    "check_input_structure",
    "element_supports",
    "screen_structures",
]

def element_supports(potential: str = "chgnet") -> tuple[ElementSupport, ...]:
    """What the named ``potential`` supports (CHGNet: Z 1-94; SevenNet-0: the elements of
    its checkpoint; none declared for an entry point or a ``module:factory``).

    Raises:
        PotentialError: the potential cannot be resolved (an unknown name, a module that
            cannot be imported; one line, exit 2).
    """
    if potential == "chgnet":
        return (CHGNET_SUPPORT,)
    from chggen_kernels.relax.potentials import resolve_potential

    support = resolve_potential(potential).support
    return (support,) if support else ()


def check_input_structure(structure: Structure, *, where: str, limits: Limits | None = None,
                          potential: str = "chgnet") -> None:
    """Refuse ``structure`` in one line (:class:`StructureCheckError`, exit 2) unless it
    passes :func:`~chggen_kernels.structure_check.check_structure` with the atom limit of
    ``limits`` and the elements of ``potential``."""
    limits = limits or Limits()
    check_structure(structure, where=where, max_atoms=limits.atoms_per_cell,
                    supports=element_supports(potential))


def check_elements(elements: Iterable[str], *, where: str, potential: str = "chgnet") -> None:
    """Refuse an element the potential does not support (compositions, before work)."""
    from pymatgen.core import Element

    for symbol in elements:
        for support in element_supports(potential):
            problem = support.problem(symbol, int(Element(symbol).Z))
            if problem:
                raise StructureCheckError(f"{where}: {problem}")


def check_host(host: HostSpec, *, limits: Limits | None = None,
               potential: str = "chgnet") -> None:
    """A host before any model loads: its framework passes the structure check and the
    framework plus the guests to place fit ``limits.atoms_per_cell``."""
    limits = limits or Limits()
    where = f"host {host.source}"
    n_guests = sum(host.guest_counts.values())
    check_limit(limits, "atoms_per_cell", len(host.framework) + n_guests,
                field=f"{where}: {len(host.framework):,} framework atoms + {n_guests:,} "
                "guests")
    check_input_structure(host.framework, where=where, limits=limits, potential=potential)
    check_elements(host.guest_counts, where=where, potential=potential)


@dataclasses.dataclass
class ScreenResult:
    """What :func:`screen_structures` kept and skipped (label, one-line reason)."""

    kept: list[Any]
    skipped: list[tuple[str, str]]

    def summary(self, what: str) -> str:
        """``"benchmark set: 11 of 12 structures usable; skipped: og (element Og ...)"``."""
        total = len(self.kept) + len(self.skipped)
        line = f"{what}: {len(self.kept)} of {total} structures usable"
        if self.skipped:
            shown = "; ".join(f"{label} ({reason})" for label, reason in self.skipped[:5])
            more = f"; and {len(self.skipped) - 5} more" if len(self.skipped) > 5 else ""
            line += f"; skipped: {shown}{more}"
        return line


def screen_structures(items: Iterable[Any], *, structure_of: Callable[[Any], Structure],
                      label_of: Callable[[Any], str], what: str, limits: Limits | None = None,
                      potential: str = "chgnet",
                      warn: Callable[[str], None] | None = None) -> ScreenResult:
    """Check every item's structure; the bad ones are skipped, each named with its reason
    (one ``warn`` line each) and counted. When none is left the set is refused instead:
    one line (:class:`InputError`) that lists the first reasons."""
    result = ScreenResult(kept=[], skipped=[])
    for item in items:
        label = label_of(item)
        try:
            check_input_structure(structure_of(item), where=label, limits=limits,
                                  potential=potential)
        except StructureCheckError as exc:
            result.skipped.append((label, str(exc).removeprefix(f"{label}: ")))
            continue
        result.kept.append(item)
    if not result.kept:
        raise InputError(f"no usable structure left; {result.summary(what)}")
    for label, reason in result.skipped:
        if warn:
            warn(f"{what}: skipping {label}: {reason}")
    return result


def limits_of(value: Limits | dict[str, Any] | None) -> Limits:
    """``Limits`` from ``None`` (the defaults), a mapping or a ``Limits``."""
    if value is None:
        return Limits()
    return value if isinstance(value, Limits) else Limits(**dict(value))


