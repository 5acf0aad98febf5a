"""``chggen data build --sources known --known FILE``: a training set from known crystals.

Known structures (a Parquet or JSON file of pymatgen structures with provenance columns,
:mod:`chggen_kernels.datasets.known`) are DFT minima already, so by default nothing is
relaxed:

1. read the file; filter by elements (``--chemsys`` systems and their subsystems, or all),
   atoms per cell (``--max-atoms``), minimum interatomic distance (``--min-distance``) and
   duplicates (StructureMatcher within a formula); counts per source and filter go to the
   manifest;
2. optionally (``--single-point``) CHGNet single-point energies, and with them an
   energy-above-hull filter (``--ehull-max``, against the hull of the file's own structures);
3. split by formula into ``train.parquet``, ``val.parquet`` and ``test.parquet`` (every
   polymorph of a formula on one side; ``--test-formulas`` forces formulas into the test
   split) and write ``manifest.json`` with the formula list of every split.
"""

from __future__ import annotations

import datetime
import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from chggen_kernels.datasets import (
    KnownStructure,
    energy_above_own_hull,
    file_sha256,
    filter_known,
    parse_chemsys,
    read_known_structures,
    split_by_formula,
)
from chggen_kernels.errors import InputError

__all__ = ["EnergyFunction", "chgnet_energies", "chgnet_single_points", "run_known_build"]

EnergyFunction = Callable[[Sequence[Any]], list[float]]
"""Structures -> CHGNet energies, eV/atom (NaN for a structure that could not be scored)."""


def chgnet_energies(structures: Sequence[Any], batch_size: int = 16, model: Any = None
                    ) -> list[float | str]:
    """CHGNet energy per atom (eV/atom) of every structure as given (no relaxation), or
    ``"<Error>: <message>"`` for one that cannot be scored. Batches of ``batch_size``; a
    batch that fails is scored one by one, so one bad structure fails alone. ``model``: a
    loaded CHGNet (default: the pretrained one, loaded here)."""
    import torch
    from chgnet.model import CHGNet

    model = model if model is not None else CHGNet.load(verbose=False, use_device="cpu")
    out: list[float | str] = []
    for start in range(0, len(structures), batch_size):
        chunk = list(structures[start:start + batch_size])
        with torch.no_grad():
            try:
                preds = model.predict_structure(chunk, task="e", batch_size=batch_size)
                out += [float(p["e"]) for p in preds]
            except Exception:  # noqa: BLE001 - score the batch one by one instead
                for s in chunk:
                    try:
                        out.append(float(model.predict_structure(s, task="e")["e"]))
                    except Exception as exc:  # noqa: BLE001 - an unscorable structure
                        out.append(f"{type(exc).__name__}: {exc}"[:300])
    return out


def chgnet_single_points(structures: Sequence[Any], batch_size: int = 16) -> list[float]:
    """:func:`chgnet_energies` with NaN for a structure that could not be scored."""
    import math

    return [e if isinstance(e, float) else math.nan
            for e in chgnet_energies(structures, batch_size)]


def _allowed_elements(chemsys: Sequence[str]) -> list[str] | None:
    if not chemsys:
        return None
    return sorted({el for system in chemsys for el in parse_chemsys(system)})


def _ehull_filter(rows: list[KnownStructure], energies: list[float], ehull_max: float,
                  counts: dict[str, dict[str, int]]) -> list[KnownStructure]:
    import math

    records = [{"structure_id": r.structure_id, "status": "ok", "energy_per_atom": e,
                "formula": r.structure.composition.formula}
               for r, e in zip(rows, energies, strict=True) if math.isfinite(e)]
    hull = energy_above_own_hull(records)
    kept = []
    for r, e in zip(rows, energies, strict=True):
        position = hull.get(r.structure_id)
        above = None if position is None else position.e_above_hull
        reason = ("single_point_failed" if not math.isfinite(e)
                  else "e_above_hull" if above is not None and above > ehull_max else None)
        c = counts.setdefault(r.source, {})
        if reason is None:
            kept.append(r)
        else:
            c[reason] = c.get(reason, 0) + 1
            c["kept"] -= 1
    return kept


def _write_split(path: Path, rows: list[KnownStructure], energies: dict[str, float]) -> dict:
    from chggen_kernels.training import TrainingCrystal, dataset_hash, write_training_parquet

    crystals = [TrainingCrystal(structure_id=r.structure_id, structure=r.structure,
                                source=r.source, energy_per_atom=energies.get(r.structure_id),
                                provenance=r.provenance()) for r in rows]
    write_training_parquet(path, crystals)
    return {"sha256": file_sha256(path), "bytes": path.stat().st_size, "rows": len(rows),
            "data_hash": dataset_hash(crystals)}


def run_known_build(
    opts: Any,
    *,
    energy_function: EnergyFunction | None = None,
    stream: TextIO,
) -> dict[str, Any]:
    """Build the split training set of ``opts.known`` into ``opts.out``; returns the
    manifest. ``energy_function`` replaces CHGNet single points (tests inject one)."""
    started = time.monotonic()
    unreadable: list[str] = []
    rows = read_known_structures(opts.known, unreadable)
    elements = _allowed_elements(opts.chemsys)
    kept, counts = filter_known(rows, elements=elements, max_atoms=opts.max_atoms,
                                min_distance=opts.min_distance)
    for reason in unreadable:
        source = reason.split(":", 1)[0]
        counts.setdefault(source, {"read": 0})
        counts[source]["unreadable"] = counts[source].get("unreadable", 0) + 1
    print(f"data build: {len(rows)} known structures read ({len(unreadable)} unreadable), "
          f"{len(kept)} after the filters", file=stream, flush=True)
    if not kept:
        dropped = Counter()
        for source_counts in counts.values():
            dropped.update({k: v for k, v in source_counts.items() if k not in ("read", "kept")})
        raise InputError(f"data build: no usable structure left in {str(opts.known)!r} "
                         f"({', '.join(f'{k} {v}' for k, v in sorted(dropped.items()))})")
    energies: dict[str, float] = {}
    if opts.single_point:
        values = (energy_function or chgnet_single_points)([r.structure for r in kept])
        energies = {r.structure_id: e for r, e in zip(kept, values, strict=True) if e == e}
        kept = _ehull_filter(kept, values, opts.ehull_max, counts)
        print(f"data build: {len(kept)} within {opts.ehull_max:g} eV/atom of the hull of "
              "their single-point energies", file=stream, flush=True)
    assignment = split_by_formula(sorted({r.formula for r in kept}),
                                  val_fraction=opts.val_fraction,
                                  test_fraction=opts.test_fraction, seed=opts.seed,
                                  test_formulas=opts.test_formulas)
    by_split: dict[str, list[KnownStructure]] = defaultdict(list)
    for r in kept:
        by_split[assignment[r.formula]].append(r)
    opts.out.mkdir(parents=True, exist_ok=True)
    outputs = {}
    for split in ("train", "val", "test"):
        if by_split[split]:
            outputs[f"{split}.parquet"] = _write_split(opts.out / f"{split}.parquet",
                                                       by_split[split], energies)
    formulas = {split: sorted({r.formula for r in by_split[split]})
                for split in ("train", "val", "test")}
    manifest = {
        "format": "chggen-data-build-manifest", "version": 1, "kind": "known",
        "created_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "arguments": opts.to_dict(),
        "known_file": {"path": str(opts.known), "sha256": file_sha256(opts.known)},
        "elements": elements,
        "filters": counts,
        "unreadable_first": unreadable[:5],
        "splits": {split: {"crystals": len(by_split[split]), "formulas": len(formulas[split]),
                           "by_source": dict(Counter(r.source for r in by_split[split]))}
                   for split in ("train", "val", "test")},
        "test_formulas": formulas["test"],
        "val_formulas": formulas["val"],
        "outputs": outputs,
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    (opts.out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"data build: train {len(by_split['train'])}, val {len(by_split['val'])}, test "
          f"{len(by_split['test'])} crystals ({len(formulas['test'])} test formulas); "
          f"outputs in {str(opts.out)!r}", file=stream, flush=True)
    return manifest

