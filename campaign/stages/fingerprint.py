"""The fingerprint of a stage runner's settings, and the folder a writer of them uses.

:func:`runner_fingerprint` is what a campaign or ``chggen generate`` folder is bound to
(:func:`campaign.engine.folder.check_fingerprint`); :func:`folder_for` picks a new folder
beside one written with other settings (``--new-folder``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from campaign.engine.folder import (
    Fingerprint,
    _differences,
    _recorded,
    _to_stderr,
    _with_chgnet_record,
    settings_fingerprint,
)
from campaign.stages.runner import RunnerSettings

__all__ = ["folder_for", "runner_fingerprint"]


def runner_fingerprint(settings: RunnerSettings) -> Fingerprint:
    """The fingerprint of a stage runner's settings, with the sampler settings resolved
    against the checkpoint (a changed default changes the fingerprint too)."""
    from campaign.stages.resources import (
        checkpoint_file,
        checkpoint_metadata_of,
        resolve_sampler_settings,
    )

    sampler = resolve_sampler_settings(settings.sampler,
                                       checkpoint_metadata_of(settings.checkpoint)).to_dict()
    sampler.pop("max_atoms_per_batch", None)  # batching does not change a candidate
    from chggen_kernels.relax.potentials import resolve_potential

    return settings_fingerprint(checkpoint=checkpoint_file(settings.checkpoint),
                                sampler=sampler, relax=dataclasses.asdict(settings.relax),
                                hull=settings.hull,
                                potential=resolve_potential(settings.relax.mlip).record())


def folder_for(directory: str, settings: RunnerSettings, new_folder: bool,
               note: Callable[[str], None] | None = None) -> str:
    """``directory`` unless ``new_folder`` is asked for and the folder belongs to other
    settings than ``settings``: then ``<directory>-<digest[:8]>`` (the same name for the
    same settings, so a rerun resumes there), said through ``note`` (default: stderr)."""
    path = Path(directory)
    recorded = _recorded(path) if new_folder and path.is_dir() else None
    if recorded is None:
        return directory
    fingerprint = runner_fingerprint(settings)
    if not _differences(_with_chgnet_record(recorded, fingerprint.plain), fingerprint.plain):
        return directory
    target = str(path.with_name(f"{path.name}-{fingerprint.digest[:8]}"))
    (note or _to_stderr)(f"{directory} holds other settings: writing to {target}")
    return target
