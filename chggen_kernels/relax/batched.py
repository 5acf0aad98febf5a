"""Batched CHGNet relaxation: many structures in flight, one CHGNet forward per step.

:class:`BatchRelaxer` keeps, for every structure in flight, the same ASE objects as
:class:`~chggen_kernels.relax.relaxer.Relaxer` (Atoms, the settings' cell filter, the
settings' optimiser), so the filter, the optimiser parameters, ``fmax``, ``max_steps`` and
the convergence test are exactly the one-by-one ones. What changes is where the energies,
forces and stresses come from: once per optimiser step, all structures in flight are
converted to CHGNet graphs and evaluated in ONE ``CHGNet.predict_graph`` call, and each
structure's results are handed to its Atoms through a small caching calculator
(:class:`_BatchResults`). A structure that converges, reaches ``max_steps`` or fails leaves
the batch at once and the next ones from the queue enter, as long as the atoms in flight
stay within ``max_batch_atoms`` (the in-flight pattern of MatterSim's BatchRelaxer).

Units are CHGNet's, converted exactly as ``chgnet.model.dynamics.CHGNetCalculator`` does:
energy eV/atom x N -> eV, forces eV/Å, stress GPa x ``ase.units.GPa`` -> eV/Å^3 (ASE's
sign convention, which CHGNet follows). The per-step checks and failure reasons are the
one-by-one ones (:func:`~chggen_kernels.relax.relaxer.step_failure` and friends).
"""

from __future__ import annotations

import collections
import dataclasses
import math
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ase.calculators.calculator import Calculator, all_changes
from pymatgen.core import Structure

from chggen_kernels.relax.blas import limit_blas_threads
from chggen_kernels.relax.gradients import first_order_gradients
from chggen_kernels.relax.relaxer import (
    Relaxer,
    _quiet,
    _torch_threads,
    failed_result,
    finish_relaxation,
    make_optimizer,
    prepare_structure,
    step_failure,
)
from chggen_kernels.relax.settings import DEFAULT_MLIP, RelaxResult, RelaxSettings

if TYPE_CHECKING:  # pragma: no cover
    from ase import Atoms

__all__ = ["DEFAULT_MAX_BATCH_ATOMS", "BatchRelaxer", "batch_relaxer_like", "make_relaxer",
           "uses_batched_relaxation"]

#: Atoms in flight (one CHGNet forward) of a :class:`BatchRelaxer` unless told otherwise.
DEFAULT_MAX_BATCH_ATOMS = 512


class _BatchResults(Calculator):
    """ASE calculator that only serves results computed elsewhere (the batched forward).

    :meth:`install` stores energy (eV), forces (eV/Å) and stress (eV/Å^3) for the atoms'
    current positions and cell; ASE's cache then answers every query at those positions.
    Asking at other positions is a bug of the driver and raises.
    """

    implemented_properties = ("energy", "free_energy", "forces", "stress")

    def install(self, atoms: Atoms, energy: Any, forces: Any, stress: Any) -> None:
        self.atoms = atoms.copy()
        self.results = {"energy": energy, "free_energy": energy, "forces": forces,
                        "stress": stress}

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes) -> None:
        raise RuntimeError("BatchRelaxer: no batched CHGNet results for these positions")


@dataclasses.dataclass
class _InFlight:
    """One structure being relaxed: its ASE objects and bookkeeping."""

    index: int
    generated: Structure
    atoms: Any
    optimizable: Any
    optimizer: Any
    calc: _BatchResults
    state: dict[str, Any]
    t0: float
    error: Exception | None = None


def _calculator_error(exc: Exception) -> str:
    """The one-by-one ``calculator_error`` reason for an exception (same text)."""
    message = " ".join(str(exc).split())[:300]
    return f"calculator_error: {type(exc).__name__}: {message}"


def _load_model(settings: RelaxSettings, model: Any) -> Any:
    from chgnet.model import CHGNet

    with _quiet():
        if model is None:
            model = CHGNet.load(verbose=False, use_device=settings.device)
        elif isinstance(model, CHGNet):
            model = model.to(settings.device)
    if not all(hasattr(model, name) for name in ("graph_converter", "predict_graph")):
        raise TypeError(
            f"BatchRelaxer model must be a CHGNet (or expose graph_converter and "
            f"predict_graph) or None, got {type(model).__name__}"
        )
    # Isolated atoms are screened before relaxing, as in Relaxer: no CHGNet warning per step.
    model.graph_converter.set_isolated_atom_response("ignore")
    return model


class BatchRelaxer:
    """Relax many structures together with one batched CHGNet forward per optimiser step.

    Parameters
    ----------
    settings
        Relaxation settings (``None``: ``RelaxSettings()``); the same fields mean the same
        as for :class:`~chggen_kernels.relax.relaxer.Relaxer`.
    model
        ``None`` loads the pretrained CHGNet on ``settings.device``; a ``CHGNet`` is used
        as given (moved to ``settings.device``). Tests may pass an object with CHGNet's
        ``graph_converter``, ``predict_graph`` and ``is_intensive``.
    max_batch_atoms
        Upper bound on the atoms in flight (one CHGNet forward); a structure larger than
        this still runs, alone.
    """

    def __init__(
        self,
        settings: RelaxSettings | None = None,
        model: Any = None,
        max_batch_atoms: int = DEFAULT_MAX_BATCH_ATOMS,
    ) -> None:
        self.settings = RelaxSettings() if settings is None else settings
        if not isinstance(self.settings, RelaxSettings):
            raise TypeError(
                f"BatchRelaxer settings must be a RelaxSettings, got "
                f"{type(self.settings).__name__}"
            )
        limit = max_batch_atoms
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"BatchRelaxer max_batch_atoms must be an int >= 1, got {limit!r}")
        self.max_batch_atoms = limit
        if model is None and self.settings.mlip != DEFAULT_MLIP:
            raise ValueError(f"BatchRelaxer relaxes with CHGNet only, not mlip "
                             f"{self.settings.mlip!r}: use Relaxer (one by one)")
        self.model = _load_model(self.settings, model)
        self.n_forwards = 0  # batched CHGNet calls made so far (for benchmarks)

    # ------------------------------------------------------------------ public API
    def relax(self, structure: Structure | Atoms) -> RelaxResult:
        """Relax one structure (a batch of one); never raises for bad input."""
        return self.relax_many([structure])[0]

    def relax_many(self, structures: Iterable[Structure | Atoms]) -> list[RelaxResult]:
        """Relax all structures, in input order; a failure affects only its structure.

        ``t_relax_s`` of a result is the wall time from the structure's entry into the
        batch to its exit (shared with the others in flight), in s.
        """
        queue = collections.deque(enumerate(structures))
        results: list[RelaxResult | None] = [None] * len(queue)
        in_flight: list[_InFlight] = []
        with limit_blas_threads(self.settings.blas_threads), _torch_threads(
            self.settings.n_threads
        ), _quiet(), first_order_gradients():
            while queue or in_flight:
                self._admit(queue, in_flight, results)
                if not in_flight:
                    continue
                self._evaluate(in_flight)
                still: list[_InFlight] = []
                for item in in_flight:
                    outcome = self._advance(item)
                    if outcome is None:
                        still.append(item)
                    else:
                        results[item.index] = outcome
                in_flight = still
        return [r for r in results if r is not None]

    # ------------------------------------------------------------------ internals
    def _admit(
        self,
        queue: collections.deque[tuple[int, Structure | Atoms]],
        in_flight: list[_InFlight],
        results: list[RelaxResult | None],
    ) -> None:
        """Move structures from the queue into the batch while the atom budget allows;
        those failing the input checks or screens get their result at once."""
        n_in_flight = sum(len(item.atoms) for item in in_flight)
        while queue:
            index, structure = queue[0]
            if in_flight and n_in_flight + len(structure) > self.max_batch_atoms:
                return
            queue.popleft()
            t0 = time.perf_counter()
            state: dict[str, Any] = {"n_atoms": 0, "n_steps": 0}
            try:
                item = self._start(index, structure, state, t0)
            except Exception as exc:  # noqa: BLE001 - as Relaxer.relax: nothing escapes
                results[index] = failed_result(_calculator_error(exc), state, t0)
                continue
            if isinstance(item, RelaxResult):
                results[index] = item
            else:
                in_flight.append(item)
                n_in_flight += len(item.atoms)

    def _start(
        self, index: int, structure: Structure | Atoms, state: dict[str, Any], t0: float
    ) -> _InFlight | RelaxResult:
        from pymatgen.io.ase import AseAtomsAdaptor

        generated, reason = prepare_structure(structure, self.settings, state)
        if generated is None:
            return failed_result(str(reason), state, t0)
        atoms = AseAtomsAdaptor.get_atoms(generated)
        calc = _BatchResults()
        atoms.calc = calc
        optimizable, optimizer = make_optimizer(atoms, self.settings)
        optimizer.fmax = self.settings.fmax  # what Optimizer.irun(fmax=...) sets
        return _InFlight(index, generated, atoms, optimizable, optimizer, calc, state, t0)

    def _predict(self, graphs: Sequence[Any]) -> list[dict[str, Any]]:
        self.n_forwards += 1
        out = self.model.predict_graph(list(graphs), task="efs", batch_size=len(graphs))
        return [out] if isinstance(out, dict) else list(out)

    def _evaluate(self, in_flight: list[_InFlight]) -> None:
        """One batched CHGNet forward at the current positions of every structure in flight;
        if the batch raises, each structure is evaluated alone so that only the culprit
        gets the error (as it would one by one)."""
        from ase import units
        from pymatgen.io.ase import AseAtomsAdaptor

        graphs, items = [], []
        for item in in_flight:
            try:
                structure = AseAtomsAdaptor.get_structure(item.atoms)
                graphs.append(self.model.graph_converter(structure))
                items.append(item)
            except Exception as exc:  # noqa: BLE001 - becomes this structure's failure
                item.error = exc
        if not items:
            return
        try:
            predictions: list[dict[str, Any] | None] = list(self._predict(graphs))
        except Exception:  # noqa: BLE001 - find the culprit below
            predictions = []
            for item, graph in zip(items, graphs, strict=True):
                try:
                    predictions.append(self._predict([graph])[0])
                except Exception as exc:  # noqa: BLE001
                    item.error = exc
                    predictions.append(None)
        for item, pred in zip(items, predictions, strict=True):
            if pred is None:
                continue
            # The conversions of CHGNetCalculator.calculate, same expressions, same dtypes.
            factor = len(item.atoms) if self.model.is_intensive else 1
            item.calc.install(item.atoms, pred["e"] * factor, pred["f"], pred["s"] * units.GPa)

    def _advance(self, item: _InFlight) -> RelaxResult | None:
        """Check the step just evaluated, then stop (result) or take one optimiser step.

        The order is that of ``Optimizer.irun`` as driven by ``Relaxer``: checks, then
        convergence or step limit, then ``step()``.
        """
        state, optimizer, settings = item.state, item.optimizer, self.settings
        if item.error is not None:
            return failed_result(_calculator_error(item.error), state, item.t0)
        try:
            state["n_steps"] = optimizer.nsteps
            energy = float(item.atoms.get_potential_energy()) / len(item.atoms)
            if "e0" not in state and math.isfinite(energy):
                state["e0"] = energy
            reason = step_failure(
                settings, item.atoms, item.optimizable, energy, state["v0"], optimizer.nsteps
            )
            if reason is not None:
                return failed_result(reason, state, item.t0)
            if optimizer.converged() or optimizer.nsteps >= settings.max_steps:
                state["e_final"] = energy
                return finish_relaxation(
                    settings, item.generated, item.atoms, item.optimizable,
                    optimizer.nsteps, state, item.t0,
                )
            optimizer.step()
            optimizer.nsteps += 1
        except Exception as exc:  # noqa: BLE001 - as Relaxer.relax: nothing escapes
            return failed_result(_calculator_error(exc), state, item.t0)
        return None


def uses_batched_relaxation(settings: RelaxSettings) -> bool:
    """The mode of :func:`make_relaxer`: batched on a CUDA device, one by one elsewhere
    and for every potential but CHGNet (``settings.mlip``).

    On CPU the batched forward saves 20-30 % CPU per structure
    (``benchmarks/results/batched_relax.json``, docs/relaxation.md); the campaign's
    relaxation actors and the local chain batch their candidates through
    :func:`batch_relaxer_like` whatever this says.
    """
    return settings.device.startswith("cuda") and settings.mlip == DEFAULT_MLIP


def make_relaxer(
    settings: RelaxSettings | None = None,
    model: Any = None,
    max_batch_atoms: int = DEFAULT_MAX_BATCH_ATOMS,
) -> Relaxer | BatchRelaxer:
    """A :class:`BatchRelaxer` if :func:`uses_batched_relaxation`, else a :class:`Relaxer`
    (both offer ``relax(structure)`` and ``relax_many(structures)``, same results)."""
    settings = RelaxSettings() if settings is None else settings
    if uses_batched_relaxation(settings):
        return BatchRelaxer(settings, model=model, max_batch_atoms=max_batch_atoms)
    return Relaxer(settings, model=model)


def batch_relaxer_like(relaxer: Any, max_batch_atoms: int = DEFAULT_MAX_BATCH_ATOMS
                       ) -> BatchRelaxer | None:
    """A :class:`BatchRelaxer` with the settings and the (shared) CHGNet of a CHGNet
    :class:`~chggen_kernels.relax.relaxer.Relaxer`; ``None`` for any other relaxer (an
    injected ASE calculator, a test double), which then relaxes one by one."""
    from chgnet.model import CHGNet

    model = getattr(getattr(relaxer, "calculator", None), "model", None)
    if not isinstance(relaxer, Relaxer) or not isinstance(model, CHGNet):
        return None
    return BatchRelaxer(relaxer.settings, model=model, max_batch_atoms=max_batch_atoms)
