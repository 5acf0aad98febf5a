"""Tiny synthetic training sets and models for tests and benchmarks.

Simple prototypes (rock salt, CsCl, bcc, fcc, diamond, wurtzite, cubic perovskite) built
with pymatgen, decorated with a few species and lattice constants. Deterministic for a
given seed; no files or network needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from pymatgen.core import Structure

    from chggen_kernels.model import ScoreModelConfig

__all__ = ["PROTOTYPES", "tiny_crystal_arrays", "tiny_crystals", "tiny_model_config",
           "write_untrained_checkpoint"]

_FCC = [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]
_U = 0.375  # wurtzite internal parameter
# name -> (lattice kind, base lattice constant Å, [(species slot, fractional coords), ...])
# Conventional cells written out explicitly (pymatgen's from_spacegroup takes seconds).
PROTOTYPES: dict[str, tuple[str, float, list[tuple[int, list[float]]]]] = {
    "rocksalt": ("cubic", 5.0, [(0, p) for p in _FCC]
                 + [(1, [(x + 0.5) % 1 for x in p]) for p in _FCC]),
    "cscl": ("cubic", 3.2, [(0, [0, 0, 0]), (1, [0.5, 0.5, 0.5])]),
    "bcc": ("cubic", 3.3, [(0, [0, 0, 0]), (0, [0.5, 0.5, 0.5])]),
    "fcc": ("cubic", 4.0, [(0, p) for p in _FCC]),
    "diamond": ("cubic", 5.4, [(0, p) for p in _FCC]
                + [(0, [x + 0.25 for x in p]) for p in _FCC]),
    "wurtzite": ("hexagonal", 3.8, [(0, [1 / 3, 2 / 3, 0]), (0, [2 / 3, 1 / 3, 0.5]),
                                    (1, [1 / 3, 2 / 3, _U]), (1, [2 / 3, 1 / 3, 0.5 + _U])]),
    "perovskite": ("cubic", 3.9, [(0, [0, 0, 0]), (1, [0.5, 0.5, 0.5]), (2, [0.5, 0.5, 0]),
                                  (2, [0.5, 0, 0.5]), (2, [0, 0.5, 0.5])]),
}
_SPECIES = {
    1: [["Li"], ["Na"], ["Si"], ["Cu"], ["Al"]],
    2: [["Na", "Cl"], ["Li", "F"], ["Mg", "O"], ["Zn", "S"], ["K", "Br"]],
    3: [["Sr", "Ti", "O"], ["Ba", "Zr", "O"], ["Ca", "Ti", "O"]],
}


# Atomic numbers of the species above (kept here so the arrays need no pymatgen).
_Z = {"Li": 3, "O": 8, "F": 9, "Na": 11, "Mg": 12, "Al": 13, "Si": 14, "S": 16, "Cl": 17,
      "K": 19, "Ca": 20, "Ti": 22, "Cu": 29, "Zn": 30, "Br": 35, "Sr": 38, "Zr": 40, "Ba": 56}


def tiny_crystal_arrays(
    n: int,
    prototypes: tuple[str, ...] = ("rocksalt", "bcc", "diamond"),
    seed: int = 0,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``n`` small conventional cells as ``(cartesian Å, lattice rows Å, atomic numbers)``,
    cycling through ``prototypes`` with random species (from a short list) and lattice
    constants scaled by a factor in [0.95, 1.05]. Needs no pymatgen (see
    :meth:`CrystalBatch.from_arrays`)."""
    unknown = [p for p in prototypes if p not in PROTOTYPES]
    if unknown:
        raise ValueError(f"unknown prototypes {unknown}; known: {sorted(PROTOTYPES)}")
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        kind, a, sites = PROTOTYPES[prototypes[i % len(prototypes)]]
        n_species = 1 + max(slot for slot, _ in sites)
        choices = _SPECIES[n_species]
        species = choices[int(rng.integers(len(choices)))]
        a *= float(rng.uniform(0.95, 1.05))
        if kind == "hexagonal":
            lattice = np.array([[a, 0, 0], [-a / 2, a * np.sqrt(3) / 2, 0], [0, 0, 1.633 * a]])
        else:
            lattice = np.eye(3) * a
        frac = np.array([coords for _, coords in sites], dtype=float)
        numbers = np.array([_Z[species[slot]] for slot, _ in sites], dtype=np.int64)
        out.append((frac @ lattice, lattice, numbers))
    return out


def tiny_crystals(
    n: int,
    prototypes: tuple[str, ...] = ("rocksalt", "bcc", "diamond"),
    seed: int = 0,
) -> list[Structure]:
    """:func:`tiny_crystal_arrays` as pymatgen structures."""
    from pymatgen.core import Lattice, Structure

    return [
        Structure(Lattice(lattice), numbers.tolist(), cart, coords_are_cartesian=True)
        for cart, lattice, numbers in tiny_crystal_arrays(n, prototypes, seed)
    ]


def tiny_model_config(**overrides: Any) -> ScoreModelConfig:
    """A score model small enough to train in about a minute on 2 CPU cores."""
    from chggen_kernels.model import cpu_default_config

    base: dict[str, Any] = {
        "cutoff": 4.0,
        "max_neighbors": 16,
        "avg_num_neighbors": None,
        "n_layers": 2,
        "hidden_irreps": "16x0e+8x1o",
        "lmax": 1,
        "n_radial_basis": 8,
        "radial_hidden": (16,),
        "species_embedding_dim": 8,
        "noise_embedding_dim": 8,
    }
    base.update(overrides)
    return cpu_default_config(**base)


def write_untrained_checkpoint(path: Any, volume_prior: dict[str, float] | None = None,
                               seed: int = 0) -> Any:
    """A tiny untrained score model (about 5k parameters) for smoke tests and benchmarks.

    Its samples are noise, but every stage runs on them exactly as on a trained model's.
    ``volume_prior``: per-element volumes, Å^3/atom (default: none, elemental volumes).
    Returns the path written.
    """
    import torch

    from chggen_kernels.model import ScoreModel, cpu_default_config
    from chggen_kernels.training.checkpoint import CheckpointMetadata, save_checkpoint

    torch.manual_seed(seed)
    config = cpu_default_config(n_layers=1, hidden_irreps="8x0e+4x1o")
    model = ScoreModel(config)
    metadata = CheckpointMetadata(data_hash="untrained", sigma_min=0.01, sigma_max=10.0,
                                  volume_prior=dict(volume_prior) if volume_prior else None)
    return save_checkpoint(path, config.to_dict(), model.state_dict(), metadata)
