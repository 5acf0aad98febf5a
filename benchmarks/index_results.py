"""Write the index of `benchmarks/results/` (its README.md): every file, what it measures,
the script that makes it, its stamp (commit, date, machine, load: `benchmarks/stamp.py`)
and its headline number.

    python benchmarks/index_results.py          # rewrite benchmarks/results/README.md
    python benchmarks/index_results.py --check  # exit 1 when the index is out of date

The README and docs cite only files listed here, or older versions by commit
(`<commit>:benchmarks/results/<file>`); tests/benchmark/test_results_cited.py checks it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"

# (file-name pattern, what it measures, the script that writes it); first match wins
KINDS: list[tuple[str, str, str]] = [
    (r"^autoscaling\.json$", "campaign on Ray's fake autoscaler: scale-up on demand, raylet "
     "kills, idle scale-down (Ray's provider)", "bench_autoscaling.py"),
    (r"^autoscaling_idle_60s", "the same with a 60 s idle timeout", "bench_autoscaling.py"),
    (r"^autoscaling_node_loss_retry_forever", "whole-node loss (raylet and its processes) "
     "with max_task_retries -1", "bench_autoscaling.py"),
    (r"^autoscaling_node_loss", "whole-node loss with the default max_task_retries (3)",
     "bench_autoscaling.py"),
    (r"^autoscaling_status_fix", "raylet kills with the status-fixed provider (dead nodes "
     "ended after the heartbeat timeout)", "bench_autoscaling.py"),
    (r"^autoscaling_timeline", "timeline figure of `autoscaling.json`", "plot_autoscaling.py"),
    (r"^batched_relax", "CHGNet relaxation throughput on CPU: one by one vs batched",
     "bench_batched_relax.py"),
    (r"^benchmark_sets_reproduce", "the split rebuilt from the data with the committed "
     "command and the set rules rerun: do the shipped sets' ids come back?",
     "check_benchmark_sets.py"),
    (r"^benchmark_csp", "CSP benchmark (default set, shipped weights): match@k of known "
     "crystals vs random search", "chggen benchmark csp"),
    (r"^csp_extended_zfree_targets", "issue 36's targets judged on the free-Z variant "
     "(reported beside the main table, not the one the issue is judged on)",
     "judge_csp_targets.py"),
    (r"^csp_extended_zfree", "the extended set with the atom count not given (--z free: 20 "
     "relaxations round-robin over Z formula units up to 20 atoms)", "chggen benchmark csp "
     "--set extended --z free"),
    (r"^csp_extended_setup_cpu", "the CPU a benchmark task does not count (its warm-up: "
     "compatible space groups, the template library of the type), measured cold per "
     "compound, and CPU per match with it added", "measure_setup_cpu.py"),
    (r"^csp_extended_targets", "issue 36's targets on the extended set: the chosen mode "
     "against random search, paired, with the missed compounds", "judge_csp_targets.py"),
    (r"^csp_extended", "CSP benchmark on the extended set (60 held-out compounds, k = 20): "
     "the chosen mode, random search and the ablation arms", "chggen benchmark csp --set "
     "extended"),
    (r"^template_coverage", "whether the template starts hold each compound's structure "
     "type, and at which rank", "diagnose_template_starts.py"),
    (r"^csp_modes_validation_template_sigma05", "template mode denoised from 0.5 Å instead "
     "of 0.75 Å, the same 8 validation compounds (k = 10)", "chggen benchmark csp"),
    (r"^csp_modes_validation", "generation modes on 8 validation compounds (k = 10): the "
     "mode for the extended set is chosen here", "chggen benchmark csp --methods ..."),
    (r"^benchmark_hosts", "host benchmark (default set, shipped weights): guests put back "
     "into known hosts", "chggen benchmark hosts"),
    (r"^campaign\.json", "campaign throughput, scaling with actors, driver memory",
     "bench_campaign.py"),
    (r"^chaos_campaign", "kill -9 of actors and the driver: lost / duplicated candidates",
     "chaos_campaign.py"),
    (r"^cli_latency", "--help and refusal latency of the CLI, before and after",
     "bench_cli_latency.py"),
    (r"^forward_repeats", "score-model forward time per atom, three runs back to back",
     "bench_forward.py"),
    (r"^forward", "score-model forward time per atom and stage profile", "bench_forward.py"),
    (r"^main_job_modes", "the main job (chggen scan Li-Si) with unconditional and "
     "template-symmetric first stages, side by side", "bench_main_job.py"),
    (r"^main_job", "the README's main job (chggen scan Li-Si), old and current code side by "
     "side", "bench_main_job.py"),
    (r"^model_quality_zn_p_s_seed1", "generation quality of the shipped model, Zn-P-S only, "
     "seed 1, 12 samples per size", "eval_model_quality.py"),
    (r"^model_quality", "generation quality of the shipped model (validation loss, "
     "relaxation dE, symmetry, frameworks)", "eval_model_quality.py"),
    (r"^neighbors", "neighbour-list cost against a forward", "bench_neighbors.py"),
    (r"^noise_conditioning", "noise-conditioning choices trained side by side",
     "bench_noise_conditioning.py"),
    (r"^potentials_smoke", "CHGNet vs SevenNet, smoke run only (3 held-out crystals, one "
     "CSP compound at k = 2): proves the script runs", "bench_potentials.py"),
    (r"^potentials", "CHGNet vs SevenNet side by side: relaxation of held-out known crystals "
     "from their DFT structures (CPU s, steps, volume error) and the CSP default set",
     "bench_potentials.py"),
    (r"^probe_inputs", "the hostile-input probes against the real CLI", "probe_inputs.py"),
    (r"^sampler_bias", "sampler bias on an analytic score", "bench_sampler_bias.py"),
    (r"^sampler_device", "sampler on GPU vs CPU, reproducibility", "check_sampler_device.py"),
    (r"^sampler_quality", "sampler presets: quality at fewer score evaluations",
     "bench_sampler_quality.py"),
    (r"^sampler\.json", "sampler throughput (atom-steps per second)", "bench_sampler.py"),
    (r"^symmetric_inpainting", "inpainting on Wyckoff orbits vs plain",
     "bench_symmetric_inpainting.py"),
]

# files that belong to a JSON result (its table or figure): their stamp is the JSON's
COMPANIONS = {"autoscaling_timeline.png": "autoscaling.json",
              "csp_extended_match_at_k.png": "csp_extended.json",
              "csp_extended_zfree_match_at_k.png": "csp_extended_zfree.json",
              "benchmark_csp_match_at_k.png": "benchmark_csp_default.json",
              "benchmark_hosts_recovery.png": "benchmark_hosts_default.json"}


def companion_of(name: str) -> str | None:
    """The JSON result a table (``X.md``) or figure belongs to, if any."""
    if name in COMPANIONS:
        return COMPANIONS[name]
    if name.endswith(".md") and (RESULTS / (name[:-3] + ".json")).is_file():
        return name[:-3] + ".json"
    return None


def _hits(h: dict) -> str:
    return f"{h['hits']}/{h['n']}"


def _best_csp(d: dict) -> str:
    methods = d.get("scores", {}).get("methods", {})
    parts = []
    for name, m in methods.items():
        last = (m.get("match_at_k") or [{}])[-1]
        if last:
            parts.append(f"{name} {last['hits']}/{last['n']}")
    return f"match@{d.get('scores', {}).get('k_max', '?')}: " + ", ".join(parts)


def _targets(d: dict) -> str:
    met = [t["target"] for t in d["targets"] if t["passed"]]
    missed = [t["target"] for t in d["targets"] if not t["passed"]]
    return (f"{d['method']} vs {d['baseline']} on {d['n_compounds']} compounds: "
            f"{len(met)}/{len(d['targets'])} targets met"
            + (f"; missed: {', '.join(missed)}" if missed else ""))


def _coverage(d: dict) -> str:
    return (f"{d['n_compounds']} compounds ({d['ranking']} ranking): structure type among the "
            f"first {d['k']} starts {d['type_within_k']}, beyond {d['type_beyond_k']}, "
            f"absent {d['type_absent']}")


def _hosts(d: dict) -> str:
    return "strict match as generated / LES after relaxation: " + ", ".join(
        f"{name} {_hits(m['generated']['matched_strict'])} / {_hits(m['relaxed']['les'])}"
        for name, m in d["scores"]["methods"].items())


def _chaos(d: dict) -> str:
    return (f"{d['candidates_present']}/{d['candidates_expected']} present, "
            f"{d['candidates_duplicated']} duplicated, {d['candidates_lost']} lost after "
            f"{d['faults_total']} kills")


def _candidates(d: dict) -> str:
    c = d.get("candidates", {})
    return (f"{c.get('rows')}/{c.get('expected')} rows, {len(c.get('lost', []))} lost, "
            f"{len(c.get('duplicated', []))} duplicated, {c.get('failed')} failed")


def _probes(d: dict) -> str:
    probes = d.get("probes", [])
    return f"{sum(p['pass'] for p in probes)}/{len(probes)} probes PASS"


def _latency(d: dict) -> str:
    return (f"--help at most {d['max_help_s']['current']} s (was "
            f"{d['max_help_s'].get('baseline')}), refusal at most "
            f"{d['max_refusal_s']['current']} s")


def _main_job(d: dict) -> str:
    variants = d.get("variants", {})
    return "; ".join(f"{k} {v.get('wall_s')} s, {v.get('candidates')} candidates"
                     for k, v in variants.items())


def _batched(d: dict) -> str:
    rows = {r["mode"]: r for r in d["summary"]}
    worst = max(r["max_abs_dE_meV_per_atom"] for r in d["summary"])
    return ("median CPU s per structure: one by one "
            f"{rows['one_by_one_1proc']['cpu_s_per_structure_median']:.2f}, batched "
            f"{rows['batched_1proc_1thread']['cpu_s_per_structure_median']:.2f}; energies "
            f"agree to {worst:.1g} meV/atom")


def _campaign(d: dict) -> str:
    peak = [r["peak_rss_mb"] for r in d["memory"]["runs"]]
    return (f"Ray vs sequential {d['throughput']['throughput_ratio']}x "
            f"({d['throughput']['candidates_ray']} candidates); relaxation actors 1 -> 2 "
            f"{d['scaling']['scaling_ratio']}x; driver peak RSS {min(peak):.0f}-"
            f"{max(peak):.0f} MB")


def _forward(d: dict) -> str:
    s = d["speedup_per_atom_vs_previous"]
    return (f"{s['64x20']}x per atom at 64 x 20 against the code before the speed work "
            f"(neighbour cap {d['speedup_per_atom_neighbour_cap']['64x20']}x)")


def _forward_repeats(d: dict) -> str:
    return (f"mean {d['mean_speedup_per_atom_vs_previous_64x20']}x per atom at 64 x 20 over "
            f"{len(d['runs'])} runs")


def _quality(d: dict) -> str:
    return "; ".join(f"{m['mode']} {m['n_symmetric']}/{m['n_samples']} symmetric, median dE "
                     f"{m['median_delta_e_relax']:.3f} eV/atom" for m in d["modes_summary"])


def _neighbors(d: dict) -> str:
    return (f"neighbour list {d['neighbor_over_forward_cpu']:.1%} of a forward's CPU time, "
            f"{d['edges_per_atom']:.1f} edges per atom")


def _noise(d: dict) -> str:
    s = d["summary"]
    return (f"validation loss at step {s['step']}: log_sigma {s['log_sigma']['loss']:.3f}, "
            f"none {s['none']['loss']:.3f} ({s['relative_difference_none_vs_log_sigma']:.0%} "
            "higher without)")


def _sampler(d: dict) -> str:
    parts = [f"{k} {v['summary']['throughput_ratio_b64_over_b1']:.2f}" for k, v in d.items()
             if isinstance(v, dict) and "summary" in v]
    return "throughput batch 64 / batch 1: " + ", ".join(parts)


def _bias(d: dict) -> str:
    return "fraction at the 0.7 site: " + ", ".join(
        f"{r['n_corrector_steps']} x {r['corrector_step_rule']} {r['fraction_at_A']:.3f}"
        for r in d["results"])


def _device(d: dict) -> str:
    x = d["default"]
    return ("CPU vs CUDA, same seeds: max shift per-crystal rule "
            f"{x['analytic_per_crystal_cpu_vs_device_max_shift_A']:.1g} Å, per-atom rule "
            f"{x['analytic_per_atom_cpu_vs_device_max_shift_A']:.2f} Å ({d['device_name']})")


def _sampler_quality(d: dict) -> str:
    shown = ("reference", "PC 60x4", "PC 100x1 r3 start")  # the references and the defaults
    return "; ".join(f"{s['name']} ({s['mode']}) {s['evals_per_sample']} evaluations, "
                     f"{s['summary']['symmetric']['k']}/{s['summary']['symmetric']['n']} "
                     "symmetric" for s in d["settings"] if s["name"].startswith(shown))


def _symmetric(d: dict) -> str:
    return "; ".join(f"{system}: symmetric " + ", ".join(
        f"{mode} {v['symmetric_rate']:.0%}" for mode, v in modes.items())
        for system, modes in d["systems"].items())


def _potentials(d: dict) -> str:
    relax = d["relaxation"]
    parts = [f"{m} {s['cpu_s_per_structure']['median']:.2f} CPU s, "
             f"volume error {s['abs_volume_error_pct']['median']:.2f} %"
             for m, s in relax["per_potential"].items()]
    text = (f"{relax['n_crystals']} crystals, median per structure: " + "; ".join(parts))
    for mlip, c in (d.get("csp") or {}).items():
        text += f"; CSP {mlip}: " + ", ".join(
            f"{method} match@{m['match_at_k']['k']} {_hits(m['match_at_k'])}"
            for method, m in c["methods"].items())
    return text


HEADLINES: list[tuple[str, Callable[[dict], str]]] = [
    (r"^benchmark_csp.*\.json$", _best_csp), (r"^csp_modes.*\.json$", _best_csp),
    (r"^csp_extended_setup_cpu\.json$", lambda d: ", ".join(
        f"{m} {v['cpu_s_per_match']:.1f} -> {v['cpu_s_per_match_with_setup']:.1f}"
        for m, v in d["methods"].items() if v["setup_counted"] and v["cpu_s_per_match"])
        + " CPU s per match with the warm-up"),
    (r"^csp_extended(_zfree)?_targets.*\.json$", _targets), (r"^csp_extended.*\.json$", _best_csp),
    (r"^template_coverage.*\.json$", _coverage),
    (r"^benchmark_sets_reproduce\.json$", lambda d: ", ".join(
        f"{s['set']} {s['n_chosen']}/{s['n_shipped']} "
        f"{'identical' if s['identical'] else 'DIFFERENT'}" for s in d["sets"])),
    (r"^benchmark_hosts.*\.json$", _hosts),
    (r"^chaos_campaign\.json$", _chaos), (r"^autoscaling.*\.json$", _candidates),
    (r"^probe_inputs\.json$", _probes), (r"^potentials.*\.json$", _potentials),
    (r"^cli_latency\.json$", _latency),
    (r"^main_job.*\.json$", _main_job), (r"^batched_relax\.json$", _batched),
    (r"^campaign\.json$", _campaign), (r"^forward\.json$", _forward),
    (r"^forward_repeats\.json$", _forward_repeats), (r"^model_quality.*\.json$", _quality),
    (r"^neighbors\.json$", _neighbors), (r"^noise_conditioning.*\.json$", _noise),
    (r"^sampler\.json$", _sampler), (r"^sampler_bias\.json$", _bias),
    (r"^sampler_device_check\.json$", _device), (r"^sampler_quality\.json$", _sampler_quality),
    (r"^symmetric_inpainting\.json$", _symmetric),
]


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def stamp_cell(data: Any) -> str:
    """The stamp of one result, short: commit, date, cores, GPU, load."""
    s = data.get("stamp") if isinstance(data, dict) else None
    if not isinstance(s, dict):
        return "not stamped"
    machine = s.get("machine") or {}
    cores = machine.get("cpus")
    load = (s.get("load_average") or [None])[0]
    parts = [f"{(s.get('commit') or '?')[:7]}{' (dirty)' if s.get('dirty') else ''}",
             str(s.get("date") or "?")[:10]]
    parts += ([f"{cores} cores", str(machine.get("gpu") or "no GPU")] if cores
              else ["machine not recorded"])
    if load is not None:
        parts.append(f"load {load:.1f}")
    return ", ".join(parts) + (" (recovered from git)" if s.get("recovered_from_git") else "")


def row(path: Path) -> tuple[str, str, str, str, str]:
    """(file, what, made by, stamp, headline) of one result file."""
    name = path.name
    what, script = next(((w, s) for pattern, w, s in KINDS if re.match(pattern, name)),
                        ("(not described)", "?"))
    parent = companion_of(name)
    if parent is not None:
        kind = "table" if name.endswith(".md") else "figure"
        return name, what, script, f"as `{parent}`", f"the {kind} of `{parent}`"
    data = _json(path) if name.endswith(".json") else None
    stamp = stamp_cell(data) if name.endswith(".json") else "-"
    headline = ""
    if isinstance(data, dict):
        for pattern, make in HEADLINES:
            if re.match(pattern, name):
                try:
                    headline = make(data)
                except (KeyError, TypeError, IndexError, ValueError, ZeroDivisionError):
                    headline = ""
                break
    return name, what, script, stamp, headline


def index_text() -> str:
    lines = ["# Benchmark results", "",
             "Written by `python benchmarks/index_results.py`; every file of this folder, "
             "what it measures, the script that makes it (in `benchmarks/` unless a command), "
             "its stamp and its headline. Only the current result of each benchmark is kept; "
             "older runs live in git history (`git log --follow -- benchmarks/results/FILE`).",
             "",
             "The stamp column is short: commit, date, cores, GPU and 1-minute load. The whole "
             "stamp, with the exact command, is the `stamp` key of each JSON "
             "(`benchmarks/stamp.py`); \"recovered from git\" marks a result written before "
             "stamps, whose stamp was put together afterwards from git history, the file "
             "itself and the docs (its `sources` say which field came from where).", "",
             "| file | what it measures | made by | stamp | headline |", "|---|---|---|---|---|"]
    for path in sorted(RESULTS.iterdir()):
        if path.name == "README.md" or path.name.startswith("."):
            continue
        cells = [c.replace("|", "/") for c in row(path)]
        lines.append(f"| `{cells[0]}` | {cells[1]} | {cells[2]} | {cells[3]} | {cells[4]} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="exit 1 if the index is out of date")
    args = p.parse_args(argv)
    text = index_text()
    target = RESULTS / "README.md"
    if args.check:
        current = target.read_text() if target.exists() else ""
        return 0 if current == text else 1
    target.write_text(text)
    print(f"wrote {target} ({text.count(chr(10) + '| `')} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
