"""Does the template library hold each benchmark compound's structure type, and at which
rank? What limits the template modes, separated from what the sampler and relaxation do.

For every compound of a shipped CSP set (or the ``--ids`` given), the template starts that
``--mode template`` would use (:meth:`chggen_kernels.templates.TemplateLibrary.starts`:
same stoichiometry type, elements substituted, most similar first, polymorphs of the
target formula excluded) are compared, unrelaxed, with the known crystal by pymatgen's
StructureMatcher at the benchmark's tolerances (ltol 0.3, stol 0.5, angle_tol 10°, volume
scaled):

* ``rank_same_elements``: the first start that matches the known crystal as substituted;
* ``rank_any_mapping``: the first start whose prototype matches with some other
  assignment of the elements (``fit_anonymous``): the structure type is there but the
  substitution put the elements on the wrong sites.

A compound with neither has no template of its structure type among the shipped known
phases: no template mode can start from it, only the relaxation can get there. One with
a rank above the budget k has the type, but too low in the similarity order. A rank
within k that the benchmark still misses points at the denoising or the relaxation.

Usage::

    python benchmarks/diagnose_template_starts.py --set extended \\
        --out benchmarks/results/template_coverage_extended.json

Cheap: no sampling, no relaxation (a minute on 2 cores for the 60 compounds).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from stamp import stamp, stamped  # noqa: E402

#: StructureMatcher tolerances of ``chggen benchmark csp`` (KnownMatcher).
LTOL, STOL, ANGLE_TOL = 0.3, 0.5, 10.0


def first_ranks(known: Any, starts: Sequence[Any]) -> dict[str, Any]:
    """1-based ranks of the first start matching ``known`` with the same elements and
    with any element mapping (None: none does), the number of starts and of distinct
    prototypes among them."""
    from pymatgen.analysis.structure_matcher import StructureMatcher

    matcher = StructureMatcher(ltol=LTOL, stol=STOL, angle_tol=ANGLE_TOL, scale=True,
                               primitive_cell=True)
    same = anonymous = None
    same_id = anonymous_id = None
    for rank, start in enumerate(starts, 1):
        if same is None and matcher.fit(start.structure, known):
            same, same_id = rank, start.label
        if anonymous is None and matcher.fit_anonymous(start.structure, known):
            anonymous, anonymous_id = rank, start.label
        if same is not None and anonymous is not None:
            break
    return {"n_templates": len(starts),
            "n_prototypes": len({getattr(s, "prototype", "") for s in starts}),
            "rank_same_elements": same,
            "template_same_elements": same_id, "rank_any_mapping": anonymous,
            "template_any_mapping": anonymous_id}


def diagnose(compounds: Sequence[Any], library: Any, k: int, ranking: str = "similarity"
             ) -> dict[str, Any]:
    """Per compound the ranks of :func:`first_ranks` in the template ``ranking``, and
    counts over the set: no template of the type at all, the type present but not within
    ``k`` (same elements), within ``k``."""
    from campaign.jobs.benchmark.csp import known_cell

    rows = []
    for compound in compounds:
        known = known_cell(compound, "primitive")
        counts = {el.symbol: int(n) for el, n in known.composition.items()}
        starts = library.starts(counts, known.volume / len(known), ranking=ranking)
        rows.append({"compound_id": compound.compound_id,
                     "formula": known.composition.reduced_formula, "n_atoms": len(known),
                     **first_ranks(known, starts)})
    within = sum(r["rank_same_elements"] is not None and r["rank_same_elements"] <= k
                 for r in rows)
    beyond = sum(r["rank_same_elements"] is not None and r["rank_same_elements"] > k
                 for r in rows)
    wrong_sites = sum(r["rank_same_elements"] is None and r["rank_any_mapping"] is not None
                      for r in rows)
    return {"k": k, "ranking": ranking, "n_compounds": len(rows), "type_within_k": within,
            "type_beyond_k": beyond, "type_only_with_other_mapping": wrong_sites,
            "no_template_of_type": sum(r["n_templates"] == 0 for r in rows),
            "type_absent": len(rows) - within - beyond - wrong_sites, "compounds": rows}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", dest="set_name", default="extended",
                        choices=("default", "extended", "all"),
                        help="a shipped CSP set, or all of --known")
    parser.add_argument("--known", default="default",
                        help="KNOWN crystals as chggen benchmark takes them (default: the "
                        "shipped sets), e.g. the validation split's val.parquet with --set all")
    parser.add_argument("--ranking", default="similarity",
                        help="template ranking: similarity or prototypes")
    parser.add_argument("--ids", nargs="+", help="only these compound ids")
    parser.add_argument("--k", type=int, default=20, help="budget (default 20)")
    parser.add_argument("--out", type=Path, help="JSON to write (stamped)")
    args = parser.parse_args(argv)
    if args.k < 1:
        parser.error(f"--k must be >= 1, got {args.k}")
    from campaign.jobs.benchmark.driver import set_ids
    from campaign.jobs.benchmark.known_input import read_known, select_compounds
    from chggen_kernels.templates import TEMPLATE_RANKINGS, TemplateLibrary
    from chggen_kernels.thermo.known_structures import read_known_phase_structures

    if args.ranking not in TEMPLATE_RANKINGS:
        parser.error(f"--ranking must be one of {', '.join(TEMPLATE_RANKINGS)}, got "
                     f"{args.ranking!r}")
    compounds = select_compounds(read_known(args.known), args.set_name,
                                 set_ids("csp", args.set_name), max_atoms=20, limit=None)
    if args.ids:
        unknown = sorted(set(args.ids) - {c.compound_id for c in compounds})
        if unknown:
            parser.error(f"--ids: not in the {args.set_name} set: {', '.join(unknown)}")
        compounds = [c for c in compounds if c.compound_id in set(args.ids)]
    result = diagnose(compounds, TemplateLibrary(read_known_phase_structures()), args.k,
                      args.ranking)
    for r in result["compounds"]:
        print(f"{r['compound_id']} {r['formula']:>12} {r['n_atoms']:>3} atoms: "
              f"{r['n_templates']:>4} templates, same elements at {r['rank_same_elements']}, "
              f"any mapping at {r['rank_any_mapping']}")
    print(f"{result['n_compounds']} compounds, ranking {args.ranking}: type within "
          f"k={args.k} {result['type_within_k']}"
          f", beyond k {result['type_beyond_k']}, only with another element mapping "
          f"{result['type_only_with_other_mapping']}, absent {result['type_absent']} "
          f"({result['no_template_of_type']} without any template of the stoichiometry type)")
    if args.out is not None:
        args.out.write_text(json.dumps(stamped(result, stamp(argv)), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
