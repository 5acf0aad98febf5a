"""``chggen.evaluate``: relax, refine and rank the user's own crystals against the hull.

The structures go through the second stage of the chain exactly as generated candidates
do (:meth:`campaign.stages.runner.StageRunner.relax_and_score_many`: CHGNet (or ``mlip``)
relaxation, screening, symmetry, E_d against the hull), so their rows are the rows of a results
folder and rank with them. Each becomes a candidate of mode ``unconditional`` whose
``parent_id`` is ``user:<label>`` (the ``CandidateSpec`` modes are those of the sampler;
the prefix tells a user's crystal from a generated one), ``model_checkpoint`` ``user``,
and sampling time 0. Units: Å, eV/atom.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chggen._common import as_structure, given, local_call, output_dir
from chggen._options import CliDefaults, parse_options
from chggen_kernels.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from pymatgen.core import Structure

    from campaign.stages.runner import Runner
    from chggen.results import Results
    from chggen_kernels.workflow import CandidateSpec, GeneratedCandidate

__all__ = ["USER_PREFIX", "evaluate"]

#: ``parent_id`` prefix of a user's crystal: ``user:<label>``.
USER_PREFIX = "user:"
#: ``model_checkpoint`` of a user's crystal (no score model made it).
USER_MODEL = "user"


#: The defaults of the relaxation, hull and output options of ``chggen generate``.
EVALUATE = CliDefaults("evaluate")


def evaluate(
    structures: Iterable[Any] | Mapping[str, Any],
    *,
    hull: str = EVALUATE.hull,
    out: str | Path | None = EVALUATE.out,
    limits: Mapping[str, int] | Any = None,
    fmax: float | None = EVALUATE.fmax,
    max_steps: int | None = EVALUATE.max_steps,
    mlip: str | None = EVALUATE.mlip,
    device: str = EVALUATE.device,
    threads: int | None = EVALUATE.threads,
    new_folder: bool = EVALUATE.new_folder,
    quiet: bool = EVALUATE.quiet,
) -> Results:
    """Relax, refine and rank your own crystals as chggen ranks its candidates.

    Args:
        structures: pymatgen ``Structure``s, ASE ``Atoms`` or CIF/POSCAR paths (ordered
            crystals), or a mapping ``label -> one of those``. Labels: the mapping's keys,
            a file's name, a structure's ``properties["label"]`` or
            ``properties["candidate_id"]``, else ``structure-<index>``.
        hull: reference hull for E_d (as :func:`chggen.generate`).
        out: results folder to write (``None``: nothing is written).
        limits: raised size limits, e.g. ``{"atoms_per_cell": 400}``.
        fmax, max_steps, device, threads, new_folder, quiet: the relaxation and output
            options of ``chggen generate`` (``fmax`` in eV/Å), with its defaults.
        mlip: the potential that relaxes them (``chgnet``, ``sevennet``, an entry point of
            group ``chggen.mlips`` or ``"module:factory"``; docs/potentials.md); with the
            offline hull, E_d is measured against the known phases relaxed with it.

    Returns:
        :class:`~chggen.results.Results`, one row per structure (mode ``unconditional``,
        ``parent_id`` ``user:<label>``), ranked by E_d (eV/atom).

    Raises:
        InputError: a structure refused by the check every entry point applies (one line
            naming it: too many atoms, unsupported element, overlapping atoms, ...), a
            partly occupied one, or a bad option.
    """
    args = parse_options("evaluate", "chggen.evaluate", [], given(locals(), "structures"))
    return _evaluate(args, structures)


def _items(structures: Any) -> list[tuple[str | None, Any]]:
    if isinstance(structures, Mapping):
        return [(str(label), value) for label, value in structures.items()]
    if isinstance(structures, str | Path) or as_structure(structures) is not None:
        structures = [structures]  # one crystal given on its own
    return [(None, value) for value in structures]


def _label(label: str | None, value: Any, structure: Structure | None, index: int) -> str:
    if label is not None:
        return label
    if structure is None:
        return Path(value).name
    properties = getattr(structure, "properties", None) or {}
    return str(properties.get("label") or properties.get("candidate_id")
               or f"structure-{index}")


def _load(structures: Any, limits: Any, potential: str = "chgnet"
          ) -> list[tuple[str, Structure]]:
    """``(label, structure)`` of every input, each checked as every entry point checks a
    structure (:func:`campaign.inputs.structures.check_input_structure`), before any
    model loads."""
    from campaign.inputs.limits import check_limit
    from campaign.inputs.structures import check_input_structure
    from chggen_kernels.structure_check import StructureCheckError
    from chggen_kernels.structure_io import read_structure

    items = _items(structures)
    if not items:
        raise InputError("evaluate(): no structure given")
    check_limit(limits, "candidates", len(items), field="structures to evaluate")
    loaded = []
    for index, (label, value) in enumerate(items):
        structure = as_structure(value)
        if structure is None and not isinstance(value, str | Path):
            raise InputError(f"structure {label or index}: expected a pymatgen Structure, an "
                             f"ASE Atoms or a CIF/POSCAR path, got {type(value).__name__}")
        name = _label(label, value, structure, index)
        where = f"structure {name}"
        if structure is None:
            structure = read_structure(value, what="structure", where=where,
                                       max_sites=limits.atoms_per_cell,
                                       max_sites_reason="limits.atoms_per_cell")
        if not structure.is_ordered:
            raise StructureCheckError(f"{where}: partly occupied sites; evaluate takes "
                                      "ordered crystals (inpaint places guests into a partly "
                                      "occupied host)")
        structure.remove_oxidation_states()
        check_input_structure(structure, where=where, limits=limits, potential=potential)
        loaded.append((name, structure))
    return loaded


def _candidates(loaded: Sequence[tuple[str, Structure]]
                ) -> tuple[list[CandidateSpec], list[GeneratedCandidate]]:
    """One spec and one 'generated' candidate per structure, in one task whose id hashes
    the structures and labels (the same inputs give the same ids)."""
    from chggen_kernels.workflow import (
        CandidateSpec,
        GeneratedCandidate,
        candidate_id,
        candidate_seed,
        short_hash,
    )

    task_id = short_hash("evaluate", [(name, s.as_dict()) for name, s in loaded])
    specs, candidates = [], []
    for k, (name, structure) in enumerate(loaded):
        counts = {str(el): int(n) for el, n in structure.composition.get_el_amt_dict().items()}
        spec = CandidateSpec(candidate_id=candidate_id(task_id, k), task_id=task_id,
                             composition=dict(sorted(counts.items())), mode="unconditional",
                             seed=candidate_seed(0, task_id, k),
                             parent_id=f"{USER_PREFIX}{name}")
        specs.append(spec)
        candidates.append(GeneratedCandidate(
            spec=spec, status="ok", structure=structure.as_dict(), failure_reason=None,
            t_sample_s=0.0, sampler_settings={}, model_checkpoint=USER_MODEL))
    return specs, candidates


class _GivenStructures:
    """A runner whose generation stage hands back the user's structures; relaxation and
    scoring are the real runner's, so :func:`campaign.jobs.chain.run_chain` writes, locks and
    fingerprints the folder as for generated candidates."""

    model_label = USER_MODEL

    def __init__(self, runner: Runner, candidates: Sequence[GeneratedCandidate]) -> None:
        self.runner = runner
        self.settings = getattr(runner, "settings", None)
        self._by_id = {c.spec.candidate_id: c for c in candidates}

    def load(self, *, model: bool = True, relaxer: bool = True) -> None:
        self.runner.load(model=False, relaxer=relaxer)

    def generate(self, specs: Sequence[CandidateSpec], progress: Any = None
                 ) -> list[GeneratedCandidate]:
        return [self._by_id[s.candidate_id] for s in specs]

    def relax_and_score(self, candidate: GeneratedCandidate) -> Any:
        return self.runner.relax_and_score(candidate)

    def relax_and_score_many(self, candidates: Sequence[GeneratedCandidate]) -> list[Any]:
        return self.runner.relax_and_score_many(candidates)

    def inpainting_specs(self, *args: Any, **kwargs: Any) -> list[CandidateSpec]:
        return []


def _evaluate(args: Any, structures: Any) -> Results:
    from campaign.commands.generate import RELAX_OPTIONS, check_output_folder
    from campaign.commands.options import given_values, limits_from_args
    from campaign.jobs.chain import run_chain, stderr_log
    from campaign.stages.resources import check_potential, make_hull_provider
    from campaign.stages.runner import RunnerSettings, build_runner
    from chggen._common import chain_results
    from chggen_kernels.relax import DEFAULT_MLIP, RelaxSettings
    from chggen_kernels.relax.potentials import check_potential_name
    from chggen_kernels.settings import SettingsError, strict_from_dict

    limits = limits_from_args(args)
    check_potential_name(args.mlip or DEFAULT_MLIP)  # unknown or unimportable: refused first
    loaded = _load(structures, limits, args.mlip or DEFAULT_MLIP)
    relax_values = given_values(args, RELAX_OPTIONS) | {"device": args.device}
    if args.threads is not None:
        relax_values["n_threads"] = args.threads
    try:
        relax = strict_from_dict(RelaxSettings, relax_values, "relaxation")
    except SettingsError as exc:
        raise InputError(str(exc)) from None
    check_potential(relax)  # a factory that raises or returns no calculator: refused now
    for chemsys in sorted({"-".join(sorted(el.symbol for el in s.composition.elements))
                           for _, s in loaded}):
        # a hull that cannot score it: refused now (another potential's: relaxed now)
        make_hull_provider(args.hull, chemsys, relax=relax, progress=not args.quiet)
    specs, candidates = _candidates(loaded)
    with local_call(args):
        if args.out is not None:
            check_output_folder(str(args.out))
        runner = build_runner(RunnerSettings(relax=relax, hull=args.hull, device=args.device))
        folder = output_dir(args, runner)
        log = stderr_log(args.quiet)
        if log:
            log(f"evaluating {len(specs)} structures, hull {args.hull}")

            def log_line(line: str, write: Any = log) -> None:
                write(line.replace("sampled ", "read ", 1))
        result = run_chain(_GivenStructures(runner, candidates), specs, out_dir=folder,
                           log=log_line if log else None, command="chggen.evaluate()")
    return chain_results(result, None, folder)
