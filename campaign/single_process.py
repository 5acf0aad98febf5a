"""The CHGGen chain in one process, for ``chggen generate`` and ``chggen inpaint``.

The same stage functions as the Ray campaign, called in a plain loop:

1. unconditional specs (random Bravais lattice at ``V = N * V0``) ->
   :func:`~chggen_kernels.workflow.generate` -> :func:`~chggen_kernels.workflow.relax_and_score`;
2. for inpainting, the best relaxed candidates become hosts:
   :func:`~chggen_kernels.workflow.inpainting_specs` (framework refinement, guests scaled
   by the refined cell's multiplicity) -> generate -> relax_and_score.

Each stage's rows are written as one task file of the campaign's results folder
(:class:`campaign.results.ResultStore`), so ``chggen top DIR`` and pandas read them like
campaign output. Units: Å, Å^3/atom, eV/atom.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from campaign.tasks import candidate_seed, short_hash
from chggen_kernels.workflow import (
    CandidateRecord,
    CandidateSpec,
    HullProvider,
    candidate_id_for,
    format_composition,
    format_ratio,
    generate,
    inpainting_specs,
    relax_and_score,
    symmetric_specs,
)

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from chggen_kernels.hosts import HostSpec
    from chggen_kernels.lattice import VolumePrior
    from chggen_kernels.relax import Relaxer, RelaxSettings
    from chggen_kernels.sampling import SamplerSettings

__all__ = [
    "ChainError",
    "ChainResult",
    "host_specs",
    "load_relaxer",
    "make_hull_provider",
    "rank_records",
    "resolve_volume_per_atom",
    "run_chain",
    "run_specs",
    "select_hosts",
    "unconditional_specs",
]

Log = Callable[[str], None]


class ChainError(ValueError):
    """A single-process run cannot start (bad hull source, uncovered chemical system...)."""


@dataclasses.dataclass(frozen=True)
class ChainResult:
    """Rows of one run: unconditional and inpainted candidates, hosts used, files written."""

    unconditional: list[CandidateRecord]
    inpainted: list[CandidateRecord]
    n_hosts: int = 0
    n_symmetric_hosts: int = 0
    files: tuple[Path, ...] = ()

    @property
    def records(self) -> list[CandidateRecord]:
        return self.unconditional + self.inpainted


# ------------------------------------------------------------------ resources
@functools.lru_cache(maxsize=2)
def _chgnet(device: str) -> Any:
    import contextlib
    import io
    import warnings

    from chgnet.model import CHGNet

    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CHGNet.load(verbose=False, use_device=device)


def load_relaxer(settings: RelaxSettings) -> Relaxer:
    """A :class:`~chggen_kernels.relax.Relaxer`; CHGNet is loaded once per process."""
    from chggen_kernels.relax import Relaxer

    return Relaxer(settings, model=_chgnet(settings.device))


def make_hull_provider(source: str, chemsys: str | None = None) -> HullProvider | None:
    """``offline`` (shipped references), ``mp``, a CSV/JSON file, or ``none`` (no E_d).

    With ``chemsys`` (e.g. ``"Li-Si"``) the phase diagram is built at once, so a source that
    lacks an element fails here, before any sampling, with the thermo module's message.
    """
    from chggen_kernels.thermo import FileHullSource, MPHullSource, OfflineHullSource

    if source == "none":
        return None
    if source == "offline":
        hull_source: Any = OfflineHullSource()
    elif source == "mp":
        hull_source = MPHullSource()
    elif Path(source).expanduser().is_file():
        hull_source = FileHullSource(Path(source).expanduser())
    else:
        raise ChainError(f"--hull {source!r}: expected 'offline', 'mp', 'none' or an existing "
                         "CSV/JSON file of reference energies")
    provider = HullProvider(hull_source)
    if chemsys is not None:
        try:
            provider.phase_diagram(chemsys)
        except Exception as exc:
            raise ChainError(f"hull {provider.name} cannot score {chemsys}: {exc} "
                             "(or pass --hull none to skip E_d)") from None
    return provider


def resolve_volume_per_atom(
    composition: Mapping[str, int], given: float | None, prior: VolumePrior | None
) -> tuple[float, str]:
    """V0 in Å^3/atom and where it came from: ``given``, else the checkpoint's prior, else
    the elemental-solid volumes of pymatgen (``VolumePrior`` fallback)."""
    from chggen_kernels.lattice import VolumePrior

    if given is not None:
        if not given > 0:
            raise ChainError(f"--volume-per-atom must be > 0 Å^3/atom, got {given!r}")
        return float(given), "given"
    if prior is not None:
        return prior.volume_per_atom(dict(composition)), "checkpoint volume prior"
    fallback = VolumePrior(element_volumes={})
    return fallback.volume_per_atom(dict(composition)), "elemental volumes (pymatgen)"


# ------------------------------------------------------------------ specs
def unconditional_specs(
    composition: Mapping[str, int],
    n_samples: int,
    seed: int,
    volume_per_atom: float,
    lattice_family: str = "any",
    lattice_ratio: str | None = None,
) -> list[CandidateSpec]:
    """``n_samples`` unconditional specs of one cell composition (deterministic in ``seed``).

    Each spec gets its own Bravais lattice: family ``"any"`` draws the family and the free
    axis ratios from the reference sets; a named family draws only its ratios unless
    ``lattice_ratio`` (``"b/a:c/a"``) fixes them. The family and ratio are recorded.
    """
    from chggen_kernels.lattice import LATTICE_FAMILIES, sample_lattice

    if n_samples < 1:
        raise ChainError(f"--n-samples must be >= 1, got {n_samples}")
    if lattice_family != "any" and lattice_family not in LATTICE_FAMILIES:
        raise ChainError(f"--lattice-family must be 'any' or one of {', '.join(LATTICE_FAMILIES)}"
                         f", got {lattice_family!r}")
    counts = {el: int(n) for el, n in sorted(composition.items()) if n}
    n_atoms = sum(counts.values())
    task_id = short_hash("generate", format_composition(counts), lattice_family, lattice_ratio,
                         volume_per_atom, n_samples, seed)
    families = LATTICE_FAMILIES if lattice_family == "any" else (lattice_family,)
    specs = []
    for k in range(n_samples):
        spec_seed = candidate_seed(seed, task_id, k)
        drawn = sample_lattice(n_atoms, volume_per_atom, spec_seed, families=families)
        ratio = lattice_ratio if lattice_ratio is not None else format_ratio(drawn.ratios)
        specs.append(CandidateSpec(
            candidate_id=candidate_id_for(task_id, k, "unconditional"),
            task_id=task_id,
            composition=counts,
            mode="unconditional",
            seed=spec_seed,
            lattice_family=drawn.family,
            lattice_ratio=ratio,
            volume_per_atom_prior=float(volume_per_atom),
        ))
    return specs


def host_specs(host: HostSpec, n_samples: int, seed: int, *, symmetric: bool = False,
               max_combinations: int = 64) -> list[CandidateSpec]:
    """Inpainting specs placing ``host.guest_counts`` into ``host.framework`` as given
    (no refinement); ``parent_id`` is ``host:<file name>``.

    ``symmetric=True``: mode ``inpaint-symmetric``, the guests on Wyckoff orbits of the
    framework's space group in the framework's own cell (at most ``max_combinations``
    combinations; spec ``k`` takes combination ``k`` mod their number), or ordinary
    inpainting with the reason recorded when no combination reaches the guest counts.
    """
    from chggen_kernels.symmetry import final_symmetry

    if n_samples < 1:
        raise ChainError(f"--n-samples must be >= 1, got {n_samples}")
    framework = host.framework
    composition: dict[str, int] = {}
    for site in framework:
        composition[site.specie.symbol] = composition.get(site.specie.symbol, 0) + 1
    for guest, n in host.guest_counts.items():
        composition[guest] = composition.get(guest, 0) + int(n)
    guests = tuple(g for g in host.guest_species if host.guest_counts[g] > 0)
    parts: tuple[Any, ...] = ("inpaint-host", framework.as_dict(), dict(sorted(
        host.guest_counts.items())), n_samples, seed)
    task_id = short_hash(*(parts + (("symmetric", max_combinations),) if symmetric else parts))
    spacegroup = final_symmetry(framework).number
    host_dict = framework.as_dict()
    specs = [
        CandidateSpec(
            candidate_id=candidate_id_for(task_id, k, "inpaint"),
            task_id=task_id,
            composition=dict(sorted(composition.items())),
            mode="inpaint",
            seed=candidate_seed(seed, task_id, k),
            volume_per_atom_prior=host.volume_per_atom,
            parent_id=f"host:{Path(host.source).name}",
            guest_species=guests,
            n_guest=host.n_guests,
            host=host_dict,
            spacegroup_framework=spacegroup,
        )
        for k in range(n_samples)
    ]
    if not symmetric:
        return specs
    specs = [dataclasses.replace(s, candidate_id=candidate_id_for(task_id, k, "symmetric"))
             for k, s in enumerate(specs)]
    return symmetric_specs(specs, seed=seed, max_combinations=max_combinations)


# ------------------------------------------------------------------ stages
def run_specs(
    specs: Sequence[CandidateSpec],
    score_fn: Any,
    sampler_settings: SamplerSettings,
    relaxer: Any,
    hull: HullProvider | None,
    model_checkpoint: str = "",
    log: Log | None = None,
    device: str = "cpu",
) -> list[CandidateRecord]:
    """generate (one batched sampler call per mode, on ``device``) then relax_and_score
    each candidate in turn."""
    if not specs:
        return []
    generated = generate(score_fn, specs, sampler_settings, model_checkpoint=model_checkpoint,
                         device=device)
    if log:
        n_ok = sum(g.status == "ok" for g in generated)
        log(f"sampled {n_ok}/{len(generated)} {specs[0].mode} candidates; relaxing")
    records = []
    for k, candidate in enumerate(generated):
        record = relax_and_score(candidate, relaxer, hull)
        records.append(record)
        if log:
            detail = (f"E_d {record.e_d:+.4f} eV/atom" if record.e_d is not None else
                      record.failure_reason or record.status)
            log(f"  [{k + 1}/{len(generated)}] {record.candidate_id} "
                f"{record.composition}: {record.status}, {detail}")
    return records


def select_hosts(records: Sequence[CandidateRecord], max_hosts: int | None) -> list[
        CandidateRecord]:
    """Successful unconditional records, lowest E_d first (rows without E_d last, by
    energy per atom), at most ``max_hosts``."""
    ok = [r for r in records if r.status == "ok" and r.mode == "unconditional"
          and r.structure_relaxed is not None]
    inf = float("inf")
    ok.sort(key=lambda r: (r.e_d is None, r.e_d if r.e_d is not None else inf,
                           r.energy_relaxed_per_atom if r.energy_relaxed_per_atom is not None
                           else inf, r.candidate_id))
    return ok if max_hosts is None else ok[:max_hosts]


def _write(store: Any, task_id: str, records: Sequence[CandidateRecord]) -> Path | None:
    if store is None or not records:
        return None
    return store.write_task(task_id, list(records))


def run_chain(
    specs: Sequence[CandidateSpec],
    *,
    score_fn: Any,
    sampler_settings: SamplerSettings,
    relaxer: Any,
    hull: HullProvider | None,
    model_checkpoint: str = "",
    guest_species: Sequence[str] = (),
    inpaint: bool = False,
    inpaint_mode: str = "inpaint",
    max_combinations: int = 64,
    samples_per_host: int = 1,
    max_hosts: int | None = None,
    max_atoms: int | None = None,
    seed: int = 0,
    out_dir: str | Path | None = None,
    log: Log | None = None,
    device: str = "cpu",
) -> ChainResult:
    """The whole chain for ``specs`` (unconditional or already-inpainting specs).

    With ``inpaint=True`` the successful unconditional records become hosts (see
    :func:`select_hosts`); each symmetric framework yields ``samples_per_host`` inpainted
    candidates of ``guest_species`` in ``inpaint_mode`` (``inpaint`` or
    ``inpaint-symmetric``: guests on Wyckoff orbits, at most ``max_combinations``
    combinations per host). Rows are written to ``out_dir`` (one task file per
    stage) as soon as the stage ends; ``out_dir=None`` writes nothing. ``score_fn`` must
    live on ``device`` (sampling); the relaxer has its own device setting.
    """
    store = None
    if out_dir is not None:
        from campaign.results import ResultStore

        store = ResultStore(out_dir)
        store.check_schema()
    files: list[Path] = []
    first = run_specs(specs, score_fn, sampler_settings, relaxer, hull, model_checkpoint, log,
                      device)
    by_task: dict[str, list[CandidateRecord]] = {}
    for record in first:
        by_task.setdefault(record.task_id, []).append(record)
    for task_id, rows in by_task.items():
        path = _write(store, task_id, rows)
        files += [path] if path else []
    unconditional = [r for r in first if r.mode == "unconditional"]
    inpainted_direct = [r for r in first if r.mode != "unconditional"]
    if not inpaint or not unconditional:
        return ChainResult(unconditional, inpainted_direct, files=tuple(files))
    if not guest_species:
        raise ChainError("inpainting needs at least one guest species (--guest)")
    hosts = select_hosts(unconditional, max_hosts)
    parts: tuple[Any, ...] = ("generate-inpaint", sorted({r.task_id for r in unconditional}),
                              list(guest_species), samples_per_host, max_hosts, seed)
    if inpaint_mode != "inpaint":
        parts += (inpaint_mode, max_combinations)
    task_id = short_hash(*parts)
    specs_inpaint: list[CandidateSpec] = []
    n_symmetric = 0
    for index, host in enumerate(hosts):
        found = inpainting_specs(host, guest_species, samples_per_host,
                                 candidate_seed(seed, task_id, index), max_atoms=max_atoms,
                                 mode=inpaint_mode, max_combinations=max_combinations)
        n_symmetric += bool(found)
        specs_inpaint += [dataclasses.replace(s, task_id=task_id) for s in found]
    if log:
        log(f"{n_symmetric} of {len(hosts)} hosts have a symmetric framework; "
            f"{len(specs_inpaint)} inpainting candidates")
    second = run_specs(specs_inpaint, score_fn, sampler_settings, relaxer, hull,
                       model_checkpoint, log, device)
    path = _write(store, task_id, second)
    files += [path] if path else []
    return ChainResult(unconditional, inpainted_direct + second, n_hosts=len(hosts),
                       n_symmetric_hosts=n_symmetric, files=tuple(files))


# ------------------------------------------------------------------ ranking
def rank_records(records: Sequence[CandidateRecord], modes: Sequence[str] | None = None
                 ) -> pd.DataFrame:
    """Successful records (of ``modes``), lowest E_d first (eV/atom; rows without E_d
    after, by energy per atom), as the DataFrame ``campaign.commands.top`` prints."""
    import pandas as pd

    rows = [r.to_dict() for r in records
            if r.status == "ok" and (modes is None or r.mode in modes)]
    columns = list(CandidateRecord.__dataclass_fields__)
    table = pd.DataFrame(rows, columns=columns)
    if table.empty:
        return table
    table["e_d"] = table["e_d"].astype(float)
    table["e_above_hull"] = table["e_above_hull"].astype(float)
    table["energy_relaxed_per_atom"] = table["energy_relaxed_per_atom"].astype(float)
    table = table.sort_values(["e_d", "energy_relaxed_per_atom", "candidate_id"],
                              na_position="last")
    return table.reset_index(drop=True)
