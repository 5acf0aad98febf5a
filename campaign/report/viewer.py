"""Interactive 3D views of crystals in the report page (3Dmol.js, vendored and inlined).

:func:`structure_scene` turns a pymatgen ``Structure`` into what the page draws (Å,
Cartesian): the atoms of the unit cell and their images on the cell's faces, edges and
corners, atoms outside the cell that bond to one inside (drawn with the bond), the bonds,
the cell edges and coordination polyhedra. The page script (:data:`VIEWER_SCRIPT`) draws
each scene with 3Dmol.js (:func:`viewer_library`, read from ``campaign/report/vendor``);
nothing is fetched at run time.

Bonds: two atoms closer than ``BOND_SCALE`` times the sum of their covalent radii (ASE's
table). Polyhedra: around every atom of the cell that is not of the most electronegative
element (the anion), the anions within ``POLYHEDRON_SCALE`` times the nearest anion
distance and within ``LIGAND_SCALE`` times the sum of the covalent radii, when there are
at least four of them spanning a volume (their convex hull, scipy).
"""

from __future__ import annotations

import functools
import importlib.resources
import itertools
import json
from typing import TYPE_CHECKING, Any

import numpy as np

from campaign.report.viewer_js import VIEWER_SCRIPT

if TYPE_CHECKING:  # pragma: no cover
    from pymatgen.core import Structure

__all__ = [
    "BOND_SCALE",
    "LIGAND_SCALE",
    "POLYHEDRON_SCALE",
    "VIEWER_LIBRARY",
    "VIEWER_SCRIPT",
    "scene_json",
    "structure_scene",
    "viewer_library",
]

BOND_SCALE = 1.15  # bond if distance <= BOND_SCALE * (r_cov(a) + r_cov(b))
POLYHEDRON_SCALE = 1.2  # ligands within 1.2 x the nearest anion distance of the centre
LIGAND_SCALE = 1.3  # ... and within 1.3 x the sum of the covalent radii
BOUNDARY_TOL = 1e-3  # fractional: an atom this close to a face is drawn on both faces
MAX_DRAWN_ATOMS = 2000  # a larger cell is drawn without boundary images and ghost atoms
VIEWER_LIBRARY = "3Dmol-min.js"  # vendored 3Dmol.js 2.5.5 (BSD-3-Clause)
_POSITION_DIGITS = 3  # Å, to recognise the same drawn atom twice


@functools.cache
def viewer_library() -> str:
    """The vendored 3Dmol.js build (``campaign/report/vendor/3Dmol-min.js``) as text."""
    resource = importlib.resources.files("campaign.report").joinpath("vendor", VIEWER_LIBRARY)
    text = resource.read_text(encoding="utf-8")
    if "</script" in text.lower():  # would end the inline <script> element early
        raise ValueError(f"{VIEWER_LIBRARY} contains '</script' and cannot be inlined")
    return text


def _radii(symbols: list[str]) -> dict[str, float]:
    from ase.data import atomic_numbers, covalent_radii

    return {s: float(covalent_radii[atomic_numbers[s]]) for s in symbols}


def _jmol_hex(symbol: str) -> str:
    from ase.data import atomic_numbers
    from ase.data.colors import jmol_colors

    r, g, b = (int(round(255 * c)) for c in jmol_colors[atomic_numbers[symbol]])
    return f"#{r:02x}{g:02x}{b:02x}"


def _anion(symbols: list[str]) -> str | None:
    """The most electronegative element (``None`` for an element or no electronegativity)."""
    from pymatgen.core import Element

    elements = sorted(set(symbols))
    if len(elements) < 2:
        return None
    scored = [(float(Element(s).X), s) for s in elements]
    if any(x != x for x, _ in scored):  # NaN: noble gases
        return None
    return max(scored)[1]


def _boundary_images(frac: np.ndarray) -> list[tuple[int, tuple[int, int, int]]]:
    """(site, image) pairs of the atoms drawn for the cell: each site in the cell, plus
    its copies on the opposite faces when it lies on a face (corners: all eight)."""
    drawn = []
    for i, f in enumerate(frac):
        choices = [(0, 1) if abs(x) < BOUNDARY_TOL else (0,) for x in f]
        drawn += [(i, image) for image in itertools.product(*choices)]
    return drawn


class _Drawn:
    """The atoms of a scene, each drawn once: (site, image) -> index."""

    def __init__(self, species: list[str], cart: np.ndarray, matrix: np.ndarray) -> None:
        self.species, self.cart, self.matrix = species, cart, matrix
        self.index: dict[tuple[int, tuple[int, int, int]], int] = {}
        self.atoms: list[list[Any]] = []

    def position(self, site: int, image: tuple[int, int, int]) -> np.ndarray:
        return self.cart[site] + np.asarray(image, float) @ self.matrix

    def add(self, site: int, image: tuple[int, int, int]) -> int:
        key = (site, tuple(int(v) for v in image))
        if key not in self.index:
            self.index[key] = len(self.atoms)
            x, y, z = (round(float(v), _POSITION_DIGITS) for v in self.position(site, image))
            self.atoms.append([self.species[site], x, y, z])
        return self.index[key]


def _polyhedron(ligands: np.ndarray) -> list[list[float]] | None:
    """Triangles of the convex hull of ``ligands`` (outward, flat list of 9 numbers each),
    or ``None`` when they span no volume."""
    from scipy.spatial import ConvexHull, QhullError

    if len(ligands) < 4:
        return None
    try:
        hull = ConvexHull(ligands)
    except (QhullError, ValueError):
        return None
    if hull.volume < 1e-3:
        return None
    middle = ligands.mean(axis=0)
    triangles = []
    for a, b, c in hull.simplices:
        pa, pb, pc = ligands[a], ligands[b], ligands[c]
        if np.dot(np.cross(pb - pa, pc - pa), (pa + pb + pc) / 3 - middle) < 0:
            pb, pc = pc, pb
        triangles.append([round(float(v), _POSITION_DIGITS) for v in (*pa, *pb, *pc)])
    return triangles


def structure_scene(structure: Structure) -> dict[str, Any]:
    """What the page draws for one crystal (Å, Cartesian).

    Returns a JSON-able dict: ``atoms`` (``[element, x, y, z]``), ``bonds`` (index
    pairs into ``atoms``), ``cell`` (the three lattice vectors, rows), ``polyhedra``
    (``{"centre": element, "color": "#rrggbb", "triangles": [[9 numbers], ...]}``),
    ``anion`` (the polyhedra's ligand element or ``None``) and ``n_sites``.
    """
    from pymatgen.core import Structure as PmgStructure

    species = [site.specie.symbol for site in structure]
    matrix = np.asarray(structure.lattice.matrix, float)
    frac = np.mod(np.asarray(structure.frac_coords, float), 1.0)
    frac[np.isclose(frac, 1.0, atol=BOUNDARY_TOL)] = 0.0
    cart = frac @ matrix
    radii = _radii(sorted(set(species)))
    anion = _anion(species)
    cutoff = max(BOND_SCALE, LIGAND_SCALE) * 2 * max(radii.values())
    wrapped = PmgStructure(structure.lattice, species, frac)  # every site inside the cell
    centres, neighbours, images, distances = wrapped.get_neighbor_list(cutoff)
    drawn = _Drawn(species, cart, matrix)
    small = len(structure) * 8 <= MAX_DRAWN_ATOMS
    for site, image in (_boundary_images(frac) if small else
                        [(i, (0, 0, 0)) for i in range(len(species))]):
        drawn.add(site, image)
    by_site: dict[int, list[tuple[int, tuple[int, int, int], float]]] = {}
    for c, n, img, d in zip(centres, neighbours, images, distances, strict=True):
        by_site.setdefault(int(c), []).append((int(n), tuple(int(v) for v in img), float(d)))
    bonds: set[tuple[int, int]] = set()
    for (site, image), index in list(drawn.index.items()):
        for other, offset, d in by_site.get(site, []):
            if d > BOND_SCALE * (radii[species[site]] + radii[species[other]]):
                continue
            target = tuple(a + b for a, b in zip(image, offset, strict=True))
            key = (other, target)
            if key not in drawn.index and (image != (0, 0, 0) or not small
                                           or len(drawn.atoms) >= MAX_DRAWN_ATOMS):
                continue
            j = drawn.add(other, target)  # type: ignore[arg-type]
            bonds.add((min(index, j), max(index, j)))
    polyhedra = []
    if anion is not None:
        for site, symbol in enumerate(species):
            if symbol == anion:
                continue
            ligands = [(d, other, offset) for other, offset, d in by_site.get(site, [])
                       if species[other] == anion]
            if not ligands:
                continue
            nearest = min(d for d, _, _ in ligands)
            limit = min(POLYHEDRON_SCALE * nearest,
                        LIGAND_SCALE * (radii[symbol] + radii[anion]))
            points = np.array([drawn.position(other, offset)
                               for d, other, offset in ligands if d <= limit])
            triangles = _polyhedron(points)
            if triangles:
                polyhedra.append({"centre": symbol, "color": _jmol_hex(symbol),
                                  "triangles": triangles})
    return {
        "atoms": drawn.atoms,
        "bonds": sorted(bonds),
        "cell": [[round(float(v), 4) for v in row] for row in matrix],
        "polyhedra": polyhedra,
        "anion": anion,
        "n_sites": len(species),
    }


def scene_json(scene: dict[str, Any]) -> str:
    """``scene`` as JSON text safe inside an HTML ``<script type="application/json">``."""
    return json.dumps(scene, separators=(",", ":")).replace("</", "<\\/")
