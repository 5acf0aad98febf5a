"""Issue 31: the representation changes on the path of one inpainted candidate, counted.

One host row (a plain dict, as the task engine hands it over) goes through the real stage
runner: ``inpainting_specs`` (framework refinement) -> ``generate`` (tiny random-weight
model) -> ``relax_and_score_many`` (the real :class:`~chggen_kernels.relax.Relaxer` on a
flat ASE calculator, so that no per-step CHGNet graph conversion blurs the count) ->
``ResultStore.write_task`` (its Parquet row).

Counted, when called directly from the modules on that path (pymatgen's own internals and
other consumers such as the known-phase labeller are not): a pymatgen ``Structure`` built
from arrays, ``Structure.from_dict``, ``Structure.as_dict``, an ASE ``Atoms`` built or
converted (``AseAtomsAdaptor``), a CIF written, and a structure dict dumped to / loaded
from JSON text; each counted call is put in the edge of the function that made it.

Before issue 31 the candidate changed form 15 times (17 in ``inpaint-symmetric``), 6 of
them between the edges (host framework to dict and back, sampled batch to Structure to
dict and back, a plain-element copy for the relaxer). Now the typed records
(:class:`~chggen_kernels.workflow.records.Cell` arrays in the spec and the generated
candidate) travel from plan to relaxation, and the 11 left are all at the four edges:
loading the host (and the refinement's standard cell), relaxing (in, out) and writing the
row (one pymatgen JSON text per structure column, and the CIF).
"""

from __future__ import annotations

import collections
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from ase.calculators.calculator import Calculator, all_changes
from pymatgen.core import Lattice, Structure

from campaign.engine.store import CANDIDATE_SCHEMA, ResultStore, read_results
from campaign.stages.runner import RunnerSettings, StageRunner
from chggen_kernels.relax import Relaxer, RelaxSettings
from chggen_kernels.workflow.records import CandidateRecord

pytestmark = pytest.mark.slow

#: modules on the path of one inpainted candidate (their own calls are the ones counted)
PATH_MODULES = ("campaign.stages.runner", "campaign.engine.store", "campaign.jobs.chain",
                "chggen_kernels.crystal", "chggen_kernels.symmetry", "chggen_kernels.workflow.",
                "chggen_kernels.relax.")

#: the edges, by the functions that convert there ("module.function")
EDGES = {
    "chggen_kernels.workflow.stages.inpainting_specs": "load host",
    "chggen_kernels.symmetry._standardise": "load host",  # spglib's standard cell
    "chggen_kernels.workflow.records.to_structure": "relax in",  # the generated crystal
    "chggen_kernels.relax.relaxer._relax": "relax in",
    "chggen_kernels.relax.batched._start": "relax in",
    "chggen_kernels.relax.relaxer.finish_relaxation": "relax out",
    "chggen_kernels.workflow.scoring._structure_text": "write row",
    "chggen_kernels.workflow.scoring._cif": "write row",
}
AT_THE_EDGES = {"load host": 3, "relax in": 2, "relax out": 1, "write row": 5}


def _caller(depth: int) -> str | None:
    """``module.function`` of the frame ``depth`` up when it is on the path, else None."""
    frame = sys._getframe(depth)
    name = frame.f_globals.get("__name__", "")
    if any(name == m or name.startswith(m) for m in PATH_MODULES):
        return f"{name}.{frame.f_code.co_name}"
    return None


class Conversions:
    """Counters around pymatgen / ASE / JSON entry points (module docstring)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sites: list[tuple[str, str]] = []  # (module.function, what), in order
        self.records = 0  # CandidateRecord objects built on the path
        self.active = False
        self._patch(monkeypatch)

    def _hit(self, what: str) -> None:
        site = _caller(3) if self.active else None
        if site is not None:
            self.sites.append((site, what))

    def _wrap(self, what: str, func: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            self._hit(what)
            return func(*args, **kwargs)
        return counted

    def _patch(self, mp: pytest.MonkeyPatch) -> None:
        import ase
        from pymatgen.core.structure import IStructure
        from pymatgen.io.ase import AseAtomsAdaptor
        from pymatgen.io.cif import CifWriter

        for cls, what in ((Structure, "arrays -> Structure"), (ase.Atoms, "arrays -> Atoms"),
                          (CifWriter, "Structure -> CIF")):
            mp.setattr(cls, "__init__", self._wrap(what, cls.__init__))
        from_dict = IStructure.__dict__["from_dict"].__func__
        mp.setattr(IStructure, "from_dict", classmethod(self._wrap("dict -> Structure",
                                                                   from_dict)))
        mp.setattr(IStructure, "as_dict", self._wrap("Structure -> dict", IStructure.as_dict))
        for name, what in (("get_atoms", "Structure -> Atoms"),
                           ("get_structure", "Atoms -> Structure")):
            mp.setattr(AseAtomsAdaptor, name,
                       staticmethod(self._wrap(what, getattr(AseAtomsAdaptor, name))))
        dumps, loads = json.dumps, json.loads

        def counted_dumps(obj: Any, *args: Any, **kwargs: Any) -> str:
            if _is_structure_dict(obj):
                self._hit("dict -> JSON text")
            return dumps(obj, *args, **kwargs)

        def counted_loads(text: Any, *args: Any, **kwargs: Any) -> Any:
            out = loads(text, *args, **kwargs)
            if _is_structure_dict(out):
                self._hit("JSON text -> dict")
            return out

        mp.setattr(json, "dumps", counted_dumps)
        mp.setattr(json, "loads", counted_loads)
        record_init = CandidateRecord.__init__

        def counted_record(record: CandidateRecord, *args: Any, **kwargs: Any) -> None:
            if self.active and _caller(2) is not None:
                self.records += 1
            record_init(record, *args, **kwargs)

        mp.setattr(CandidateRecord, "__init__", counted_record)

    def by_edge(self) -> dict[str, int]:
        """Conversions per edge ("between the edges": any other function)."""
        return dict(collections.Counter(EDGES.get(site, f"between the edges ({site})")
                                        for site, _ in self.sites))

    def report(self) -> str:
        return "\n  ".join([f"{len(self.sites)} conversions"]
                           + [f"{site}: {what}" for site, what in self.sites])


def _is_structure_dict(obj: Any) -> bool:
    return isinstance(obj, dict) and obj.get("@class") in ("Structure", "IStructure")


def antifluorite() -> Structure:
    """Li2Si antifluorite (Fm-3m; Li on 8c of the Si fcc framework), a = 6.1 Å."""
    fcc = [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]
    li = [[x + d, y + d, z + d] for x, y, z in fcc for d in (0.25, 0.75)]
    return Structure(Lattice.cubic(6.1), ["Si"] * 4 + ["Li"] * 8, fcc + li)


def _host_row(structure: Structure) -> dict[str, Any]:
    """A relaxed unconditional host's row, as a resumed or finished task hands it over."""
    row = {name: None for name in CANDIDATE_SCHEMA.names}
    row |= {"candidate_id": "host-000", "task_id": "host", "formula": "Li2Si",
            "composition": "Li8Si4", "chemsys": "Li-Si", "n_atoms": 12, "mode": "unconditional",
            "n_guest": 0, "seed": 1, "status": "ok", "e_d": 0.0, "spacegroup_relaxed": 225,
            "structure_relaxed": json.dumps(structure.as_dict()), "created_at": "x"}
    return row


class _Flat(Calculator):
    """A flat potential: no energy, forces or stress (the optimiser stops at step 0)."""

    implemented_properties = ("energy", "free_energy", "forces", "stress")

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.results = {"energy": 0.0, "free_energy": 0.0,
                        "forces": np.zeros((len(self.atoms), 3)), "stress": np.zeros(6)}


@pytest.fixture
def one_inpainted_candidate(checkpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                            ) -> Iterator[Callable[[str], tuple[Conversions, Any]]]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    relax = RelaxSettings(max_steps=20, n_threads=1)
    runner = StageRunner(RunnerSettings(checkpoint=checkpoint, hull="none", relax=relax,
                                        sampler={"n_levels": 4, "n_corrector_steps": 1}),
                         relaxer=Relaxer(relax, model=_Flat()))
    runner.load()
    host = _host_row(antifluorite())
    counter = Conversions(monkeypatch)

    def run(mode: str) -> tuple[Conversions, Any]:
        counter.sites.clear()
        counter.records = 0
        counter.active = True
        try:
            specs = runner.inpainting_specs(host, ["Li"], 1, task_id=f"t-{mode}",
                                            campaign_seed=0, mode=mode, max_combinations=4,
                                            max_atoms=None)
            assert [s.mode for s in specs] == [mode]
            generated = runner.generate(specs)
            records = runner.relax_and_score_many(generated)
            ResultStore(tmp_path / mode).write_task(specs[0].task_id, records)
        finally:
            counter.active = False
        return counter, read_results(tmp_path / mode).iloc[0]

    yield run
    torch.set_num_threads(previous)


@pytest.mark.parametrize("mode", ["inpaint", "inpaint-symmetric"])
def test_one_inpainted_candidate_changes_form_only_at_the_edges(one_inpainted_candidate,
                                                                mode: str) -> None:
    counter, row = one_inpainted_candidate(mode)
    print(mode, counter.report(), sep=": ")
    assert row["status"] == "ok", row["failure_reason"]
    assert row["cif_relaxed"] and row["structure_generated"] and row["structure_relaxed"]
    if mode == "inpaint-symmetric":
        assert row["wyckoff_letters"] == "Li:8c"  # the Wyckoff table read from the arrays
    assert counter.by_edge() == AT_THE_EDGES, counter.report()
    assert len(counter.sites) == 11  # 15 (17 symmetric) before issue 31
    assert counter.records == 1  # the row itself: no record rebuilt from the host row
