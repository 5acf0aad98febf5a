"""chggen: crystal structure prediction with a diffusion model and CHGNet, from Python.

A thin, documented facade over the ``chggen`` commands (``docs/api.md``)::

    import chggen

    results = chggen.generate("Li2Si", n_samples=2)   # as `chggen generate Li2Si --n-samples 2`
    print(results.best(1))                            # ranked and grouped as `chggen top`
    results.best(5).to_cif("best")                    # CIFs named as `chggen export`

Functions (each returns :class:`Results`; units Å, eV/atom):

* :func:`generate`: generate, relax and rank one composition (``chggen generate``);
* :func:`inpaint`: place guests into a host (``chggen inpaint``);
* :func:`scan`, :func:`run_campaign`: the Ray campaigns (``chggen scan``, ``chggen run``);
* :func:`evaluate`: relax and rank your own crystals against the hull;
* :func:`load_results`: a results folder.

Keywords are the commands' long options with their defaults (``n_levels=6`` is
``--n-levels 6``); bad input raises :class:`InputError` with the command's one-line
message. ``import chggen`` is light: torch, pymatgen and Ray load when a function runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chggen_kernels.errors import ChggenError, InputError, RunFailedError, RunInterrupted
from chggen_kernels.lazy import lazy_exports

# Public name -> defining module, imported on first access (PEP 562).
_EXPORTS: dict[str, str] = {
    "__version__": "chggen._version",
    "generate": "chggen.generation",
    "inpaint": "chggen.generation",
    "scan": "chggen.campaigns",
    "run_campaign": "chggen.campaigns",
    "evaluate": "chggen.evaluation",
    "Results": "chggen.results",
    "load_results": "chggen.results",
}

__all__ = [
    "ChggenError",
    "InputError",
    "Results",
    "RunFailedError",
    "RunInterrupted",
    "__version__",
    "evaluate",
    "generate",
    "inpaint",
    "load_results",
    "run_campaign",
    "scan",
]

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from chggen._version import __version__
    from chggen.campaigns import run_campaign, scan
    from chggen.evaluation import evaluate
    from chggen.generation import generate, inpaint
    from chggen.results import Results, load_results
