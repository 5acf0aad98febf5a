"""Pictures of unit cells (ASE's matplotlib renderer on an Agg canvas)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from campaign.report.figures import new_figure

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure
    from pymatgen.core import Structure

__all__ = ["cell_figure"]

VIEW_ROTATION = "-70x,-20y,0z"  # a slightly tilted view along b: all three axes visible


def cell_figure(structure: Structure, title: str = "", size: float = 3.2) -> Figure:
    """One crystal's unit cell: atoms as discs in Jmol colours (radius 0.6 x covalent),
    cell edges drawn, a legend of the elements; ``size`` in inches."""
    from ase.data import atomic_numbers, covalent_radii
    from ase.data.colors import jmol_colors
    from ase.visualize.plot import plot_atoms
    from matplotlib.patches import Patch
    from pymatgen.io.ase import AseAtomsAdaptor

    atoms = AseAtomsAdaptor.get_atoms(structure.copy())
    fig = new_figure(size, size + 0.3)
    ax = fig.add_subplot()
    radii = [0.6 * covalent_radii[z] for z in atoms.numbers]
    plot_atoms(atoms, ax, rotation=VIEW_ROTATION, radii=radii, show_unit_cell=2)
    ax.set_axis_off()
    elements = sorted({site.specie.symbol for site in structure},
                      key=lambda el: atomic_numbers[el])
    handles = [Patch(facecolor=jmol_colors[atomic_numbers[el]], edgecolor="k", label=el)
               for el in elements]
    ax.legend(handles=handles, loc="upper right", fontsize=7, frameon=False,
              handlelength=1.0, borderaxespad=0.0)
    if title:
        ax.set_title(title, fontsize=8)
    return fig
