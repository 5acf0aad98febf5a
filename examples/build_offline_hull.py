"""Build the shipped offline hull from known phases with CHGNet (resumable).

    python examples/build_offline_hull.py --known ../shared/data/known_crystals.parquet \
        --work /tmp/hull_build --out chggen_kernels/data/reference_hull_known.json

Steps (every result is appended to a JSONL cache in ``--work`` at once, so a killed run
continues where it stopped when started again with the same arguments):

1. Read the known structures (:func:`chggen_kernels.datasets.read_known_structures`)
   but the ``--exclude-sources`` collections, without StructureMatcher deduplication (on
   the 88-site ZnS polytypes alone it takes longer than relaxing them).
2. CHGNet single-point energy of every structure of at most ``--max-single-point-atoms``
   sites (``single_point.jsonl``).
3. CHGNet relaxation (FIRE + FrechetCellFilter, fmax ``--fmax`` eV/Å, at most
   ``--max-steps`` steps) of every structure inside the target systems and of the
   ``--relax-per-element`` lowest elemental polymorphs of every element
   (``relaxed.jsonl``). Copies (same formula, same site count, single points within
   0.5 meV/atom) are relaxed once. Order: the lowest single point of every target
   composition first, then the elemental polymorphs, then the rest smallest first, so an
   interrupted run has covered every composition early.
4. :func:`chggen_kernels.thermo.known_hull.hull_entries`: lowest per composition; the
   output holds compositions, energies, kind (relaxed | single_point) and source ids, no
   structure.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from chggen_kernels.datasets import (
    append_record,
    filter_known,
    load_relax_cache,
    read_known_structures,
    relax_record,
    relaxer_label,
)
from chggen_kernels.thermo.entries_io import write_reference_file
from chggen_kernels.thermo.known_hull import (
    elements_to_relax,
    hull_entries,
    in_target_systems,
    own_build_gaps,
)

TARGETS = ("Li-Si", "P-S-Zn", "Li-P-S")


def _jsonl(path: Path) -> dict[str, dict]:
    out: dict[str, dict] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                r = json.loads(line)
                out[r["structure_id"]] = r
            except (json.JSONDecodeError, KeyError, TypeError):
                continue
    return out


def _single_points(rows: list, path: Path, max_atoms: int, batch: int) -> dict[str, dict]:
    from chgnet.model import CHGNet

    from campaign.jobs.data.known import chgnet_energies

    done = _jsonl(path)
    todo = [r for r in rows if r.structure_id not in done and len(r.structure) <= max_atoms]
    print(f"single points: {len(done)} cached, {len(todo)} to do", flush=True)
    if not todo:
        return done
    model = CHGNet.load(verbose=False, use_device="cpu")
    t0 = time.time()
    chunk_size = 20 * batch  # progress and cache writes every chunk
    for start in range(0, len(todo), chunk_size):
        chunk = todo[start:start + chunk_size]
        energies = chgnet_energies([r.structure for r in chunk], batch, model)
        for r, e in zip(chunk, energies, strict=True):
            rec = {"structure_id": r.structure_id, "formula": r.structure.composition.formula}
            rec |= ({"status": "ok", "energy_per_atom": e} if isinstance(e, float)
                    else {"status": "failed", "failure_reason": e})
            append_record(path, rec)
            done[rec["structure_id"]] = rec
        print(f"single points: {start + len(chunk)}/{len(todo)} in {time.time() - t0:.0f} s",
              flush=True)
    return done


def _missing_elements(training: Path, entries: list[dict], relaxer, label: str,
                      cache_path: Path) -> list[dict]:
    """Relaxed fcc / bcc / hcp cells of the training set's elements without a reference."""
    import pyarrow.parquet as pq
    from pymatgen.core import Composition, Element, Lattice, Structure

    from chggen_kernels.datasets import SourceStructure, structure_id

    have = {Composition(e["formula"]).elements[0].symbol for e in entries
            if Composition(e["formula"]).is_element}
    wanted = sorted({el for cs in pq.read_table(training, columns=["chemsys"]).column(0)
                     .to_pylist() for el in cs.split("-")} - have)
    cache = load_relax_cache(cache_path)
    out = []
    for el in wanted:
        v = Element(el).molar_volume or 20.0  # cm^3/mol
        v = v / 0.6022  # Å^3/atom
        cells = {"fcc": Structure(Lattice.cubic((4 * v) ** (1 / 3)), [el] * 4,
                                  [[0, 0, 0], [0, .5, .5], [.5, 0, .5], [.5, .5, 0]]),
                 "bcc": Structure(Lattice.cubic((2 * v) ** (1 / 3)), [el] * 2,
                                  [[0, 0, 0], [.5, .5, .5]]),
                 "hcp": Structure(Lattice.hexagonal((2 * v / (1.633 * 0.866)) ** (1 / 3),
                                                    1.633 * (2 * v / (1.633 * 0.866)) ** (1 / 3)),
                                  [el] * 2, [[1 / 3, 2 / 3, 0.25], [2 / 3, 1 / 3, 0.75]])}
        best = None
        for name, cell in cells.items():
            sid = structure_id("prototype-element", el, name)
            record = cache.records.get(sid)
            if record is None:
                record = relax_record(SourceStructure(sid, cell, "prototype", name), relaxer,
                                      label)
                append_record(cache_path, record)
            if record["status"] == "ok" and (best is None or record["energy_per_atom"]
                                              < best[1]["energy_per_atom"]):
                best = (name, record)
        if best is not None:
            out.append({"formula": el, "energy_per_atom": round(best[1]["energy_per_atom"], 6),
                        "kind": "relaxed_prototype", "source_id": f"{best[0]} {el}",
                        "collection": "chggen", "source": f"CHGNet relaxed {best[0]} {el} "
                        "(no elemental phase of it in the known data)"})
        print(f"element {el}: {'none' if best is None else best[0]} reference", flush=True)
    return out


def _relaxation_order(targets: list, elemental: list[str], sp: dict[str, dict]) -> list[str]:
    """Target structures and elemental polymorphs to relax, copies left out (docstring)."""
    def energy(r) -> float:
        rec = sp.get(r.structure_id, {})
        return float(rec["energy_per_atom"]) if rec.get("status") == "ok" else float("inf")

    seen: set[tuple[str, int, float]] = set()
    unique = []
    for r in sorted(targets, key=lambda r: (r.formula, len(r.structure), energy(r))):
        e = energy(r)
        key = (r.formula, len(r.structure),
               round(e * 2000) if e < float("inf") else r.structure_id)  # 0.5 meV/atom bins
        if key not in seen:
            seen.add(key)
            unique.append(r)
    first: dict[str, str] = {}
    for r in sorted(unique, key=energy):
        first.setdefault(r.formula, r.structure_id)
    order = list(first.values()) + [sid for sid in elemental if sid not in first.values()]
    chosen = set(order)
    order += [r.structure_id for r in sorted(unique, key=lambda r: len(r.structure))
              if r.structure_id not in chosen]
    return order


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--known", required=True, type=Path)
    p.add_argument("--work", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--targets", nargs="+", default=list(TARGETS))
    p.add_argument("--max-single-point-atoms", type=int, default=200)
    p.add_argument("--relax-per-element", type=int, default=2)
    p.add_argument("--fmax", type=float, default=0.05)
    p.add_argument("--max-steps", type=int, default=1000)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--elements-of", type=Path, default=None,
                   help="training Parquet: every element in it without an elemental phase in "
                   "the known data gets fcc, bcc and hcp cells at its elemental volume, "
                   "relaxed, lowest kept (kind relaxed_prototype)")
    p.add_argument("--own-build", type=Path, default=None,
                   help="hull file of our own training-set build; its entries at compositions "
                   "without a known phase go to --gaps-out, marked own_build")
    p.add_argument("--gaps-out", type=Path, default=None)
    p.add_argument("--exclude-sources", nargs="*", default=["aflow/legacy_data"],
                   help="collections left out (default: the AFLOW prototype library, whose "
                   "cells are prototype geometries at arbitrary scale, some at 1 Å^3/atom)")
    args = p.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    import torch

    torch.set_num_threads(1)
    unreadable: list[str] = []
    rows = [r for r in read_known_structures(args.known, unreadable)
            if r.source not in set(args.exclude_sources)]
    rows, counts = filter_known(rows, max_atoms=10**6, min_distance=0.5, deduplicate=False)
    print(f"{len(rows)} known structures ({len(unreadable)} unreadable)", flush=True)
    by_id = {r.structure_id: r for r in rows}
    formulas = {r.structure_id: r.formula for r in rows}
    sp = _single_points(rows, args.work / "single_point.jsonl", args.max_single_point_atoms,
                        args.batch)
    targets = [r for r in rows if in_target_systems(
        (el.symbol for el in r.structure.composition.elements), args.targets)]
    elemental = elements_to_relax(sp, formulas, args.relax_per_element)
    order = _relaxation_order(targets, elemental, sp)
    cache_path = args.work / "relaxed.jsonl"
    cache = load_relax_cache(cache_path)
    todo = [sid for sid in order if sid not in cache.ids]
    print(f"relaxations: {len(order)} planned ({len(targets)} target-system, "
          f"{len(elemental)} elemental), {len(todo)} to do", flush=True)
    from chggen_kernels.relax import Relaxer, RelaxSettings

    relaxer = Relaxer(RelaxSettings(fmax=args.fmax, max_steps=args.max_steps))
    label = relaxer_label(args.fmax, args.max_steps)
    t0 = time.time()
    for i, sid in enumerate(todo):
        record = relax_record(by_id[sid].as_source_structure(), relaxer, label)
        append_record(cache_path, record)
        print(f"relaxed {i + 1}/{len(todo)} {formulas[sid]} ({len(by_id[sid].structure)} "
              f"atoms): {record['status']} {record.get('energy_per_atom', '')} "
              f"[{time.time() - t0:.0f} s]", flush=True)
    cache = load_relax_cache(cache_path)
    provenance = {r.structure_id: {"source": r.source, "source_id": r.source_id} for r in rows}
    known_records = [r for sid, r in cache.records.items() if sid in by_id]
    entries = hull_entries(known_records, [r for sid, r in sp.items() if sid in by_id],
                           provenance)
    if args.elements_of is not None:
        entries += _missing_elements(args.elements_of, entries, relaxer, label, cache_path)
    n_relaxed = sum(e["kind"] == "relaxed" for e in entries)
    write_reference_file(
        args.out, entries,
        description=("Lowest CHGNet energy per composition of known phases (Materials "
                     "Project, Alexandria, JARVIS, WBM, AFLOW prototypes, OBELiX): relaxed "
                     f"for the systems {', '.join(args.targets)} and the elemental "
                     "polymorphs, single point of the DFT structure elsewhere. Energies in "
                     "eV/atom on the CHGNet (MaterialsProject2020-compatible) scale, no "
                     "corrections."),
        metadata={"label": "chggen-known-phases-v1", "model": "CHGNet 0.3.0",
                  "relaxer": label, "targets": list(args.targets),
                  "counts": {"entries": len(entries), "relaxed": n_relaxed,
                             "single_point": len(entries) - n_relaxed},
                  "filters": counts})
    print(f"wrote {args.out}: {len(entries)} compositions, {n_relaxed} relaxed", flush=True)
    if args.own_build is not None and args.gaps_out is not None:
        build = json.loads(args.own_build.read_text())["entries"]
        gaps = own_build_gaps(entries, build)
        write_reference_file(
            args.gaps_out, gaps,
            description=("Entries of chggen's own training-set build (CHGNet-relaxed prototype "
                         "decorations and random crystals) at compositions where no known "
                         "phase exists. Energies in eV/atom on the CHGNet scale."),
            metadata={"label": "chggen-data-build-gaps-v1", "model": "CHGNet 0.3.0",
                      "counts": {"entries": len(gaps)}})
        print(f"wrote {args.gaps_out}: {len(gaps)} compositions without a known phase",
              flush=True)


if __name__ == "__main__":
    main()
