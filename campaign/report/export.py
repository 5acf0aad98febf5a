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

ExportFormat = Literal["cif", "poscar", "vasp", "extxyz", "zip"]
EXPORT_FORMATS: tuple[str, ...] = ("cif", "poscar", "vasp", "extxyz", "zip")
#: Row fields written into each extxyz frame's info (units: eV/atom, Å, Å^3/atom).
FRAME_FIELDS = [
    "rank", "candidate_id", "formula", "composition", "mode", "spacegroup_relaxed",
    "spacegroup_symbol_relaxed", "e_d", "e_above_hull", "energy_relaxed_per_atom",
    "delta_e_relax", "rmsd_relax", "n_duplicates", "duplicate_ids", "decomposition",
    "hull_source", "model_checkpoint", "parent_id", "task_id", "novelty", "known_phase_id",
    "start_from", "spacegroup_start",
]  # fmt: skip
#: Columns of ``manifest.csv``; ``start_from`` (where a symmetric or template start came
#: from, e.g. ``template mp-7845 Zn3As2 (As->P, similarity 0.93)``) is empty for other
#: modes and for rows of a chggen before the column.
MANIFEST_COLUMNS = [
    "rank", "candidate_id", "formula", "composition", "mode", "start_from",
    "spacegroup_relaxed", "spacegroup_symbol_relaxed", "e_d", "e_above_hull",
    "energy_relaxed_per_atom", "n_duplicates", "duplicate_ids", "novelty", "known_phase_id",
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
    n_candidates: int = 0


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


#: Frame fields that are integers even when their column holds nulls (float in pandas).
INTEGER_FIELDS = frozenset({"rank", "spacegroup_relaxed", "spacegroup_start", "n_duplicates"})


def _frame_info(row: dict) -> dict:
    """The row's scalar fields for an extxyz frame (NaN and None left out)."""
    info = {}
    for key in FRAME_FIELDS:
        value = row.get(key)
        if value is None or (isinstance(value, float) and value != value):
            continue
        value = value.item() if hasattr(value, "item") else value
        if key in INTEGER_FIELDS and isinstance(value, float) and value.is_integer():
            value = int(value)  # a column with nulls is stored as float
        info[key] = value
    return info


def _write_extxyz(rows: list[dict], structures: list, path: Path) -> None:
    """All candidates as one extended-XYZ file, one frame each in rank order, the row's
    fields in the frame's info (ASE reads them back with ``ase.io.read(path, ":")``)."""
    from ase.io import write
    from pymatgen.io.ase import AseAtomsAdaptor

    frames = []
    for row, structure in zip(rows, structures, strict=True):
        atoms = AseAtomsAdaptor.get_atoms(structure)
        atoms.info.update(_frame_info(row))
        frames.append(atoms)
    temporary = path.with_name(f".{path.name}.tmp")
    write(str(temporary), frames, format="extxyz")
    temporary.replace(path)


def _write_zip(rows: list[dict], structures: list, path: Path, manifest: pd.DataFrame,
               symprec: float | None) -> None:
    """A zip of CIFs named by rank, formula, space group and id, with ``index.csv``."""
    import tempfile
    import zipfile

    temporary = path.with_name(f".{path.name}.tmp")
    with tempfile.TemporaryDirectory() as folder, zipfile.ZipFile(
            temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for row, structure in zip(rows, structures, strict=True):
            cif = Path(folder) / f"{_stem(row)}.cif"
            _write_cif(structure, cif, symprec)
            archive.write(cif, cif.name)
        archive.writestr("index.csv", manifest.to_csv(index=False))
    temporary.replace(path)


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
      ``MPScanRelaxSet`` (INCAR, POSCAR, POTCAR.spec; see :data:`POTCAR_NOTE`);
    * ``extxyz``: ``candidates.extxyz``, one frame per candidate in rank order, the row's
      fields (:data:`FRAME_FIELDS`) in each frame's info;
    * ``zip``: ``candidates.zip`` of the CIFs above with ``index.csv``.

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
    if fmt in ("extxyz", "zip"):
        return _export_one_file(unique, out, fmt, symprec, top)
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
    return ExportResult(out, tuple(paths), manifest_path, tuple(notes), len(unique))


def _export_one_file(unique: pd.DataFrame, out: Path, fmt: str, symprec: float | None,
                     top: int) -> ExportResult:
    """``extxyz`` or ``zip``: every candidate in one file, plus ``manifest.csv``."""
    rows = unique.to_dict("records")
    structures = [parse_structure(r["structure_relaxed"], r["candidate_id"]) for r in rows]
    manifest = unique[[c for c in MANIFEST_COLUMNS if c in unique.columns]].copy()
    manifest["path"] = [f"{_stem(r)}.cif" for r in rows] if fmt == "zip" else [
        f"candidates.extxyz@{k}" for k in range(len(rows))]
    path = out / f"candidates.{fmt}"
    if fmt == "extxyz":
        _write_extxyz(rows, structures, path)
    else:
        _write_zip(rows, structures, path, manifest, symprec)
    manifest_path = out / "manifest.csv"
    manifest.to_csv(manifest_path, index=False)
    notes = ([f"only {len(unique)} unique candidates pass the filters (asked for {top})"]
             if len(unique) < top else [])
    return ExportResult(out, (path,), manifest_path, tuple(notes), len(unique))
