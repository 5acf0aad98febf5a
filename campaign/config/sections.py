"""The sections of the campaign file (``compositions:``, ``atoms_per_cell:``, ``lattice:``,
``hull:``, ``model:``, ``resources:``), each a pydantic model that forbids unknown keys;
:class:`campaign.config.model.CampaignConfig` composes them (and re-exports them).
:func:`reject_unknown_keys` checks a whole file's keys with the one unknown-field check
(:func:`chggen_kernels.settings.reject_unknown`).
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from campaign.config.compositions import parse_chemsys, parse_constraint, parse_formula
from campaign.stages.runner import CANDIDATES_PER_RELAX_CALL
from chggen_kernels.settings import reject_unknown
from chggen_kernels.thermo.sources import DEFAULT_HULL_SOURCE

__all__ = [
    "RATIO_FREE_FAMILIES",
    "AtomsRange",
    "CompositionLine",
    "CompositionsConfig",
    "HullConfig",
    "LatticeConfig",
    "ModelConfig",
    "ResourcesConfig",
    "StrictModel",
    "reject_unknown_keys",
]

# Families whose shape has no free axis ratio ("any" draws a family per candidate).
RATIO_FREE_FAMILIES = ("cubic", "rhombohedral", "any")
_RATIO_RE = re.compile(r"^(random|\d+(\.\d+)?:\d+(\.\d+)?)$")


class StrictModel(BaseModel):
    """A frozen model that forbids unknown keys (a typo is an error naming the key)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _section_class(annotation: Any) -> tuple[type | None, bool]:
    """The model or dataclass a field's mapping holds, and whether the field is a list
    of them (``None``: a plain value)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        return _section_class(args[0])
    if origin is list and len(args) == 1:
        inner, _ = _section_class(args[0])
        return inner, True
    if isinstance(annotation, type) and (issubclass(annotation, BaseModel)
                                         or dataclasses.is_dataclass(annotation)):
        return annotation, False
    return None, False


def reject_unknown_keys(data: Any, cls: type, where: str = "", extra: Sequence[str] = (),
                        sections: Mapping[str, type] | None = None) -> None:
    """The unknown-field check of a campaign file: :func:`~chggen_kernels.settings.
    reject_unknown` on ``data`` (a mapping of the fields of the pydantic model or dataclass
    ``cls``, plus the keys ``extra``) and on every section inside it, named by its dotted
    path from ``where`` (``""``: the top). ``sections`` maps a field to the settings class
    of its mapping where the annotation is a plain dict (``sampler``). Raises ValueError
    ``"<path>.<key> = <value>: unknown field (known: ...)"``."""
    if not isinstance(data, Mapping):
        return
    if dataclasses.is_dataclass(cls):
        reject_unknown(data, [f.name for f in dataclasses.fields(cls)], where, ValueError)
        return
    fields = cls.model_fields  # type: ignore[attr-defined]
    reject_unknown(data, [*fields, *extra], where, ValueError, sep="." if where else "")
    for name, field in fields.items():
        path = f"{where}.{name}" if where else name
        inner, many = ((sections[name], False) if sections and name in sections
                       else _section_class(field.annotation))
        value = data.get(name)
        if inner is None or value is None:
            continue
        if many and isinstance(value, list):
            for i, item in enumerate(value):
                reject_unknown_keys(item, inner, f"{path}[{i}]")
        elif not many:
            reject_unknown_keys(value, inner, path)


class AtomsRange(StrictModel):
    """Atoms per cell, inclusive on both ends."""

    min: int = Field(1, ge=1)
    max: int = Field(20, ge=1)  # at most limits.atoms_per_cell (checked by the campaign)

    @model_validator(mode="after")
    def _ordered(self) -> AtomsRange:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must not exceed max ({self.max})")
        return self


def _parsed_formulas(value: list[str]) -> list[str]:
    """``value`` unchanged once every formula in it parses (else the parser's error)."""
    for formula in value:
        parse_formula(formula)
    return value


class CompositionLine(StrictModel):
    """``x1*A + x2*B + ...`` with integer multiples of the end-member formulas."""

    end_members: list[str] = Field(min_length=2)
    include_end_members: bool = False

    @field_validator("end_members")
    @classmethod
    def _formulas(cls, value: list[str]) -> list[str]:
        return _parsed_formulas(value)


class CompositionsConfig(StrictModel):
    """Where cell compositions come from; the union of all sources, then ``constraints``.

    ``formulas`` expand to every multiple within ``atoms_per_cell``; ``cells`` are exact
    cell compositions taken as given.
    """

    chemical_systems: list[str] = []
    lines: list[CompositionLine] = []
    formulas: list[str] = []
    cells: list[str] = []
    constraints: list[str] = []

    @field_validator("chemical_systems")
    @classmethod
    def _chemsys(cls, value: list[str]) -> list[str]:
        return ["-".join(parse_chemsys(c)) for c in value]

    @field_validator("formulas", "cells")
    @classmethod
    def _formula_list(cls, value: list[str]) -> list[str]:
        return _parsed_formulas(value)

    @field_validator("constraints")
    @classmethod
    def _constraints(cls, value: list[str]) -> list[str]:
        for text in value:
            parse_constraint(text)
        return value

    @model_validator(mode="after")
    def _some_source(self) -> CompositionsConfig:
        if not (self.chemical_systems or self.lines or self.formulas or self.cells):
            raise ValueError("give at least one of chemical_systems, lines, formulas, cells")
        return self


class LatticeConfig(StrictModel):
    """Bravais lattice families and axis ratios of unconditional samples.

    ``any`` draws one of the seven families per candidate (seeded). A ratio is the pair
    of axis ratios ``"b/a:c/a"`` as a quoted string (``"1:1.25"``; unquoted, YAML reads
    1:1.25 as the number 61.25); ``random`` draws the free ratios per candidate from the
    reference set {0.5, 0.75, 1, 1.25, 1.5}. Ratio-free families (cubic, rhombohedral,
    any) take no ratio.
    """

    families: list[str] = Field(default_factory=lambda: ["any"], min_length=1)

    @field_validator("families")
    @classmethod
    def _families(cls, value: list[str]) -> list[str]:
        from chggen_kernels.lattice import LATTICE_FAMILIES

        for family in value:
            if family != "any" and family not in LATTICE_FAMILIES:
                raise ValueError(f"{family!r} is not 'any' or one of "
                                 f"{', '.join(LATTICE_FAMILIES)}")
        return value
    ratios: list[str] = Field(default_factory=lambda: ["random"], min_length=1)

    @field_validator("ratios", mode="before")
    @classmethod
    def _ratios(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        out = []
        for item in value:
            if not isinstance(item, str) or not _RATIO_RE.match(item):
                raise ValueError(
                    f"ratio {item!r} must be 'random' or a quoted 'b/a:c/a' such as '1:1.25'"
                )
            out.append(item)
        return out

    def combinations(self) -> list[tuple[str, str | None]]:
        """(family, ratio) pairs; ratio ``None`` means the stage draws it."""
        pairs: list[tuple[str, str | None]] = []
        for family in dict.fromkeys(self.families):
            if family in RATIO_FREE_FAMILIES:
                pairs.append((family, None))
            else:
                for ratio in dict.fromkeys(self.ratios):
                    pairs.append((family, None if ratio == "random" else ratio))
        return pairs


class HullConfig(StrictModel):
    """Phase diagram for E_d: ``offline`` (shipped reference hull), ``mp``, a CSV/JSON file,
    or ``none`` (no E_d: candidates are not ranked)."""

    source: str = DEFAULT_HULL_SOURCE

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        from chggen_kernels.thermo import check_hull_source

        return check_hull_source(value)


class ModelConfig(StrictModel):
    """Score model checkpoint; ``None`` (or ``""``, read as ``None``) means the model
    shipped with chggen (:func:`campaign.stages.resources.checkpoint_file` resolves it)."""

    checkpoint: str | None = None

    @field_validator("checkpoint")
    @classmethod
    def _shipped(cls, value: str | None) -> str | None:
        return value or None


class ResourcesConfig(StrictModel):
    """Ray actors and what each asks of the cluster.

    ``wait_for_resources``: the cluster autoscales, so wait for GPUs or custom resources
    that no node offers yet (otherwise samplers fall back to CPU and infeasible requests
    are errors).
    """

    sampler_actors: int = Field(1, ge=1)
    gpus_per_sampler: float = Field(0.0, ge=0)
    cpus_per_sampler: float = Field(0.0, ge=0)
    sampler_resources: dict[str, float] = {}
    relax_actors: int = Field(2, ge=1)
    cpus_per_relax_actor: float = Field(1.0, gt=0)
    relax_resources: dict[str, float] = {}
    # candidates per relaxation-actor call, relaxed together (one batched CHGNet forward
    # per optimiser step); 1: one by one
    candidates_per_relax_call: int = Field(CANDIDATES_PER_RELAX_CALL, ge=1)
    atoms_per_batch: int = Field(512, ge=1)
    max_candidates_in_flight: int | None = Field(None, ge=1)
    max_restarts: int = Field(-1, ge=-1)
    max_task_retries: int = Field(3, ge=-1)
    wait_for_resources: bool = False
