"""Read a user's host crystal for inpainting: framework, guests to place, provenance.

``read_host`` takes a CIF/POSCAR file (anything ``pymatgen.core.Structure.from_file``
reads) or a pymatgen ``Structure``, removes every site of the guest species and returns
the ordered framework plus the number of guests to inpaint back:

* Ordered host (e.g. relaxed Li2Si): each guest site counts 1, so the same count is
  placed back (the CHGGen workflow).
* Disordered intercalation host (e.g. a CIF with Li sites at occupancy 0.5): the
  framework is the non-guest sites, which must be fully ordered; the count to place is
  ``round(sum of guest occupancies)``, an error if that sum is further than
  ``occupancy_tolerance`` from an integer.
* ``guest={"Li": 4}`` overrides the count (a species absent from the file is allowed
  then: guests are placed into an empty host).

Checks (each a :class:`HostError` naming the source and the problem): unreadable file,
unknown guest element, disordered framework sites, nothing left after removing the
guests, non-positive counts, overlapping framework atoms (closer than ``min_distance``
Å, any periodic image), and guests that cannot fit: the volume per atom of framework
plus guests below ``min_volume_per_atom`` Å^3 (5 Å^3/atom is below the densest known
solids, diamond 5.7 and c-BN 5.9 Å^3/atom).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pymatgen.core import Element, Structure

from chggen_kernels.errors import InputError
from chggen_kernels.structure_check import DEFAULT_MIN_DISTANCE

__all__ = ["OCCUPANCY_TOLERANCE", "HostError", "HostSpec", "infer_guest", "parse_guest_spec",
           "read_host"]

#: Largest distance of a disordered host's guest occupancy sum from an integer
#: (``read_host``, ``chggen inpaint --occupancy-tolerance``).
OCCUPANCY_TOLERANCE = 0.1


class HostError(InputError):
    """The host is unusable; the message names the source (file) and the problem."""


@dataclasses.dataclass(frozen=True, eq=False)
class HostSpec:
    """A host framework and the guests to inpaint into it.

    Attributes
    ----------
    framework
        Ordered pymatgen Structure of the non-guest sites (plain elements: oxidation
        states and site properties dropped; order as in the source).
    guest_counts
        Guest element symbol -> number of atoms to place, e.g. ``{"Li": 4}``.
    source
        Where the host came from (file path, or a label for an in-memory Structure).
    input_formula
        Composition of the source as read, e.g. ``"Li0.5 Co1 O2"``.
    guest_occupancy
        Sum of the occupancies of each guest species in the source (0.0 if absent).
    count_origin
        Per guest: ``"given"`` (from ``guest``) or ``"occupancy"`` (from the source).
    n_guest_sites_removed
        Number of source sites that held guest species.
    """

    framework: Structure
    guest_counts: dict[str, int]
    source: str
    input_formula: str
    guest_occupancy: dict[str, float]
    count_origin: dict[str, str]
    n_guest_sites_removed: int

    @property
    def guest_species(self) -> tuple[str, ...]:
        return tuple(sorted(self.guest_counts))

    @property
    def n_guests(self) -> int:
        return int(sum(self.guest_counts.values()))

    @property
    def n_atoms_total(self) -> int:
        """Framework atoms plus guests to place."""
        return len(self.framework) + self.n_guests

    @property
    def volume_per_atom(self) -> float:
        """Cell volume per atom once the guests are placed, Å^3/atom."""
        return float(self.framework.volume) / self.n_atoms_total


def _check_element(symbol: object, where: str) -> str:
    if not isinstance(symbol, str) or not Element.is_valid_symbol(symbol):
        raise HostError(f"{where}: guest species {symbol!r} is not a chemical element symbol")
    return symbol


def infer_guest(structure: Structure, where: str) -> dict[str, int | None]:
    """The guest of a host whose one species is partly occupied: ``{species: None}`` (the
    count then comes from its occupancies). A host with no partly occupied species, or
    with several, is a :class:`HostError` asking for ``--guest``."""
    partial = sorted({str(getattr(sp, "element", sp)) for site in structure
                      for sp, occupancy in site.species.items() if occupancy < 1 - 1e-6})
    if len(partial) == 1:
        return {partial[0]: None}
    if not partial:
        raise HostError(f"{where}: no species is partly occupied, so the guests cannot be "
                        "inferred; name them, e.g. --guest Li:4")
    raise HostError(f"{where}: {', '.join(partial)} are all partly occupied; name the guests, "
                    f"e.g. --guest {partial[0]}")


def parse_guest_spec(spec: str) -> dict[str, int | None]:
    """Parse ``"Li:4"``, ``"Li:4,Mg:2"`` or ``"Li"`` (count from the host file: None).

    >>> parse_guest_spec("Li:4,Mg:2")
    {'Li': 4, 'Mg': 2}
    """
    where = f"guest spec {spec!r}"
    if not isinstance(spec, str) or not spec.strip():
        raise HostError(f"{where}: expected 'Element:count', e.g. 'Li:4'")
    result: dict[str, int | None] = {}
    for item in spec.split(","):
        item = item.strip()
        symbol, sep, count_text = item.partition(":")
        symbol = symbol.strip()
        _check_element(symbol, where)
        if symbol in result:
            raise HostError(f"{where}: guest species {symbol!r} given twice")
        if not sep:
            result[symbol] = None
            continue
        try:
            count = int(count_text.strip())
        except ValueError:
            raise HostError(
                f"{where}: count {count_text.strip()!r} for {symbol} is not an integer"
            ) from None
        if count <= 0:
            raise HostError(f"{where}: count for {symbol} must be positive, got {count}")
        result[symbol] = count
    return result


def _load(source: str | Path | Structure, label: str | None, max_atoms: int | None = None
          ) -> tuple[Structure, str]:
    if isinstance(source, Structure):
        return source.copy(), label or f"<Structure {source.composition.formula}>"
    path = Path(source)
    name = label or str(path)
    if not path.is_file():
        raise HostError(f"host {name}: file not found")
    from chggen_kernels.structure_io import read_structure

    try:
        structure = read_structure(path, what="host", where=f"host {name}",
                                   max_sites=max_atoms,
                                   max_sites_reason="limits.atoms_per_cell")
    except InputError as exc:
        raise HostError(str(exc)) from None
    if len(structure) == 0:
        raise HostError(f"host {name}: the file contains no sites")
    return structure, name


def read_host(
    source: str | Path | Structure,
    guest: Mapping[str, int | None],
    *,
    occupancy_tolerance: float = OCCUPANCY_TOLERANCE,
    min_distance: float = DEFAULT_MIN_DISTANCE,
    min_volume_per_atom: float = 5.0,
    label: str | None = None,
    max_atoms: int | None = None,
) -> HostSpec:
    """Read a host and decide what to inpaint (see the module docstring).

    Parameters
    ----------
    source
        CIF/POSCAR path or a pymatgen Structure (ordered or with partial occupancies).
    guest
        Guest element -> count to place, or ``None`` to take the count from the source's
        occupancies (``parse_guest_spec`` builds this from ``"Li:4"`` / ``"Li"``).
    occupancy_tolerance
        Largest allowed distance of a guest occupancy sum from an integer.
    min_distance
        Framework atoms closer than this (Å) are an error.
    min_volume_per_atom
        Volume per atom (Å^3) of framework + guests below this is an error.
    label
        Name used in messages and provenance instead of the path.
    max_atoms
        A file listing more atoms than this is refused before it is parsed (a 5,000-atom
        CIF takes seconds to parse); ``None``: no such check.
    """
    if not 0 <= occupancy_tolerance < 0.5:
        raise HostError(f"occupancy_tolerance must be in [0, 0.5), got {occupancy_tolerance!r}")
    if not min_distance > 0:
        raise HostError(f"min_distance must be > 0 Å, got {min_distance!r}")
    if not min_volume_per_atom >= 0:
        raise HostError(f"min_volume_per_atom must be >= 0 Å^3, got {min_volume_per_atom!r}")
    structure, name = _load(source, label, max_atoms)
    where = f"host {name}"
    if not isinstance(guest, Mapping) or not guest:
        raise HostError(f"{where}: give at least one guest species, e.g. {{'Li': 4}}")
    for symbol, count in guest.items():
        _check_element(symbol, where)
        if count is not None and (
            isinstance(count, bool) or not isinstance(count, int) or count <= 0
        ):
            raise HostError(f"{where}: guest count for {symbol} must be a positive int, "
                            f"got {count!r}")
    framework_sites, occupancy, n_removed = _split_sites(structure, list(guest), where)
    keep_species, keep_coords, keep_index = framework_sites
    counts, origin = _guest_counts(guest, occupancy, occupancy_tolerance, where)

    framework = Structure(structure.lattice, keep_species, keep_coords)
    _check_overlaps(framework, keep_index, min_distance, where)
    n_total = len(framework) + sum(counts.values())
    volume_per_atom = float(framework.volume) / n_total
    if volume_per_atom < min_volume_per_atom:
        raise HostError(
            f"{where}: {sum(counts.values())} guests do not fit: "
            f"{len(framework)} framework atoms + guests give {volume_per_atom:.3g} Å^3/atom, "
            f"below min_volume_per_atom {min_volume_per_atom:g} Å^3/atom"
        )
    return HostSpec(
        framework=framework,
        guest_counts=counts,
        source=name,
        input_formula=structure.composition.formula,
        guest_occupancy=occupancy,
        count_origin=origin,
        n_guest_sites_removed=n_removed,
    )


def _split_sites(structure: Structure, guests: Sequence[str], where: str
                 ) -> tuple[tuple[list[str], list[Any], list[int]], dict[str, float], int]:
    """(framework species, fractional coordinates, site indices), the summed guest
    occupancies and the number of guest sites removed."""
    guest_set = set(guests)
    occupancy = dict.fromkeys(guests, 0.0)
    keep_species: list[str] = []
    keep_coords: list[Any] = []
    keep_index: list[int] = []
    n_removed = 0
    for i, site in enumerate(structure):
        elements = {sp.symbol: float(occ) for sp, occ in site.species.items()}
        guests_here = guest_set & set(elements)
        if guests_here:
            if set(elements) - guest_set:
                raise HostError(
                    f"{where}: site {i} mixes guest and framework species "
                    f"({site.species.formula}); framework sites must be fully ordered")
            for symbol in guests_here:
                occupancy[symbol] += elements[symbol]
            n_removed += 1
            continue
        if len(elements) != 1 or not math.isclose(next(iter(elements.values())), 1.0,
                                                  abs_tol=1e-3):
            raise HostError(
                f"{where}: framework site {i} is disordered ({site.species.formula}); "
                "only guest species may have partial occupancies")
        keep_species.append(next(iter(elements)))
        keep_coords.append(site.frac_coords)
        keep_index.append(i)
    if not keep_species:
        raise HostError(f"{where}: nothing left after removing the guest species "
                        f"{', '.join(sorted(guest_set))}")
    return (keep_species, keep_coords, keep_index), occupancy, n_removed


def _guest_counts(guest: Mapping[str, int | None], occupancy: Mapping[str, float],
                  tolerance: float, where: str) -> tuple[dict[str, int], dict[str, str]]:
    """Guests to place per species and where each count came from (given | occupancy)."""
    counts: dict[str, int] = {}
    origin: dict[str, str] = {}
    for symbol, given in guest.items():
        if given is not None:
            counts[symbol], origin[symbol] = given, "given"
            continue
        total = occupancy[symbol]
        nearest = round(total)
        if total == 0:
            raise HostError(f"{where}: guest species {symbol} is not in the host; give the "
                            f"count explicitly (e.g. {symbol}:4)")
        if abs(total - nearest) > tolerance:
            raise HostError(
                f"{where}: occupancies of {symbol} sum to {total:.4g}, not within "
                f"{tolerance:g} of an integer; give the count explicitly "
                f"(e.g. {symbol}:{max(1, nearest)})")
        if nearest <= 0:
            raise HostError(
                f"{where}: occupancies of {symbol} sum to {total:.4g}, which rounds to "
                f"{nearest} guests; give a positive count explicitly")
        counts[symbol], origin[symbol] = int(nearest), "occupancy"
    return counts, origin


def _check_overlaps(
    framework: Structure, source_index: list[int], min_distance: float, where: str
) -> None:
    """Raise if two framework atoms (any image) are closer than ``min_distance`` Å.

    Sites are named by their index in the source (before guest removal).
    """
    centers, neighbors, _, distances = framework.get_neighbor_list(min_distance)
    if len(distances) == 0:
        return
    k = min(range(len(distances)), key=lambda m: distances[m])
    i, j = sorted((int(centers[k]), int(neighbors[k])))
    d = float(distances[k])
    si, sj = framework[i].specie, framework[j].specie
    if i == j:
        problem = f"site {source_index[i]} ({si}) is {d:.3f} Å from its own periodic image"
    else:
        problem = f"sites {source_index[i]} ({si}) and {source_index[j]} ({sj}) are {d:.3f} Å apart"
    raise HostError(f"{where}: overlapping atoms: {problem}, below min_distance {min_distance:g} Å")
