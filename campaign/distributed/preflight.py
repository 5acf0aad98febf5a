"""What a campaign checks before any work starts, and how it takes over its folder.

* :func:`check_hull`: the hull source scores every element of the campaign (once, before
  Ray starts);
* :func:`prepare_folder`: the results folder is verified before a (re)run (see
  :meth:`~campaign.results.ResultStore.quarantine_bad_parts`).

The lock and the settings fingerprint are :mod:`campaign.folder`'s.
"""

from __future__ import annotations

import logging
from pathlib import Path

from campaign.config import CampaignConfig, dump_config
from campaign.folder import keep_config
from campaign.results import ResultStore
from campaign.tasks import part_rows_checker
from chggen_kernels.errors import InputError

__all__ = ["check_hull", "prepare_folder", "seed_change"]

logger = logging.getLogger("campaign")


def check_hull(config: CampaignConfig) -> None:
    """Build the phase diagram of every element of the campaign once, before Ray starts:
    a hull source that cannot score it (no MP key, no network, a missing elemental
    reference) is refused here (:class:`~campaign.resources.HullInputError`, exit 2)."""
    from campaign.resources import make_hull_provider

    if config.hull.source != "none":
        make_hull_provider(config.hull.source, "-".join(config.elements))


def seed_change(directory: Path, seed: int) -> str | None:
    """One line when the folder's latest configuration ran with another ``seed``: the
    new seed names new tasks, which are added beside the folder's existing ones."""
    from campaign.inputs.text import load_yaml_file
    from campaign.results import CONFIG_NAME

    path = Path(directory) / CONFIG_NAME
    if not path.is_file():
        return None
    try:
        earlier = (load_yaml_file(path, what="configuration") or {}).get("seed", 0)
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
    each), keep the configuration (``_configs/``, and ``_campaign.yaml`` the latest).
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
    return moved
