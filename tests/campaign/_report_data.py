"""A small synthetic Li-Si results folder for the report, export and locality tests.

Real crystals (bcc Li, diamond Si, CsCl- and rock-salt-type LiSi, antifluorite Li2Si, a
P1 Li3Si) with made-up energies (eV/atom), plus a translated and perturbed copy of the
CsCl-type cell (a duplicate) and failed rows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from pymatgen.core import Lattice, Structure

from campaign.engine.store import ResultStore
from chggen_kernels.workflow.records import CandidateRecord


def _elemental_references() -> tuple[float, float]:
    """Li and Si ground-state energies (eV/atom) of the shipped offline hull."""
    from chggen_kernels.thermo import OfflineHullSource

    entries = OfflineHullSource().entries(["Li", "Si"])
    return tuple(min(e.energy_per_atom for e in entries if e.composition.reduced_formula == el)
                 for el in ("Li", "Si"))  # type: ignore[return-value]


LI_REF, SI_REF = _elemental_references()  # eV/atom, offline reference hull (CHGNet)


FCC = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])


def fcc(a: float, basis: list[tuple[str, tuple[float, float, float]]]) -> Structure:
    """Conventional cubic cell (a in Å) of an fcc lattice with the given basis; built
    directly (``Structure.from_spacegroup`` costs seconds on a loaded machine)."""
    species, coords = [], []
    for element, offset in basis:
        species += [element] * 4
        coords += [(FCC + np.array(offset)) % 1.0]
    return Structure(Lattice.cubic(a), species, np.concatenate(coords))


def bcc_li() -> Structure:
    return Structure(Lattice.cubic(3.44), ["Li", "Li"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def diamond_si() -> Structure:
    return fcc(5.47, [("Si", (0, 0, 0)), ("Si", (0.25, 0.25, 0.25))])


def cscl_lisi() -> Structure:
    return Structure(Lattice.cubic(2.95), ["Li", "Si"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def rocksalt_lisi() -> Structure:
    return fcc(5.2, [("Li", (0, 0, 0)), ("Si", (0.5, 0, 0))])


def antifluorite_li2si() -> Structure:
    return fcc(6.0, [("Si", (0, 0, 0)), ("Li", (0.25, 0.25, 0.25)), ("Li", (0.75, 0.75, 0.75))])


def p1_li3si() -> Structure:
    lattice = Lattice.from_parameters(4.1, 4.6, 5.3, 81, 97, 104)
    frac = [[0.02, 0.05, 0.11], [0.48, 0.13, 0.59], [0.17, 0.61, 0.33], [0.71, 0.66, 0.86]]
    return Structure(lattice, ["Li", "Li", "Li", "Si"], frac)


def perturbed_copy(s: Structure, shift: float = 0.23, noise: float = 0.02) -> Structure:
    """``s`` translated by ``shift`` (fractional, along all axes) with Gaussian noise (Å)."""
    rng = np.random.default_rng(7)
    copy = s.copy()
    copy.translate_sites(range(len(copy)), [shift, shift, shift], frac_coords=True)
    for i in range(len(copy)):
        copy.translate_sites([i], rng.normal(0.0, noise, 3), frac_coords=False)
    return copy


def record(
    candidate_id: str,
    structure: Structure | None,
    *,
    task_id: str = "t1",
    mode: str = "unconditional",
    energy: float | None = None,
    e_d: float | None = None,
    spacegroup: tuple[int, str] | None = None,
    status: str = "ok",
    failure_reason: str | None = None,
    delta_e: float = 0.08,
    rmsd: float = 0.1,
) -> dict[str, Any]:
    """One results row with every CandidateRecord column."""
    comp = structure.composition if structure is not None else None
    text = json.dumps(structure.as_dict()) if structure is not None else None
    ok = status == "ok"
    sg_number, sg_symbol = spacegroup if spacegroup else (None, None)
    row = CandidateRecord(
        candidate_id=candidate_id, task_id=task_id,
        formula=comp.reduced_formula if comp else "Li3Si",
        composition="".join(f"{el}{int(n)}" for el, n in sorted(comp.as_dict().items()))
        if comp else "Li3Si1",
        chemsys="-".join(sorted(el.symbol for el in comp.elements)) if comp else "Li-Si",
        n_atoms=len(structure) if structure is not None else 4,
        mode=mode, parent_id=None, guest_species="Li" if mode == "inpaint" else None,
        n_guest=0, lattice_family="cubic", lattice_ratio=None, volume_per_atom_prior=20.0,
        seed=0, status=status, failure_reason=failure_reason,
        spacegroup_generated=1, spacegroup_framework=None,
        spacegroup_relaxed=sg_number if ok else None,
        spacegroup_symbol_relaxed=sg_symbol if ok else None,
        is_symmetric=(sg_number > 2) if ok and sg_number else None,
        energy_generated_per_atom=None if energy is None else energy + delta_e,
        energy_relaxed_per_atom=energy if ok else None,
        delta_e_relax=delta_e if ok else None, rmsd_relax=rmsd if ok else None,
        relax_steps=50 if ok else None, relax_converged=True if ok else None,
        e_d=e_d if ok else None, e_above_hull=max(e_d, 0.0) if ok and e_d is not None else None,
        decomposition=None, hull_source="offline:chggen-chgnet" if ok else None,
        structure_generated=text, structure_relaxed=text if ok else None, cif_relaxed=None,
        model_checkpoint="tiny.pt", sampler_settings="{}", t_sample_s=0.1, t_relax_s=0.2,
        created_at="2025-01-01T00:00:00+00:00",
    )
    return row.to_dict()


def mix(x_si: float, e_form: float) -> float:
    """Energy per atom (eV/atom) of a Li(1-x)Si(x) phase with formation energy ``e_form``."""
    return (1 - x_si) * LI_REF + x_si * SI_REF + e_form


def write_results(directory: Path) -> Path:
    """The synthetic folder: 9 successful rows (one a duplicate) and 2 failed ones."""
    store = ResultStore(directory)
    store.write_task("t1", [
        record("li-bcc", bcc_li(), energy=LI_REF, e_d=0.0, spacegroup=(229, "Im-3m")),
        record("si-dia", diamond_si(), energy=SI_REF, e_d=0.0, spacegroup=(227, "Fd-3m")),
        record("lisi-cscl", cscl_lisi(), energy=mix(0.5, -0.15), e_d=-0.010,
               spacegroup=(221, "Pm-3m")),
        record("lisi-rs", rocksalt_lisi(), energy=mix(0.5, -0.05), e_d=0.090,
               spacegroup=(225, "Fm-3m"), delta_e=0.3, rmsd=0.4),
        record("li3si-p1", p1_li3si(), energy=mix(0.25, 0.02), e_d=0.120, spacegroup=(1, "P1")),
        record("bad-relax", p1_li3si(), status="failed",
               failure_reason="relaxation: did not converge"),
    ])
    store.write_task("t2", [
        record("lisi-cscl-copy", perturbed_copy(cscl_lisi()), task_id="t2", mode="inpaint",
               energy=mix(0.5, -0.148), e_d=-0.008, spacegroup=(221, "Pm-3m")),
        record("li2si-af", antifluorite_li2si(), task_id="t2", mode="inpaint",
               energy=mix(1 / 3, -0.10), e_d=0.020, spacegroup=(225, "Fm-3m")),
        record("li3si-p1-b", p1_li3si(), task_id="t2", mode="inpaint",
               energy=mix(0.25, 0.01), e_d=0.110, spacegroup=(2, "P-1")),
        record("li-bcc-inp", bcc_li(), task_id="t2", mode="inpaint", energy=LI_REF + 0.001,
               e_d=0.001, spacegroup=(229, "Im-3m")),
        record("bad-sample", None, task_id="t2", mode="inpaint", status="failed",
               failure_reason="sampler: NaN positions"),
    ])
    return directory


def write_all_failed(directory: Path) -> Path:
    ResultStore(directory).write_task("t1", [
        record(f"f{i}", p1_li3si(), status="failed",
               failure_reason="relaxation: did not converge" if i else "screening: 0.5 Å")
        for i in range(3)
    ])
    return directory
