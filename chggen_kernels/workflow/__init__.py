"""The CHGGen workflow as plain functions: plan, generate, relax, refine, inpaint, score.

:mod:`~chggen_kernels.workflow.planning` decides ids, seeds, lattices, hosts and ranking;
:mod:`~chggen_kernels.workflow.stages` runs the stages. The campaign distributes exactly
these functions; nothing here imports Ray.
"""

from chggen_kernels.lazy import lazy_exports

# public name -> defining module, imported on first access (chggen_kernels.lazy)
_EXPORTS: dict[str, str] = {
    "INPAINT_MODES": "chggen_kernels.workflow.planning",
    "candidate_id": "chggen_kernels.workflow.planning",
    "candidate_seed": "chggen_kernels.workflow.planning",
    "draw_lattice": "chggen_kernels.workflow.planning",
    "inpainting_stage_seed": "chggen_kernels.workflow.planning",
    "inpainting_task_id": "chggen_kernels.workflow.planning",
    "rank_key": "chggen_kernels.workflow.planning",
    "rank_rows": "chggen_kernels.workflow.planning",
    "select_hosts": "chggen_kernels.workflow.planning",
    "short_hash": "chggen_kernels.workflow.planning",
    "unconditional_specs": "chggen_kernels.workflow.planning",
    "unconditional_task_id": "chggen_kernels.workflow.planning",
    "CANDIDATE_MODES": "chggen_kernels.workflow.records",
    "FIRST_STAGE_MODES": "chggen_kernels.workflow.records",
    "CandidateRecord": "chggen_kernels.workflow.records",
    "CandidateSpec": "chggen_kernels.workflow.records",
    "Cell": "chggen_kernels.workflow.records",
    "GeneratedCandidate": "chggen_kernels.workflow.records",
    "failed_row": "chggen_kernels.workflow.records",
    "format_composition": "chggen_kernels.workflow.records",
    "HullProvider": "chggen_kernels.workflow.scoring",
    "failed_record": "chggen_kernels.workflow.scoring",
    "relax_and_score": "chggen_kernels.workflow.scoring",
    "relax_and_score_many": "chggen_kernels.workflow.scoring",
    "generate": "chggen_kernels.workflow.stages",
    "initial_crystal": "chggen_kernels.workflow.stages",
    "inpainting_specs": "chggen_kernels.workflow.stages",
    "symmetric_specs": "chggen_kernels.workflow.symmetric",
}

__all__ = [
    "CANDIDATE_MODES",
    "FIRST_STAGE_MODES",
    "INPAINT_MODES",
    "CandidateRecord",
    "CandidateSpec",
    "Cell",
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

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
