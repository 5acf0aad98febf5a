"""Batched periodic crystals.

:class:`CrystalBatch` is the one state type passed through every algorithm in
``chggen_kernels``: many crystals of different sizes concatenated atom-wise, with one
3x3 lattice per crystal. It is immutable (a frozen dataclass of tensors); algorithms
return new batches with :meth:`CrystalBatch.replace`.

Conventions
-----------
* ``positions``: Cartesian coordinates in Å, shape ``(n_atoms, 3)``.
* ``lattices``: lattice vectors as *rows* in Å, shape ``(n_crystals, 3, 3)``, so that
  ``cartesian = fractional @ lattice``.
* ``atomic_numbers``: shape ``(n_atoms,)``, int64, 1..118.
* ``crystal_index``: shape ``(n_atoms,)``, int64, sorted, the crystal each atom belongs to.
* ``mask``: optional bool ``(n_atoms,)``; ``True`` marks an atom to be generated
  (a guest in inpainting), ``False`` a known (host) atom.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from chggen_kernels.errors import CrystalInputError
from chggen_kernels.structure_check import MAX_ATOMIC_NUMBER

if TYPE_CHECKING:  # pragma: no cover
    from ase import Atoms
    from pymatgen.core import Structure

__all__ = ["CrystalBatch", "CrystalInputError", "crystal_arrays", "to_structure"]



@dataclasses.dataclass(frozen=True, eq=False)
class CrystalBatch:
    """Many periodic crystals of different sizes in one batch (see module docstring)."""

    positions: torch.Tensor
    lattices: torch.Tensor
    atomic_numbers: torch.Tensor
    crystal_index: torch.Tensor
    mask: torch.Tensor | None = None

    def __post_init__(self) -> None:
        pos, lat, z, idx = self.positions, self.lattices, self.atomic_numbers, self.crystal_index
        if pos.ndim != 2 or pos.shape[1] != 3:
            raise CrystalInputError(
                f"positions must have shape (n_atoms, 3), got {tuple(pos.shape)}"
            )
        if lat.ndim != 3 or lat.shape[1:] != (3, 3):
            raise CrystalInputError(
                f"lattices must have shape (n_crystals, 3, 3), got {tuple(lat.shape)}"
            )
        n = pos.shape[0]
        if z.shape != (n,) or idx.shape != (n,):
            raise CrystalInputError(
                f"atomic_numbers {tuple(z.shape)} and crystal_index {tuple(idx.shape)} "
                f"must both have shape ({n},)"
            )
        if z.dtype != torch.long or idx.dtype != torch.long:
            raise CrystalInputError("atomic_numbers and crystal_index must be int64 tensors")
        if not pos.is_floating_point() or lat.dtype != pos.dtype:
            raise CrystalInputError(
                f"positions ({pos.dtype}) and lattices ({lat.dtype}) must share one float dtype"
            )
        if self.mask is not None and (self.mask.shape != (n,) or self.mask.dtype != torch.bool):
            raise CrystalInputError(f"mask must be a bool tensor of shape ({n},)")
        if n and (idx.min() < 0 or idx.max() >= lat.shape[0]):
            raise CrystalInputError("crystal_index refers to a crystal outside lattices")
        if n > 1 and bool((idx[1:] < idx[:-1]).any()):
            raise CrystalInputError("crystal_index must be sorted (atoms grouped by crystal)")

    # ------------------------------------------------------------------ basic properties
    @property
    def n_crystals(self) -> int:
        return int(self.lattices.shape[0])

    @property
    def n_atoms(self) -> int:
        return int(self.positions.shape[0])

    @property
    def device(self) -> torch.device:
        return self.positions.device

    @property
    def dtype(self) -> torch.dtype:
        return self.positions.dtype

    @property
    def atoms_per_crystal(self) -> torch.Tensor:
        """Number of atoms in each crystal, shape ``(n_crystals,)``."""
        return torch.bincount(self.crystal_index, minlength=self.n_crystals)

    @property
    def offsets(self) -> torch.Tensor:
        """Index of the first atom of each crystal, shape ``(n_crystals + 1,)``."""
        counts = self.atoms_per_crystal
        return torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)])

    @property
    def volumes(self) -> torch.Tensor:
        """Signed cell volumes in Å^3, shape ``(n_crystals,)``."""
        return torch.linalg.det(self.lattices)

    @property
    def atom_lattices(self) -> torch.Tensor:
        """The lattice of every atom's crystal, shape ``(n_atoms, 3, 3)``."""
        return self.lattices[self.crystal_index]

    def frac_positions(self) -> torch.Tensor:
        """Fractional coordinates, shape ``(n_atoms, 3)`` (not wrapped)."""
        inv = torch.linalg.inv(self.lattices)[self.crystal_index]
        return torch.einsum("ni,nij->nj", self.positions, inv)

    def cartesian(self, frac: torch.Tensor) -> torch.Tensor:
        """Cartesian positions (Å) of per-atom fractional coordinates ``frac``."""
        return torch.einsum("ni,nij->nj", frac, self.atom_lattices)

    def wrap(self) -> CrystalBatch:
        """Return the batch with every atom wrapped into its cell (fractional in [0, 1))."""
        frac = torch.remainder(self.frac_positions(), 1.0)
        return self.replace(positions=self.cartesian(frac))

    def replace(self, **changes: Any) -> CrystalBatch:
        """A new batch with some fields replaced (validated again)."""
        return dataclasses.replace(self, **changes)

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None):
        """Move to a device and/or cast the float fields to ``dtype``."""
        fdt = dtype or self.dtype
        return CrystalBatch(
            positions=self.positions.to(device=device, dtype=fdt),
            lattices=self.lattices.to(device=device, dtype=fdt),
            atomic_numbers=self.atomic_numbers.to(device=device),
            crystal_index=self.crystal_index.to(device=device),
            mask=None if self.mask is None else self.mask.to(device=device),
        )

    def __len__(self) -> int:
        return self.n_crystals

    # ------------------------------------------------------------------ slicing
    def __getitem__(self, key: int | slice | Sequence[int] | torch.Tensor) -> CrystalBatch:
        """Select crystals (not atoms) by index, slice, index list or bool mask."""
        if isinstance(key, int):
            if not -self.n_crystals <= key < self.n_crystals:
                raise IndexError(f"crystal index {key} out of range for {self.n_crystals}")
            key = [key % self.n_crystals]
        if isinstance(key, slice):
            crystals = torch.arange(self.n_crystals)[key]
        else:
            crystals = torch.as_tensor(key)
            if crystals.dtype == torch.bool:
                crystals = torch.nonzero(crystals).flatten()
        crystals = crystals.to(device=self.device, dtype=torch.long)
        offsets = self.offsets
        atom_ids = [
            torch.arange(int(offsets[c]), int(offsets[c + 1]), device=self.device)
            for c in crystals.tolist()
        ]
        atoms = torch.cat(atom_ids) if atom_ids else torch.zeros(0, dtype=torch.long)
        atoms = atoms.to(self.device)
        counts = self.atoms_per_crystal[crystals]
        new_index = torch.repeat_interleave(torch.arange(len(crystals), device=self.device), counts)
        return CrystalBatch(
            positions=self.positions[atoms],
            lattices=self.lattices[crystals],
            atomic_numbers=self.atomic_numbers[atoms],
            crystal_index=new_index,
            mask=None if self.mask is None else self.mask[atoms],
        )

    def split(self) -> list[CrystalBatch]:
        """One single-crystal batch per crystal."""
        return [self[i] for i in range(self.n_crystals)]

    @staticmethod
    def concat(batches: Sequence[CrystalBatch]) -> CrystalBatch:
        """Concatenate batches; a missing mask becomes all-False (every atom known)."""
        if not batches:
            raise CrystalInputError("cannot concatenate an empty list of batches")
        shift = 0
        indices = []
        for b in batches:
            indices.append(b.crystal_index + shift)
            shift += b.n_crystals
        any_mask = any(b.mask is not None for b in batches)
        masks = (
            torch.cat(
                [
                    b.mask if b.mask is not None else torch.zeros(b.n_atoms, dtype=torch.bool,
                                                                  device=b.device)
                    for b in batches
                ]
            )
            if any_mask
            else None
        )
        return CrystalBatch(
            positions=torch.cat([b.positions for b in batches]),
            lattices=torch.cat([b.lattices for b in batches]),
            atomic_numbers=torch.cat([b.atomic_numbers for b in batches]),
            crystal_index=torch.cat(indices),
            mask=masks,
        )

    # ------------------------------------------------------------------ conversions
    @classmethod
    def from_arrays(
        cls,
        crystals: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
        masks: Sequence[np.ndarray | None] | None = None,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str = "cpu",
    ) -> CrystalBatch:
        """Build from ``(cartesian_positions, lattice_rows, atomic_numbers)`` per crystal."""
        if not crystals:
            raise CrystalInputError("a batch needs at least one crystal")
        pos, lat, z, idx, msk = [], [], [], [], []
        for i, (p, lattice, numbers) in enumerate(crystals):
            p = np.asarray(p, dtype=float).reshape(-1, 3)
            numbers = np.asarray(numbers, dtype=np.int64).reshape(-1)
            lattice = np.asarray(lattice, dtype=float).reshape(3, 3)
            _check_arrays(p, lattice, numbers, label=f"crystal {i}")
            pos.append(p)
            lat.append(lattice)
            z.append(numbers)
            idx.append(np.full(len(numbers), i, dtype=np.int64))
            m = None if masks is None else masks[i]
            msk.append(np.zeros(len(numbers), bool) if m is None else np.asarray(m, bool))
        has_mask = masks is not None and any(m is not None for m in masks)
        return cls(
            positions=torch.as_tensor(np.concatenate(pos), dtype=dtype, device=device),
            lattices=torch.as_tensor(np.stack(lat), dtype=dtype, device=device),
            atomic_numbers=torch.as_tensor(np.concatenate(z), device=device),
            crystal_index=torch.as_tensor(np.concatenate(idx), device=device),
            mask=torch.as_tensor(np.concatenate(msk), device=device) if has_mask else None,
        )

    @classmethod
    def from_structures(
        cls,
        structures: Structure | Sequence[Structure],
        masks: Sequence[np.ndarray | None] | None = None,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str = "cpu",
    ) -> CrystalBatch:
        """Build from pymatgen ``Structure`` objects (ordered sites only)."""
        from pymatgen.core import Structure

        if isinstance(structures, Structure):
            structures = [structures]
        arrays = []
        for i, s in enumerate(structures):
            if not s.is_ordered:
                raise CrystalInputError(
                    f"crystal {i} ({s.composition.reduced_formula}) has partly occupied sites; "
                    "a CrystalBatch needs an ordered structure (use the inpainting host "
                    "reader for disordered hosts)"
                )
            arrays.append((s.cart_coords, s.lattice.matrix, np.array(s.atomic_numbers)))
        return cls.from_arrays(arrays, masks=masks, dtype=dtype, device=device)

    @classmethod
    def from_ase(
        cls,
        atoms: Atoms | Sequence[Atoms],
        masks: Sequence[np.ndarray | None] | None = None,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str = "cpu",
    ) -> CrystalBatch:
        """Build from ASE ``Atoms`` objects (must be periodic in all three directions)."""
        from ase import Atoms

        if isinstance(atoms, Atoms):
            atoms = [atoms]
        arrays = []
        for i, a in enumerate(atoms):
            if not all(a.pbc):
                raise CrystalInputError(
                    f"crystal {i} ({a.get_chemical_formula()}) is not periodic in all three "
                    f"directions (pbc={a.pbc.tolist()})"
                )
            arrays.append((a.get_positions(), np.array(a.cell), a.get_atomic_numbers()))
        return cls.from_arrays(arrays, masks=masks, dtype=dtype, device=device)

    def to_structures(self) -> list[Structure]:
        """One pymatgen ``Structure`` per crystal (Cartesian positions kept as given)."""
        return [to_structure(self, i) for i in range(self.n_crystals)]

    def to_ase(self) -> list[Atoms]:
        """One ASE ``Atoms`` per crystal, periodic in all directions."""
        from ase import Atoms

        out = []
        offsets = self.offsets.tolist()
        pos = self.positions.detach().cpu().double().numpy()
        z = self.atomic_numbers.cpu().numpy()
        lat = self.lattices.detach().cpu().double().numpy()
        for i in range(self.n_crystals):
            a, b = offsets[i], offsets[i + 1]
            out.append(Atoms(numbers=z[a:b], positions=pos[a:b], cell=lat[i], pbc=True))
        return out


def crystal_arrays(batch: CrystalBatch, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Crystal ``i`` of ``batch`` as float64 / int64 numpy arrays: (lattice rows Å (3, 3),
    atomic numbers (N,), Cartesian positions Å (N, 3))."""
    offsets = batch.offsets.tolist()
    a, b = offsets[i], offsets[i + 1]
    return (batch.lattices[i].detach().cpu().double().numpy(),
            batch.atomic_numbers[a:b].cpu().numpy().astype(np.int64),
            batch.positions[a:b].detach().cpu().double().numpy())


def to_structure(batch: CrystalBatch, i: int) -> Structure:
    """Crystal ``i`` of ``batch`` as a pymatgen ``Structure``."""
    from pymatgen.core import Lattice, Structure

    lattice, numbers, positions = crystal_arrays(batch, i)
    return Structure(Lattice(lattice), numbers.tolist(), positions, coords_are_cartesian=True)


def _check_arrays(pos: np.ndarray, lattice: np.ndarray, numbers: np.ndarray, label: str) -> None:
    """Cheap structural checks shared by every constructor."""
    if len(numbers) == 0:
        raise CrystalInputError(f"{label} has no atoms")
    if len(pos) != len(numbers):
        raise CrystalInputError(
            f"{label} has {len(pos)} positions but {len(numbers)} atomic numbers"
        )
    if not np.isfinite(pos).all():
        raise CrystalInputError(f"{label} has non-finite coordinates")
    if not np.isfinite(lattice).all():
        raise CrystalInputError(f"{label} has a non-finite lattice")
    bad = numbers[(numbers < 1) | (numbers > MAX_ATOMIC_NUMBER)]
    if len(bad):
        raise CrystalInputError(f"{label} has unknown element with atomic number {int(bad[0])}")
    volume = float(np.linalg.det(lattice))
    if not volume > 1e-6:
        raise CrystalInputError(
            f"{label} has a cell volume of {volume:.6g} Å^3; it must be positive "
            "(right-handed lattice vectors)"
        )
