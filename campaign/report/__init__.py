"""Reports of a results folder: figures, one self-contained HTML page (interactive 3D views
with the vendored 3Dmol.js, hull figures of every binary, ternary and quaternary system,
provenance), the locality-bias analysis and DFT exports (``chggen report``,
``chggen analyze locality``, ``chggen export``).

All figures are drawn on matplotlib's Agg canvas (no display, no pyplot state); outputs
go to ``DIR/_report`` and ``DIR/_export`` by default, which Parquet readers of ``DIR``
ignore.
"""

from campaign.report.build import ReportResult, build_report
from campaign.report.dedup import unique_candidates
from campaign.report.export import EXPORT_FORMATS, ExportResult, export_candidates
from campaign.report.load import ReportError, load_candidates, summary_counts
from campaign.report.locality import LocalityResult, analyze_locality

__all__ = [
    "EXPORT_FORMATS",
    "ExportResult",
    "LocalityResult",
    "ReportError",
    "ReportResult",
    "analyze_locality",
    "build_report",
    "export_candidates",
    "load_candidates",
    "summary_counts",
    "unique_candidates",
]
