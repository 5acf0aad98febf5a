"""Write the measured quality of a checkpoint into its metadata (what ``chggen model info``
prints), from a ``benchmarks/eval_model_quality.py`` result of that same checkpoint.

    python examples/attach_model_quality.py RUN/best.pt quality.json --out model.pt \\
        [--carry-from chggen_kernels/data/default_model.pt]

The result must have been measured on this checkpoint (its sha256 is checked against the
one the result records). ``--carry-from`` copies the ``size_comparison`` of another
checkpoint (the measurement that chose the architecture) when this one was warm-started
from it with the same architecture.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import torch

from chggen_kernels.evaluation import quality_card


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("quality", type=Path, help="eval_model_quality.py --output JSON")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--carry-from", type=Path, default=None)
    args = parser.parse_args()
    result = json.loads(args.quality.read_text())
    digest = hashlib.sha256(args.checkpoint.read_bytes()).hexdigest()
    measured = json.dumps(result.get("checkpoint", ""))
    if digest[:12] not in measured:
        raise SystemExit(f"{args.quality} was not measured on {args.checkpoint} "
                         f"(sha256 {digest[:12]} not in {measured[:200]})")
    payload = torch.load(args.checkpoint, map_location="cpu", weights_only=False)
    extra = payload["metadata"]["extra"]
    extra["quality"] = quality_card(result)
    extra["final_val_by_bin"] = extra["quality"]["validation_by_bin"]
    if args.carry_from is not None:
        other = torch.load(args.carry_from, map_location="cpu", weights_only=False)
        comparison = other["metadata"]["extra"].get("size_comparison")
        if comparison is not None:
            extra["size_comparison"] = comparison
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(args.out.suffix + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(args.out)
    print(f"wrote {args.out} (quality of {len(extra['quality']['systems'])} system x mode rows)")


if __name__ == "__main__":
    main()
