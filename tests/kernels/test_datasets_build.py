"""Training-set build kernels: relaxation cache, own-hull filter, dedup, reference hull,
Materials Project source (fake client) and files source."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from pymatgen.core import Composition, Lattice, Structure

from chggen_kernels.datasets import (
    MPSourceError,
    SourceStructure,
    append_record,
    deduplicate,
    energy_above_own_hull,
    load_relax_cache,
    mp_structures,
    reference_hull_from_build,
    reference_records,
    relax_record,
    select_training_set,
    structures_from_files,
    validate_record,
)
from chggen_kernels.thermo import (
    FileHullSource,
    OfflineHullSource,
    decomposition_energy,
    get_hull,
    reference_data_path,
)

BACKGROUND_CACHE = Path("/work/data_build/relaxed.jsonl")


def _li_bcc(a: float = 3.44) -> Structure:
    return Structure(Lattice.cubic(a), ["Li", "Li"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def _si_diamond(a: float = 5.47) -> Structure:
    fcc = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    return Structure(Lattice.cubic(a), ["Si"] * 8, np.concatenate([fcc, fcc + 0.25]))


def _lisi_cscl(a: float = 3.0) -> Structure:
    return Structure(Lattice.cubic(a), ["Li", "Si"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def _record(sid: str, structure: Structure, energy: float, **extra) -> dict:
    """A record in the format of the background job (no 'converged'/'relaxer' keys)."""
    return {"structure_id": sid, "source": "prototypes", "prototype": "test",
            "formula": structure.composition.formula, "status": "ok",
            "energy_per_atom": energy, "n_steps": 3, "structure": structure.as_dict(),
            "volume_per_atom": structure.volume / len(structure), "t_s": 0.1, **extra}


# ------------------------------------------------------------------ cache
def test_cache_keeps_ok_over_failed_and_survives_a_torn_line(tmp_path) -> None:
    path = tmp_path / "relaxed.jsonl"
    failed = {"structure_id": "a", "source": "random", "prototype": "sg2", "formula": "Li1",
              "status": "failed", "failure_reason": "min_distance: 0.1 Å", "t_s": 0.0}
    append_record(path, failed)
    append_record(path, _record("a", _li_bcc(), -1.9))
    with path.open("a") as fh:  # a writer killed mid-line
        fh.write('{"structure_id": "b", "status": "o')
    append_record(path, _record("c", _si_diamond(), -5.3))  # must start on a new line
    cache = load_relax_cache(path)
    assert cache.ids == {"a", "c"}
    assert cache.records["a"]["status"] == "ok"
    assert len(cache.bad_lines) == 1 and cache.bad_lines[0].startswith("line 3:")
    only = load_relax_cache(path, keep_ids={"c"})
    assert set(only.records) == {"c"} and only.ids == {"a", "c"}  # ids still known for resume


@pytest.mark.skipif(not BACKGROUND_CACHE.is_file(), reason="no background cache here")
def test_background_cache_format_is_accepted(tmp_path) -> None:
    sample = tmp_path / "sample.jsonl"
    with BACKGROUND_CACHE.open("rb") as src:  # read only; a few complete lines copied
        lines = [line for _, line in zip(range(4), src, strict=False) if line.endswith(b"\n")]
    sample.write_bytes(b"".join(lines))
    cache = load_relax_cache(sample)
    assert not cache.bad_lines and len(cache.records) == len(lines) > 0
    records = list(cache.records.values())
    assert all(validate_record(r) is None for r in records)
    assert set(energy_above_own_hull(records)) == {r["structure_id"] for r in records}


def test_invalid_records_are_named() -> None:
    assert "energy_per_atom 'x'" in validate_record(
        {"structure_id": "q", "status": "ok", "energy_per_atom": "x"})
    assert "status 'done'" in validate_record({"structure_id": "q", "status": "done"})


def test_relax_record_turns_relaxer_errors_into_failed_records() -> None:
    class Broken:
        def relax(self, structure):
            raise RuntimeError("CUDA exploded")

    candidate = SourceStructure("x1", _li_bcc(), "prototypes", "A_cI2_229_a")
    record = relax_record(candidate, Broken(), "label")
    assert record["status"] == "failed"
    assert record["failure_reason"].startswith("calculator_error: RuntimeError: CUDA exploded")
    assert record["formula"] == "Li2" and validate_record(record) is None


# ------------------------------------------------------------------ hull and dedup
def test_own_hull_filter_keeps_ground_states_and_rejects_a_high_polymorph() -> None:
    records = [
        _record("li", _li_bcc(), -1.9),
        _record("si", _si_diamond(), -5.3),
        _record("lisi", _lisi_cscl(), -4.0),  # 0.4 eV/atom below the Li-Si tie line
        _record("lisi-hi", _lisi_cscl(3.1), -3.85),  # 0.15 above LiSi
        _record("lisi-ok", _lisi_cscl(3.2), -3.95),  # 0.05 above LiSi
        _record("nacl", Structure(Lattice.cubic(5.6), ["Na", "Cl"],
                                  [[0, 0, 0], [0.5, 0.5, 0.5]]), -3.4),
        {"structure_id": "bad", "status": "failed", "failure_reason": "min_distance: x"},
    ]
    hull = energy_above_own_hull(records)
    assert "bad" not in hull
    assert hull["li"].e_above_hull == pytest.approx(0.0, abs=1e-9)
    assert hull["lisi"].e_above_hull == pytest.approx(0.0, abs=1e-9)
    assert hull["lisi-hi"].e_above_hull == pytest.approx(0.15, abs=1e-9)
    assert hull["lisi-ok"].e_above_hull == pytest.approx(0.05, abs=1e-9)
    assert hull["nacl"].e_above_hull is None and hull["nacl"].missing_elements == ("Cl", "Na")
    kept = select_training_set(records, e_above_hull_max=0.1).kept_hull
    assert kept == {"li", "si", "lisi", "lisi-ok", "nacl"}
    strict = select_training_set(records, e_above_hull_max=0.1, keep_unreferenced=False)
    assert "nacl" not in strict.kept_hull


def test_dedup_merges_supercell_and_perturbed_copies_keeping_the_lowest_energy() -> None:
    rng = np.random.default_rng(0)
    base = _si_diamond()
    perturbed = base.copy()
    for i in range(len(perturbed)):
        perturbed.translate_sites([i], rng.normal(0, 0.02, 3), frac_coords=False)
    supercell = base.copy()
    supercell.make_supercell([1, 1, 2])
    records = [
        _record("si-a", base, -5.30),
        _record("si-b", perturbed, -5.32),  # lowest: the representative
        _record("si-c", supercell, -5.31),
        _record("si-bcc", Structure(Lattice.cubic(3.1), ["Si", "Si"],
                                    [[0, 0, 0], [0.5, 0.5, 0.5]]), -5.0),
        _record("li", _li_bcc(), -1.9),
    ]
    groups = deduplicate(records)
    assert groups == {"si-b": ["si-b", "si-c", "si-a"], "si-bcc": ["si-bcc"], "li": ["li"]}


# ------------------------------------------------------------------ reference hull
def test_reference_hull_loads_and_gives_zero_for_its_ground_states(tmp_path) -> None:
    records = [
        _record("li-bcc", _li_bcc(), -1.90),
        _record("li-fcc", _li_bcc(3.5), -1.88),  # same composition, higher: not written
        _record("si", _si_diamond(), -5.30),
        _record("lisi", _lisi_cscl(), -4.00),
        _record("s", Structure(Lattice.cubic(4.0), ["S"], [[0, 0, 0]]), -4.1),  # Li-S only
    ]
    path = tmp_path / "reference_hull.json"
    ref = reference_hull_from_build(records, chemsys=["Li-Si", "Li-P-S"], path=path,
                                    label="test-build")
    assert [e["formula"] for e in ref.entries] == ["Li", "S", "Si", "LiSi"]
    assert ref.entries[0]["structure_id"] == "li-bcc"
    assert ref.missing_elements == {"Li-P-S": ["P"]}
    offline = OfflineHullSource(path)
    assert offline.elements == ("Li", "S", "Si")
    assert offline.name == "offline:test-build"  # the label is read with the entries
    for source in (offline, FileHullSource(path)):
        diagram = get_hull(source, "Li-Si")
        for entry in ref.entries:
            if entry["formula"] == "S":
                continue
            result = decomposition_energy(entry["formula"], entry["energy_per_atom"], diagram)
            assert result.e_above_hull == pytest.approx(0.0, abs=1e-9)
            assert result.e_d <= 1e-9
        assert decomposition_energy("Li", -1.90, diagram).e_d == pytest.approx(0.0, abs=1e-9)
        assert decomposition_energy("LiSi", -3.9, diagram).e_d == pytest.approx(0.1, abs=1e-9)
    data = json.loads(path.read_text())
    assert data["format"] == "chggen-reference-hull" and "structure" in data["entries"][0]


def test_reference_entries_join_the_hull_but_are_not_selected(tmp_path) -> None:
    simple_s = Structure(Lattice.cubic(2.6), ["S"], [[0, 0, 0]])
    records = [_record("s-sc", simple_s, -3.79), _record("li", _li_bcc(), -1.95)]
    shipped = reference_records(reference_data_path())
    s_ref = min(r["energy_per_atom"] for r in shipped
                if Composition(r["formula"]).reduced_formula == "S")
    selection = select_training_set(records, e_above_hull_max=0.1, extra_hull_records=shipped)
    assert selection.hull["s-sc"].e_above_hull == pytest.approx(-3.79 - s_ref, abs=1e-6)
    assert selection.kept_hull == {"li"}  # shipped Li (-1.88) lies above this Li
    assert set(selection.groups) == {"li"}
    ref = reference_hull_from_build([*records, *shipped], chemsys=["Li-S"],
                                    hull=selection.hull, path=tmp_path / "h.json")
    by_formula = {e["formula"]: e for e in ref.entries}
    assert by_formula["S"]["energy_per_atom"] == pytest.approx(s_ref, abs=1e-6)
    assert by_formula["Li"]["structure_id"] == "li"
    assert set(by_formula) == {"Li", "S", "Li2S"}


# ------------------------------------------------------------------ Materials Project
class _FakeSummary:
    def __init__(self, docs):
        self.docs = docs
        self.calls = []

    def search(self, **kwargs):  # ignores the criteria: the source must filter itself
        self.calls.append(kwargs)
        return list(self.docs)


class _FakeClient:
    def __init__(self, docs):
        self.materials = type("M", (), {})()
        self.materials.summary = _FakeSummary(docs)


def test_mp_source_filters_by_hull_and_size_without_network(monkeypatch) -> None:
    monkeypatch.delenv("MP_API_KEY", raising=False)
    big = _si_diamond()
    big.make_supercell([3, 1, 1])  # 24 sites
    docs = [
        {"material_id": "mp-149", "structure": _si_diamond(), "energy_above_hull": 0.0},
        {"material_id": "mp-1", "structure": _li_bcc().as_dict(), "energy_above_hull": 0.05},
        {"material_id": "mp-2", "structure": _lisi_cscl(), "energy_above_hull": 0.3},
        {"material_id": "mp-3", "structure": big, "energy_above_hull": 0.0},
        {"material_id": "mp-4", "structure": Structure(Lattice.cubic(5.6), ["Na", "Cl"],
                                                       [[0, 0, 0], [0.5] * 3]),
         "energy_above_hull": 0.0},
        type("Doc", (), {"material_id": "mp-5", "structure": _lisi_cscl(),
                         "energy_above_hull": 0.1})(),
    ]
    client = _FakeClient(docs)
    got = mp_structures("Si-Li", client=client, max_atoms=20, e_above_hull_max=0.1)
    assert [s.prototype for s in got] == ["mp-1", "mp-149", "mp-5"]
    assert all(s.source == "mp" for s in got)
    call = client.materials.summary.calls[0]
    assert call["chemsys"] == ["Li", "Si", "Li-Si"]
    assert call["energy_above_hull"] == (0.0, 0.1) and call["num_sites"] == (1, 20)
    assert [s.prototype for s in mp_structures("Li-Si", client=client, max_atoms=2,
                                               e_above_hull_max=0.0)] == []
    with pytest.raises(MPSourceError, match="MP_API_KEY"):
        mp_structures("Li-Si")
    with pytest.raises(ValueError, match="max_atoms must be an int >= 1, got 0"):
        mp_structures("Li-Si", client=client, max_atoms=0)


# ------------------------------------------------------------------ files
def test_files_source_reads_cif_poscar_folder_and_extxyz(tmp_path) -> None:
    from ase.io import write as ase_write
    from pymatgen.io.ase import AseAtomsAdaptor

    folder = tmp_path / "structures"
    (folder / "sub").mkdir(parents=True)
    _si_diamond().to(filename=str(folder / "si.cif"))
    _li_bcc().to(filename=str(folder / "sub" / "POSCAR"), fmt="poscar")
    (folder / "broken.cif").write_text("data_nothing\n")
    skipped: list[str] = []
    got = structures_from_files(folder, skipped=skipped)
    assert sorted(s.prototype for s in got) == ["si.cif", "sub/POSCAR"]
    assert len(skipped) == 1 and "broken.cif" in skipped[0]
    again = structures_from_files(folder)
    assert sorted(s.structure_id for s in got) == sorted(s.structure_id for s in again)
    renamed = tmp_path / "renamed"
    shutil.copytree(folder, renamed)
    (renamed / "si.cif").rename(renamed / "si2.cif")
    ids = {s.prototype: s.structure_id for s in structures_from_files(renamed)}
    assert ids["sub/POSCAR"] in {s.structure_id for s in got}
    assert ids["si2.cif"] not in {s.structure_id for s in got}

    xyz = tmp_path / "set.extxyz"
    ase_write(xyz, [AseAtomsAdaptor.get_atoms(s) for s in (_lisi_cscl(), _li_bcc())],
              format="extxyz")
    frames = structures_from_files(xyz)
    assert [s.prototype for s in frames] == ["set.extxyz:0", "set.extxyz:1"]
    assert frames[0].structure.composition.reduced_formula == "LiSi"
    assert all(s.source == "files" for s in frames)
