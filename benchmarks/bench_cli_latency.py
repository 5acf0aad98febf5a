"""How long the command line takes to answer: ``--help`` of every command and the refusal
of a bad input, each the median of repeated runs, optionally beside an older checkout.

    python benchmarks/bench_cli_latency.py [--repeats 5] [--baseline /tmp/chggen-old]
        [--json benchmarks/results/cli_latency.json]

``--baseline`` is another checkout of chggen (e.g. ``git worktree add /tmp/chggen-old
<commit>``), run with the same Python and the same installed packages by putting it first
on ``PYTHONPATH``. Wall seconds from process start to exit, on this machine as loaded.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from stamp import stamp  # noqa: E402

COMMANDS = ["scan", "run", "check", "top", "generate", "inpaint", "report", "analyze",
            "export", "train", "model", "data", "benchmark"]


def cases(work: Path) -> dict[str, list[str]]:
    bomb = work / "bomb.yaml"
    bomb.write_text("a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{n}: &{n} [" + ", ".join([f"*{p}"] * 9) + "]\n" for p, n in zip(
            "abcdefgh", "bcdefghi", strict=True)) + "name: *i\n")
    binary = work / "binary.yaml"
    binary.write_bytes(bytes(range(256)) * 8)
    nan = work / "nan.cif"
    nan.write_text("data_x\n_cell_length_a 4\n_cell_length_b 4\n_cell_length_c 4\n"
                   "_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\n"
                   "loop_\n_atom_site_label\n_atom_site_type_symbol\n_atom_site_fract_x\n"
                   "_atom_site_fract_y\n_atom_site_fract_z\nSi1 Si nan 0 0\n")
    out = {"chggen --help": ["--help"]}
    out |= {f"chggen {c} --help": [c, "--help"] for c in COMMANDS}
    out |= {
        "refuse: YAML bomb (run)": ["run", str(bomb)],
        "refuse: binary config (run)": ["run", str(binary)],
        "refuse: scan --budget 1e9": ["scan", "Li-Si", "--budget", "1000000000",
                                      "--print-config"],
        "refuse: generate Og2": ["generate", "Og2"],
        "refuse: inpaint NaN CIF": ["inpaint", str(nan), "--guest", "Li:1"],
    }
    return out


def timed(argv: list[str], pythonpath: str | None) -> float:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import sys; from campaign.cli import main; "
                    "sys.exit(main())", *argv], env=env, cwd=pythonpath or ROOT,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--baseline", default=None, help="another checkout to time beside this")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    trees = {"current": str(ROOT)} | ({"baseline": args.baseline} if args.baseline else {})
    rows: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, words in cases(Path(folder)).items():
            rows[name] = {}
            for label, tree in trees.items():
                times = [timed(words, tree) for _ in range(args.repeats)]
                rows[name][label] = round(statistics.median(times), 3)
            print(name, rows[name], flush=True)
    result = {"stamp": stamp(argv, __file__),
              "what": "wall seconds to answer, median of repeated runs",
              "repeats": args.repeats, "rows": rows,
              "max_help_s": {label: max(v[label] for k, v in rows.items() if "--help" in k)
                             for label in trees},
              "max_refusal_s": {label: max(v[label] for k, v in rows.items()
                                           if k.startswith("refuse")) for label in trees}}
    print(json.dumps({k: result[k] for k in ("max_help_s", "max_refusal_s")}))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
