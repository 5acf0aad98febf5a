"""Benchmarks of structure recovery: matching, scoring, baselines, guests-only relaxation.

Pure computation (no Ray, no files): ``chggen benchmark`` (``campaign/benchmark``) runs the
methods and stores the rows; this package decides what a row means. See
``docs/benchmark.md``.
"""

from chggen_kernels.benchmark.baselines import (
    BaselineStructure,
    compatible_space_groups,
    random_guest_structures,
    random_search_structures,
    voronoi_guest_structures,
    voronoi_sites,
)
from chggen_kernels.benchmark.guest_relax import FixedAtomsCalculator, guests_only_relaxer
from chggen_kernels.benchmark.matching import (
    BENCHMARK_MATCH,
    STRICT_MATCH,
    KnownMatcher,
    MatchResult,
    match_structures,
)
from chggen_kernels.benchmark.scoring import (
    STAGES,
    CspScore,
    HostScore,
    StageScore,
    rate,
    score_csp_compound,
    score_host,
    summarise_csp,
    summarise_hosts,
)
from chggen_kernels.benchmark.selection import (
    TARGET_SYSTEMS,
    SetEntry,
    choose_benchmark_set,
    in_systems,
)
from chggen_kernels.benchmark.tables import csp_markdown, format_rate, hosts_markdown

__all__ = [
    "BENCHMARK_MATCH",
    "STAGES",
    "STRICT_MATCH",
    "TARGET_SYSTEMS",
    "BaselineStructure",
    "CspScore",
    "FixedAtomsCalculator",
    "HostScore",
    "KnownMatcher",
    "MatchResult",
    "SetEntry",
    "StageScore",
    "choose_benchmark_set",
    "compatible_space_groups",
    "csp_markdown",
    "format_rate",
    "guests_only_relaxer",
    "hosts_markdown",
    "in_systems",
    "match_structures",
    "random_guest_structures",
    "random_search_structures",
    "rate",
    "score_csp_compound",
    "score_host",
    "summarise_csp",
    "summarise_hosts",
    "voronoi_guest_structures",
    "voronoi_sites",
]
