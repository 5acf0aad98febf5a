"""Symmetric inpainting (guests on Wyckoff orbits) against ordinary inpainting, same hosts.

Hosts: decorated AFLOW prototypes (``chggen_kernels.datasets.decorated_prototypes``, cell
scaled to the shipped model's volume prior), taken as "relaxed unconditional candidates":
each goes through the campaign's own framework stage (``inpainting_specs``: guests
removed, symmetry ladder, refined conventional cell, guests scaled). Four Li-Si hosts with
Li as guest (Li5Si2 C2/m, Li2Si Cmcm, LiSi I4_1/amd, Li3Si2 whose Im-3m framework no orbit
combination fits: the fallback) and four Zn-P-S hosts with Zn as guest (ZnPS4 P2/c,
ZnPS3 Cm, ZnP2S4 I-4, Zn2PS4 I-42m), fixed by structure id.

For each host ``--samples`` candidates per mode (``inpaint``, ``inpaint-symmetric``) are
sampled with the shipped default model (same seeds for both modes) and relaxed with CHGNet
(1 thread, FIRE + FrechetCellFilter, fmax 0.1 eV/Å, ``--max-steps``), then scored against
the offline hull (``relax_and_score``, the campaign's stage). A generated structure that
is identical in both modes (a fallback host: same seed, same sampler) is relaxed once.

Reported per chemical system and mode:
* ``symmetric_rate``: candidates whose relaxed structure has a space group above P-1
  (``final_symmetry`` at 0.1 Å / 10 degrees, the project's definition) / all candidates
  (failed ones count as not symmetric); also over the successful ones;
* ``framework_group_kept``: relaxed space group equal to the refined framework's;
* ``generated_in_framework_group``: every space-group operation of the refined framework
  (spglib at 0.01 Å) maps the generated structure (before relaxation) onto itself within
  0.01 Å, i.e. its space group is the framework's or a supergroup (the number at 0.01 Å is
  listed too);
* energy per atom (eV/atom) and E_d (eV/atom): median, quartiles, min, count; E_d is
  comparable across the hosts' compositions, the energy per atom is not;
* per host: median E_d of each mode and the symmetric counts.

    nice -n 5 python benchmarks/bench_symmetric_inpainting.py
    python benchmarks/bench_symmetric_inpainting.py --samples 2 --n-levels 30   # quicker

Writes JSON to ``--output`` (default benchmarks/results/symmetric_inpainting.json).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stamp import stamp  # noqa: E402

HOSTS = {  # structure id -> (chemical system, guest, label)
    "6f739815f0d39fce": ("Li-Si", "Li", "Li5Si2 A5B2_mC14_12"),
    "d81c5ae4822f38be": ("Li-Si", "Li", "Li2Si A2B_oC12_38"),
    "924512c24abf6b94": ("Li-Si", "Li", "LiSi AB_tI16_141"),
    "ea042d352c5d788d": ("Li-Si", "Li", "Li3Si2 A3B2_hR5_155"),
    "7d8ef5aa50ba42f3": ("P-S-Zn", "Zn", "ZnPS4 ABC4_mP12_13"),
    "4102c35b15ef5f9e": ("P-S-Zn", "Zn", "ZnPS3 A3BC_mC10_8"),
    "399932c997c3fa07": ("P-S-Zn", "Zn", "ZnP2S4 A2BC4_tI14_82"),
    "3be80d612918d85f": ("P-S-Zn", "Zn", "Zn2PS4 A2BC4_tI14_82"),
}
MODES = ("inpaint", "inpaint-symmetric")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--samples", type=int, default=3, help="candidates per host and mode")
    p.add_argument("--n-levels", type=int, default=40)
    p.add_argument("--n-corrector", type=int, default=1)
    p.add_argument("--resample-passes", type=int, default=2)
    p.add_argument("--jump-length", type=int, default=5)
    p.add_argument("--max-steps", type=int, default=200, help="FIRE steps per relaxation")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", default="benchmarks/results/symmetric_inpainting.json")
    return p.parse_args()


def host_records(prior: Any) -> dict[str, Any]:
    """Structure id -> an ``ok`` CandidateRecord holding the prototype as relaxed host."""
    from chggen_kernels.datasets import decorated_prototypes
    from chggen_kernels.workflow import CandidateSpec, GeneratedCandidate, failed_record

    found = {}
    for chemsys in sorted({system for system, _, _ in HOSTS.values()}):
        for source in decorated_prototypes(chemsys, prior, max_atoms=20,
                                           include_subsystems=False):
            if source.structure_id in HOSTS:
                found[source.structure_id] = source.structure
    missing = sorted(set(HOSTS) - set(found))
    if missing:
        raise SystemExit(f"prototype ids {missing} not found (pymatgen's AFLOW library changed)")
    records = {}
    for sid, structure in found.items():
        composition = {el.symbol: int(n) for el, n in structure.composition.items()}
        spec = CandidateSpec(candidate_id=f"host-{sid}", task_id="bench", composition=composition,
                             mode="unconditional", seed=0, lattice_family=None,
                             volume_per_atom_prior=structure.volume / len(structure))
        record = failed_record(GeneratedCandidate(spec, "ok", structure.as_dict(), None, 0.0,
                                                  {}, "prototype"), "placeholder")
        records[sid] = dataclasses.replace(record, status="ok", failure_reason=None,
                                           structure_relaxed=json.dumps(structure.as_dict()))
    return records


class MemoRelaxer:
    """The relaxer, run once per distinct structure (fallback candidates repeat a plain one)."""

    def __init__(self, relaxer: Any) -> None:
        self.relaxer = relaxer
        self.cache: dict[str, Any] = {}

    def relax(self, structure: Any) -> Any:
        key = json.dumps(structure.as_dict(), sort_keys=True)
        if key not in self.cache:
            self.cache[key] = self.relaxer.relax(structure)
        return self.cache[key]


def ops_preserved(framework: Any, structure: Any, tolerance: float = 0.01) -> bool:
    """Every operation of ``framework``'s space group (spglib, 0.01 Å) maps ``structure``
    (same cell) onto itself, species by species, within ``tolerance`` Å."""
    import numpy as np
    import spglib

    cell = (framework.lattice.matrix, framework.frac_coords, framework.atomic_numbers)
    data = spglib.get_symmetry_dataset(cell, symprec=0.01)
    frac, numbers = structure.frac_coords, np.array(structure.atomic_numbers)
    lattice = structure.lattice.matrix
    for rot, trans in zip(data.rotations, data.translations, strict=True):
        image = frac @ rot.T + trans
        d = image[:, None, :] - frac[None, :, :]
        d -= np.round(d)
        dist = np.linalg.norm(d @ lattice, axis=2)
        dist[numbers[:, None] != numbers[None, :]] = np.inf
        if dist.min(axis=1).max() > tolerance:
            return False
    return True


def quantiles(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    values = sorted(values)
    q = statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 else values * 3
    return {"n": len(values), "min": values[0], "q1": q[0], "median": statistics.median(values),
            "q3": q[2], "max": values[-1]}


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in rows if r["status"] == "ok"]
    sym = [r for r in ok if (r["spacegroup_relaxed"] or 1) > 2]
    kept = [r for r in ok if r["spacegroup_relaxed"] == r["spacegroup_framework"]]
    return {
        "n": len(rows), "n_ok": len(ok),
        "n_fallback": sum(r["symmetric_fallback"] is not None for r in rows),
        "symmetric_rate": len(sym) / len(rows) if rows else None,
        "symmetric_rate_of_ok": len(sym) / len(ok) if ok else None,
        "framework_group_kept": len(kept) / len(rows) if rows else None,
        "generated_in_framework_group": (sum(r["generated_in_framework_group"] for r in rows)
                                         / len(rows) if rows else None),
        "energy_per_atom": quantiles([r["energy_relaxed_per_atom"] for r in ok
                                      if r["energy_relaxed_per_atom"] is not None]),
        "e_d": quantiles([r["e_d"] for r in ok if r["e_d"] is not None]),
        "relaxed_spacegroups": sorted({r["spacegroup_relaxed"] for r in ok}),
        "failure_reasons": [r["failure_reason"] for r in rows if r["status"] != "ok"],
    }


def main() -> None:
    args = parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    warnings.filterwarnings("ignore")
    import torch

    torch.set_num_threads(1)

    from campaign.stages.resources import load_model, load_relaxer
    from chggen_kernels.relax import RelaxSettings
    from chggen_kernels.sampling import SamplerSettings
    from chggen_kernels.symmetry import final_symmetry
    from chggen_kernels.thermo import OfflineHullSource
    from chggen_kernels.workflow import HullProvider, generate, inpainting_specs, relax_and_score

    t_start = time.perf_counter()
    loaded = load_model(None)
    settings = SamplerSettings.from_preset(  # the whole reverse process, as measured before
        "reference", n_levels=args.n_levels, n_corrector_steps=args.n_corrector,
        resample_passes=args.resample_passes, jump_length=args.jump_length,
        sigma_min=float(loaded.metadata.sigma_min), sigma_max=float(loaded.metadata.sigma_max))
    relaxer = MemoRelaxer(load_relaxer(RelaxSettings(n_threads=1, max_steps=args.max_steps)))
    hull = HullProvider(OfflineHullSource())
    records = host_records(loaded.volume_prior)

    specs = []
    hosts_out = {}
    for index, (sid, (system, guest, label)) in enumerate(HOSTS.items()):
        for mode in MODES:
            found = inpainting_specs(records[sid], [guest], args.samples,
                                     task_id=f"{sid}-{mode}", campaign_seed=args.seed + 100 * index,
                                     mode=mode)
            specs += found
        framework = found[0].host.to_structure()
        hosts_out[sid] = {"system": system, "guest": guest, "label": label,
                          "framework": framework.composition.formula,
                          "framework_spacegroup": found[0].spacegroup_framework,
                          "n_guest": found[0].n_guest,
                          "wyckoff_letters": sorted({s.wyckoff_letters or "" for s in found}),
                          "fallback": found[0].symmetric_fallback}
    t0 = time.perf_counter()
    generated = generate(loaded.model, specs, settings, model_checkpoint=loaded.label)
    t_sample = time.perf_counter() - t0
    rows = []
    t0 = time.perf_counter()
    for candidate in generated:
        record = relax_and_score(candidate, relaxer, hull).to_dict()
        spec = candidate.spec
        in_group, number = False, None
        generated_structure = candidate.generated_structure()
        if generated_structure is not None:
            in_group = ops_preserved(spec.host.to_structure(), generated_structure)
            number = final_symmetry(generated_structure, 0.01, 5.0).number
        record["generated_in_framework_group"] = in_group
        record["spacegroup_generated_tight"] = number
        record["host"] = next(s for s in HOSTS if spec.parent_id == f"host-{s}")
        rows.append(record)
        print(f"{record['mode']:18s} {hosts_out[record['host']]['label']:24s} "
              f"{record['status']:6s} sg {record['spacegroup_relaxed']} "
              f"E_d {record['e_d']} {record['wyckoff_letters']}", flush=True)
    t_relax = time.perf_counter() - t0

    systems: dict[str, Any] = {}
    for system in sorted({s for s, _, _ in HOSTS.values()}):
        systems[system] = {mode: summarise([r for r in rows if r["mode"] == mode and
                                            HOSTS[r["host"]][0] == system]) for mode in MODES}
    for sid, info in hosts_out.items():
        for mode in MODES:
            sub = [r for r in rows if r["host"] == sid and r["mode"] == mode]
            e_d = [r["e_d"] for r in sub if r["e_d"] is not None]
            info[mode] = {"n": len(sub), "n_ok": sum(r["status"] == "ok" for r in sub),
                          "n_symmetric": sum((r["spacegroup_relaxed"] or 1) > 2 for r in sub),
                          "median_e_d": statistics.median(e_d) if e_d else None,
                          "generated_spacegroups_0.01": [r["spacegroup_generated_tight"]
                                                         for r in sub],
                          "relaxed_spacegroups": [r["spacegroup_relaxed"] for r in sub]}
    result = {
        "stamp": stamp(),
        "description": __doc__.split("\n\n")[0],
        "settings": {"samples_per_host_and_mode": args.samples, "sampler": settings.to_dict(),
                     "relax_max_steps": args.max_steps, "model": loaded.label,
                     "symprec_relaxed": 0.1, "symprec_generated": 0.01},
        "systems": systems,
        "hosts": hosts_out,
        "timing_s": {"sampling": t_sample, "relaxation": t_relax,
                     "total": time.perf_counter() - t_start},
        "torch": {"version": torch.__version__, "threads": 1},
    }
    path = Path(args.output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=float) + "\n")
    print(json.dumps(result["systems"], indent=1, default=float))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
