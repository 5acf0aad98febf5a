"""The CHGGen workflow as plain functions: generate, relax, refine, inpaint, score.

The campaign distributes exactly these functions; nothing here imports Ray.
"""

from chggen_kernels.workflow.records import (
    CANDIDATE_MODES,
    CandidateRecord,
    CandidateSpec,
    GeneratedCandidate,
    format_composition,
)

__all__ = [
    "CANDIDATE_MODES",
    "CandidateRecord",
    "CandidateSpec",
    "GeneratedCandidate",
    "format_composition",
]
