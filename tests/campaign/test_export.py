"""Deduplication with StructureMatcher and ``chggen export`` (CIF, POSCAR, r2SCAN inputs)."""

from __future__ import annotations

import pytest
from pymatgen.core import Structure

from campaign.cli import main
from campaign.engine.store import NotAResultsFolderError
from campaign.report import export_candidates, load_candidates, unique_candidates
from chggen_kernels.analysis import MatchSettings, duplicate_groups
from tests.campaign._report_data import (
    cscl_lisi,
    perturbed_copy,
    rocksalt_lisi,
    write_all_failed,
    write_results,
)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return write_results(tmp_path_factory.mktemp("export") / "results")


def test_duplicate_groups_merge_translated_perturbed_and_supercell_copies():
    cscl = cscl_lisi()
    supercell = cscl.copy()
    supercell.make_supercell([2, 1, 1])
    structures = [cscl, rocksalt_lisi(), perturbed_copy(cscl), supercell, perturbed_copy(
        rocksalt_lisi(), shift=0.4)]
    # CsCl-type and rock-salt-type LiSi have the same formula but are different crystals
    assert duplicate_groups(structures) == [0, 1, 0, 0, 1]


def test_duplicate_groups_respect_tolerance_and_max_groups():
    from pymatgen.core import Lattice

    cscl = cscl_lisi()

    def stretched(factor: float) -> Structure:  # tetragonal strain along c
        return Structure(Lattice.tetragonal(2.95, 2.95 * factor), cscl.species, cscl.frac_coords)

    # ltol = 0.2: a 5% strain is the same crystal, a 35% strain is not
    assert duplicate_groups([cscl, stretched(1.05), stretched(1.35)]) == [0, 0, 2]
    # with max_groups=1 the rock-salt cell cannot open a group; the copy still joins group 0
    assert duplicate_groups([cscl, rocksalt_lisi(), perturbed_copy(cscl)], max_groups=1) == [
        0, -1, 0]
    with pytest.raises(ValueError, match="MatchSettings.stol must be positive, got 0"):
        MatchSettings(stol=0)


def test_unique_candidates_keep_the_best_member_and_count_duplicates(results):
    unique = unique_candidates(load_candidates(results)).set_index("candidate_id")
    assert list(unique.index) == [
        "lisi-cscl", "si-dia", "li-bcc", "li2si-af", "lisi-rs", "li3si-p1-b"]
    assert unique.at["lisi-cscl", "duplicate_ids"] == "lisi-cscl-copy"
    assert unique.at["li3si-p1-b", "duplicate_ids"] == "li3si-p1"  # lower E_d wins
    assert unique["n_duplicates"].sum() == 3
    filtered = unique_candidates(load_candidates(results), max_e_d=0.03, symmetric_only=True)
    assert list(filtered["candidate_id"]) == ["lisi-cscl", "si-dia", "li-bcc", "li2si-af"]


def test_export_cif_writes_the_top_unique_structures(results, tmp_path):
    result = export_candidates(results, tmp_path / "cif", top=3, fmt="cif")
    names = sorted(p.name for p in (tmp_path / "cif").glob("*.cif"))
    assert names == ["01_LiSi_sg221_lisi-cscl.cif", "02_Si_sg227_si-dia.cif",
                     "03_Li_sg229_li-bcc.cif"]
    back = Structure.from_file(tmp_path / "cif" / names[0])
    assert MatchSettings().matcher().fit(back, cscl_lisi())
    manifest = result.manifest_path.read_text().splitlines()
    assert len(manifest) == 4 and manifest[1].startswith("1,lisi-cscl,LiSi")


def test_export_poscar(results, tmp_path):
    result = export_candidates(results, tmp_path, top=2, fmt="poscar")
    assert [p.suffix for p in result.paths] == [".vasp", ".vasp"]
    first = result.paths[0].read_text().splitlines()[0]
    assert first.startswith("chggen lisi-cscl LiSi Pm-3m E_d=-0.0100 eV/atom")
    assert len(Structure.from_file(result.paths[1])) == 8  # diamond Si


def test_export_vasp_writes_r2scan_inputs_without_potcar(results, tmp_path):
    result = export_candidates(results, tmp_path, top=4, fmt="vasp")
    assert len(result.paths) == 4
    for folder in result.paths:
        files = {p.name for p in folder.iterdir()}
        assert {"INCAR", "POSCAR", "POTCAR.spec"} <= files and "POTCAR" not in files
        incar = (folder / "INCAR").read_text()
        assert "METAGGA = R2scan" in incar and "ISIF = 3" in incar
    assert (tmp_path / "01_LiSi_sg221_lisi-cscl" / "POTCAR.spec").read_text().split() == [
        "Li_sv", "Si"]
    assert "POTCAR files are not written" in (tmp_path / "README.txt").read_text()
    assert any("POTCAR" in note for note in result.notes)


def test_export_cli_default_folder_and_errors(results, tmp_path, capsys):
    assert main(["export", str(results), "--top", "2", "--max-ed", "0.0"]) == 0
    assert len(list((results / "_export" / "cif").glob("*.cif"))) == 2
    assert main(["export", str(results), "--max-ed", "-1"]) == 1
    assert "no successful candidate passes the filters" in capsys.readouterr().err
    failed = write_all_failed(tmp_path / "failed")
    assert main(["export", str(failed)]) == 1
    assert "all 3 candidates failed" in capsys.readouterr().err
    with pytest.raises(ValueError, match="export format must be one of"):
        export_candidates(results, tmp_path, fmt="xyz")  # type: ignore[arg-type]
    with pytest.raises(NotAResultsFolderError, match="holds no candidates yet"):
        (tmp_path / "empty").mkdir()
        export_candidates(tmp_path / "empty")


def test_extxyz_reads_back_as_top_ranks_and_zip_holds_cifs_and_an_index(results, tmp_path,
                                                                        capsys) -> None:
    import zipfile

    from ase.io import read

    from campaign.commands.top import rank_candidates

    assert main(["export", str(results), "--format", "extxyz", "--top", "20",
                 "--out", str(tmp_path / "x")]) == 0
    frames = read(tmp_path / "x" / "candidates.extxyz", index=":")
    top = rank_candidates(str(results), n=20)
    assert [f.info["candidate_id"] for f in frames] == top["candidate_id"].tolist()
    assert [f.info["rank"] for f in frames] == list(range(1, len(frames) + 1))
    assert all(isinstance(f.info["e_d"], float) for f in frames)
    assert main(["export", str(results), "--format", "zip", "--top", "3", "--out",
                 str(tmp_path / "z")]) == 0
    with zipfile.ZipFile(tmp_path / "z" / "candidates.zip") as archive:
        names = archive.namelist()
        index = archive.read("index.csv").decode().splitlines()
    assert names[-1] == "index.csv" and len(names) == 4
    assert all(n.startswith(f"{k + 1:02d}_") and n.endswith(".cif")
               for k, n in enumerate(names[:-1]))
    assert index[0].startswith("rank,candidate_id,formula") and len(index) == 4
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["export", str(results), "--format", "xyz"])
    assert exit_info.value.code == 2 and "invalid choice: 'xyz'" in capsys.readouterr().err
