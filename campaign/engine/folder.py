"""A results folder belongs to one set of settings and one writer at a time.

* **Fingerprint** (``_fingerprint.json``): everything that changes a candidate written
  into the folder, namely the checkpoint's SHA-256, the sampler settings (resolved
  against the checkpoint), the relaxation settings, the potential (name, version, weights
  SHA-256), the hull source (a hull file's SHA-256) and the chggen version. Compositions,
  lattices, seeds and sample counts are not in it: they name the tasks, so adding
  compositions to a finished campaign only adds tasks. A writer with another fingerprint
  is refused (:class:`FolderSettingsError`, naming each setting that differs; another
  potential in a line of its own) unless it asks for a new folder
  (:func:`campaign.stages.fingerprint.folder_for`).
* **Configurations**: every configuration that wrote into the folder is kept, in order,
  under ``_configs/`` (``_campaign.yaml`` is the latest); none is overwritten.
* **Lock** (``_lock``, JSON with host, pid and start time): a second writer on the same
  folder is refused at once (:class:`FolderLockedError`); a lock left by a process that
  no longer runs on this host is taken over with a warning.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from campaign.engine.store import write_text_atomic
from chggen_kernels.errors import InputError, RunFailedError

__all__ = [
    "FINGERPRINT_NAME",
    "LOCK_NAME",
    "FolderLockedError",
    "FolderSettingsError",
    "Fingerprint",
    "check_fingerprint",
    "file_sha256",
    "folder_lock",
    "keep_config",
    "settings_fingerprint",
]

logger = logging.getLogger("campaign")
FINGERPRINT_NAME = "_fingerprint.json"
LOCK_NAME = "_lock"
CONFIGS_NAME = "_configs"
_THREAD_FIELDS = ("n_threads", "blas_threads")  # how fast, not what a relaxation gives


class FolderSettingsError(InputError):
    """The folder was written with other settings; the message lists what differs."""


class FolderLockedError(RunFailedError):
    """Another live process writes into the folder; the message names its host and pid."""


def file_sha256(path: str | Path) -> str:
    """SHA-256 (hex) of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclasses.dataclass(frozen=True)
class Fingerprint:
    """What changes a candidate: ``values`` (JSON-able) and their digest."""

    values: dict[str, Any]

    @property
    def plain(self) -> dict[str, Any]:
        """``values`` as they read back from JSON (how a recorded fingerprint compares)."""
        return json.loads(json.dumps(self.values, default=str))

    @property
    def digest(self) -> str:
        text = json.dumps(self.values, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()


def settings_fingerprint(*, checkpoint: str | Path, sampler: Mapping[str, Any],
                         relax: Mapping[str, Any], hull: str,
                         potential: Mapping[str, str] | None = None) -> Fingerprint:
    """The fingerprint of a writer: ``checkpoint`` the score model file used (hashed),
    ``sampler`` the resolved sampler settings, ``relax`` the relaxation settings
    (thread counts left out: they do not change results), ``hull`` the hull source name (a
    file is hashed; ``offline`` is the version's shipped hull, or its known phases relaxed
    with the potential), ``potential`` the potential's name, version and weights SHA-256
    (:meth:`chggen_kernels.relax.potentials.Potential.record`)."""
    from chggen_kernels import __version__
    from chggen_kernels.thermo.sources import hull_source_file

    hull_value: str = hull
    hull_file = hull_source_file(hull)  # a hull file is fingerprinted by its bytes
    if hull_file is not None:
        hull_value = f"file sha256:{file_sha256(hull_file)}"
    values = {
        "checkpoint_sha256": file_sha256(checkpoint),
        "sampler": dict(sorted(dict(sampler).items())),
        "relax": {k: v for k, v in sorted(dict(relax).items()) if k not in _THREAD_FIELDS},
        "hull": hull_value,
        "chggen_version": __version__,
    }
    if potential is not None:
        values["potential"] = dict(sorted(dict(potential).items()))
    return Fingerprint(values)


def _recorded(directory: Path) -> dict[str, Any] | None:
    path = directory / FINGERPRINT_NAME
    if not path.is_file():
        return None
    try:
        return dict(json.loads(path.read_text())["values"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FolderSettingsError(f"results folder {str(directory)!r}: {FINGERPRINT_NAME} is "
                                  f"unreadable ({exc}); write to a new folder") from None


def _differences(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    lines = []
    for key in sorted(set(recorded) | set(current)):
        old, new = recorded.get(key), current.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            for sub in sorted(set(old) | set(new)):
                if old.get(sub) != new.get(sub):
                    lines.append(f"{key}.{sub}: folder {old.get(sub)!r}, now {new.get(sub)!r}")
        elif old != new:
            lines.append(f"{key}: folder {old!r}, now {new!r}")
    return lines


def _potential_text(record: Any) -> str:
    if not isinstance(record, Mapping):
        return repr(record)
    version = f" {record.get('version')}" if record.get("version") else ""
    return f"{record.get('name')}{version} (weights {str(record.get('weights_sha256'))[:12]})"


RESUME_ADVICE = ("rerun with the folder's settings to resume, give another output folder, "
                 "or --new-folder")


def check_fingerprint(directory: str | Path, fingerprint: Fingerprint, *,
                      advice: str = RESUME_ADVICE) -> None:
    """Record ``fingerprint`` in a folder that has none; refuse a folder whose recorded
    fingerprint differs (:class:`FolderSettingsError` listing every difference; another
    potential in one line of its own: energies of two potentials never mix). A folder
    with parts but no fingerprint (written before fingerprints existed) is adopted, and
    so is one whose fingerprint predates the potential's record while the potential is
    CHGNet (the only one then). ``advice``: how to proceed, ending the refusal line."""
    directory = Path(directory)
    recorded = _recorded(directory)
    if recorded is None:
        directory.mkdir(parents=True, exist_ok=True)
        write_text_atomic(directory / FINGERPRINT_NAME,
                      json.dumps({"digest": fingerprint.digest, "values": fingerprint.values},
                                 indent=1, sort_keys=True, default=str))
        return
    current = fingerprint.plain
    recorded = _with_chgnet_record(recorded, current)
    if recorded.get("potential") != current.get("potential"):
        was, now = recorded.get("potential"), current.get("potential")
        name = now.get("name") if isinstance(now, Mapping) else now
        was_name = was.get("name") if isinstance(was, Mapping) else was
        raise FolderSettingsError(
            f"results folder {str(directory)!r} was relaxed with the potential "
            f"{_potential_text(was)}, not {_potential_text(now)}: energies of two potentials "
            f"do not mix; resume with --mlip {was_name}, give another output folder, or "
            f"--new-folder (writes {name}'s candidates beside it)")
    differences = _differences(recorded, current)
    if differences:
        raise FolderSettingsError(
            f"results folder {str(directory)!r} was written with other settings "
            f"({'; '.join(differences)}); {advice}")


def _with_chgnet_record(recorded: dict[str, Any], current: Mapping[str, Any]
                        ) -> dict[str, Any]:
    """A fingerprint written before potentials were recorded was CHGNet's (the only one
    then): it gets this installation's CHGNet record and ``relax.mlip``."""
    from chggen_kernels.relax.potentials import resolve_potential
    from chggen_kernels.relax.settings import DEFAULT_MLIP

    if "potential" in recorded or "potential" not in current:
        return recorded
    relax = dict(recorded.get("relax") or {})
    relax.setdefault("mlip", DEFAULT_MLIP)
    return {**recorded, "potential": resolve_potential(DEFAULT_MLIP).record(), "relax": relax}


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr)


def keep_config(directory: str | Path, text: str) -> Path:
    """Keep ``text`` (a configuration that writes into the folder) as the next
    ``_configs/NNN-<UTC time>.yaml``; returns its path. Nothing is overwritten."""
    folder = Path(directory) / CONFIGS_NAME
    folder.mkdir(parents=True, exist_ok=True)
    number = 1 + max((int(p.name[:3]) for p in folder.glob("[0-9][0-9][0-9]-*.yaml")),
                     default=0)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = folder / f"{number:03d}-{stamp}.yaml"
    write_text_atomic(path, text)
    return path


# ---------------------------------------------------------------------- lock
def _process_start(pid: int) -> float | None:
    """Start time of a live process (s since the epoch), ``None`` if it does not run."""
    try:
        import psutil

        return float(psutil.Process(pid).create_time())
    except ImportError:  # pragma: no cover - psutil comes with Ray
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return 0.0
        return 0.0
    except Exception:  # psutil.NoSuchProcess, AccessDenied on a zombie
        return None


def _read_lock(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text() or "{}"))
    except (OSError, ValueError, TypeError):
        return {}


#: Environment variables that name the job a driver belongs to, first set wins: one a
#: resubmitting wrapper keeps across its attempts, then SLURM's (kept by ``--requeue``).
JOB_VARIABLES = ("CHGGEN_JOB_ID", "SLURM_JOB_ID")


def current_job() -> str | None:
    """The id of the batch job this process belongs to, if any (:data:`JOB_VARIABLES`): a
    lock left on another host by the same job is the job's own, resubmitted elsewhere."""
    for name in JOB_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value:
            return f"{name}={value}"
    return None


def _lock_text(path: Path) -> str:
    """What an unusable lock file holds, in words: ``empty`` or ``unreadable``."""
    try:
        return "empty" if path.stat().st_size == 0 else "unreadable"
    except OSError:
        return "gone"


def _describe(directory: Path, holder: Mapping[str, Any]) -> str:
    if not holder:
        return f"results folder {str(directory)!r} is being written by another process"
    return (f"results folder {str(directory)!r} is being written by "
            f"{holder.get('command', 'chggen')} (host {holder.get('host')!r}, pid "
            f"{holder.get('pid')})")


def _acquire(path: Path) -> int:
    """An open descriptor of ``path`` holding its exclusive ``flock`` (the lock dies with
    the process); ``BlockingIOError`` when a live process holds it."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise
        try:  # a releasing holder unlinks the file: lock the file the path names now
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


@contextlib.contextmanager
def folder_lock(directory: str | Path, command: str = "chggen",
                warn: Callable[[str], None] | None = None) -> Iterator[Path]:
    """Hold ``directory/_lock`` while writing: an exclusive ``flock`` that the kernel
    releases when the process dies, and JSON naming the holder (host, pid, start time,
    command). A second writer is refused at once (:class:`FolderLockedError` naming the
    holder). A lock file left by a process of this host that is gone (it holds no lock)
    is taken over with a warning; one left by another host cannot be checked and is
    refused (the message says which file to delete when that process is known to be
    gone), unless it names the same batch job as this process (:func:`current_job`: a
    requeued SLURM job, a resubmitted Ray job), which then takes it over with a warning."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOCK_NAME
    host = socket.gethostname()
    try:
        existed = os.stat(path).st_ino  # a lock file left before we came
    except FileNotFoundError:
        existed = None
    try:
        fd = _acquire(path)
    except BlockingIOError:
        raise FolderLockedError(f"{_describe(directory, _read_lock(path))}; wait for it to "
                                "finish") from None
    try:
        left = _read_lock(path)
        job = current_job()
        say = warn or logger.warning
        if left and left.get("host") != host and job and left.get("job") == job:
            say(f"results folder {str(directory)!r}: taking over the lock of job {job} from "
                f"host {left.get('host')!r} (the same job resubmitted here)")
        elif left and left.get("host") != host:
            raise FolderLockedError(f"{_describe(directory, left)}; if that process is gone, "
                                    f"delete {str(path)!r}")
        elif left:
            say(f"results folder {str(directory)!r}: taking over the stale lock of pid "
                f"{left.get('pid')} (no longer runs)")
        elif existed == os.fstat(fd).st_ino:  # checked: we hold its flock, nobody else does
            say(f"results folder {str(directory)!r}: taking over a lock file that names no "
                f"holder ({_lock_text(path)}; left by a writer that could not record itself, "
                "e.g. on a full disk); no process holds it")
        mine = {"host": host, "pid": os.getpid(), "started": _process_start(os.getpid()),
                "command": command, "job": job}
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(mine).encode(), 0)
        except OSError as exc:  # a full disk from the start: leave no empty lock behind
            path.unlink(missing_ok=True)
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
        try:
            yield path
        finally:
            path.unlink(missing_ok=True)  # still holding the flock: nobody else wrote it
    finally:
        os.close(fd)
