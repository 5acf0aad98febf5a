"""Random symmetric crystals on chosen Wyckoff positions (pyxtal), and their orbits.

:func:`random_symmetric_crystal` draws one crystal of a primitive-cell composition: a
(space group, Wyckoff labels) assignment from a :class:`~chggen_kernels.wyckoff.prior.
WyckoffPrior` (or, uniform prior, a space group drawn uniformly among those pyxtal can fill
and pyxtal's own choice of positions), a lattice of that space group's family (a shape seen
in the data when the prior has one), atoms on their orbits with random free parameters,
reduced to the primitive cell and scaled to ``n_atoms * volume_per_atom`` Å^3. It is the
start of ``--mode symmetric`` (then denoised on the orbits by the score model) and, as it
is, the AIRSS-style random-search baseline (uniform or learned prior).

:func:`start_orbits` ties every atom of such a crystal to its orbit, for the sampler.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping

import numpy as np
from pymatgen.core import Structure

from chggen_kernels.wyckoff.prior import Assignment, WyckoffPrior, crystal_family

__all__ = ["SymmetricDraw", "compatible_space_groups", "min_interatomic_distance",
           "orbit_letters", "paired_orbits", "random_symmetric_crystal", "start_orbits"]

START_SYMPREC = 0.01  # Å, the tolerance the start's orbits are found at
_CENTRING = {"P": 1, "A": 2, "B": 2, "C": 2, "I": 2, "R": 3, "F": 4}


@dataclasses.dataclass(frozen=True)
class SymmetricDraw:
    """One drawn crystal (``structure`` None when none could be built, with the reason)."""

    structure: Structure | None
    spacegroup: int | None
    wyckoff_letters: str | None  # "Li:4e;Si:2a" (conventional-cell ITA labels)
    source: str  # how the assignment was chosen
    failure_reason: str | None = None


@functools.lru_cache(maxsize=256)
def centring_multiplicity(spacegroup: int) -> int:
    """Lattice points per conventional cell of ``spacegroup`` (pyxtal's settings)."""
    from pyxtal.symmetry import Group

    return _CENTRING[Group(spacegroup).symbol[0]]


@functools.lru_cache(maxsize=256)
def _compatible(counts: tuple[int, ...]) -> tuple[int, ...]:
    from pyxtal.symmetry import Group

    found = []
    for sg in range(1, 231):
        group = Group(sg)
        m = _CENTRING[group.symbol[0]]
        if group.check_compatible([c * m for c in counts])[0]:
            found.append(sg)
    return tuple(found)


def compatible_space_groups(composition: Mapping[str, int]) -> tuple[int, ...]:
    """Space groups whose Wyckoff positions can hold ``composition`` in a primitive cell
    (centred groups need the counts times their centring multiplicity in the
    conventional cell pyxtal builds)."""
    counts = tuple(int(n) for _, n in sorted(composition.items()) if n)
    if not counts or min(counts) < 1:
        raise ValueError(f"composition needs positive atom counts, got {dict(composition)}")
    return _compatible(counts)


def min_interatomic_distance(structure: Structure) -> float:
    """Smallest distance between two atoms (periodic images included), Å."""
    if len(structure) == 1:
        return float(min(structure.lattice.abc))
    d = structure.distance_matrix + np.eye(len(structure)) * 1e9
    return float(min(d.min(), min(structure.lattice.abc)))


def _lattice(spacegroup: int, shape: tuple[float, ...], volume: float, random_state: int):
    """pyxtal's lattice of ``shape`` (b/a, c/a, angles in degrees) at ``volume`` Å^3, with
    its own generator seeded: pyxtal draws the free Wyckoff coordinates from the given
    lattice's generator, so an unseeded one makes the same seed give other crystals."""
    from pyxtal.lattice import Lattice
    from pyxtal.symmetry import Group

    b_a, c_a, alpha, beta, gamma = shape
    ca, cb, cg = (math.cos(math.radians(x)) for x in (alpha, beta, gamma))
    unit = b_a * c_a * math.sqrt(max(1e-6, 1 - ca * ca - cb * cb - cg * cg + 2 * ca * cb * cg))
    a = (volume / unit) ** (1 / 3)
    return Lattice.from_para(a, a * b_a, a * c_a, alpha, beta, gamma,
                             ltype=Group(spacegroup).lattice_type, random_state=random_state)


def _build(species: list[str], counts: list[int], spacegroup: int,
           sites: list[list[str]] | None, lattice, n_atoms: int, volume: float,
           random_state: int) -> tuple[Structure, str] | None:
    """A crystal and its Wyckoff labels, or None for any draw that cannot be built."""
    try:
        return _built(species, counts, spacegroup, sites, lattice, n_atoms, volume,
                      random_state)
    except Exception:  # noqa: BLE001 - pyxtal refuses some draws; the caller draws again
        return None


def _built(species: list[str], counts: list[int], spacegroup: int,
           sites: list[list[str]] | None, lattice, n_atoms: int, volume: float,
           random_state: int) -> tuple[Structure, str] | None:
    from pyxtal import pyxtal

    m = centring_multiplicity(spacegroup)
    crystal = pyxtal()
    crystal.from_random(3, spacegroup, species, [c * m for c in counts], lattice=lattice,
                        sites=sites, random_state=random_state)
    structure = crystal.to_pymatgen()
    if not getattr(crystal, "valid", True):
        return None
    letters: dict[str, list[str]] = {}
    for site in crystal.atom_sites:
        letters.setdefault(str(site.specie), []).append(site.wp.get_label())
    text = ";".join(f"{el}:{','.join(sorted(v))}" for el, v in sorted(letters.items()))
    if len(structure) != n_atoms:
        structure = structure.get_primitive_structure()
    if len(structure) != n_atoms:
        return None
    structure = Structure(structure.lattice, [s.specie.symbol for s in structure],
                          structure.frac_coords)
    structure.scale_lattice(volume)
    return structure, text


def random_symmetric_crystal(
    composition: Mapping[str, int],
    volume_per_atom: float,
    rng: np.random.Generator,
    prior: WyckoffPrior | None = None,
    *,
    min_distance: float = 1.0,
    max_tries: int = 50,
) -> SymmetricDraw:
    """One random symmetric crystal of the primitive-cell ``composition`` at
    ``volume_per_atom`` Å^3/atom (see module).

    Each try draws an assignment (``prior``; ``None``: the uniform prior) and a crystal;
    draws pyxtal refuses, that reduce to another atom count, or with atoms closer than
    ``min_distance`` Å are drawn again, up to ``max_tries`` times (then no structure).
    """
    species = [el for el, c in sorted(composition.items()) if c]
    counts = [int(composition[el]) for el in species]
    n_atoms = sum(counts)
    volume = n_atoms * volume_per_atom
    groups = compatible_space_groups(composition)
    source = "uniform prior"
    for _ in range(max_tries):
        assignment: Assignment | None = None if prior is None else prior.draw(composition, rng)
        if assignment is not None:
            sg, source = assignment.spacegroup, assignment.source
            sites = [list(assignment.sites[el]) for el in species]
        elif groups:
            sg, sites = int(rng.choice(groups)), None
            source = "uniform prior" if prior is None or not prior.known(composition) \
                else "uniform prior (smoothing)"
        else:
            break
        shape = None if prior is None else prior.shape(crystal_family(sg), rng)
        seed = int(rng.integers(2**31))
        lattice = None
        if shape is not None:
            try:
                lattice = _lattice(sg, shape, volume * centring_multiplicity(sg), seed)
            except Exception:  # a shape pyxtal refuses for this group: its own lattice
                lattice = None
        built = _build(species, counts, sg, sites, lattice, n_atoms, volume, seed)
        if built is None and lattice is not None:
            built = _build(species, counts, sg, sites, None, n_atoms, volume, seed)
        if built is not None and min_interatomic_distance(built[0]) >= min_distance:
            return SymmetricDraw(built[0], sg, built[1], source)
    return SymmetricDraw(None, None, None, source,
                         f"symmetric start: no crystal of {n_atoms} atoms with atoms >= "
                         f"{min_distance} Å apart in {max_tries} draws")


def start_orbits(structure: Structure):
    """``(orbits, space group, wyckoff_letters)``: the orbits occupied in a drawn crystal,
    in its own cell and in the space group spglib finds at 0.01 Å (a draw with atoms on
    special positions only can be more symmetric than the group drawn), with the atoms of
    each species assigned to them in atom order. Which atom goes to which orbit is not the
    start's own pairing (projecting the start itself can move atoms): the sampler starts
    from uniform positions and projects those, so only the lattice, the group and the
    occupied positions of the start are used.

    Raises:
        WyckoffError: spglib finds no symmetry or the positions do not fit.
    """
    from chggen_kernels.wyckoff.combinations import parse_choice
    from chggen_kernels.wyckoff.constraint import crystal_orbits
    from chggen_kernels.wyckoff.prior import read_assignment
    from chggen_kernels.wyckoff.tables import WyckoffError, wyckoff_table

    table = wyckoff_table(structure, symprec=START_SYMPREC, angle_tolerance=5.0)
    found = read_assignment(structure, START_SYMPREC)
    if found is None or found[0] != table.spacegroup_number:
        raise WyckoffError(f"no Wyckoff positions of {structure.formula} at {START_SYMPREC} Å")
    letters = ";".join(f"{el}:{','.join(v)}" for el, v in sorted(found[1].items()))
    species = [site.specie.symbol for site in structure]
    orbits = crystal_orbits(table, parse_choice(letters), species, [True] * len(species))
    return orbits, table.spacegroup_number, letters


def paired_orbits(structure: Structure, symprec: float = 0.1, max_offset: float = 0.5):
    """``(orbits, space group)`` tying every atom of ``structure`` to the orbit it sits on,
    in the structure's own cell (spglib at ``symprec`` Å): each orbit's representative is
    the member nearest its Wyckoff position's sub-manifold, and every other member gets
    the operation that maps the representative onto it. Projecting the structure onto
    these orbits moves each atom by at most about ``symprec``: the symmetric denoising of
    a given start (``--mode template-symmetric``) keeps it where it is.

    Raises:
        WyckoffError: no symmetry at ``symprec``, or an atom more than ``max_offset`` Å
            from its orbit (the pairing failed).
    """
    import spglib

    from chggen_kernels.wyckoff.constraint import CrystalOrbits
    from chggen_kernels.wyckoff.tables import WyckoffError, wyckoff_table

    table = wyckoff_table(structure, symprec=symprec, angle_tolerance=5.0)
    cell = (structure.lattice.matrix, structure.frac_coords, list(structure.atomic_numbers))
    data = spglib.get_symmetry_dataset(cell, symprec=symprec, angle_tolerance=5.0)
    if data is None or int(data.number) != table.spacegroup_number:
        raise WyckoffError(f"no consistent symmetry of {structure.formula} at {symprec} Å")
    lattice = np.asarray(structure.lattice.matrix, dtype=float)
    frac = np.asarray(structure.frac_coords, dtype=float)
    equivalent = [int(i) for i in data.equivalent_atoms]
    parts: dict[str, list] = {k: [] for k in ("rep", "basis", "origin", "atoms", "orbit",
                                             "rot", "trans", "labels")}
    for group in sorted(set(equivalent)):
        members = [i for i, g in enumerate(equivalent) if g == group]
        site = table.site(str(data.wyckoffs[group]))
        if site.n_in_cell != len(members):
            raise WyckoffError(f"orbit of atom {group}: {len(members)} atoms, position "
                               f"{site.label} holds {site.n_in_cell} in this cell")
        rep = min(members, key=lambda i: _manifold_distance(frac[i], site, lattice))
        ops = _member_operations(frac, rep, members, site, lattice, max_offset)
        orbit = len(parts["rep"])
        parts["rep"].append(rep)
        parts["basis"].append(site.basis)
        parts["origin"].append(site.origin)
        parts["labels"].append(site.label)
        for atom, k in ops:
            parts["atoms"].append(atom)
            parts["orbit"].append(orbit)
            parts["rot"].append(site.rotations[k])
            parts["trans"].append(site.translations[k])
    orbits = CrystalOrbits(
        rep_atoms=np.array(parts["rep"], dtype=np.int64),
        basis=np.array(parts["basis"], dtype=float).reshape(-1, 3, 3),
        origin=np.array(parts["origin"], dtype=float).reshape(-1, 3),
        member_atoms=np.array(parts["atoms"], dtype=np.int64),
        member_orbit=np.array(parts["orbit"], dtype=np.int64),
        rotations=np.array(parts["rot"], dtype=float).reshape(-1, 3, 3),
        translations=np.array(parts["trans"], dtype=float).reshape(-1, 3),
        labels=tuple(parts["labels"]))
    return orbits, table.spacegroup_number


def orbit_letters(orbits, structure: Structure) -> str:
    """``"Li:4e;Si:2a"``: the Wyckoff labels of ``orbits`` per element of ``structure``
    (the element of each orbit's representative), the results column format."""
    labels: dict[str, list[str]] = {}
    for rep, label in zip(orbits.rep_atoms.tolist(), orbits.labels, strict=True):
        labels.setdefault(structure[rep].specie.symbol, []).append(label)
    return ";".join(f"{el}:{','.join(sorted(v))}" for el, v in sorted(labels.items()))


def _manifold_distance(x: np.ndarray, site, lattice: np.ndarray) -> float:
    """Cartesian distance (Å) from fractional ``x`` to the site's sub-manifold
    ``A u + b + n`` (``n`` integer, -2..2)."""
    directions = site.basis.T @ lattice  # rows: Cartesian directions of the free parameters
    best = np.inf
    for n in np.array(np.meshgrid(*[range(-2, 3)] * 3)).T.reshape(-1, 3):
        y = (x - site.origin - n) @ lattice
        u = np.linalg.lstsq(directions.T, y, rcond=None)[0] if site.dof else np.zeros(3)
        best = min(best, float(np.linalg.norm(y - u @ directions)))
    return best


def _member_operations(frac: np.ndarray, rep: int, members: list[int], site,
                       lattice: np.ndarray, max_offset: float) -> list[tuple[int, int]]:
    """``(atom, operation index)`` for every member, the representative first (identity)."""
    from chggen_kernels.wyckoff.tables import WyckoffError

    images = np.mod(np.einsum("kij,j->ki", site.rotations, frac[rep]) + site.translations,
                    1.0)
    out, used = [(rep, 0)], {0}
    for atom in (m for m in members if m != rep):
        delta = images - frac[atom]
        delta -= np.round(delta)
        distance = np.linalg.norm(delta @ lattice, axis=1)
        distance[list(used)] = np.inf
        k = int(np.argmin(distance))
        if distance[k] > max_offset:
            raise WyckoffError(f"atom {atom} is {distance[k]:.2f} Å from every image of its "
                               f"orbit's representative (position {site.label})")
        used.add(k)
        out.append((atom, k))
    return out
