"""Drive one benchmark run: select compounds, run the unfinished tasks, write the outputs.

:func:`execute` is what ``chggen benchmark csp|hosts`` calls; ``make_chain`` (a callable
returning a :class:`~campaign.jobs.benchmark.chain.BenchmarkChain`) and ``pool`` can be
injected, so tests run the whole command with a fake relaxer and a tiny model. The
folder is held with a campaign folder's writer lock (:func:`campaign.engine.folder.folder_lock`)
from before its manifest is read to after its outputs are written: a second writer is
refused in one line naming the holder, and a lock left by a killed run is taken over.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from campaign.engine.folder import folder_lock
from campaign.inputs.limits import Limits, check_limit
from campaign.jobs.benchmark.chain import ChainOptions
from campaign.jobs.benchmark.csp import (
    CSP_METHODS,
    CSP_SCHEMA,
    CspSettings,
    csp_scores,
    run_csp_task,
)
from campaign.jobs.benchmark.hosts import (
    HOST_METHODS,
    HOSTS_SCHEMA,
    HostSettings,
    host_scores,
    run_hosts_task,
)
from campaign.jobs.benchmark.known_input import BenchmarkInputError, read_known, select_compounds
from campaign.jobs.benchmark.report import write_outputs
from campaign.jobs.benchmark.runner import RunReport, make_pool, run_tasks
from campaign.jobs.benchmark.store import BenchmarkStore, Task
from chggen_kernels.datasets.sources import DEFAULT_MAX_ATOMS
from chggen_kernels.relax.settings import DEFAULT_MLIP

__all__ = ["RunSpec", "execute"]

Log = Callable[[str], None]


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One invocation: kind, input, selection, methods, settings, output and execution."""

    kind: str  # "csp" | "hosts"
    known: str
    out: str
    settings: CspSettings | HostSettings
    chain: ChainOptions
    methods: tuple[str, ...]
    set_name: str = "default"
    max_atoms: int = DEFAULT_MAX_ATOMS
    min_atoms: int = 1  # smallest cell searched (csp: the primitive cell unless --cell given)
    limit: int | None = None
    energy_tol: float = 0.0
    workers: int = 1
    address: str | None = None
    limits: Limits = dataclasses.field(default_factory=Limits)


def _check(spec: RunSpec) -> None:
    allowed = CSP_METHODS if spec.kind == "csp" else HOST_METHODS
    bad = [m for m in spec.methods if m not in allowed]
    if bad or not spec.methods:
        raise BenchmarkInputError(f"--methods {' '.join(bad) or '(none)'}: choose from "
                                  f"{', '.join(allowed)}")
    if len(set(spec.methods)) != len(spec.methods):
        raise BenchmarkInputError(f"--methods lists a method twice: {' '.join(spec.methods)}")
    if not math.isfinite(spec.energy_tol):
        raise BenchmarkInputError(f"--energy-tol must be finite eV/atom, got {spec.energy_tol}")
    if spec.workers < 1:
        raise BenchmarkInputError(f"--workers must be >= 1, got {spec.workers}")
    if isinstance(spec.settings, CspSettings):
        check_limit(spec.limits, "benchmark_k", spec.settings.k, field="--k")
    else:
        check_limit(spec.limits, "samples_per_task", spec.settings.n_samples,
                    field="--n-samples")
    check_limit(spec.limits, "atoms_per_cell", spec.max_atoms, field="--max-atoms")
    if not 1 <= spec.min_atoms <= spec.max_atoms:
        raise BenchmarkInputError(f"--min-atoms must be 1-{spec.max_atoms} (--max-atoms), got "
                                  f"{spec.min_atoms}")
    from campaign.stages.resources import ModelNotAvailableError, checkpoint_file

    try:  # the one checkpoint resolution (None: the shipped model, which must exist too)
        checkpoint_file(spec.chain.checkpoint)
    except ModelNotAvailableError as exc:
        raise BenchmarkInputError(str(exc)) from None
    from campaign.jobs.benchmark.chain import check_options

    try:
        check_options(spec.chain)
    except ValueError as exc:
        raise BenchmarkInputError(str(exc)) from None


def _manifest(spec: RunSpec) -> dict[str, Any]:
    chain = spec.chain
    # the potential only when it is not CHGNet: folders of CHGNet runs written before it
    # was recorded resume; another potential's folder refuses CHGNet and vice versa
    potential = {} if chain.mlip == DEFAULT_MLIP else {"mlip": chain.mlip}
    settings = dataclasses.asdict(spec.settings)
    if settings.get("z") == "given":  # likewise: folders written before --z resume
        settings = {k: v for k, v in settings.items() if k not in ("z", "z_max_atoms")}
    return {**settings, "checkpoint": chain.checkpoint,
            "sampler": dict(sorted(chain.sampler.items())), "fmax": chain.fmax,
            "max_steps": chain.max_steps, "max_combinations": chain.max_combinations,
            **potential}


def _header(spec: RunSpec, n_compounds: int, label: str, report: RunReport) -> str:
    what = (f"k = {spec.settings.k} relaxations per compound and method"
            if isinstance(spec.settings, CspSettings) else
            f"{spec.settings.n_samples} samples per host and method, guest "
            f"{spec.settings.guest}")
    return (f"# chggen benchmark {spec.kind}\n\nKNOWN `{spec.known}` (set {spec.set_name}, "
            f"{n_compounds} compounds, at most {spec.max_atoms} atoms); {what}; model "
            f"`{label or '?'}`; potential {spec.chain.mlip}, fmax {spec.chain.fmax} eV/Å, "
            f"{spec.chain.max_steps} "
            f"steps; StructureMatcher ltol 0.3, stol 0.5, angle_tol 10°; rates with 95 % "
            f"Wilson intervals. This run: {report.ran} tasks run, {report.skipped} resumed, "
            f"{len(report.failed)} failed, {report.wall_s:.0f} s.\n\n")


def set_ids(kind: str, set_name: str) -> list[str]:
    """The structure ids of the shipped set ``set_name`` of a ``kind`` benchmark
    (``default``: ``CSP_DEFAULT`` / ``HOSTS_DEFAULT``; ``extended``: ``EXTENDED_CSP``, csp
    only); none for ``all``."""
    from campaign.jobs.benchmark.default_set import CSP_DEFAULT, HOSTS_DEFAULT
    from campaign.jobs.benchmark.extended_set import EXTENDED_CSP

    if set_name == "extended" and kind != "csp":
        raise BenchmarkInputError("--set extended is a CSP set (chggen benchmark csp); "
                                  "benchmark hosts takes --set default or all")
    chosen = {"default": CSP_DEFAULT if kind == "csp" else HOSTS_DEFAULT,
              "extended": EXTENDED_CSP}.get(set_name, ())
    return [e.structure_id for e in chosen]


def usable_compounds(spec: RunSpec, default_ids: Sequence[str], log: Log | None
                     ) -> list[Any]:
    """The selected compounds whose structures pass the structure check (the others are
    listed on ``log``, skipped and counted; none left is a one-line refusal), within
    ``spec.limits`` (compounds of a hosts set, candidates in all)."""
    from campaign.inputs.structures import screen_structures

    csp = spec.kind == "csp"
    compounds = select_compounds(
        read_known(spec.known), spec.set_name, default_ids, max_atoms=spec.max_atoms,
        limit=spec.limit, require=None if csp else spec.settings.guest,  # type: ignore[union-attr]
        min_atoms=spec.min_atoms, atoms_of=lambda c: _atoms_searched(spec, c))
    warn = _warn(log)
    screened = screen_structures(
        compounds, structure_of=lambda c: c.structure,
        label_of=lambda c: f"{c.compound_id} ({c.formula})", what=f"benchmark {spec.kind}",
        limits=spec.limits, warn=warn)
    if screened.skipped:
        warn(screened.summary(f"benchmark {spec.kind}"))
    compounds = screened.kept
    if not csp:
        check_limit(spec.limits, "hosts", len(compounds), field="hosts of the benchmark set")
    check_limit(spec.limits, "candidates", _planned_candidates(spec, len(compounds)),
                field="planned benchmark candidates")
    return compounds


def _atoms_searched(spec: RunSpec, compound: Any) -> int:
    """Atoms of the cell a csp benchmark searches (the primitive cell unless ``--cell
    given``), of the host otherwise."""
    if spec.kind != "csp":
        return compound.n_atoms
    from campaign.jobs.benchmark.csp import known_cell

    return len(known_cell(compound, spec.settings.cell))  # type: ignore[union-attr]


def _warn(log: Log | None) -> Log:
    """Where warnings go: ``log``, or stderr when the run is quiet."""
    return log or (lambda line: print(line, file=sys.stderr, flush=True))


def _planned_candidates(spec: RunSpec, n_compounds: int) -> int:
    per = spec.settings.k if isinstance(spec.settings, CspSettings) else spec.settings.n_samples
    return n_compounds * len(spec.methods) * per


def _dry_run(spec: RunSpec, compounds: Sequence[Any]) -> dict[str, Any]:
    """Print the plan of the benchmark and return it (nothing runs)."""
    from campaign.config.plan import estimate_cost
    from campaign.stages.resources import resolve_sampler_settings

    per = _planned_candidates(spec, 1) // max(len(spec.methods), 1)
    n_atoms = sum(c.n_atoms for c in compounds)
    sampler = dataclasses.asdict(resolve_sampler_settings(dict(spec.chain.sampler), None))
    cost = estimate_cost(unconditional_atoms=n_atoms * per * len(spec.methods),
                         inpainting_atoms=0.0, sampler=sampler, workers=spec.workers,
                         cpus=float(spec.workers))
    plan = {"compounds": len(compounds), "methods": list(spec.methods),
            "candidates_per_compound_and_method": per,
            "tasks": len(compounds) * (len(spec.methods) + 1),
            "candidates": _planned_candidates(spec, len(compounds)),
            "cost_cpu_s": round(cost.total_cpu_s)}
    print(f"benchmark {spec.kind}: {plan['compounds']} compounds x {len(spec.methods)} methods "
          f"x {per} = {plan['candidates']:,} candidates in {plan['tasks']} tasks "
          f"(references included); {spec.workers} worker(s); out {spec.out}")
    print(cost.line() + " (random search samples nothing; this counts every method as "
          "a sampled one, an upper bound)")
    print("dry run: nothing started")
    return plan


def execute(spec: RunSpec, *, make_chain: Callable[[], Any] | None = None,
            pool_factory: Callable[..., Any] | None = None,
            log: Log | None = None, dry_run: bool = False, summary_only: bool = False
            ) -> tuple[dict[str, Any], RunReport]:
    """Run (or resume) one benchmark; returns the summary and what this run did
    (``dry_run``: print the plan and return it with an empty report, running nothing;
    ``summary_only``: run nothing, write the outputs from the tasks finished so far).

    ``pool_factory(workers, address, make_chain, run_one)`` makes the worker pool when
    ``spec.workers > 1`` or ``spec.address`` is set (default
    :func:`~campaign.jobs.benchmark.runner.make_pool`).

    Raises:
        BenchmarkInputError: bad input, found before any task runs.
        FolderLockedError: another live process writes into ``spec.out``.
    """
    _check(spec)
    compounds = usable_compounds(spec, set_ids(spec.kind, spec.set_name), log)
    if dry_run:
        return _dry_run(spec, compounds), RunReport()
    with folder_lock(Path(spec.out).expanduser(), command=f"chggen benchmark {spec.kind}",
                     warn=_warn(log)):
        return _run(spec, compounds, make_chain, pool_factory, log, summary_only)


def _run(spec: RunSpec, compounds: Sequence[Any], make_chain: Callable[[], Any] | None,
         pool_factory: Callable[..., Any] | None, log: Log | None, summary_only: bool = False
         ) -> tuple[dict[str, Any], RunReport]:
    """The run of :func:`execute`, inside the folder's lock."""
    from chggen_kernels.benchmark import (
        csp_markdown,
        hosts_markdown,
        summarise_csp,
        summarise_hosts,
    )

    csp = spec.kind == "csp"
    store = BenchmarkStore(spec.out, spec.kind, _manifest(spec),
                           CSP_SCHEMA if csp else HOSTS_SCHEMA)
    tasks = [Task(c, m) for c in compounds for m in ("reference", *spec.methods)]
    run_one = functools.partial(run_csp_task if csp else run_hosts_task,
                                settings=spec.settings)
    if make_chain is None:
        from campaign.jobs.benchmark.chain import build_chain

        make_chain = functools.partial(build_chain, spec.chain)
    if log:
        log(f"benchmark {spec.kind}: {len(compounds)} compounds x {len(spec.methods)} "
            f"methods + references = {len(tasks)} tasks; out {spec.out}")
    pool = None
    if summary_only:
        tasks = []
    elif spec.workers > 1 or spec.address is not None:
        pool = (pool_factory or make_pool)(spec.workers, spec.address, make_chain, run_one)
    t0 = time.perf_counter()
    report = run_tasks(tasks, run_one, make_chain, store, pool=pool, workers=spec.workers,
                       log=log)  # the engine closes the pool
    if csp:
        scores, rows = csp_scores(store, compounds, spec.methods, spec.energy_tol)
        summary = summarise_csp(scores, spec.settings.k)  # type: ignore[union-attr]
    else:
        scores, rows = host_scores(store, compounds, spec.methods, spec.energy_tol)
        summary = summarise_hosts(scores)
    label = next((r["model_checkpoint"] for r in rows if r.get("model_checkpoint")
                  and r["model_checkpoint"] != "random-search"), "")
    summary = {"benchmark": spec.kind, "known": spec.known, "set": spec.set_name,
               "compounds": [{"compound_id": c.compound_id, "formula": c.formula,
                              "n_atoms": c.n_atoms, "source_id": c.source_id}
                             for c in compounds],
               "methods_run": list(spec.methods), "settings": _manifest(spec),
               "energy_tol": spec.energy_tol, "model_checkpoint": label,
               "run": {"tasks_run": report.ran, "tasks_resumed": report.skipped,
                       "tasks_failed": report.failed, "wall_s": time.perf_counter() - t0,
                       "python": platform.python_version()},
               "scores": summary}
    formulas = {c.compound_id: f"{c.formula} ({c.n_atoms} atoms)" for c in compounds}
    table = (csp_markdown(summary["scores"], formulas, spec.methods) if csp
             else hosts_markdown(summary["scores"], spec.methods))
    write_outputs(Path(spec.out), summary, _header(spec, len(compounds), label, report) + table,
                  rows, CSP_SCHEMA if csp else HOSTS_SCHEMA, spec.kind, spec.methods)
    return summary, report


def default_methods(kind: str) -> Sequence[str]:
    from campaign.jobs.benchmark import CSP_DEFAULT_METHODS

    return CSP_DEFAULT_METHODS if kind == "csp" else HOST_METHODS
