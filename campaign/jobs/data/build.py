"""``chggen data build``: candidates -> CHGNet relaxation (cached) -> selection -> files.

Steps (see docs/training_data.md):

1. Candidates from the chosen sources, one pool per chemical system (decorated
   prototypes, random crystals, Materials Project, files inside it), one pool of AFLOW
   prototypes with their own species and one of files outside every system; each pool
   sorted smallest cells first and the pools interleaved (:func:`interleave`); ``limit``
   keeps the first candidates of that order.
2. Candidates without a record in the cache (:mod:`campaign.jobs.data.cache`: a locked
   results folder of Parquet parts bound to the relaxation settings) are relaxed in
   blocks (in process, or on Ray relax actors), every block written as it finishes.
3. The relaxed records of the candidates are filtered by their energy above the hull of
   the set itself, deduplicated, and written with the reference hull and the manifest.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import importlib.metadata
import json
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

from campaign.engine.folder import Fingerprint, check_fingerprint, folder_lock
from campaign.jobs.data.cache import RelaxStore, read_any_cache
from campaign.jobs.data.options import SOURCES, BuildOptions, DataBuildError
from campaign.jobs.data.relax import (
    Progress,
    RelaxerFactory,
    chgnet_relaxer,
    relax_candidates,
)
from chggen_kernels.datasets import (
    SourceStructure,
    aflow_prototypes,
    build_counts,
    decorated_prototypes,
    file_sha256,
    interleave,
    mp_structures,
    parse_chemsys,
    random_symmetric_crystals,
    read_known_structures,
    reference_hull_from_build,
    reference_records,
    relaxer_label,
    select_training_set,
    structures_from_files,
    substituted_templates,
    system_of,
    training_crystals,
)
from chggen_kernels.relax import RelaxSettings
from chggen_kernels.workflow.planning import short_hash

__all__ = ["SOURCES", "BuildOptions", "BuildSummary", "DataBuildError", "gather_candidates",
           "run_build"]

MANIFEST_FORMAT = "chggen-data-build-manifest"


@dataclasses.dataclass
class BuildSummary:
    """What a build did; ``manifest`` is the content of ``manifest.json``."""

    n_candidates: int = 0
    n_cached: int = 0
    n_relaxed: int = 0
    n_failed: int = 0
    n_train: int = 0
    interrupted: bool = False
    manifest: dict[str, Any] = dataclasses.field(default_factory=dict)


def gather_candidates(
    opts: BuildOptions,
    mp_client: Any = None,
    notes: dict[str, Any] | None = None,
) -> list[SourceStructure]:
    """The build's candidates in relaxation order (module docstring, step 1)."""
    from chggen_kernels.lattice import VolumePrior

    notes = {} if notes is None else notes
    prior = VolumePrior(element_volumes={})  # elemental volumes (pymatgen) for every element
    systems = ["-".join(parse_chemsys(s)) for s in opts.chemsys]
    pools: dict[str, list[SourceStructure]] = {s: [] for s in systems}
    templates: list[tuple[str, Any]] = []
    if "substituted" in opts.sources:
        unreadable: list[str] = []
        templates = [(f"{t.source}:{t.source_id}", t.structure)
                     for t in read_known_structures(opts.templates, unreadable=unreadable)]
        notes["templates_read"] = len(templates)
        notes["templates_unreadable"] = unreadable
    analogues = opts.analogue_map()
    for system in systems:
        if "prototypes" in opts.sources:
            pools[system] += decorated_prototypes(system, prior, max_atoms=opts.max_atoms)
        if "random" in opts.sources and opts.random_per_system:
            pools[system] += random_symmetric_crystals(
                system, opts.random_per_system, max_atoms=opts.max_atoms, seed=opts.seed)
        if "substituted" in opts.sources:
            pools[system] += substituted_templates(system, templates, opts.substitute, prior,
                                                   max_atoms=opts.max_atoms,
                                                   analogues=analogues)
        if "mp" in opts.sources:
            pools[system] += mp_structures(system, client=mp_client, max_atoms=opts.max_atoms,
                                           e_above_hull_max=opts.mp_ehull_max)
    extra: list[list[SourceStructure]] = []
    if "prototypes" in opts.sources and opts.undecorated:
        extra.append(list(aflow_prototypes(max_atoms=opts.max_atoms)))
    if "files" in opts.sources:
        skipped: list[str] = []
        outside: list[SourceStructure] = []
        too_large = 0
        for c in structures_from_files(opts.files, skipped=skipped):
            if len(c.structure) > opts.max_atoms:
                too_large += 1
                continue
            system = system_of((el.symbol for el in c.structure.composition.elements), systems)
            (outside if system == "other" else pools[system]).append(c)
        extra.append(outside)
        notes["files_skipped"] = skipped
        notes["files_over_max_atoms"] = too_large
    order = interleave([*pools.values(), *extra])
    if opts.limit is not None:
        order = order[: opts.limit]
    return order


def _versions() -> dict[str, str]:
    out = {}
    for name in ("chggen", "chgnet", "pymatgen", "pyxtal", "torch"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            out[name] = importlib.metadata.version(name)
    return out


# inputs a source needs, not defaults
_SOURCE_INPUTS = ("files", "templates", "substitute", "analogues")


def command_line(opts: BuildOptions) -> str:
    """The ``chggen data build`` command that reproduces ``opts`` (defaults left out)."""
    import shlex

    default = BuildOptions(chemsys=opts.chemsys, sources=opts.sources, out=opts.out,
                           files=opts.files, templates=opts.templates,
                           substitute=opts.substitute, analogues=opts.analogues)
    words = ["chggen", "data", "build", "--chemsys", *opts.chemsys, "--sources",
             *opts.sources, "--out", str(opts.out)]
    flags = {"undecorated": "--no-undecorated", "keep_unreferenced": "--drop-unreferenced",
             "retry_failed": "--retry-failed", "no_relax": "--no-relax"}
    for f in dataclasses.fields(opts):
        value = getattr(opts, f.name)
        if f.name in ("chemsys", "sources", "out"):
            continue
        if f.name in _SOURCE_INPUTS:  # the default object was built with them: say if given
            if value is None or value == ():
                continue
        elif value == getattr(default, f.name):
            continue
        if f.name in flags:
            words.append(flags[f.name])
        elif isinstance(value, tuple):
            words += [f"--{f.name.replace('_', '-')}", *map(str, value)]
        else:
            words += [f"--{f.name.replace('_', '-')}", str(value)]
    return " ".join(shlex.quote(w) for w in words)


def run_build(
    opts: BuildOptions,
    *,
    mp_client: Any = None,
    relaxer_factory: RelaxerFactory | None = None,
    energy_function: Callable[[Any], list[float]] | None = None,
    stream: TextIO | None = None,
) -> BuildSummary:
    """Run (or resume) a build; outputs in ``opts.out``. ``KeyboardInterrupt`` during the
    relaxation returns a summary with ``interrupted=True`` and writes no outputs."""
    stream = stream or sys.stderr
    if "known" in opts.sources:
        from campaign.jobs.data.known import run_known_build

        summary = BuildSummary()
        summary.manifest = run_known_build(opts, energy_function=energy_function,
                                           stream=stream)
        summary.n_train = summary.manifest["splits"]["train"]["crystals"]
        return summary
    started = time.monotonic()
    extra: list[dict[str, Any]] = []
    if opts.hull_references is not None:
        try:
            extra = reference_records(opts.hull_references)
        except ValueError as exc:
            raise DataBuildError(f"--hull-references = {str(opts.hull_references)!r}: {exc}"
                                 ) from None
    summary = BuildSummary()
    opts.out.mkdir(parents=True, exist_ok=True)
    import yaml

    (opts.out / "build.yaml").write_text(yaml.safe_dump(
        {"command": command_line(opts), "arguments": opts.to_dict()}, sort_keys=False))
    notes: dict[str, Any] = {}
    candidates = gather_candidates(opts, mp_client=mp_client, notes=notes)
    summary.n_candidates = len(candidates)
    with folder_lock(opts.cache_path, command="chggen data build"):
        return _build(opts, candidates, notes, extra, summary, started, relaxer_factory,
                      stream)


def _build(opts: BuildOptions, candidates: list[SourceStructure], notes: dict[str, Any],
           extra: list[dict[str, Any]], summary: BuildSummary, started: float,
           relaxer_factory: RelaxerFactory | None, stream: TextIO) -> BuildSummary:
    """The build inside the cache folder's lock: reuse, relax, select, write."""
    ids = {c.structure_id for c in candidates}
    store = RelaxStore(opts.cache_path)
    check_fingerprint(opts.cache_path, Fingerprint(
        {"relaxer": relaxer_label(opts.fmax, opts.max_steps)}),
        advice="rerun with the cache's --fmax/--max-steps, or give another --relaxed-cache")
    cache = store.open(warn=lambda line: print(line, file=stream, flush=True), keep_ids=ids,
                       older=opts.older_cache)
    reused: list[dict[str, Any]] = []
    for path in opts.read_cache:  # reused records are copied into the build's cache
        if Path(path).resolve() == opts.cache_path.resolve():
            continue
        other = read_any_cache(path, keep_ids=ids)
        for sid, record in other.records.items():
            if sid not in cache.records or (cache.records[sid].get("status") != "ok"
                                            and record.get("status") == "ok"):
                reused.append(record)
                cache.add(record)
    if reused:
        store.write_records("reused-" + short_hash(*sorted(r["structure_id"] for r in reused)),
                            reused)
    records = cache.records

    def needs(c: SourceStructure) -> bool:
        r = records.get(c.structure_id)
        return r is None or (opts.retry_failed and r.get("status") != "ok")

    todo = [c for c in candidates if needs(c)]
    summary.n_cached = len(candidates) - len(todo)
    print(f"data build: {len(candidates)} candidates, {summary.n_cached} in the cache "
          f"{str(opts.cache_path)!r}, {0 if opts.no_relax else len(todo)} to relax with "
          f"{opts.workers} worker(s)", file=stream, flush=True)
    if cache.bad_lines:
        print(f"data build: skipped {len(cache.bad_lines)} bad cache lines; first: "
              f"{cache.bad_lines[0]}", file=stream)
    if todo and not opts.no_relax:
        summary.interrupted = not _relax(opts, store, todo, records, summary, relaxer_factory,
                                         stream)
        if summary.interrupted:
            print("data build: interrupted; every finished relaxation is in the cache, run "
                  "the same command again to resume", file=stream)
            return summary
    notes["hull_references"] = extra
    summary.manifest = _finalize(opts, candidates, records, cache, notes, started, summary,
                                 stream)
    return summary


def _relax(opts: BuildOptions, store: RelaxStore, todo: list[SourceStructure],
           records: dict[str, Any],
           summary: BuildSummary, relaxer_factory: RelaxerFactory | None,
           stream: TextIO) -> bool:
    settings = RelaxSettings(fmax=opts.fmax, max_steps=opts.max_steps)
    label = relaxer_label(opts.fmax, opts.max_steps)
    if relaxer_factory is not None:
        label += f" via {getattr(relaxer_factory, '__qualname__', type(relaxer_factory).__name__)}"
    factory = relaxer_factory or chgnet_relaxer
    progress = Progress(len(todo), stream)

    def on_record(record: dict[str, Any]) -> None:
        records[record["structure_id"]] = record
        progress.add(record)
        summary.n_relaxed += record.get("status") == "ok"
        summary.n_failed += record.get("status") != "ok"

    try:
        relax_candidates(todo, workers=opts.workers, factory=factory, settings=settings,
                         label=label, store=store, on_record=on_record,
                         address=opts.address)
    except KeyboardInterrupt:
        return False
    return True


def _file_info(path: Path) -> dict[str, Any]:
    return {"sha256": file_sha256(path), "bytes": path.stat().st_size}


def _finalize(opts: BuildOptions, candidates: list[SourceStructure], records: Mapping[str, Any],
              cache: Any, notes: dict[str, Any], started: float, summary: BuildSummary,
              stream: TextIO) -> dict[str, Any]:
    from chggen_kernels.training import dataset_hash, write_training_parquet

    systems = ["-".join(parse_chemsys(s)) for s in opts.chemsys]
    mine = {c.structure_id: records[c.structure_id] for c in candidates
            if c.structure_id in records}
    extra = notes.get("hull_references", [])
    selection = select_training_set(mine.values(), e_above_hull_max=opts.ehull_max,
                                    keep_unreferenced=opts.keep_unreferenced,
                                    extra_hull_records=extra)
    counts = build_counts(candidates, mine, selection, systems)
    files: dict[str, Any] = {}
    crystals = training_crystals(mine, selection, systems)
    summary.n_train = len(crystals)
    train_path = opts.out / "train.parquet"
    if crystals:
        write_training_parquet(train_path, crystals)
        files["train.parquet"] = {**_file_info(train_path), "rows": len(crystals),
                                  "data_hash": dataset_hash(crystals)}
    hull_path = opts.out / "reference_hull.json"
    missing: dict[str, list[str]] = {}
    if any(r.get("status") == "ok" for r in mine.values()):
        reference = reference_hull_from_build(
            [*mine.values(), *extra], chemsys=systems, hull=selection.hull, path=hull_path,
            structure_max_e_above_hull=opts.ehull_max,
            metadata={"chemsys": systems, "model": "CHGNet (chgnet "
                      f"{_versions().get('chgnet', '?')})"})
        missing = reference.missing_elements
        files["reference_hull.json"] = {**_file_info(hull_path),
                                        "entries": len(reference.entries)}
    if opts.relaxed_cache is None and opts.cache_path.exists():
        parts = sorted(opts.cache_path.glob("part-*.parquet"))
        files["relaxed"] = {"parts": len(parts),
                            "bytes": sum(p.stat().st_size for p in parts)}
    manifest = {
        "format": MANIFEST_FORMAT,
        "version": 1,
        "created_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": command_line(opts),
        "arguments": opts.to_dict(),
        "versions": _versions(),
        "counts": counts,
        "missing_elemental_references": missing,
        "cache": {"path": str(opts.cache_path), "records": cache.n_lines,
                  "bad_lines": len(cache.bad_lines), "first_bad_lines": cache.bad_lines[:5]},
        "files_source": {k: notes[k] for k in ("files_skipped", "files_over_max_atoms")
                         if k in notes},
        "hull_references": None if opts.hull_references is None else {
            "path": str(opts.hull_references), "entries": len(extra),
            **_file_info(opts.hull_references)},
        "outputs": files,
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    (opts.out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    total = counts["total"]
    print(f"data build: {total['candidates']} candidates, {total['relaxed_ok']} relaxed, "
          f"{total['failed']} failed, {total['pending']} not relaxed, {total['kept_hull']} "
          f"within {opts.ehull_max:g} eV/atom of their hull, {total['kept_dedup']} after "
          f"deduplication; outputs in {str(opts.out)!r}", flush=True)
    for system, absent in missing.items():
        print(f"data build: warning: no relaxed elemental {', '.join(absent)} for {system}; "
              "the reference hull of that system is incomplete", file=stream)
    return manifest
