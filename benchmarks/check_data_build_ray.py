"""Check ``chggen data build``'s Ray path (two relaxation actors of the task engine on a
private loopback Ray) against the in-process path, with the test suite's fake relaxer:
the same candidates, the same records. Too slow for the suite (Ray start-up); run by hand:

    python benchmarks/check_data_build_ray.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from campaign.jobs.data.build import BuildOptions, run_build  # noqa: E402
from campaign.jobs.data.cache import read_any_cache  # noqa: E402
from tests.campaign.fake_relaxer import fake_relaxer  # noqa: E402


def _records(out: Path, workers: int) -> dict[str, dict]:
    opts = BuildOptions(chemsys=("Li-Si",), sources=("prototypes",), out=out, max_atoms=8,
                        undecorated=False, workers=workers, address="local" if workers > 1
                        else None)
    run_build(opts, relaxer_factory=fake_relaxer)
    return read_any_cache(out).records


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        alone = _records(Path(tmp) / "one", 1)
        ray = _records(Path(tmp) / "ray", 2)
    keys = ("status", "energy_per_atom", "failure_reason")
    same = sorted(alone) == sorted(ray) and all(
        all(alone[i].get(k) == ray[i].get(k) for k in keys) for i in alone)
    print(f"in process {len(alone)} records, Ray {len(ray)} records, same: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
