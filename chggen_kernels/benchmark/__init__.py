"""Benchmarks of structure recovery: matching, scoring, baselines, guests-only relaxation.

Pure computation (no Ray, no files): ``chggen benchmark`` (``campaign/jobs/benchmark``) runs the
methods and stores the rows; this package decides what a row means. See
``docs/benchmark.md``.
"""

from chggen_kernels.lazy import lazy_exports

# public name -> defining module, imported on first access (chggen_kernels.lazy)
_EXPORTS: dict[str, str] = {
    "BaselineStructure": "chggen_kernels.benchmark.baselines",
    "compatible_space_groups": "chggen_kernels.benchmark.baselines",
    "random_guest_structures": "chggen_kernels.benchmark.baselines",
    "random_search_structures": "chggen_kernels.benchmark.baselines",
    "voronoi_guest_structures": "chggen_kernels.benchmark.baselines",
    "voronoi_sites": "chggen_kernels.benchmark.baselines",
    "FixedAtomsCalculator": "chggen_kernels.benchmark.guest_relax",
    "guests_only_relaxer": "chggen_kernels.benchmark.guest_relax",
    "BENCHMARK_MATCH": "chggen_kernels.benchmark.matching",
    "STRICT_MATCH": "chggen_kernels.benchmark.matching",
    "KnownMatcher": "chggen_kernels.benchmark.matching",
    "MatchResult": "chggen_kernels.benchmark.matching",
    "match_structures": "chggen_kernels.benchmark.matching",
    "STAGES": "chggen_kernels.benchmark.scoring",
    "CspScore": "chggen_kernels.benchmark.scoring",
    "HostScore": "chggen_kernels.benchmark.scoring",
    "StageScore": "chggen_kernels.benchmark.scoring",
    "rate": "chggen_kernels.benchmark.scoring",
    "score_csp_compound": "chggen_kernels.benchmark.scoring",
    "score_host": "chggen_kernels.benchmark.scoring",
    "summarise_csp": "chggen_kernels.benchmark.scoring",
    "summarise_hosts": "chggen_kernels.benchmark.scoring",
    "TARGET_SYSTEMS": "chggen_kernels.benchmark.selection",
    "SetEntry": "chggen_kernels.benchmark.selection",
    "choose_benchmark_set": "chggen_kernels.benchmark.selection",
    "in_systems": "chggen_kernels.benchmark.selection",
    "csp_markdown": "chggen_kernels.benchmark.tables",
    "format_rate": "chggen_kernels.benchmark.tables",
    "hosts_markdown": "chggen_kernels.benchmark.tables",
}

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

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
