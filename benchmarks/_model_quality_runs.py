"""One group's evaluation in benchmarks/eval_model_quality.py: its unconditional candidates,
then each inpainting mode on their relaxed hosts (:func:`evaluate_group`), with the
framework space groups of those hosts (:func:`framework_spacegroups`) and the rows kept per
candidate. The worker processes, the relaxer (which tests replace) and the stage runner
stay in ``eval_model_quality``, which re-exports these names."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

from _model_quality_groups import ROW_COLUMNS, Group


def _row(record: Any, group: Group, mode: str) -> dict[str, Any]:
    data = record.to_dict()
    return {"system": group.system, "formula": group.formula, "z": group.z,
            "atoms_per_cell": group.atoms_per_cell, "mode": mode,
            **{k: data[k] for k in ROW_COLUMNS}}


def framework_spacegroups(hosts: list[Any],
                          guest: str) -> tuple[dict[str, int], dict[str, int]]:
    """Space group number -> hosts whose framework (``guest`` removed) ends the symmetry
    ladder there (P1 / P-1 when no rung finds more): with the two-fold pass, and with the
    reference ladder (spglib alone). The two differ only where the two-fold pass refined
    the framework, so only those hosts are refined a second time."""
    from pymatgen.core import Structure

    from chggen_kernels.symmetry import refine_framework

    with_twofold: dict[str, int] = {}
    reference: dict[str, int] = {}
    for host in hosts:
        structure = Structure.from_dict(json.loads(host.structure_relaxed))
        if not any(site.specie.symbol == guest for site in structure):
            continue
        refined = refine_framework(structure, guest)
        spglib_only = (refine_framework(structure, guest, twofold_search=False)
                       if refined.method == "twofold" else refined)
        for counts, result in ((with_twofold, refined), (reference, spglib_only)):
            number = str(result.spacegroup_number)
            counts[number] = counts.get(number, 0) + 1
    def by_number(counts: dict[str, int]) -> dict[str, int]:
        return dict(sorted(counts.items(), key=lambda kv: int(kv[0])))

    return by_number(with_twofold), by_number(reference)


def evaluate_group(group: Group, ctx: dict[str, Any], log: Any = None) -> dict[str, Any]:
    """Unconditional candidates of ``group``, then each inpainting mode on their hosts."""
    from campaign.jobs.chain import plan_unconditional, run_specs
    from campaign.stages.resources import resolve_volume_per_atom
    from chggen_kernels.workflow import inpainting_task_id
    from chggen_kernels.workflow.settings import InpaintSettings

    t0 = time.perf_counter()
    runner = ctx["runner"]
    vpa, vpa_source = resolve_volume_per_atom(group.composition, None, runner.volume_prior)
    specs = plan_unconditional(group.composition, ctx["samples"], ctx["seed"], vpa)
    records = run_specs(runner, specs, log)
    rows = [_row(r, group, "unconditional") for r in records]
    timings = {"unconditional_s": time.perf_counter() - t0}
    hosts_by_mode: dict[str, dict[str, Any]] = {}
    hosts = [r for r in records if r.status == "ok" and r.structure_relaxed is not None]
    ladder, reference_ladder = framework_spacegroups(hosts, group.guest)
    for mode in ctx["modes"]:
        if mode == "unconditional":
            continue
        t1 = time.perf_counter()
        inpaint, framework_sg = [], {}
        cap = InpaintSettings.max_wyckoff_combinations
        for host in hosts:
            task_id = inpainting_task_id(mode, host.candidate_id, (group.guest,),
                                         ctx["samples_per_host"], ctx["seed"], cap)
            found = runner.inpainting_specs(
                host.to_dict(), [group.guest], ctx["samples_per_host"], task_id=task_id,
                campaign_seed=ctx["seed"], mode=mode, max_combinations=cap, max_atoms=None)
            inpaint += found
            if found:
                sg = str(found[0].spacegroup_framework)
                framework_sg[sg] = framework_sg.get(sg, 0) + 1
        rows += [_row(r, group, mode) for r in run_specs(runner, inpaint, log)]
        hosts_by_mode[mode] = {"n_hosts": len(hosts),
                               "n_symmetric_framework": sum(framework_sg.values()),
                               "framework_spacegroups": dict(sorted(framework_sg.items()))}
        timings[f"{mode}_s"] = time.perf_counter() - t1
    return {"group": dataclasses.asdict(group), "rows": rows, "hosts": hosts_by_mode,
            "system": group.system, "framework_spacegroups": ladder,
            "framework_spacegroups_reference_ladder": reference_ladder,
            "volume_per_atom": vpa, "volume_source": vpa_source,
            "wall_s": time.perf_counter() - t0, "timings": timings}
