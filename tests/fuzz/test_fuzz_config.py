"""Fuzzing the campaign-file path: every generated file is accepted and valid, or refused.

Hypothesis generates YAML documents three ways: valid campaign files with random sizes
and settings, mutated ones (a field replaced by a value of another type, a huge number,
an unknown key), and adversarial text (deep nesting, anchor fans, binary bytes, random
unicode). Each is written to a file and loaded with :func:`campaign.config.model.load_config`
in a forked child under a memory ceiling (:mod:`tests.fuzz.forked`). An accepted file
must plan within its limits; a refused one must raise a chggen ``InputError``; anything
else fails the test. ``CHGGEN_FUZZ_EXAMPLES`` sets the number of examples per strategy
(CI default 60; ``benchmarks/fuzz_inputs.md`` gives the long run's figures).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaign.config.model import load_config
from tests.fuzz.forked import run_forked, tally

EXAMPLES = int(os.environ.get("CHGGEN_FUZZ_EXAMPLES", "60"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                    suppress_health_check=list(HealthCheck))

ELEMENTS = ["Li", "Si", "Zn", "P", "S", "O", "Og", "Xx", "Na", "Mg"]
HUGE = st.sampled_from([0, -1, 2**31, 10**9, 10**18, 1e300, float("inf"), float("nan")])


@st.composite
def valid_configs(draw: st.DrawFn) -> dict[str, Any]:
    elements = draw(st.lists(st.sampled_from(ELEMENTS[:6]), min_size=2, max_size=3,
                             unique=True))
    max_atoms = draw(st.integers(min_value=len(elements), max_value=24))
    return {
        "name": draw(st.text(min_size=1, max_size=12)),
        "compositions": {"chemical_systems": ["-".join(elements)]},
        "atoms_per_cell": {"min": 1, "max": max_atoms},
        "lattice": {"families": [draw(st.sampled_from(["any", "cubic", "tetragonal"]))]},
        "samples_per_task": draw(st.integers(min_value=1, max_value=64)),
        "seed_blocks": draw(st.integers(min_value=1, max_value=8)),
        "modes": draw(st.sampled_from([["unconditional"], ["unconditional", "inpaint"]])),
        "inpaint": {"guest_species": [elements[0]]},
        "seed": draw(st.integers(min_value=0, max_value=2**31)),
        "output": "results",
    }


@st.composite
def mutated_configs(draw: st.DrawFn) -> dict[str, Any]:
    config = draw(valid_configs())
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        key = draw(st.sampled_from([*config, "limits", "resources", "unknown_key"]))
        config[key] = draw(st.one_of(
            HUGE, st.text(max_size=8), st.none(), st.booleans(),
            st.lists(st.integers(), max_size=3),
            st.dictionaries(st.sampled_from(["max", "min", "samples_per_task", "hosts",
                                             "families", "x"]), HUGE, max_size=2)))
    return config


def nested(depth: int) -> str:
    return "a: " + "[" * depth + "]" * depth + "\n"


def anchor_fan(levels: int, fan: int) -> str:
    lines = ["l0: &l0 [" + ", ".join(["x"] * fan) + "]"]
    for k in range(1, levels):
        lines.append(f"l{k}: &l{k} [" + ", ".join([f"*l{k - 1}"] * fan) + "]")
    return "\n".join(lines) + "\ncompositions: {cells: [LiSi]}\n"


ADVERSARIAL = st.one_of(
    st.integers(min_value=1, max_value=50_000).map(nested),
    st.tuples(st.integers(2, 12), st.integers(2, 12)).map(lambda t: anchor_fan(*t)),
    st.binary(max_size=2000),
    st.text(max_size=2000),
    st.sampled_from(["&a [*a]", "!!python/object/apply:os.system ['true']", "- - - - -",
                     "compositions: {cells: [" + ", ".join(["Li1000"] * 50) + "]}"]),
)


def _load(content: str | bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "c.yaml"
        path.write_bytes(content if isinstance(content, bytes) else content.encode(
            "utf-8", "surrogatepass"))
        config = load_config(path)
        plan = config.plan_counts()  # accepted: the plan is within the limits
        assert plan.candidates <= config.limits.candidates
        assert config.samples_per_task <= config.limits.samples_per_task


def _check(content: str | bytes, suite: str) -> None:
    outcome, detail = run_forked(lambda: _load(content))
    tally(suite, outcome, detail)
    assert outcome in ("accepted", "refused"), detail


@SETTINGS
@given(valid_configs())
def test_valid_configs_are_accepted_or_refused_cleanly(config) -> None:
    _check(yaml.safe_dump(config), "config-valid")


@SETTINGS
@given(mutated_configs())
def test_mutated_configs_are_accepted_or_refused_cleanly(config) -> None:
    _check(yaml.safe_dump(config, allow_unicode=True), "config-mutated")


@SETTINGS
@given(ADVERSARIAL)
def test_adversarial_files_are_refused_or_harmless(content) -> None:
    _check(content, "config-adversarial")
