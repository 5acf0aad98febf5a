"""Quality against the number of score evaluations, per sampler setting (issue #15).

Every setting samples the same compositions with the same seeds through the shipped
model, and every candidate is relaxed with CHGNet exactly as in a campaign (the stage
runner ``campaign.stages.runner.StageRunner``, FIRE + cell filter, fmax 0.1 eV/Å, 500 steps)
and scored on the shipped offline hull. Per setting it records: score evaluations per
sample, sampling and relaxation wall time, the share relaxed without failure, median
relaxation Delta E (eV/atom) and RMSD (Å) with bootstrap 95 % intervals, the symmetric
share after relaxation (space group > P-1 at 0.1 Å, Wilson 95 % interval) and the E_d
distribution (eV/atom, Li-Si only: the offline hull has no Zn-P-S compounds), and for
each the difference to the reference with its 95 % interval (bootstrap for medians,
Newcombe for shares).

Unconditional: the ``--sizes`` compositions. Inpainting: the Li-Si hosts are the relaxed
candidates of the reference unconditional setting whose framework is symmetric (the
same hosts and seeds for every inpainting setting); their Li is removed and inpainted
back (mode ``inpaint``); ``host_recovered`` says whether the relaxed result matches the
host it came from (``chggen_kernels.benchmark.matching``, ltol 0.3, stol 0.5, 10 deg).

Each setting's rows are saved under ``--work`` when it finishes, so a killed run resumes.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/bench_sampler_quality.py
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _sampler_quality_stats import (  # noqa: E402 - the statistics, re-exported
    bootstrap_difference as bootstrap_difference,
)
from _sampler_quality_stats import bootstrap_median as bootstrap_median  # noqa: E402
from _sampler_quality_stats import newcombe_difference as newcombe_difference  # noqa: E402
from _sampler_quality_stats import summarize_setting  # noqa: E402
from eval_model_quality import (  # noqa: E402
    DEFAULT_GUESTS,
    ROW_COLUMNS,
    Group,
    make_relaxer,
    parse_sizes,
)
from stamp import stamp  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
REFERENCE = {"preset": "reference"}
UNCONDITIONAL: dict[str, dict[str, Any]] = {
    "reference PC 200x5": REFERENCE,
    "ODE Heun 50": {"method": "ode", "n_levels": 50, "n_corrector_steps": 0},
    "ODE Heun 25": {"method": "ode", "n_levels": 25, "n_corrector_steps": 0},
    "PC 100x2": {"n_levels": 100, "n_corrector_steps": 2},
    "PC 100x1": {"n_levels": 100, "n_corrector_steps": 1},
    "PC 50x1": {"n_levels": 50, "n_corrector_steps": 1},
    "PC 100x0": {"n_levels": 100, "n_corrector_steps": 0},
    "ODE Heun 10": {"method": "ode", "n_levels": 10, "n_corrector_steps": 0},
    # correctors only where the structure forms (sigma <= 1 or 0.5 Å)
    "PC 60x4 below 1 Å": {"n_levels": 60, "n_corrector_steps": 4, "corrector_sigma_max": 1.0},
    "PC 80x3 below 1 Å": {"n_levels": 80, "n_corrector_steps": 3, "corrector_sigma_max": 1.0},
    "PC 50x5 below 0.5 Å": {"n_levels": 50, "n_corrector_steps": 5,
                            "corrector_sigma_max": 0.5},
}
_ODE50 = {"method": "ode", "n_levels": 50, "n_corrector_steps": 0}
INPAINT: dict[str, dict[str, Any]] = {
    "reference RePaint 200x5 r3": REFERENCE,
    "ODE Heun 50 r3": _ODE50,
    "ODE Heun 50 r1": {**_ODE50, "resample_passes": 1},
    "ODE Heun 50 r1 start 1 Å": {**_ODE50, "resample_passes": 1, "start_sigma": 1.0},
    "ODE Heun 50 r3 start 1 Å": {**_ODE50, "start_sigma": 1.0},
    "PC 200x5 r1": {"resample_passes": 1},
    "PC 100x1 r3": {"n_levels": 100, "n_corrector_steps": 1},
    "PC 100x1 r3 start 1 Å": {"n_levels": 100, "n_corrector_steps": 1, "start_sigma": 1.0},
    "PC 50x1 r3": {"n_levels": 50, "n_corrector_steps": 1},
}
DEFAULT_SIZES = ("Li2Si:2", "LiSi:4", "Li7Si2:1", "ZnP2S6:1")


def evals_per_sample(settings: Any, inpainting: bool) -> int:
    """Score evaluations one crystal gets from :func:`chggen_kernels.sampling.sample`."""
    from chggen_kernels.sampling import level_sigmas, sampler_schedule, start_position

    settings = settings.for_batch(inpainting)
    sigmas = level_sigmas(settings.sigma_max, settings.sigma_min, settings.n_levels)
    start = start_position(sigmas, settings.start_sigma) if inpainting else 0
    steps = sampler_schedule(settings.n_levels, settings.resample_passes if inpainting else 1,
                             settings.jump_length, start)
    reverse = [s for s in steps if s.is_reverse]
    per_step = 2 if settings.method == "ode" else 1
    ceiling = settings.corrector_sigma_max
    corrected = sum(1 for s in reverse if sigmas[s.target] > 0
                    and (ceiling is None or sigmas[s.target] <= ceiling))
    return per_step * len(reverse) - (per_step - 1) + settings.n_corrector_steps * corrected


# ---------------------------------------------------------------------------- running
class Bench:
    """The shared relaxer and checkpoint parts; one stage runner per setting."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.relaxer = make_relaxer(0.1, 500)
        args.work.mkdir(parents=True, exist_ok=True)

    def runner(self, sampler: dict[str, Any]) -> Any:
        from campaign.stages.runner import RunnerSettings, StageRunner

        runner = StageRunner(RunnerSettings(checkpoint="", sampler=sampler, hull="offline"),
                             relaxer=self.relaxer)
        runner.load()
        return runner

    def cached(self, kind: str, name: str, work: Callable[[], dict[str, Any]]) -> dict:
        path = part_path(self.args.work, kind, name)
        if path.is_file():
            return json.loads(path.read_text())
        part = work()
        path.write_text(json.dumps(part, default=str) + "\n")
        return part

    def run_records(self, runner: Any, specs: list[Any]) -> tuple[list[Any], float, float]:
        t0 = time.perf_counter()
        generated = runner.generate(specs)
        t1 = time.perf_counter()
        records = [runner.relax_and_score(g) for g in generated]
        return records, t1 - t0, time.perf_counter() - t1


def part_path(work: Path, kind: str, name: str) -> Path:
    """Where the rows of one setting are saved."""
    return work / f"{kind}_{name.replace(' ', '_').replace('Å', 'A')}.json"


def pool_parts(parts: list[dict[str, Any]], dirs: Sequence[Path]) -> None:
    """Add the rows and times of the same settings from other runs (other seeds)."""
    for part in parts:
        for work in dirs:
            path = part_path(work, part["mode"], part["name"])
            if not path.is_file():
                continue
            extra = json.loads(path.read_text())
            part["rows"] = part["rows"] + extra["rows"]
            part["t_sample_s"] += extra["t_sample_s"]
            part["t_relax_s"] += extra["t_relax_s"]
            part["n_hosts"] = part.get("n_hosts", 0) + extra.get("n_hosts", 0)
            part.setdefault("pooled_from", []).append(str(work))


def _row(record: Any, system: str, formula: str) -> dict[str, Any]:
    data = record.to_dict()
    return {"system": system, "formula": formula, **{k: data[k] for k in ROW_COLUMNS}}


def run_unconditional(bench: Bench, name: str, sampler: dict[str, Any], groups: list[Group]
                      ) -> dict[str, Any]:
    from campaign.jobs.chain import plan_unconditional
    from campaign.stages.resources import resolve_volume_per_atom

    runner = bench.runner(sampler)
    rows, hosts, t_sample, t_relax = [], [], 0.0, 0.0
    for group in groups:
        vpa, _ = resolve_volume_per_atom(group.composition, None, runner.volume_prior)
        specs = plan_unconditional(group.composition, bench.args.samples, bench.args.seed, vpa)
        records, ts, tr = bench.run_records(runner, specs)
        t_sample, t_relax = t_sample + ts, t_relax + tr
        rows += [_row(r, group.system, group.formula) for r in records]
        hosts += [r.to_dict() | {"system": group.system} for r in records
                  if r.status == "ok" and group.guest == "Li"]
        print(f"[{name}] {group.formula}: {sum(r.status == 'ok' for r in records)}/"
              f"{len(records)} ok, sample {ts:.0f} s, relax {tr:.0f} s", file=sys.stderr,
              flush=True)
    settings = runner.sampler_settings
    return {"name": name, "mode": "unconditional", "sampler": settings.to_dict(),
            "evals_per_sample": evals_per_sample(settings, False), "t_sample_s": t_sample,
            "t_relax_s": t_relax, "rows": rows, "hosts": hosts if sampler is REFERENCE else []}


def run_inpaint(bench: Bench, name: str, sampler: dict[str, Any], hosts: list[dict[str, Any]]
                ) -> dict[str, Any]:
    from pymatgen.core import Structure

    from chggen_kernels.benchmark.matching import match_structures
    from chggen_kernels.workflow import inpainting_task_id
    from chggen_kernels.workflow.settings import InpaintSettings

    runner = bench.runner(sampler)
    cap, n = InpaintSettings.max_wyckoff_combinations, bench.args.samples_per_host
    seed = bench.args.seed
    specs, parents = [], {}
    for host in hosts:
        task_id = inpainting_task_id("inpaint", host["candidate_id"], ("Li",), n, seed, cap)
        found = runner.inpainting_specs(host, ["Li"], n, task_id=task_id, campaign_seed=seed,
                                        mode="inpaint", max_combinations=cap, max_atoms=None)
        specs += found
        parents |= {s.candidate_id: host for s in found}
        if len({parents[c]["candidate_id"] for c in parents}) >= bench.args.hosts:
            break
    records, t_sample, t_relax = bench.run_records(runner, specs)
    rows = []
    for record in records:
        host = parents[record.candidate_id]
        row = _row(record, host["system"], host["composition"])
        if record.status == "ok":
            known = Structure.from_dict(json.loads(host["structure_relaxed"]))
            found = Structure.from_dict(json.loads(record.structure_relaxed))
            row["host_recovered"] = bool(match_structures(found, known).matched)
        rows.append(row)
    print(f"[{name}] {sum(r['status'] == 'ok' for r in rows)}/{len(rows)} ok, sample "
          f"{t_sample:.0f} s, relax {t_relax:.0f} s", file=sys.stderr, flush=True)
    settings = runner.sampler_settings
    return {"name": name, "mode": "inpaint", "sampler": settings.to_dict(),
            "evals_per_sample": evals_per_sample(settings, True), "t_sample_s": t_sample,
            "t_relax_s": t_relax, "rows": rows,
            "n_hosts": len({parents[c]["candidate_id"] for c in parents})}


# ---------------------------------------------------------------------------- report
def _fmt(value: Any, spec: str = ".3f") -> str:
    return "–" if value is None else format(value, spec)


def _ci(ci: Any, spec: str = ".3f") -> str:
    return "–" if not ci else f"[{format(ci[0], spec)}, {format(ci[1], spec)}]"


def _rate(share: dict[str, Any]) -> str:
    return f"{share['k']}/{share['n']} {_ci(share['ci95'], '.2f')}"


def markdown(result: dict[str, Any]) -> str:
    """The table of settings against evaluations and quality (medians with 95 % CIs)."""
    lines = [
        "| mode | setting | evals/sample | ratio | sample s | relax s | relaxed | symmetric "
        "| median ΔE eV/atom | median RMSD Å | E_d Li-Si median [q1, q3] | host recovered |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for part in result["settings"]:
        s, ref = part["summary"], result["reference_evals"].get(part["mode"])
        e_d = s["e_d_li_si"]
        quart = e_d["quartiles"]
        lines.append(
            f"| {part['mode']} | {part['name']} | {part['evals_per_sample']} | "
            f"{_fmt(ref and ref / part['evals_per_sample'], '.1f')} | {part['t_sample_s']:.0f} | "
            f"{part['t_relax_s']:.0f} | {_rate(s['relaxed'])} | {_rate(s['symmetric'])} | "
            f"{_fmt(s['delta_e_relax']['median'])} {_ci(s['delta_e_relax']['ci95'])} | "
            f"{_fmt(s['rmsd_relax']['median'], '.2f')} {_ci(s['rmsd_relax']['ci95'], '.2f')} | "
            f"{_fmt(e_d['median'])} {_ci(quart)} | "
            f"{_rate(s['host_recovered']) if 'host_recovered' in s else '–'} |")
    lines += ["", "Differences to the reference of the same mode (95 % intervals; an interval "
              "containing 0 means equal within the sampling error):", "",
              "| mode | setting | Δ relaxed | Δ symmetric | Δ median ΔE | Δ median RMSD "
              "| Δ median E_d | Δ host recovered |", "|---|---|---|---|---|---|---|---|"]
    for part in result["settings"]:
        d = part["summary"].get("vs_reference")
        if d is None:
            continue
        lines.append(f"| {part['mode']} | {part['name']} | {_ci(d['relaxed'], '+.2f')} | "
                     f"{_ci(d['symmetric'], '+.2f')} | {_ci(d['delta_e_relax'], '+.3f')} | "
                     f"{_ci(d['rmsd_relax'], '+.2f')} | {_ci(d['e_d'], '+.3f')} | "
                     f"{_ci(d.get('host_recovered'), '+.2f')} |")
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", nargs="+", default=list(DEFAULT_SIZES),
                   help="FORMULA:Z unconditional compositions (default: %(default)s)")
    p.add_argument("--samples", type=int, default=8, help="samples per composition")
    p.add_argument("--hosts", type=int, default=8, help="Li-Si hosts for inpainting")
    p.add_argument("--samples-per-host", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", nargs="*", default=None, help="setting names to run")
    p.add_argument("--work", type=Path, default=Path("/work/eval_sampler/sampler_quality"),
                   help="per-setting parts (resume)")
    p.add_argument("--pool", nargs="*", type=Path, default=[],
                   help="--work folders of runs with other seeds whose rows are pooled in")
    p.add_argument("--output", type=Path, default=RESULTS / "sampler_quality.json")
    p.add_argument("--markdown", type=Path, default=RESULTS / "sampler_quality.md")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    import torch

    torch.set_num_threads(1)
    t0, load = time.perf_counter(), os.getloadavg()
    groups = parse_sizes(args.sizes, dict(DEFAULT_GUESTS))
    bench = Bench(args)
    parts, hosts = [], []
    for name, sampler in UNCONDITIONAL.items():
        if args.only is None or name in args.only or sampler is REFERENCE:
            part = bench.cached("unconditional", name,
                                lambda n=name, s=sampler: run_unconditional(bench, n, s, groups))
            hosts = hosts or part["hosts"]
            parts.append(part)
    for name, sampler in INPAINT.items():
        if args.only is None or name in args.only:
            parts.append(bench.cached("inpaint", name,
                                      lambda n=name, s=sampler: run_inpaint(bench, n, s, hosts)))
    pool_parts(parts, args.pool)
    ref_rows = {p["mode"]: p["rows"] for p in parts if p["name"].startswith("reference")}
    ref_evals = {p["mode"]: p["evals_per_sample"] for p in parts
                 if p["name"].startswith("reference")}
    for part in parts:
        ref = ref_rows.get(part["mode"])
        part["summary"] = summarize_setting(part["rows"], None if part["rows"] is ref else ref)
    result = {"stamp": stamp(argv, __file__), "benchmark": "sampler_quality",
              "argv": sys.argv[1:] if argv is None else argv,
              "sizes": args.sizes, "samples_per_composition": args.samples,
              "hosts": args.hosts, "samples_per_host": args.samples_per_host, "seed": args.seed,
              "pooled": [str(d) for d in args.pool],
              "relax": {"fmax": 0.1, "max_steps": 500}, "hull": "offline",
              "reference_evals": ref_evals,
              "settings": [{k: v for k, v in p.items() if k != "hosts"} for p in parts],
              "wall_time_s": time.perf_counter() - t0,
              "machine": {"cpus": len(os.sched_getaffinity(0)), "torch_threads": 1,
                          "load_average_start": load, "load_average_end": os.getloadavg()}}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1, default=str) + "\n")
    args.markdown.write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
