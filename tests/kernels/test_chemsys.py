"""The one chemical-system parser and its wrappers in thermo and the campaign."""

from __future__ import annotations

import pytest

from campaign.config.compositions import CompositionError
from campaign.config.compositions import parse_chemsys as campaign_parse
from chggen_kernels.chemsys import ChemicalSystemError, parse_chemsys
from chggen_kernels.datasets import parse_chemsys as datasets_parse
from chggen_kernels.thermo import ThermoInputError
from chggen_kernels.thermo import parse_chemsys as thermo_parse


@pytest.mark.parametrize("value", ["Si-Li", " Li - Si ", ["Si", "Li"], ("Li", "Si")])
def test_sorted_symbols(value) -> None:
    assert parse_chemsys(value) == ("Li", "Si")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "chemical system '' names no elements"),
        ("Li--Si", "chemical system 'Li--Si': expected elements joined by '-'"),
        ("Li-Xx", "chemical system 'Li-Xx': 'Xx' is not a chemical element symbol"),
        ("Li-Si-Li", "chemical system 'Li-Si-Li': repeated element Li"),
    ],
)
def test_errors_name_system_and_part(value: str, message: str) -> None:
    with pytest.raises(ChemicalSystemError) as err:
        parse_chemsys(value)
    assert str(err.value) == message


def test_repeated_merge_and_bad_option() -> None:
    assert parse_chemsys("Li-Si-Li", repeated="merge") == ("Li", "Si")
    with pytest.raises(ValueError, match="repeated must be 'error' or 'merge', got 'drop'"):
        parse_chemsys("Li", repeated="drop")  # type: ignore[arg-type]


def test_wrappers_keep_their_error_types_and_the_message() -> None:
    assert datasets_parse is parse_chemsys
    assert thermo_parse("Si-Li-Si") == ("Li", "Si")  # thermo merges repeats
    with pytest.raises(ThermoInputError, match="'Qq' is not a chemical element symbol"):
        thermo_parse("Li-Qq")
    with pytest.raises(CompositionError, match="chemical system 'Li-Li': repeated element Li"):
        campaign_parse("Li-Li")
    assert campaign_parse("Zn-S-P") == ("P", "S", "Zn")
