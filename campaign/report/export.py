"""Export the best unique candidates for DFT: CIF files, POSCAR files, or r2SCAN
relaxation input sets (pymatgen ``MPScanRelaxSet``, the Materials Project r2SCAN
workflow used for the paper's validation)."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from campaign.report.build import safe_name
from campaign.report.dedup import unique_candidates
from campaign.report.load import ReportError, default_output_dir, load_candidates, parse_structure
from chggen_kernels.analysis import MatchSettings

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from pymatgen.core import Structure

__all__ = ["EXPORT_FORMATS", "POTCAR_NOTE", "ExportResult", "export_candidates"]

ExportFormat = Literal["cif", "poscar", "vasp"]
EXPORT_FORMATS: tuple[str, ...] = ("cif", "poscar", "vasp")
MANIFEST_COLUMNS = [
    "rank", "candidate_id", "formula", "composition", "mode", "spacegroup_relaxed",
    "spacegroup_symbol_relaxed", "e_d", "e_above_hull", "energy_relaxed_per_atom",
    "n_duplicates", "duplicate_ids",
]  # fmt: skip
POTCAR_NOTE = (
    "POTCAR files are not written (they are licensed VASP data and not available here). "
    "Each folder has POTCAR.spec with the PBE_54 POTCAR symbols MPScanRelaxSet chose; "
    "build the POTCAR from your VASP pseudopotential library, e.g. with pymatgen "
    "(PMG_VASP_PSP_DIR configured): Potcar(symbols, functional='PBE_54'). "
    "INCAR uses KSPACING from MPScanRelaxSet's default band gap of 0 (the densest, "
    "metal-safe k-point spacing, 0.22 1/Å); no KPOINTS file is needed."
)


@dataclasses.dataclass(frozen=True)
class ExportResult:
    """What :func:`export_candidates` wrote: one path per candidate (a file, or for
    ``vasp`` a folder), the ``manifest.csv`` and notes for the user."""

    output_dir: Path
    paths: tuple[Path, ...]
    manifest_path: Path
    notes: tuple[str, ...]


def _stem(row: dict) -> str:
    sg = row.get("spacegroup_relaxed")
    sg_text = f"sg{int(sg)}" if sg is not None and sg == sg else "sg0"
    return safe_name(f"{int(row['rank']):02d}_{row['formula']}_{sg_text}_{row['candidate_id']}")


def _write_cif(structure: Structure, path: Path, symprec: float | None) -> None:
    from pymatgen.io.cif import CifWriter

    try:
        text = str(CifWriter(structure, symprec=symprec))
    except Exception:  # symmetrisation can fail on distorted cells: write P1 instead
        text = str(CifWriter(structure))
    path.write_text(text)


def _write_vasp_inputs(structure: Structure, folder: Path) -> None:
    from pymatgen.io.vasp.sets import MPScanRelaxSet

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # POTCAR-less set-up warns about missing POTCARs
        MPScanRelaxSet(structure).write_input(str(folder), potcar_spec=True)


def _comment(row: dict) -> str:
    e_d = row.get("e_d")
    e_d_text = f" E_d={e_d:+.4f} eV/atom" if e_d is not None and e_d == e_d else ""
    return f"chggen {row['candidate_id']} {row['formula']} {row.get('spacegroup_symbol_relaxed')}" \
        + e_d_text


def export_candidates(
    directory: str | Path,
    output_dir: str | Path | None = None,
    *,
    top: int = 10,
    fmt: ExportFormat = "cif",
    max_e_d: float | None = None,
    symmetric_only: bool = False,
    match: MatchSettings | None = None,
    symprec: float | None = 0.1,
) -> ExportResult:
    """Write the ``top`` best structurally unique candidates of a run.

    Candidates are filtered (``max_e_d`` eV/atom, ``symmetric_only``), ranked by E_d and
    merged with StructureMatcher across the whole run (see
    :func:`~campaign.report.dedup.unique_candidates`). Formats:

    * ``cif``: ``NN_<formula>_sg<number>_<id>.cif`` (symmetrised with ``symprec`` Å);
    * ``poscar``: ``NN_..._<id>.vasp`` (POSCAR format, relaxed cell as is);
    * ``vasp``: a folder per candidate with the r2SCAN relaxation inputs of
      ``MPScanRelaxSet`` (INCAR, POSCAR, POTCAR.spec; see :data:`POTCAR_NOTE`).

    Default ``output_dir``: ``DIR/_export/<fmt>``. Raises :class:`ReportError` when the
    folder is empty, all candidates failed, or nothing passes the filters.
    """
    from pymatgen.io.vasp import Poscar

    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"export format must be one of {EXPORT_FORMATS}, got {fmt!r}")
    if top < 1:
        raise ValueError(f"top must be >= 1, got {top}")
    table = load_candidates(directory)
    unique: pd.DataFrame = unique_candidates(
        table, top=top, max_e_d=max_e_d, symmetric_only=symmetric_only, settings=match
    )
    if unique.empty:
        raise ReportError(
            f"results folder {str(directory)!r}: no successful candidate passes the filters "
            f"(max E_d {max_e_d} eV/atom, symmetric only {symmetric_only})"
        )
    out = Path(output_dir) if output_dir is not None else default_output_dir(
        directory, "export") / fmt
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for row in unique.to_dict("records"):
        structure = parse_structure(row["structure_relaxed"], row["candidate_id"])
        stem = _stem(row)
        if fmt == "cif":
            path = out / f"{stem}.cif"
            _write_cif(structure, path, symprec)
        elif fmt == "poscar":
            path = out / f"{stem}.vasp"
            Poscar(structure, comment=_comment(row)).write_file(str(path))
        else:
            path = out / stem
            _write_vasp_inputs(structure, path)
        paths.append(path)
    manifest = unique[[c for c in MANIFEST_COLUMNS if c in unique.columns]].copy()
    manifest["path"] = [p.name for p in paths]
    manifest_path = out / "manifest.csv"
    manifest.to_csv(manifest_path, index=False)
    notes = [POTCAR_NOTE] if fmt == "vasp" else []
    if notes:
        (out / "README.txt").write_text("\n".join(notes) + "\n")
    if len(unique) < top:
        notes.append(f"only {len(unique)} unique candidates pass the filters (asked for {top})")
    return ExportResult(out, tuple(paths), manifest_path, tuple(notes))
