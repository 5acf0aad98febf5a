"""What a campaign checks before any work starts, and how it takes over its folder.

* :func:`check_hull`: the potential is made (``relax.mlip``: a factory that fails is
  refused) and the hull source scores every element of the campaign (once, before Ray
  starts; another potential's hull is relaxed here, per chemical system), and its gaps
  for the campaign's chemical systems are warned about (and recorded in
  ``_hull_coverage.json`` by :func:`prepare_folder`);
* :func:`prepare_folder`: the results folder is verified before a (re)run (see
  :meth:`~campaign.engine.store.ResultStore.quarantine_bad_parts`).

The lock and the settings fingerprint are :mod:`campaign.engine.folder`'s.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from campaign.config.model import CampaignConfig, dump_config
from campaign.engine.folder import keep_config
from campaign.engine.store import ResultStore
from campaign.jobs.tasks import part_rows_checker
from chggen_kernels.errors import InputError

__all__ = ["COVERAGE_NAME", "check_hull", "hull_coverage", "prepare_folder", "seed_change",
           "write_hull_coverage"]

#: the results folder's record of what the hull lacks for the campaign (check_hull)
COVERAGE_NAME = "_hull_coverage.json"

logger = logging.getLogger("campaign")


def check_hull(config: CampaignConfig) -> dict[str, Any] | None:
    """Build the phase diagram of every element of the campaign once, before Ray starts:
    a hull source that cannot score it (no MP key, no network, a missing elemental
    reference) is refused here (:class:`~campaign.stages.resources.HullInputError`, exit 2).
    Then one warning per gap of the hull for the campaign's chemical systems and cells
    (:func:`hull_coverage`); returns that coverage (``None`` without a hull)."""
    from campaign.stages.resources import check_potential, make_hull_provider
    from chggen_kernels.relax.settings import DEFAULT_MLIP

    check_potential(config.relax)  # another potential: made here, before Ray starts
    if config.hull.source == "none":
        return None
    targets: Any = "-".join(config.elements)
    if config.relax.mlip != DEFAULT_MLIP:  # a potential's hull: the run's systems, relaxed now
        targets = sorted({"-".join(sorted(cell)) for cell in config.cell_compositions()})
    provider = make_hull_provider(config.hull.source, targets, relax=config.relax)
    coverage = hull_coverage(config, provider)
    for message in coverage["messages"]:
        logger.warning(message)
    return coverage


_COVERAGE: dict[tuple[Any, ...], dict[str, Any]] = {}


def hull_coverage(config: CampaignConfig, provider: Any = None) -> dict[str, Any]:
    """What the campaign's hull lacks, per chemical system of its cells
    (:func:`chggen_kernels.thermo.coverage.hull_coverage`): ``{"hull", "systems": {chemsys:
    {"gaps", "compositions_without_known_phase"}}, "messages"}``, the messages one line per
    gap (the compositions of a system without any known entry in one line). Computed once
    per hull and set of cells (``provider``: the campaign's hull, else made here)."""
    from pymatgen.core import Composition

    from chggen_kernels.thermo.coverage import hull_coverage as coverage_of
    from chggen_kernels.thermo.coverage import hull_label

    cells = config.cell_compositions()
    by_system: dict[str, list[str]] = {}
    for cell in cells:
        formula = Composition(cell).reduced_formula
        formulas = by_system.setdefault("-".join(sorted(cell)), [])
        if formula not in formulas:
            formulas.append(formula)
    key = (config.hull.source, config.relax.mlip,
           tuple((k, tuple(v)) for k, v in sorted(by_system.items())))
    if key in _COVERAGE:
        return _COVERAGE[key]
    if provider is None:
        from campaign.stages.resources import make_hull_provider

        provider = make_hull_provider(config.hull.source, relax=config.relax)
    if hasattr(provider.source, "prepare"):  # a potential's hull: the run's systems only
        entries = [e for chemsys in by_system for e in provider.source.entries(chemsys.split("-"))]
    else:
        entries = provider.source.entries(config.elements)
    held = {e.composition.reduced_formula for e in entries}
    where = hull_label(provider.name)
    systems: dict[str, Any] = {}
    messages: list[str] = []
    for chemsys, formulas in sorted(by_system.items()):
        gaps = coverage_of(entries, chemsys.split("-"), hull_name=provider.name).gaps
        missing = [f for f in formulas if f not in held and len(Composition(f)) > 1]
        systems[chemsys] = {"gaps": [g.to_dict() for g in gaps],
                            "compositions_without_known_phase": missing}
        messages += [g.message for g in gaps if g.message not in messages]
        if missing:
            shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more"
                                               if len(missing) > 10 else "")
            messages.append(f"{where}: no known compound of composition {shown}"
                            + (f" ({len(missing)} of the {len(formulas)} compositions of "
                               f"{chemsys})" if len(formulas) > 1 else ""))
    coverage = {"hull": provider.name, "systems": systems, "messages": messages}
    _COVERAGE[key] = coverage
    return coverage


def write_hull_coverage(directory: Path, config: CampaignConfig) -> Path | None:
    """``_hull_coverage.json`` in the results folder (written atomically): the campaign's
    :func:`hull_coverage`; nothing without a hull."""
    from campaign.engine.store import write_text_atomic

    if config.hull.source == "none":
        return None
    text = json.dumps(hull_coverage(config), indent=2) + "\n"
    return write_text_atomic(Path(directory) / COVERAGE_NAME, text)


def seed_change(directory: Path, seed: int) -> str | None:
    """One line when the folder's latest configuration ran with another ``seed``: the
    new seed names new tasks, which are added beside the folder's existing ones."""
    from campaign.config.model import CampaignConfig
    from campaign.engine.store import CONFIG_NAME
    from campaign.inputs.text import load_yaml_file

    path = Path(directory) / CONFIG_NAME
    if not path.is_file():
        return None
    try:
        earlier = (load_yaml_file(path, what="configuration") or {}).get(
            "seed", CampaignConfig.model_fields["seed"].default)  # a file without one: the default
    except (InputError, AttributeError):
        return None
    if earlier == seed:
        return None
    return (f"results folder {str(directory)!r}: seed {seed} differs from the seed {earlier} "
            f"it was written with; the tasks of seed {seed} are added beside the existing ones "
            "(both stay in the folder)")


def prepare_folder(store: ResultStore, config: CampaignConfig) -> list[tuple[str, str]]:
    """Before a (re)run: refuse another schema, remove a killed writer's temporaries, move
    untrustworthy parts to ``_quarantine/`` (their tasks run again; a warning names
    each), keep the configuration (``_configs/``, and ``_campaign.yaml`` the latest) and
    the hull's gaps (``_hull_coverage.json``, :func:`write_hull_coverage`).
    Returns the quarantined parts."""
    store.check_schema()
    store.remove_stale_temporaries()
    moved = store.quarantine_bad_parts(part_rows_checker(config), warn=logger.warning)
    note = seed_change(store.directory, config.seed)
    if note:
        logger.warning(note)
    text = dump_config(config)
    keep_config(store.directory, text)
    store.write_config(text)
    write_hull_coverage(store.directory, config)
    return moved
