"""Write the index of `benchmarks/results/` (its README.md): every file, what it measures,
the script that makes it, whether it is stamped (commit, date) and its headline number.

    python benchmarks/index_results.py          # rewrite benchmarks/results/README.md
    python benchmarks/index_results.py --check  # exit 1 when the index is out of date

The README and docs cite only files listed here (tests/benchmark/test_results_index.py).
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
    (r"^autoscaling.*", "campaign on Ray's fake autoscaler: scale-up, idle scale-down, node "
     "loss (timeline figure)", "bench_autoscaling.py, plot_autoscaling.py"),
    (r"^batched_relax", "CHGNet relaxation throughput: one by one vs batched",
     "bench_batched_relax.py"),
    (r"^benchmark_csp", "CSP benchmark: match@k of known crystals vs random search",
     "chggen benchmark csp"),
    (r"^benchmark_hosts", "host benchmark: guests put back into known hosts",
     "chggen benchmark hosts"),
    (r"^campaign\.json", "campaign throughput, scaling with actors, driver memory",
     "bench_campaign.py"),
    (r"^chaos_campaign", "kill -9 of actors and the driver: lost / duplicated candidates",
     "chaos_campaign.py"),
    (r"^cli_latency", "--help and refusal latency of the CLI, before and after",
     "bench_cli_latency.py"),
    (r"^forward", "score-model forward time per atom", "bench_forward.py"),
    (r"^main_job", "the README's main job (chggen scan Li-Si), variants side by side",
     "bench_main_job.py"),
    (r"^model_quality", "generation quality of a model (relaxation dE, symmetry, frameworks)",
     "eval_model_quality.py"),
    (r"^neighbors", "neighbour-list cost", "bench_neighbors.py"),
    (r"^noise_conditioning", "noise-conditioning choices trained side by side",
     "bench_noise_conditioning.py"),
    (r"^probe_inputs", "the hostile-input probes against the real CLI", "probe_inputs.py"),
    (r"^sampler_bias", "sampler bias on an analytic score", "bench_sampler_bias.py"),
    (r"^sampler_device", "sampler on GPU vs CPU, reproducibility", "check_sampler_device.py"),
    (r"^sampler_quality", "sampler presets: quality at fewer score evaluations",
     "bench_sampler_quality.py"),
    (r"^sampler\.json", "sampler throughput (atom-steps per second)", "bench_sampler.py"),
    (r"^symmetric_inpainting", "inpainting on Wyckoff orbits vs plain",
     "bench_symmetric_inpainting.py"),
]


def _best_csp(d: dict) -> str:
    methods = d.get("scores", {}).get("methods", {})
    parts = []
    for name, m in methods.items():
        last = (m.get("match_at_k") or [{}])[-1]
        if last:
            parts.append(f"{name} {last['hits']}/{last['n']}")
    return f"match@{d.get('scores', {}).get('k_max', '?')}: " + ", ".join(parts)


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


HEADLINES: list[tuple[str, Callable[[dict], str]]] = [
    (r"^benchmark_csp.*\.json$", _best_csp), (r"^chaos_campaign\.json$", _chaos),
    (r"^autoscaling.*\.json$", _candidates), (r"^probe_inputs\.json$", _probes),
    (r"^cli_latency\.json$", _latency), (r"^main_job.*\.json$", _main_job),
]


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def row(path: Path) -> tuple[str, str, str, str, str]:
    """(file, what, made by, stamp, headline) of one result file."""
    name = path.name
    what, script = next(((w, s) for pattern, w, s in KINDS if re.match(pattern, name)),
                        ("(not described)", "?"))
    data = _json(path) if name.endswith(".json") else None
    stamp = "-"
    if isinstance(data, dict):
        stamp = (f"{data['commit']}, {data.get('date', '?')}" if data.get("commit")
                 else "not stamped")
    headline = ""
    if isinstance(data, dict):
        for pattern, make in HEADLINES:
            if re.match(pattern, name):
                try:
                    headline = make(data)
                except (KeyError, TypeError, IndexError):
                    headline = ""
                break
    return name, what, script, stamp, headline


def index_text() -> str:
    lines = ["# Benchmark results", "",
             "Written by `python benchmarks/index_results.py`; every file of this folder, "
             "what it measures, the script that makes it (in `benchmarks/` unless a command), "
             "its stamp (commit and date, where the file records them) and its headline. "
             "Older runs live in git history.", "",
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
    print(f"wrote {target} ({text.count(chr(10)) - 6} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
