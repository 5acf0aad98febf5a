"""Chemical systems written as ``"Li-Si"``: the one parser every stage uses."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from chggen_kernels.errors import InputError

__all__ = ["ChemicalSystemError", "parse_chemsys"]


class ChemicalSystemError(InputError):
    """A chemical system is unusable; the message names the system and the bad part."""


def parse_chemsys(
    chemsys: str | Iterable[str], *, repeated: Literal["error", "merge"] = "error"
) -> tuple[str, ...]:
    """``"Si-Li"`` or ``["Si", "Li"]`` -> ``("Li", "Si")``: validated, sorted element symbols.

    ``repeated="error"`` rejects a system that names an element twice (``"Li-Li-Si"``);
    ``"merge"`` keeps one of each. Empty parts (``"Li--Si"``), unknown symbols and empty
    systems raise :class:`ChemicalSystemError` naming the system and the part.
    """
    from pymatgen.core import Element

    if repeated not in ("error", "merge"):
        raise ValueError(f"repeated must be 'error' or 'merge', got {repeated!r}")
    if isinstance(chemsys, str):
        parts = [p.strip() for p in chemsys.split("-")]
    else:
        parts = [str(p).strip() for p in chemsys]
    if not parts or parts == [""]:
        raise ChemicalSystemError(f"chemical system {chemsys!r} names no elements")
    if any(not p for p in parts):
        raise ChemicalSystemError(f"chemical system {chemsys!r}: expected elements joined by '-'")
    for p in parts:
        if not Element.is_valid_symbol(p):
            raise ChemicalSystemError(
                f"chemical system {chemsys!r}: {p!r} is not a chemical element symbol"
            )
    if repeated == "error":
        twice = sorted({p for p in parts if parts.count(p) > 1})
        if twice:
            raise ChemicalSystemError(
                f"chemical system {chemsys!r}: repeated element {', '.join(twice)}"
            )
    return tuple(sorted(set(parts)))
