"""The campaign file: a YAML document validated on load (pydantic v2).

Every section's keys are checked first, with the one unknown-field check of the project
(:func:`chggen_kernels.settings.reject_unknown`, via
:func:`campaign.config.sections.reject_unknown_keys`), so a typo is an error that names
the key and the known ones: ``relax.fmaxx = 1: unknown field (known: fmax, ...)``.
Validation errors are re-raised as :class:`CampaignConfigError` whose message lists each
bad field as a dotted path with the value that was given, e.g.
``resources.relax_actors = 0: Input should be greater than or equal to 1``.

The sections (``compositions:``, ``lattice:``, ``resources:``, ...) are defined in
:mod:`campaign.config.sections` and importable from here too.

Units: energies eV/atom, forces eV/Å, volumes Å^3/atom.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, PrivateAttr, ValidationError, field_validator, model_validator

from campaign.config.compositions import (
    CompositionError,
    cell_compositions,
    enumeration_size,
    parse_formula,
)
from campaign.config.plan import PlanCounts
from campaign.config.sections import (
    RATIO_FREE_FAMILIES,
    AtomsRange,
    CompositionLine,
    CompositionsConfig,
    HullConfig,
    LatticeConfig,
    ModelConfig,
    ResourcesConfig,
    StrictModel,
    reject_unknown_keys,
)
from campaign.inputs.limits import Limits, check_limit
from campaign.inputs.text import load_yaml_file
from chggen_kernels.errors import InputError
from chggen_kernels.relax import RelaxSettings
from chggen_kernels.workflow.records import INPAINT_MODES
from chggen_kernels.workflow.settings import InpaintSettings

__all__ = [
    "ATOMS_PER_CELL_LIMIT",
    "CampaignConfig",
    "CampaignConfigError",
    "CompositionLine",
    "CompositionsConfig",
    "HullConfig",
    "LatticeConfig",
    "Limits",
    "ModelConfig",
    "PlanCounts",
    "RATIO_FREE_FAMILIES",
    "ResourcesConfig",
    "format_validation_error",
    "load_config",
]

#: Default largest cell, atoms (``limits.atoms_per_cell`` raises it).
ATOMS_PER_CELL_LIMIT: int = Limits.model_fields["atoms_per_cell"].default


class CampaignConfigError(InputError):
    """The campaign file is unusable; the message names each bad field and its value."""


class CampaignConfig(StrictModel):
    """A whole campaign; see ``examples/li_si.yaml``."""

    name: str = Field("campaign", min_length=1)
    compositions: CompositionsConfig
    atoms_per_cell: AtomsRange = AtomsRange()
    lattice: LatticeConfig = LatticeConfig()
    samples_per_task: int = Field(4, ge=1)
    seed_blocks: int = Field(1, ge=1)
    volume_per_atom: float | None = Field(None, gt=0)  # Å^3/atom; None: stage default
    modes: list[Literal["unconditional", "inpaint", "inpaint-symmetric"]] = Field(
        default_factory=lambda: ["unconditional"], min_length=1
    )
    # how the first-stage ("unconditional") tasks start: random Bravais lattices
    # ("unconditional"), Wyckoff orbits from the learned prior ("symmetric") or substituted
    # known structures ("template"); chggen_kernels.workflow.starts
    generation: Literal["unconditional", "symmetric", "template", "template-symmetric"] = \
        "unconditional"
    inpaint: InpaintSettings = InpaintSettings()
    # SamplerSettings fields given explicitly; the rest: the checkpoint's sigma range and the
    # SamplerSettings defaults (resolved where the model is loaded)
    sampler: dict[str, Any] = {}
    # fmax eV/Å, max_steps, relax_cell, ..., mlip (the potential; also ``mlip:`` at the top)
    relax: RelaxSettings = RelaxSettings()
    hull: HullConfig = HullConfig()
    model: ModelConfig = ModelConfig()
    output: str = Field("results", min_length=1)
    resources: ResourcesConfig = ResourcesConfig()
    seed: int = Field(0, ge=0)
    limits: Limits = Limits()
    _cells: list[dict[str, int]] | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        """Every key of every section is a field (``mlip`` at the top: ``relax.mlip``)."""
        from chggen_kernels.sampling import SamplerSettings

        reject_unknown_keys(data, cls, extra=("mlip",), sections={"sampler": SamplerSettings})
        return data

    @field_validator("modes", mode="before")
    @classmethod
    def _start_modes_belong_to_generation(cls, value: Any) -> Any:
        """A first-stage start (``symmetric``, ``template``, ...) is ``generation``, not a
        mode: say so instead of pydantic's list of literals."""
        starts = ("symmetric", "template", "template-symmetric")
        wrong = [m for m in value if m in starts] if isinstance(value, list) else []
        if wrong:
            raise ValueError(f"{wrong[0]!r} is how the first stage starts: set generation: "
                             f"{wrong[0]} and keep 'unconditional' in modes")
        return value

    @field_validator("sampler")
    @classmethod
    def _sampler_settings(cls, value: dict[str, Any]) -> dict[str, Any]:
        from chggen_kernels.sampling import SamplerSettings

        SamplerSettings.from_dict(dict(value))
        return value

    @model_validator(mode="before")
    @classmethod
    def _mlip_into_relax(cls, data: Any) -> Any:
        """``mlip: NAME`` at the top level is ``relax.mlip``: the potential that relaxes
        the candidates (``chgnet`` by default; docs/potentials.md)."""
        if not isinstance(data, dict) or "mlip" not in data:
            return data
        data = dict(data)
        mlip = data.pop("mlip")
        relax = data.get("relax")
        if relax is None:
            relax = {}
        if isinstance(relax, RelaxSettings):
            relax = dataclasses.asdict(relax)
        if isinstance(relax, dict):
            if "mlip" in relax and relax["mlip"] != mlip:
                raise ValueError(f"mlip = {mlip!r} and relax.mlip = {relax['mlip']!r} "
                                 "differ: give the potential once")
            data["relax"] = {**relax, "mlip": mlip}
        return data

    @field_validator("relax", mode="before")
    @classmethod
    def _relax_threads(cls, value: Any) -> Any:
        if isinstance(value, dict) and value.get("n_threads", RelaxSettings.n_threads) != \
                RelaxSettings.n_threads:
            raise ValueError("n_threads is set from resources.cpus_per_relax_actor")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> CampaignConfig:
        self._check_sizes_before_planning()
        inpainting = [m for m in self.modes if m in INPAINT_MODES]
        if inpainting:
            if "unconditional" not in self.modes:
                raise ValueError(f"modes: {inpainting[0]!r} needs 'unconditional' (the first "
                                 f"stage, started as generation {self.generation!r}: hosts "
                                 "come from it)")
            if not self.inpaint.guest_species:
                raise ValueError("inpaint.guest_species must name at least one element")
            elements = {el for comp in self.cell_compositions() for el in comp}
            missing = sorted(set(self.inpaint.guest_species) - elements)
            if missing:
                raise ValueError(
                    f"inpaint.guest_species {missing} do not occur in any composition "
                    f"(elements: {sorted(elements)})"
                )
        self._check_cell_sizes()
        if not self.cell_compositions():
            raise ValueError(
                f"compositions: no cell composition with {self.atoms_per_cell.min}-"
                f"{self.atoms_per_cell.max} atoms satisfies the constraints"
            )
        from campaign.inputs.structures import check_elements

        # the potential resolved (an unknown or unimportable one: one line, exit 2) and the
        # elements it declares
        check_elements(self.elements, where="compositions", potential=self.relax.mlip)
        plan = self.plan_counts()
        check_limit(self.limits, "hosts", plan.hosts, field="planned inpainting hosts")
        check_limit(self.limits, "candidates", plan.candidates, field="planned candidates")
        return self

    def _check_sizes_before_planning(self) -> None:
        """The sizes given directly, and the compositions the campaign would enumerate,
        within ``limits`` (before anything is enumerated)."""
        limits = self.limits
        check_limit(limits, "samples_per_task", self.samples_per_task, field="samples_per_task")
        check_limit(limits, "seed_blocks", self.seed_blocks, field="seed_blocks")
        check_limit(limits, "atoms_per_cell", self.atoms_per_cell.max,
                    field="atoms_per_cell.max")
        for i, cell in enumerate(self.compositions.cells):
            check_limit(limits, "atoms_per_cell", sum(parse_formula(cell).values()),
                        field=f"compositions.cells[{i}] = {cell!r}: atoms")
        c = self.compositions
        size = enumeration_size(
            chemical_systems=c.chemical_systems,
            lines=[(line.end_members, line.include_end_members) for line in c.lines],
            formulas=c.formulas, cells=c.cells, min_atoms=self.atoms_per_cell.min,
            max_atoms=self.atoms_per_cell.max)
        check_limit(limits, "cells", size, field="compositions to enumerate")

    def plan_counts(self) -> PlanCounts:
        """What the campaign plans, counted without expanding its tasks."""
        cells = len(self.cell_compositions())
        lattices = len(self.lattice.combinations())
        tasks = cells * lattices * self.seed_blocks if "unconditional" in self.modes else 0
        unconditional = tasks * self.samples_per_task
        per_task = self.inpaint.hosts_per_task
        per_task = self.samples_per_task if per_task is None else min(per_task,
                                                                       self.samples_per_task)
        inpaint_modes = [m for m in self.modes if m in INPAINT_MODES]
        hosts = tasks * per_task if inpaint_modes else 0
        inpainted = hosts * self.inpaint.samples_per_host * len(inpaint_modes)
        return PlanCounts(cells=cells, lattice_choices=lattices, seed_blocks=self.seed_blocks,
                          unconditional_tasks=tasks, unconditional_candidates=unconditional,
                          hosts=hosts, inpainting_candidates=inpainted,
                          generation=self.generation)

    def _check_cell_sizes(self) -> None:
        """Every explicit cell, formula unit and line fits ``atoms_per_cell``, else one line
        naming the field, its value and its atom count."""
        lo, hi = self.atoms_per_cell.min, self.atoms_per_cell.max
        comps = self.compositions
        for i, cell in enumerate(comps.cells):
            n = sum(parse_formula(cell).values())
            if not lo <= n <= hi:
                raise ValueError(f"compositions.cells[{i}] = {cell!r}: {n} atoms, outside "
                                 f"atoms_per_cell {lo}-{hi}")
        for i, formula in enumerate(comps.formulas):
            n = sum(parse_formula(formula).values())
            if n > hi:
                raise ValueError(f"compositions.formulas[{i}] = {formula!r}: one formula unit "
                                 f"has {n} atoms, more than atoms_per_cell.max = {hi}")
        for i, line in enumerate(comps.lines):
            sizes = [sum(parse_formula(f).values()) for f in line.end_members]
            smallest = min(sizes) if line.include_end_members else sum(sizes)
            if smallest > hi:
                raise ValueError(f"compositions.lines[{i}] = {line.end_members}: the smallest "
                                 f"cell on the line has {smallest} atoms, more than "
                                 f"atoms_per_cell.max = {hi}")

    def cell_compositions(self) -> list[dict[str, int]]:
        """All cell compositions of the campaign, sorted by atoms per cell then formula."""
        cached = self._cells
        if cached is None:
            c = self.compositions
            cached = cell_compositions(
                chemical_systems=c.chemical_systems,
                lines=[(line.end_members, line.include_end_members) for line in c.lines],
                formulas=c.formulas,
                cells=c.cells,
                constraints=c.constraints,
                min_atoms=self.atoms_per_cell.min,
                max_atoms=self.atoms_per_cell.max,
            )
            self._cells = cached
        return [dict(c) for c in cached]

    @property
    def elements(self) -> list[str]:
        return sorted({el for comp in self.cell_compositions() for el in comp})


def _loc_to_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += ("." if path else "") + str(part)
    return path or "(top level)"


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def format_validation_error(error: ValidationError, source: str = "campaign") -> str:
    """One line: ``<source>: path = value: reason``, or ``<source>: N problems: ...; ...``
    when several fields are bad."""
    lines = []
    for item in error.errors():
        path = _loc_to_path(tuple(p for p in item["loc"] if not str(p).startswith("function-")))
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "missing":
            lines.append(f"{path}: required field is missing")
        elif not item["loc"]:  # whole-campaign checks name their fields in the message
            lines.append(message)
        elif item["type"] == "extra_forbidden":
            lines.append(f"{path} = {item.get('input')!r}: unknown field")
        else:
            lines.append(f"{path} = {_short(item.get('input'))}: {message}")
    if len(lines) == 1:
        return f"{source}: {lines[0]}"
    return f"{source}: {len(lines)} problems: " + "; ".join(lines)


def validate_config(data: Any, source: str = "campaign") -> CampaignConfig:
    """Validate a mapping (e.g. parsed YAML) into a :class:`CampaignConfig`."""
    if not isinstance(data, dict):
        raise CampaignConfigError(f"{source}: expected a mapping at the top level, got {data!r}")
    try:
        return CampaignConfig.model_validate(data)
    except ValidationError as exc:
        raise CampaignConfigError(format_validation_error(exc, source)) from None
    except CompositionError as exc:  # pragma: no cover - validators wrap these
        raise CampaignConfigError(f"{source}: {exc}") from None


def load_config(path: str | Path) -> CampaignConfig:
    """Read and validate a campaign YAML file."""
    try:
        data = load_yaml_file(path, what="campaign file")
    except InputError as exc:
        raise CampaignConfigError(str(exc)) from None
    return validate_config(data, source=f"campaign file {str(path)!r}")


def dump_config(config: CampaignConfig) -> str:
    """The configuration as YAML text (round-trips through :func:`validate_config`)."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
