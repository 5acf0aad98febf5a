"""The groups of benchmarks/eval_model_quality.py and what defines them: the reference sampler
and relaxation settings, the default sizes and guest species, the row columns kept per
candidate, :class:`Group` (one composition at one cell size), :func:`available_modes` and
:func:`parse_sizes` (``--sizes`` items -> groups). ``eval_model_quality`` re-exports them
(``bench_sampler_quality.py`` imports some from there)."""

from __future__ import annotations

import dataclasses

REFERENCE_LEVELS, REFERENCE_CORRECTORS, REFERENCE_RELAX_STEPS = 200, 5, 500
DEFAULT_SIZES = ("ZnP2S6:1,2", "Zn2P2S7:1,2", "Li2Si:2,4", "Li5Si2:1,2", "Li4Si:2")
DEFAULT_GUESTS = {"P-S-Zn": "Zn", "Li-Si": "Li"}
MAX_ATOMS = 64
ROW_COLUMNS = (
    "candidate_id", "parent_id", "task_id", "composition", "n_atoms", "seed", "status",
    "failure_reason", "lattice_family", "lattice_ratio", "volume_per_atom_prior",
    "spacegroup_generated", "spacegroup_framework", "spacegroup_relaxed",
    "spacegroup_symbol_relaxed", "energy_generated_per_atom", "energy_relaxed_per_atom",
    "delta_e_relax", "rmsd_relax", "relax_steps", "relax_converged", "e_d",
    "t_sample_s", "t_relax_s",
)


@dataclasses.dataclass(frozen=True)
class Group:
    """One composition at one cell size: ``z`` formula units, ``composition`` atoms/cell."""

    system: str  # e.g. "Zn-P-S" (guest first)
    guest: str
    formula: str  # formula unit as given, e.g. "ZnP2S6"
    z: int
    composition: dict[str, int]

    @property
    def atoms_per_cell(self) -> int:
        return sum(self.composition.values())


def available_modes() -> tuple[str, ...]:
    """Modes this installation can evaluate: unconditional plus the workflow's
    inpainting modes (``inpaint``; ``inpaint-symmetric`` once the workflow has it)."""
    from chggen_kernels.workflow.records import CANDIDATE_MODES

    return tuple(dict.fromkeys(("unconditional", *CANDIDATE_MODES)))


def parse_sizes(items: list[str], guests: dict[str, str]) -> list[Group]:
    """``FORMULA:Z[,Z...]`` items (formula units per cell) -> groups; errors name the item."""
    from pymatgen.core import Composition

    groups = []
    for item in items:
        formula, sep, zs = item.partition(":")
        try:
            if not sep:
                raise ValueError
            unit = Composition(formula)
            z_values = [int(z) for z in zs.split(",")]
        except (ValueError, KeyError):
            raise ValueError(f"--sizes: expected FORMULA:Z[,Z...] such as 'ZnP2S6:1,2', "
                             f"got {item!r}") from None
        counts = unit.get_el_amt_dict()
        if not counts or any(abs(n - round(n)) > 1e-8 for n in counts.values()):
            raise ValueError(f"--sizes: formula {formula!r} must name elements with integer "
                             "counts")
        chemsys = "-".join(sorted(counts))
        if chemsys not in guests:
            raise ValueError(f"--sizes: no guest species for {formula!r} (chemical system "
                             f"{chemsys}); give one with --guest {chemsys}=ELEMENT")
        guest = guests[chemsys]
        system = "-".join([guest] + [el for el in sorted(counts) if el != guest])
        for z in z_values:
            cell = {el: int(round(n)) * z for el, n in sorted(counts.items())}
            if z < 1 or sum(cell.values()) > MAX_ATOMS:
                raise ValueError(f"--sizes {item!r}: Z = {z} gives {sum(cell.values())} atoms; "
                                 f"Z must be >= 1 and cells at most {MAX_ATOMS} atoms")
            groups.append(Group(system, guest, formula.strip(), z, cell))
    keys = [(Composition(g.formula).reduced_formula, g.z) for g in groups]
    if len(set(keys)) != len(keys):
        raise ValueError(f"--sizes: a formula and Z appear twice: {items}")
    return groups
