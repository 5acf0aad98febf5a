"""Settings of the inpainting stage (guests into refined host frameworks).

Each default is defined here once; the campaign YAML (``inpaint:``) and the command-line
options of ``chggen generate`` / ``chggen inpaint`` are built from these fields.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from chggen_kernels.settings import check_int, strict_from_dict
from chggen_kernels.wyckoff.combinations import DEFAULT_MAX_COMBINATIONS

__all__ = ["InpaintSettings"]


@dataclasses.dataclass(frozen=True)
class InpaintSettings:
    """How guests are placed back into the refined frameworks of relaxed hosts.

    Attributes:
        guest_species: elements removed from each host and inpainted back, e.g. ``("Li",)``.
        samples_per_host: inpainted candidates per host and inpainting mode.
        hosts_per_task: hosts taken from each unconditional task, lowest E_d first
            (``None``: every successful candidate).
        host_max_e_d: only hosts with E_d at most this, eV/atom (``None``: no limit).
        max_wyckoff_combinations: most combinations of Wyckoff positions per host in mode
            ``inpaint-symmetric``; sample ``k`` takes combination ``k`` mod their number.
        max_atoms: largest refined cell (host plus guests) to inpaint, atoms.
    """

    guest_species: tuple[str, ...] = ()
    samples_per_host: int = 4
    hosts_per_task: int | None = 1
    host_max_e_d: float | None = None
    max_wyckoff_combinations: int = DEFAULT_MAX_COMBINATIONS
    max_atoms: int = 200

    def __post_init__(self) -> None:
        if isinstance(self.guest_species, (list, str)):
            value = (self.guest_species,) if isinstance(self.guest_species, str) \
                else tuple(self.guest_species)
            object.__setattr__(self, "guest_species", value)
        for symbol in self.guest_species:
            from pymatgen.core import Element

            if not isinstance(symbol, str) or not Element.is_valid_symbol(symbol):
                raise ValueError(f"InpaintSettings.guest_species: {symbol!r} is not an element")
        object.__setattr__(self, "guest_species", tuple(sorted(dict.fromkeys(
            self.guest_species))))
        check_int("InpaintSettings", "samples_per_host", self.samples_per_host, 1)
        if self.hosts_per_task is not None:
            check_int("InpaintSettings", "hosts_per_task", self.hosts_per_task, 1)
        check_int("InpaintSettings", "max_wyckoff_combinations",
                  self.max_wyckoff_combinations, 1)
        check_int("InpaintSettings", "max_atoms", self.max_atoms, 1)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["guest_species"] = list(self.guest_species)
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> InpaintSettings:
        """Strict inverse of :meth:`to_dict`: unknown fields are an error naming them."""
        return strict_from_dict(cls, values)
