"""The CHGGen workflow as plain functions: plan, generate, relax, refine, inpaint, score.

:mod:`~chggen_kernels.workflow.planning` decides ids, seeds, lattices, hosts and ranking;
:mod:`~chggen_kernels.workflow.stages` runs the stages. The campaign distributes exactly
these functions; nothing here imports Ray.
"""

from chggen_kernels.workflow.planning import (
    INPAINT_MODES,
    candidate_id,
    candidate_seed,
    draw_lattice,
    inpainting_stage_seed,
    inpainting_task_id,
    rank_key,
    rank_rows,
    select_hosts,
    short_hash,
    unconditional_specs,
    unconditional_task_id,
)
from chggen_kernels.workflow.records import (
    CANDIDATE_MODES,
    CandidateRecord,
    CandidateSpec,
    GeneratedCandidate,
    failed_row,
    format_composition,
)
from chggen_kernels.workflow.scoring import (
    HullProvider,
    failed_record,
    relax_and_score,
    relax_and_score_many,
)
from chggen_kernels.workflow.stages import generate, initial_crystal, inpainting_specs
from chggen_kernels.workflow.symmetric import symmetric_specs

__all__ = [
    "CANDIDATE_MODES",
    "INPAINT_MODES",
    "CandidateRecord",
    "CandidateSpec",
    "GeneratedCandidate",
    "HullProvider",
    "candidate_id",
    "candidate_seed",
    "draw_lattice",
    "failed_record",
    "failed_row",
    "format_composition",
    "generate",
    "initial_crystal",
    "inpainting_specs",
    "inpainting_stage_seed",
    "inpainting_task_id",
    "rank_key",
    "rank_rows",
    "relax_and_score",
    "relax_and_score_many",
    "select_hosts",
    "short_hash",
    "symmetric_specs",
    "unconditional_specs",
    "unconditional_task_id",
]
