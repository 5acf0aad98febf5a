"""Colours, labels and order of the candidate modes, shared by every report figure and
the per-mode summary.

Every mode of :data:`~chggen_kernels.workflow.records.CANDIDATE_MODES` has its own
colour (matplotlib's tab10): the paper's blue for unconditional generation and orange for
inpainting, the other modes colours no figure uses for anything else (the reference
phases are drawn in :data:`REFERENCE_COLOR`, the hull with candidates in green, the
E_d screening threshold in red). Modes are ordered first stage before inpainting
(:data:`MODE_ORDER`).
"""

from __future__ import annotations

from collections.abc import Iterable

from chggen_kernels.workflow.records import FIRST_STAGE_MODES, INPAINT_MODES

__all__ = [
    "MODE_COLORS",
    "MODE_LABELS",
    "MODE_ORDER",
    "OTHER_MODE_COLOR",
    "REFERENCE_COLOR",
    "describe_modes",
    "mode_color",
    "mode_label",
    "mode_order",
]

#: First-stage modes (whole crystals), then the inpainting modes that follow them.
MODE_ORDER: tuple[str, ...] = (*FIRST_STAGE_MODES, *INPAINT_MODES)
MODE_COLORS: dict[str, str] = {
    "unconditional": "#1f77b4",  # blue, as in the paper
    "symmetric": "#9467bd",  # purple
    "template": "#8c564b",  # brown
    "template-symmetric": "#17becf",  # cyan
    "inpaint": "#ff7f0e",  # orange, as in the paper
    "inpaint-symmetric": "#bcbd22",  # olive
}
MODE_LABELS: dict[str, str] = {
    "unconditional": "unconditional",
    "symmetric": "symmetric",
    "template": "template",
    "template-symmetric": "symmetric template",
    "inpaint": "inpainting",
    "inpaint-symmetric": "symmetric inpainting",
}
#: A mode this chggen does not know (a row written by a later one).
OTHER_MODE_COLOR = "#e377c2"  # pink
#: Reference phases of the hull figures: no mode's colour.
REFERENCE_COLOR = "#333333"


def mode_color(mode: str) -> str:
    """The colour (hex) of ``mode`` in every figure."""
    return MODE_COLORS.get(mode, OTHER_MODE_COLOR)


def mode_label(mode: str) -> str:
    """The legend label of ``mode`` (the mode itself when unknown)."""
    return MODE_LABELS.get(mode, str(mode))


def mode_order(modes: Iterable[str]) -> list[str]:
    """``modes`` (duplicates dropped) in :data:`MODE_ORDER`, unknown modes last by name."""
    rank = {m: k for k, m in enumerate(MODE_ORDER)}
    return sorted({str(m) for m in modes}, key=lambda m: (rank.get(m, len(rank)), m))


def describe_modes(modes: Iterable[str]) -> str:
    """The modes present as caption text, first stage versus inpainting, e.g.
    ``first stage (unconditional, template) versus inpainting (inpainting)``."""
    ordered = mode_order(modes)
    first = [mode_label(m) for m in ordered if m not in INPAINT_MODES]
    inpaint = [mode_label(m) for m in ordered if m in INPAINT_MODES]
    parts = ([f"first stage ({', '.join(first)})"] if first else []) + (
        [f"inpainting ({', '.join(inpaint)})"] if inpaint else [])
    return " versus ".join(parts) or "no mode"
