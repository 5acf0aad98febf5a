"""What a hull holds: gaps of the shipped offline hull (issue 32), warned before ranking."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from chggen_kernels.thermo import OfflineHullSource
from chggen_kernels.thermo.coverage import hull_coverage, known_composition

MG2SIO4_SYSTEM = ("offline hull: no known ternary Mg-Si-O phase; E_d of Mg2SiO4 is measured "
                  "against binaries only")
MG2SIO4_COMPOSITION = "offline hull: no known compound of composition Mg2SiO4"


@pytest.fixture(scope="module")
def source() -> OfflineHullSource:
    return OfflineHullSource()


def test_mg2sio4_has_no_ternary_phase_in_the_offline_hull(source) -> None:
    report = hull_coverage(source.entries(["Mg", "Si", "O"]), "Mg2SiO4", hull_name=source.name)
    assert report.messages == [MG2SIO4_SYSTEM, MG2SIO4_COMPOSITION]
    assert [g.kind for g in report.gaps] == ["no_system_phase", "no_composition"]
    assert report.known_composition is False
    assert json.loads(json.dumps(report.to_dict()))["gaps"][0]["system"] == "Mg-Si-O"


def test_li_si_has_no_gap(source) -> None:
    entries = source.entries(["Li", "Si"])
    assert hull_coverage(entries, "Li-Si", hull_name=source.name).gaps == ()
    report = hull_coverage(entries, "LiSi", hull_name=source.name)
    assert report.gaps == () and report.known_composition is True
    assert known_composition(entries, {"Li": 10, "Si": 4})  # Li5Si2, any multiple


def test_a_phase_diagram_is_read_like_its_entries(source) -> None:
    from chggen_kernels.thermo import get_hull

    pd = get_hull(source, "Mg-Si-O")
    assert hull_coverage(pd, "Mg2SiO4", hull_name=source.name).messages == [
        MG2SIO4_SYSTEM, MG2SIO4_COMPOSITION]
    assert known_composition(pd, "MgO") and not known_composition(pd, "Mg2SiO4")


def test_elements_without_reference_and_bare_subsystems(source) -> None:
    # Francium has no elemental reference in the shipped hull, nor any compound.
    report = hull_coverage(source.entries(["Li", "Si", "Fr"]), ["Li", "Si", "Fr"],
                           hull_name=source.name)
    assert [(g.kind, g.system) for g in report.gaps] == [
        ("missing_reference", "Fr"), ("no_system_phase", "Fr-Li-Si"),
        ("no_subsystem_phase", "Fr-Li"), ("no_subsystem_phase", "Fr-Si")]
    assert report.messages[0] == "offline hull: no elemental reference for Fr; no E_d in Fr-Li-Si"
    assert report.messages[1].endswith("E_d in Fr-Li-Si is measured against binaries only")
    # a binary system without any compound: E_d is a formation energy
    bare = [e for e in source.entries(["Li", "Si"]) if e.composition.is_element]
    assert hull_coverage(bare, "Li5Si2", hull_name="mp").messages == [
        "mp hull: no known binary Li-Si phase; E_d of Li5Si2 is measured against the "
        "elements only", "mp hull: no known compound of composition Li5Si2"]


def test_generate_warns_before_ranking(capsys) -> None:
    """What ``chggen generate Mg2SiO4`` prints once the hull is made (build_runner_for_args,
    before the model loads), with the offline hull and the cell composition it is given."""
    from campaign.commands.generate import warn_hull_coverage
    from campaign.stages.resources import make_hull_provider

    provider = make_hull_provider("offline", "Mg-O-Si")
    assert warn_hull_coverage(provider, {"Mg": 4, "Si": 2, "O": 8}) == [
        MG2SIO4_SYSTEM, MG2SIO4_COMPOSITION]
    assert capsys.readouterr().err.splitlines() == [
        f"chggen: warning: {MG2SIO4_SYSTEM}", f"chggen: warning: {MG2SIO4_COMPOSITION}"]
    assert warn_hull_coverage(provider, {"Li": 2, "Si": 2}) == []  # provider: any system
    assert capsys.readouterr().err == ""


def test_campaign_records_the_gaps(tmp_path: Path, caplog) -> None:
    from campaign.config.model import validate_config
    from campaign.distributed.preflight import COVERAGE_NAME, check_hull, write_hull_coverage
    from campaign.report.provenance import _hull_gaps

    config = validate_config({
        "name": "coverage", "compositions": {"cells": ["Mg2SiO4", "LiSi", "MgO"]},
        "lattice": {"families": ["cubic"], "ratios": ["random"]}, "samples_per_task": 1,
        "volume_per_atom": 20.0, "modes": ["unconditional"], "output": str(tmp_path / "out"),
    })
    with caplog.at_level(logging.WARNING, logger="campaign"):
        coverage = check_hull(config)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["offline hull: no known ternary Mg-O-Si phase; E_d in Mg-O-Si is "
                     "measured against binaries only", MG2SIO4_COMPOSITION]
    assert coverage["systems"]["Li-Si"] == {"gaps": [], "compositions_without_known_phase": []}
    assert coverage["systems"]["Mg-O-Si"]["compositions_without_known_phase"] == ["Mg2SiO4"]
    path = write_hull_coverage(tmp_path, config)
    assert path == tmp_path / COVERAGE_NAME
    assert json.loads(path.read_text())["messages"] == lines
    assert _hull_gaps(tmp_path) == lines  # the report's provenance block lists them
    assert _hull_gaps(tmp_path / "nowhere") == []
