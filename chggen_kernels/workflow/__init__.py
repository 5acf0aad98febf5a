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
from chggen_kernels.workflow.stages import (
    HullProvider,
    candidate_id_for,
    failed_record,
    format_ratio,
    generate,
    initial_crystal,
    inpainting_specs,
    relax_and_score,
)
from chggen_kernels.workflow.symmetric import symmetric_specs

__all__ = [
    "CANDIDATE_MODES",
    "CandidateRecord",
    "CandidateSpec",
    "GeneratedCandidate",
    "HullProvider",
    "candidate_id_for",
    "failed_record",
    "format_composition",
    "format_ratio",
    "generate",
    "initial_crystal",
    "inpainting_specs",
    "relax_and_score",
    "symmetric_specs",
]
