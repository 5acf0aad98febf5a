"""Build the shipped reference hull ``chggen_kernels/data/reference_hull.json`` with CHGNet.

Run: ``python -m chggen_kernels.thermo.build_reference [--out PATH] [--only Li,Si]
[--match "bcc Li,diamond Si"]`` (all targets: about five minutes on one CPU thread).

Every structure is built offline from known crystallography (hand-written cubic/hexagonal
cells, or the AFLOW prototypes shipped with pymatgen decorated with the right elements and
scaled to a realistic volume), relaxed with CHGNet (FIRE, FrechetCellFilter, cell relaxed,
the force threshold and step cap of every known-phase hull:
:data:`~chggen_kernels.thermo.potential_hull.HULL_FMAX` and ``HULL_MAX_STEPS``) and stored
with its CHGNet energy in eV/atom (MaterialsProject2020-compatible scale, no corrections
applied). The shipped file's relaxations converged in at most 48 steps.

Choices and caveats:
* Li: bcc, fcc and hcp are all relaxed; the hull takes the lowest.
* P: black phosphorus (A17, Cmce). Materials Project's GGA ground state of P is a larger
  molecular/fibrous allotrope; black P is the common, well-defined choice here.
* S: alpha-S (A16, Fddd; 32 atoms in the primitive cell, 128 in the conventional one).
* Compounds are known phases with simple structures; no Li-Si binaries are included
  (their structures are large and not available offline), so Li-Si candidates are
  measured against the Li and Si end members only (an optimistic E_d).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from pymatgen.core import Lattice, Structure

from chggen_kernels.symmetry import final_symmetry
from chggen_kernels.thermo.entries_io import write_reference_file
from chggen_kernels.thermo.potential_hull import HULL_FMAX, HULL_MAX_STEPS
from chggen_kernels.thermo.sources import reference_data_path

FCC = [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]


def bcc(el: str, a: float) -> Structure:
    return Structure(Lattice.cubic(a), [el, el], [[0, 0, 0], [0.5, 0.5, 0.5]])


def fcc(el: str, a: float) -> Structure:
    return Structure(Lattice.cubic(a), [el] * 4, FCC)


def hcp(el: str, a: float, c: float) -> Structure:
    coords = [[1 / 3, 2 / 3, 0.25], [2 / 3, 1 / 3, 0.75]]
    return Structure(Lattice.hexagonal(a, c), [el, el], coords)


def diamond(el: str, a: float) -> Structure:
    coords = np.concatenate([FCC, np.array(FCC) + 0.25])
    return Structure(Lattice.cubic(a), [el] * 8, coords)


def aflow(aflow_id: str, strukturbericht: str | None, mapping: dict[str, str],
          volume_per_atom: float) -> Structure:
    """AFLOW prototype shipped with pymatgen, species replaced, scaled to ``volume_per_atom``."""
    from pymatgen.analysis.prototypes import AFLOW_PROTOTYPE_LIBRARY

    for proto in AFLOW_PROTOTYPE_LIBRARY:
        tags = proto["tags"]
        if tags["aflow"] == aflow_id and (strukturbericht is None
                                          or tags.get("strukturbericht") == strukturbericht):
            s = proto["snl"].structure.copy()
            s.replace_species(mapping)
            s.scale_lattice(volume_per_atom * len(s))
            return s
    raise KeyError(f"AFLOW prototype {aflow_id} ({strukturbericht}) not found")


@dataclass(frozen=True)
class Target:
    """One reference phase: a description and a builder of its starting structure."""

    description: str
    build: Callable[[], Structure]


TARGETS: list[Target] = [
    Target("bcc Li (Im-3m)", lambda: bcc("Li", 3.44)),
    Target("fcc Li (Fm-3m)", lambda: fcc("Li", 4.33)),
    Target("hcp Li (P6_3/mmc)", lambda: hcp("Li", 3.07, 5.02)),
    Target("bcc Na (Im-3m)", lambda: bcc("Na", 4.23)),
    Target("bcc K (Im-3m)", lambda: bcc("K", 5.28)),
    Target("hcp Mg (P6_3/mmc)", lambda: hcp("Mg", 3.21, 5.21)),
    Target("fcc Ca (Fm-3m)", lambda: fcc("Ca", 5.58)),
    Target("fcc Al (Fm-3m)", lambda: fcc("Al", 4.04)),
    Target("fcc Cu (Fm-3m)", lambda: fcc("Cu", 3.61)),
    Target("hcp Zn (P6_3/mmc)", lambda: hcp("Zn", 2.665, 4.947)),
    Target("diamond Si (Fd-3m)", lambda: diamond("Si", 5.43)),
    Target("diamond Ge (Fd-3m)", lambda: diamond("Ge", 5.66)),
    Target("alpha (diamond) Sn (Fd-3m)", lambda: diamond("Sn", 6.49)),
    Target("black P (A17, Cmce)", lambda: aflow("A_oC8_64_f", "A17", {}, 19.0)),
    Target("alpha S (A16, Fddd)", lambda: aflow("A_oF128_70_4h", "A16", {}, 25.8)),
    Target("Li2S antifluorite (Fm-3m)",
           lambda: aflow("AB2_cF12_225_a_c", "C1", {"Ca": "S", "F": "Li"}, 15.5)),
    Target("Na2S antifluorite (Fm-3m)",
           lambda: aflow("AB2_cF12_225_a_c", "C1", {"Ca": "S", "F": "Na"}, 23.3)),
    Target("Mg2Si antifluorite (Fm-3m)",
           lambda: aflow("AB2_cF12_225_a_c", "C1", {"Ca": "Si", "F": "Mg"}, 21.3)),
    Target("Mg2Ge antifluorite (Fm-3m)",
           lambda: aflow("AB2_cF12_225_a_c", "C1", {"Ca": "Ge", "F": "Mg"}, 21.7)),
    Target("ZnS zinc blende (F-43m)",
           lambda: aflow("AB_cF8_216_c_a", "B3", {}, 19.8)),
    Target("ZnS wurtzite (P6_3mc)",
           lambda: aflow("AB_hP4_186_b_b", "B4", {}, 19.8)),
    Target("AlP zinc blende (F-43m)",
           lambda: aflow("AB_cF8_216_c_a", "B3", {"Zn": "Al", "S": "P"}, 20.4)),
    Target("MgS rock salt (Fm-3m)",
           lambda: aflow("AB_cF8_225_a_b", "B1", {"Na": "Mg", "Cl": "S"}, 17.6)),
    Target("Li3P Na3As-type (P6_3/mmc)",
           lambda: aflow("AB3_hP8_194_c_bf", "D0_18", {"Na": "Li", "As": "P"}, 15.0)),
    Target("Na3P Na3As-type (P6_3/mmc)",
           lambda: aflow("AB3_hP8_194_c_bf", "D0_18", {"Na": "Na", "As": "P"}, 23.7)),
    Target("LiZnP half-Heusler (F-43m)",
           lambda: aflow("ABC_cF12_216_b_c_a", "C1_b", {"Mg": "Li", "Ag": "Zn", "As": "P"},
                         16.0)),
    Target("SiS2 (C42, Ibam)", lambda: aflow("A2B_oI12_72_j_a", "C42", {}, 24.9)),
    Target("LiAl NaTl-type (B32, Fd-3m)",
           lambda: aflow("AB_cF16_227_a_b", "B32", {"Na": "Li", "Tl": "Al"}, 16.2)),
    Target("CuZn beta-brass (B2, Pm-3m)", lambda: aflow("AB_cP2_221_b_a", "B2",
                                                        {"Cs": "Cu", "Cl": "Zn"}, 12.8)),
    Target("MgZn2 Laves (C14, P6_3/mmc)", lambda: aflow("AB2_hP12_194_f_ah", "C14", {}, 16.9)),
]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(reference_data_path()))
    parser.add_argument("--only", default="", help="comma-separated elements to restrict to")
    parser.add_argument("--match", default="",
                        help="comma-separated substrings; only targets whose description "
                             "contains one of them")
    parser.add_argument("--fmax", type=float, default=HULL_FMAX,
                        help=f"force tolerance, eV/Å (default {HULL_FMAX:g})")
    parser.add_argument("--steps", type=int, default=HULL_MAX_STEPS,
                        help=f"most optimiser steps (default {HULL_MAX_STEPS})")
    args = parser.parse_args(argv)

    import chgnet
    import torch
    from chgnet.model import CHGNet, StructOptimizer

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _build(args, CHGNet, StructOptimizer, chgnet.__version__)
    finally:
        torch.set_num_threads(previous_threads)


def _build(args: argparse.Namespace, chgnet_cls, optimizer_cls, chgnet_version: str) -> None:
    model = chgnet_cls.load(verbose=False)
    relaxer = optimizer_cls(model=model, optimizer_class="FIRE")
    model_label = f"CHGNet {model.version} (chgnet {chgnet_version})"
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    matches = [m.strip() for m in args.match.split(",") if m.strip()]
    records = []
    for target in TARGETS:
        start = target.build()
        if only and not {el.symbol for el in start.composition.elements} <= only:
            continue
        if matches and not any(m in target.description for m in matches):
            continue
        t0 = time.perf_counter()
        sg_start = final_symmetry(start, 0.01, 5)
        out = relaxer.relax(start, fmax=args.fmax, steps=args.steps, relax_cell=True,
                            verbose=False)
        final: Structure = out["final_structure"]
        n_steps = len(out["trajectory"].energies)
        energy = float(model.predict_structure(final)["e"])
        sg_final = final_symmetry(final, 0.1, 10)
        flag = "" if sg_final.number == sg_start.number else "  SYMMETRY CHANGED"
        print(f"{target.description:32s} {final.composition.reduced_formula:8s} "
              f"{energy:9.4f} eV/atom  {sg_start.symbol}->{sg_final.symbol} "
              f"V/N {final.volume / len(final):6.2f} Å^3  {n_steps:4d} steps "
              f"{time.perf_counter() - t0:5.1f} s{flag}", flush=True)
        records.append({
            "formula": final.composition.reduced_formula,
            "energy_per_atom": round(energy, 6),
            "source": f"{model_label} relaxation of {target.description}",
            "spacegroup": sg_final.symbol,
            "volume_per_atom": round(final.volume / len(final), 4),
            "n_steps": n_steps,
            "structure": final.as_dict(),
        })
    write_reference_file(
        args.out, records,
        description=("Reference phases relaxed with CHGNet by chggen_kernels.thermo."
                     "build_reference (FIRE + FrechetCellFilter, fmax "
                     f"{args.fmax} eV/Å). Energies in eV/atom on the CHGNet "
                     "(MaterialsProject2020-compatible) scale, no corrections."),
        metadata={"label": f"chggen-chgnet-{model.version}", "model": model_label},
    )
    print(f"wrote {len(records)} entries to {args.out}")


if __name__ == "__main__":
    main()
