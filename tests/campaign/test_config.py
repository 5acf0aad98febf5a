"""Campaign configuration: composition enumeration with known counts, exact error messages."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from campaign.config.compositions import (
    CompositionError,
    Constraint,
    cell_compositions,
    chemsys_compositions,
    formula_multiples,
    line_compositions,
    parse_formula,
)
from campaign.config.model import (
    CampaignConfigError,
    dump_config,
    load_config,
    validate_config,
)

ROOT = Path(__file__).resolve().parents[2]
BASE = {"compositions": {"chemical_systems": ["Li-Si"]}}


def _cells(counts_list: list[dict[str, int]]) -> list[str]:
    return ["".join(f"{el}{n}" for el, n in sorted(c.items())) for c in counts_list]


# ---------------------------------------------------------------- compositions
def test_binary_chemsys_has_every_cell_with_both_elements() -> None:
    # x + y = s with x, y >= 1 has s - 1 solutions; s = 2..6 gives 1+2+3+4+5 = 15 cells.
    cells = chemsys_compositions("Si-Li", 2, 6)
    assert len(cells) == 15
    assert {"Li": 5, "Si": 1} in cells and {"Li": 1, "Si": 5} in cells
    assert all(sum(c.values()) <= 6 and min(c.values()) >= 1 for c in cells)


def test_ternary_chemsys_count_is_binomial() -> None:
    # cells of 3 elements with 3..N atoms, every count >= 1: C(N, 3) of them.
    assert len(chemsys_compositions("Zn-P-S", 3, 10)) == math.comb(10, 3)


def test_li_rich_line_x_greater_than_y() -> None:
    cells = cell_compositions(
        chemical_systems=["Li-Si"], constraints=["Li > Si"], min_atoms=2, max_atoms=8
    )
    # s = 3..8: floor((s - 1) / 2) Li-rich cells each -> 1+1+2+2+3+3 = 12
    assert len(cells) == 12
    assert all(c["Li"] > c["Si"] for c in cells)
    assert {"Li": 5, "Si": 2} in cells and {"Li": 2, "Si": 2} not in cells
    # sorted by atoms per cell, then formula
    sizes = [sum(c.values()) for c in cells]
    assert sizes == sorted(sizes)


def test_zns_p2s5_line_interior_points() -> None:
    cells = line_compositions(["ZnS", "P2S5"], 1, 13)
    assert _cells(cells) == ["P2S6Zn1", "P2S7Zn2", "P2S8Zn3"]
    with_ends = line_compositions(["ZnS", "P2S5"], 1, 7, include_end_members=True)
    assert sorted(_cells(with_ends)) == ["P2S5", "S1Zn1", "S2Zn2", "S3Zn3"]


def test_formula_multiples_and_exact_cells() -> None:
    assert _cells(formula_multiples("Li5Si2", 7, 21)) == ["Li5Si2", "Li10Si4", "Li15Si6"]
    cells = cell_compositions(formulas=["Li5Si2"], cells=["Li10Si4"], min_atoms=10, max_atoms=14)
    assert _cells(cells) == ["Li10Si4"]  # union without duplicates


def test_constraints_forms() -> None:
    assert Constraint("Li >= 2*Si")({"Li": 4, "Si": 2})
    assert not Constraint("Li >= 2*Si")({"Li": 3, "Si": 2})
    assert Constraint("Si == 1")({"Li": 9, "Si": 1})
    assert Constraint("Zn < 3")({"Zn": 2})
    with pytest.raises(CompositionError, match=r"constraint 'Li >> Si': expected 'A op B'"):
        Constraint("Li >> Si")


def test_formula_errors_name_the_formula() -> None:
    with pytest.raises(CompositionError, match=r"formula 'Li2\.5Si': atom counts must be "):
        parse_formula("Li2.5Si")
    assert parse_formula("Zn3(PS4)2") == {"P": 2, "S": 8, "Zn": 3}


# ---------------------------------------------------------------- configuration
def test_examples_load_with_known_compositions() -> None:
    li_si = load_config(ROOT / "examples" / "li_si.yaml")
    cells = li_si.cell_compositions()
    assert all(c["Li"] > c["Si"] and 4 <= sum(c.values()) <= 12 for c in cells)
    assert len(cells) == 30 - 1  # all 30 Li-rich cells up to 12 atoms but Li2Si1 (3 atoms)
    zn = load_config(ROOT / "examples" / "zn_p_s.yaml")
    assert "P2S8Zn3" in _cells(zn.cell_compositions())  # Zn3(PS4)2 = 3 ZnS + P2S5
    assert zn.inpaint.guest_species == ("Zn",)
    load_config(ROOT / "examples" / "li_si_cluster.yaml")


def test_defaults_and_round_trip() -> None:
    config = validate_config(BASE)
    assert config.modes == ["unconditional"]
    assert config.lattice.combinations() == [("any", None)]
    again = validate_config(__import__("yaml").safe_load(dump_config(config)))
    assert again == config


def test_lattice_combinations_skip_ratios_of_ratio_free_families() -> None:
    config = validate_config(
        {**BASE, "lattice": {"families": ["cubic", "tetragonal"], "ratios": ["1:1.5", "random"]}}
    )
    assert config.lattice.combinations() == [
        ("cubic", None),
        ("tetragonal", "1:1.5"),
        ("tetragonal", None),  # drawn per candidate
    ]


def test_unquoted_yaml_ratio_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("compositions: {chemical_systems: [Li-Si]}\nlattice: {ratios: [1:1.25]}\n")
    with pytest.raises(CampaignConfigError, match=r"lattice\.ratios = \[61\.25\]: ratio 61\.25"):
        load_config(path)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            {"resources": {"relax_actors": 0}},
            r"resources\.relax_actors = 0: Input should be greater than or equal to 1",
        ),
        ({"resourcez": {}}, r"resourcez = \{\}: unknown field"),
        (
            {"compositions": {"chemical_systems": ["Li-Xx"]}},
            r"compositions\.chemical_systems = \['Li-Xx'\]: chemical system 'Li-Xx': "
            r"'Xx' is not a chemical element",
        ),
        (
            {"lattice": {"families": ["cubik"]}},
            r"lattice\.families = \['cubik'\]: 'cubik' is not 'any' or one of cubic, tetragonal",
        ),
        (
            {"lattice": {"ratios": ["wide"]}},
            r"lattice\.ratios = \['wide'\]: ratio 'wide' must be 'random' or a quoted 'b/a:c/a'",
        ),
        (
            {"atoms_per_cell": {"min": 10, "max": 3}},
            r"atoms_per_cell = \{'min': 10, 'max': 3\}: min \(10\) must not exceed max \(3\)",
        ),
        (
            {"modes": ["unconditional", "inpaint"], "inpaint": {"guest_species": ["Zn"]}},
            r"inpaint\.guest_species \['Zn'\] do not occur in any composition",
        ),
        ({"modes": ["inpaint"]}, r"modes: 'inpaint' needs 'unconditional'"),
        ({"modes": ["inpaint"], "generation": "template"},
         r"modes: 'inpaint' needs 'unconditional' \(the first stage, started as generation "
         r"'template': hosts come from it\)"),
        ({"modes": ["template", "inpaint"]},
         r"modes = \['template', 'inpaint'\]: 'template' is how the first stage starts: set "
         r"generation: template and keep 'unconditional' in modes"),
        (
            {"compositions": {"chemical_systems": ["Li-Si"], "constraints": ["Li > 100"]}},
            r"compositions: no cell composition with 1-20 atoms satisfies the constraints",
        ),
        ({"compositions": {}}, r"compositions = \{\}: give at least one of chemical_systems"),
        ({"seed": -1}, r"seed = -1: Input should be greater than or equal to 0"),
        ({"hull": {"source": "nowhere.json"}},
         r"hull\.source = 'nowhere\.json': hull source 'nowhere\.json' is not 'offline'"),
        ({"relax": {"n_threads": 4}}, r"relax = \{'n_threads': 4\}: n_threads is set from"),
    ],
)
def test_errors_name_field_and_value(override: dict, message: str) -> None:
    with pytest.raises(CampaignConfigError, match=message):
        validate_config({**BASE, **override}, source="test")


def test_kernel_settings_are_checked_on_load() -> None:
    pytest.importorskip("chggen_kernels.sampling")
    with pytest.raises(CampaignConfigError,
                       match=r"^campaign: sampler\.n_levelz = 3: unknown field \(known: "
                             r"n_levels, "):
        validate_config({**BASE, "sampler": {"n_levelz": 3}})
    pytest.importorskip("chggen_kernels.relax")
    with pytest.raises(CampaignConfigError, match=r"relax = \{'fmax': -1\}: RelaxSettings\.fmax"):
        validate_config({**BASE, "relax": {"fmax": -1}})


def test_load_config_file_errors(tmp_path: Path) -> None:
    with pytest.raises(CampaignConfigError, match=r"campaign file '.*missing\.yaml': cannot read"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("compositions: [unclosed\n")
    with pytest.raises(CampaignConfigError, match=r"not valid YAML"):
        load_config(bad)
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n")
    with pytest.raises(CampaignConfigError, match=r"expected a mapping at the top level"):
        load_config(listing)
    typo = tmp_path / "typo.yaml"
    typo.write_text("compositions: {chemical_systems: [Li-Si]}\nsamples_per_task: many\n")
    with pytest.raises(CampaignConfigError, match=r"typo\.yaml': samples_per_task = 'many'"):
        load_config(typo)


# ---------------------------------------------------------------- chggen scan defaults
def test_scan_defaults_spread_the_line_within_the_budget(capsys) -> None:
    from campaign.cli import main
    from campaign.commands.scan import scan_config
    from campaign.jobs.tasks import count_unconditional_tasks

    config = scan_config("Li-Si", output="out")
    assert config.modes == ["unconditional", "inpaint"] and config.inpaint.guest_species == ("Li",)
    assert config.resources.candidates_per_relax_call == 4  # batched relaxation
    # CPU sampling comes first in a campaign: as many sampler actors as relaxation actors
    assert config.resources.sampler_actors == config.resources.relax_actors >= 1
    assert scan_config("Li-Si", output="out", relax_actors=3).resources.sampler_actors == 3
    assert scan_config("Li-Si", output="out", sampler_actors=1).resources.sampler_actors == 1
    with pytest.raises(CampaignConfigError, match="resources.sampler_actors = 0"):
        scan_config("Li-Si", output="out", sampler_actors=0)
    one_by_one = scan_config("Li-Si", output="out", candidates_per_relax_call=1)
    assert one_by_one.resources.candidates_per_relax_call == 1
    cells = config.cell_compositions()
    unconditional = count_unconditional_tasks(config) * config.samples_per_task
    inpainted_at_most = len(cells) * config.inpaint.hosts_per_task * config.inpaint.samples_per_host
    assert unconditional + inpainted_at_most == 24  # the default budget
    assert all(sum(c.values()) <= 8 for c in cells)
    fractions = sorted(c["Li"] / sum(c.values()) for c in cells)
    assert fractions[0] < 0.2 and fractions[-1] > 0.8  # both ends of the line
    assert len({round(f, 6) for f in fractions}) == len(cells)  # one cell per formula
    zn = scan_config("Zn-P-S", line=["ZnS", "P2S5"], max_atoms=13, budget=9, output="out")
    assert zn.inpaint.guest_species == ("Zn",)  # the most electropositive element
    assert _cells(zn.cell_compositions()) == ["P2S6Zn1", "P2S7Zn2", "P2S8Zn3"]
    assert main(["scan", "Li-Si", "--budget", "6", "--no-inpaint", "--print-config"]) == 0
    printed = __import__("yaml").safe_load(capsys.readouterr().out)
    assert validate_config(printed).modes == ["unconditional"]
    assert main(["scan", "Li-Xx", "--print-config"]) == 2
    assert "'Xx' is not a chemical element" in capsys.readouterr().err


@pytest.mark.parametrize("option", ["--relax-actors", "--sampler-actors",
                                    "--candidates-per-relax-call"])
def test_scan_refuses_a_count_below_one_in_one_line_naming_the_option(option, capsys) -> None:
    from campaign.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["scan", "Li-Si", option, "0", "--print-config"])
    assert stop.value.code == 2
    assert capsys.readouterr().err == (f"chggen scan: argument {option}: '0' is not an "
                                       "integer >= 1 (see chggen scan --help)\n")


def test_run_and_scan_refuse_an_output_that_is_a_file_before_any_work(tmp_path, capsys) -> None:
    from campaign.cli import main

    taken = tmp_path / "results"
    taken.write_text("a file, not a results folder")
    config = tmp_path / "c.yaml"
    config.write_text(f"name: x\ncompositions: {{chemical_systems: [Li-Si]}}\noutput: {taken}\n")
    assert main(["run", str(config)]) == 2
    assert main(["scan", "Li-Si", "--budget", "2", "--out", str(taken)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    message = f"output = {str(taken)!r}: exists and is not a folder"
    assert lines == [f"chggen run: {message}", f"chggen scan: {message}"]
    assert taken.read_text() == "a file, not a results folder"
