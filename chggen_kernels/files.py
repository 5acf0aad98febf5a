"""Reading a user's text files with bounds: existence, size and encoding, one line each.

Every file chggen reads from a user (campaign and training configurations, structure
files, hull files) goes through :func:`read_text_file` first, so a folder, a device, a
binary file or a file of gigabytes is refused before a parser sees it.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

from chggen_kernels.errors import InputError

__all__ = [
    "MAX_CONFIG_BYTES",
    "MAX_STRUCTURE_BYTES",
    "InputFileError",
    "read_text_file",
    "user_cache_dir",
    "write_atomic",
]

#: Largest configuration file read, bytes (a campaign file is a few kB).
MAX_CONFIG_BYTES = 1_000_000
#: Largest structure file read, bytes (a 200-atom CIF is about 20 kB; an extxyz of
#: thousands of frames fits).
MAX_STRUCTURE_BYTES = 20_000_000


class InputFileError(InputError):
    """A file handed to chggen cannot be used; the message names the file and why."""


def _size_text(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:.1f} MB" if n_bytes >= 1e5 else f"{n_bytes:,} bytes"


def read_text_file(path: str | Path, *, what: str, max_bytes: int = MAX_CONFIG_BYTES) -> str:
    """The text of ``path`` (UTF-8), refused in one line when it is missing, unreadable,
    a folder, larger than ``max_bytes`` or not UTF-8 text (a binary file). ``what``
    names the file in messages, e.g. ``"campaign file"``."""
    path = Path(path)
    where = f"{what} {str(path)!r}"
    try:
        if path.is_dir():
            raise InputFileError(f"{where}: is a folder, not a file")
        size = path.stat().st_size
        if size > max_bytes:
            raise InputFileError(f"{where}: {_size_text(size)}, larger than the "
                                 f"{_size_text(max_bytes)} a {what} may hold")
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise InputFileError(f"{where}: cannot read (no such file)") from None
    except OSError as exc:
        raise InputFileError(f"{where}: cannot read ({exc.strerror or exc})") from None
    if len(data) > max_bytes:  # grew while being read, or a device file
        raise InputFileError(f"{where}: larger than the {_size_text(max_bytes)} a {what} "
                             "may hold")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputFileError(f"{where}: not a UTF-8 text file (byte 0x{data[exc.start]:02x} "
                             f"at offset {exc.start})") from None
    if "\x00" in text:
        raise InputFileError(f"{where}: not a text file (NUL byte at offset "
                             f"{text.index(chr(0))})")
    return text


def user_cache_dir() -> Path:
    """Where chggen keeps what it computed or fetched once and reads again (Materials
    Project entries, hulls of other potentials): ``$CHGGEN_CACHE``, else
    ``$XDG_CACHE_HOME/chggen``, else ``~/.cache/chggen``. Deleting it only costs time."""
    explicit = os.environ.get("CHGGEN_CACHE", "").strip()
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(base).expanduser() / "chggen"


def write_atomic(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Write ``path`` through a temporary name in its folder (``.<name>.<pid>.tmp``,
    filled by ``write(temporary)``) and a rename, so that readers never see half a file;
    the temporary is removed on failure. A failed file operation (a full disk, a
    read-only folder) is re-raised as an ``OSError`` naming ``path``, which the command
    line prints as ``file system error on '<path>': <reason>``."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(temporary)
        os.replace(temporary, path)
    except OSError as exc:
        raise OSError(exc.errno, _reason(exc), str(path)) from exc
    finally:
        temporary.unlink(missing_ok=True)
    return path


def _reason(exc: OSError) -> str:
    """The OS's words for a failed operation (``No space left on device``), also when a
    library wrapped them in its own message."""
    if exc.errno is not None:
        return os.strerror(exc.errno)
    text = " ".join(str(exc).split())
    for code in (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT):
        if os.strerror(code).lower() in text.lower():
            return os.strerror(code)
    return text or type(exc).__name__
