"""Limit OpenBLAS threads around a relaxation (Linux; a no-op elsewhere).

ASE's FrechetCellFilter evaluates 3x3 matrix exponentials and logarithms (scipy) several
times per step. With OpenBLAS's default thread pool (one thread per core) each tiny LAPACK
call pays thread wake-up costs; on a loaded 2-core machine we measured 8 ms per 3x3
``lu_solve`` and ~1.8 s per FIRE step of a 2-atom cell from the filter alone, against
~0.04 s with one BLAS thread. numpy and scipy each ship their own OpenBLAS, so both are
set. This is what ``threadpoolctl`` does, without the extra dependency.
"""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Iterator

import scipy.linalg  # noqa: F401 - make sure scipy's OpenBLAS is loaded before scanning

__all__ = ["limit_blas_threads"]

_SETTERS = (
    ("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
    ("scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"),
    ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
    ("openblas_set_num_threads", "openblas_get_num_threads"),
)
_handles: list[tuple[ctypes._CFuncPtr, ctypes._CFuncPtr]] | None = None


def _openblas_handles() -> list[tuple[ctypes._CFuncPtr, ctypes._CFuncPtr]]:
    """(setter, getter) for every OpenBLAS mapped into this process (cached)."""
    global _handles
    if _handles is not None:
        return _handles
    found: list[tuple[ctypes._CFuncPtr, ctypes._CFuncPtr]] = []
    try:
        with open("/proc/self/maps") as maps:
            paths = sorted({line.split()[-1] for line in maps if "openblas" in line.lower()})
    except OSError:
        paths = []
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for set_name, get_name in _SETTERS:
            setter, getter = getattr(lib, set_name, None), getattr(lib, get_name, None)
            if setter is not None and getter is not None:
                setter.argtypes, setter.restype = [ctypes.c_int], None
                getter.argtypes, getter.restype = [], ctypes.c_int
                found.append((setter, getter))
                break
    _handles = found
    return found


@contextlib.contextmanager
def limit_blas_threads(n_threads: int | None) -> Iterator[None]:
    """Run the block with at most ``n_threads`` OpenBLAS threads (None: unchanged)."""
    if n_threads is None:
        yield
        return
    handles = _openblas_handles()
    previous = [getter() for _, getter in handles]
    for setter, _ in handles:
        setter(n_threads)
    try:
        yield
    finally:
        for (setter, _), n in zip(handles, previous, strict=True):
            setter(n)
