"""Orbit constraints: guest atoms tied to Wyckoff orbits of the framework's space group.

Every constrained atom belongs to one orbit; the orbit's first atom is its
*representative*. Member ``k`` of an orbit sits at ``R_k x_rep + t_k`` (fractional, mod 1)
and the representative on its Wyckoff position's sub-manifold ``x_rep = A u + b + n``
(``u`` free parameters, ``n`` integer). Two operations keep a sampler on the orbits:

* :meth:`BoundOrbits.symmetrize_score`: the orbit's score is the average over its members
  of ``s_k Q_k^T`` (``Q_k = L^-1 R_k^T L``, the member's Cartesian map in the row-vector
  convention: the chain rule back to the representative), projected on the
  representative's allowed subspace; member ``k`` gets ``s Q_k``. For a symmetric density
  on a symmetric configuration this returns the score unchanged.
* :meth:`BoundOrbits.project`: the representative goes to the nearest point of its
  sub-manifold (periodic images ``n`` in ``{-2..2}^3`` tried, Cartesian metric) and every
  member is regenerated from it. Applied after each update, it projects the noise as well:
  a special position moves only along its free directions.

:class:`OrbitConstraint` holds one :class:`CrystalOrbits` (or ``None``) per crystal of a
request, in NumPy; :meth:`OrbitConstraint.bind` makes the tensors for the active crystals
of a sampler batch.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence

import numpy as np
import torch

from chggen_kernels.crystal import CrystalBatch
from chggen_kernels.wyckoff.combinations import WyckoffChoice
from chggen_kernels.wyckoff.tables import WyckoffError, WyckoffTable

__all__ = ["BoundOrbits", "CrystalOrbits", "OrbitConstraint", "crystal_orbits"]

_IMAGES = torch.tensor(list(itertools.product(range(-2, 3), repeat=3)), dtype=torch.float64)


@dataclasses.dataclass(frozen=True, eq=False)
class CrystalOrbits:
    """The orbits of one crystal (atom indices local to the crystal, fractional coords).

    Attributes:
        rep_atoms: ``(n_orbits,)`` atom index of each orbit's representative.
        basis: ``(n_orbits, 3, 3)`` ``A`` of each representative's Wyckoff position.
        origin: ``(n_orbits, 3)`` ``b``.
        member_atoms: ``(n_members,)`` atom index of every member (representatives too).
        member_orbit: ``(n_members,)`` orbit of each member.
        rotations: ``(n_members, 3, 3)`` ``R_k``; translations: ``(n_members, 3)`` ``t_k``.
        labels: ITA label of each orbit's Wyckoff position.
    """

    rep_atoms: np.ndarray
    basis: np.ndarray
    origin: np.ndarray
    member_atoms: np.ndarray
    member_orbit: np.ndarray
    rotations: np.ndarray
    translations: np.ndarray
    labels: tuple[str, ...]

    @property
    def n_orbits(self) -> int:
        return len(self.rep_atoms)


def crystal_orbits(
    table: WyckoffTable, choice: WyckoffChoice, species: Sequence[str], guest: Sequence[bool]
) -> CrystalOrbits:
    """Tie the guest atoms of one crystal to the orbits of ``choice``.

    Args:
        table: the framework's Wyckoff table (in this crystal's cell).
        choice: Wyckoff positions per guest species.
        species: element symbol of every atom of the crystal.
        guest: ``True`` for the atoms to be generated; each species' guests fill its
            orbits in ``choice`` order, in atom order.

    Raises:
        WyckoffError: a species' guest count differs from its orbit sizes, or a guest
            species has no positions in ``choice``.
    """
    if len(species) != len(guest):
        raise WyckoffError(f"species ({len(species)}) and guest ({len(guest)}) lengths differ")
    positions = choice.as_dict()
    guests: dict[str, list[int]] = {}
    for i, (el, g) in enumerate(zip(species, guest, strict=True)):
        if g:
            guests.setdefault(el, []).append(i)
    missing = sorted(set(guests) - set(positions))
    if missing:
        raise WyckoffError(f"guest species {missing} have no Wyckoff positions in {choice}")
    reps, bases, origins, m_atoms, m_orbit, rots, trans, labels = ([] for _ in range(8))
    for el, atoms in guests.items():
        sites = [table.site(label) for label in positions[el]]
        needed = sum(s.n_in_cell for s in sites)
        if needed != len(atoms):
            raise WyckoffError(
                f"{el}: {len(atoms)} guest atoms but the positions {','.join(positions[el])} "
                f"hold {needed} in this cell"
            )
        start = 0
        for site in sites:
            members = atoms[start:start + site.n_in_cell]
            start += site.n_in_cell
            orbit = len(reps)
            reps.append(members[0])
            bases.append(site.basis)
            origins.append(site.origin)
            labels.append(site.label)
            m_atoms += members
            m_orbit += [orbit] * len(members)
            rots.append(site.rotations)
            trans.append(site.translations)
    return CrystalOrbits(
        rep_atoms=np.array(reps, dtype=np.int64),
        basis=np.array(bases, dtype=float).reshape(-1, 3, 3),
        origin=np.array(origins, dtype=float).reshape(-1, 3),
        member_atoms=np.array(m_atoms, dtype=np.int64),
        member_orbit=np.array(m_orbit, dtype=np.int64),
        rotations=np.concatenate(rots).reshape(-1, 3, 3) if rots else np.zeros((0, 3, 3)),
        translations=np.concatenate(trans).reshape(-1, 3) if trans else np.zeros((0, 3)),
        labels=tuple(labels),
    )


class OrbitConstraint:
    """One :class:`CrystalOrbits` or ``None`` (unconstrained) per crystal of a request."""

    def __init__(self, crystals: Sequence[CrystalOrbits | None]) -> None:
        self.crystals = tuple(crystals)
        for i, c in enumerate(self.crystals):
            if c is not None and not isinstance(c, CrystalOrbits):
                raise TypeError(f"constraint of crystal {i} must be CrystalOrbits or None, "
                                f"got {type(c).__name__}")

    @property
    def n_crystals(self) -> int:
        return len(self.crystals)

    def check(self, batch: CrystalBatch) -> None:
        """Raise ``ValueError`` naming the crystal when the constraint does not fit ``batch``."""
        if self.n_crystals != batch.n_crystals:
            raise ValueError(f"constraint has {self.n_crystals} crystals, the batch "
                             f"{batch.n_crystals}")
        counts = batch.atoms_per_crystal.tolist()
        offsets = batch.offsets.tolist()
        mask = None if batch.mask is None else batch.mask.cpu().numpy()
        for i, c in enumerate(self.crystals):
            if c is None or len(c.member_atoms) == 0:
                continue
            atoms = c.member_atoms
            if atoms.min() < 0 or atoms.max() >= counts[i] or len(set(atoms.tolist())) != len(
                    atoms):
                raise ValueError(f"constraint of crystal {i}: member atoms must be distinct "
                                 f"indices in [0, {counts[i]})")
            if mask is not None and not mask[offsets[i] + atoms].all():
                raise ValueError(f"constraint of crystal {i}: constrained atoms must be "
                                 "guests (mask True); host atoms are never moved")

    def bind(self, batch: CrystalBatch, crystal_ids: Sequence[int]) -> BoundOrbits:
        """Tensors for ``batch``, whose crystal ``j`` is request crystal ``crystal_ids[j]``."""
        offsets = batch.offsets.tolist()
        parts: dict[str, list[np.ndarray]] = {k: [] for k in (
            "rep", "basis", "origin", "rep_crystal", "atoms", "orbit", "rot", "trans")}
        n_orbits = 0
        for j, cid in enumerate(crystal_ids):
            c = self.crystals[int(cid)]
            if c is None or c.n_orbits == 0:
                continue
            parts["rep"].append(c.rep_atoms + offsets[j])
            parts["basis"].append(c.basis)
            parts["origin"].append(c.origin)
            parts["rep_crystal"].append(np.full(c.n_orbits, j))
            parts["atoms"].append(c.member_atoms + offsets[j])
            parts["orbit"].append(c.member_orbit + n_orbits)
            parts["rot"].append(c.rotations)
            parts["trans"].append(c.translations)
            n_orbits += c.n_orbits
        return BoundOrbits(batch.lattices, parts)


class BoundOrbits:
    """The constraint on the crystals of one sampler batch (see module docstring)."""

    def __init__(self, lattices: torch.Tensor, parts: dict[str, list[np.ndarray]]) -> None:
        device = lattices.device
        f64 = torch.float64

        def cat(key: str, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
            arrays = parts[key]
            array = np.concatenate(arrays) if arrays else np.zeros(shape)
            return torch.as_tensor(array.reshape(-1, *shape[1:]), dtype=dtype, device=device)

        self.empty = not parts["rep"]
        self.rep = cat("rep", (0,), torch.long)
        self.basis = cat("basis", (0, 3, 3), f64)
        self.origin = cat("origin", (0, 3), f64)
        self.atoms = cat("atoms", (0,), torch.long)
        self.orbit = cat("orbit", (0,), torch.long)
        rot = cat("rot", (0, 3, 3), f64)
        self.trans = cat("trans", (0, 3), f64)
        self.rot_t = rot.transpose(1, 2)  # row-vector form: f_k = f_rep @ R_k^T + t_k
        rep_crystal = cat("rep_crystal", (0,), torch.long)
        lat = lattices.to(f64)[rep_crystal]  # (n_orbits, 3, 3)
        self.lattice = lat
        self.inv_lattice = torch.linalg.inv(lat) if len(lat) else lat
        member_lat = lat[self.orbit]
        member_inv = self.inv_lattice[self.orbit]
        self.q = member_inv @ self.rot_t @ member_lat  # Cartesian row map of member k
        directions = self.basis.transpose(1, 2) @ lat  # rows: Cartesian free directions
        self.pinv = torch.linalg.pinv(directions) if len(lat) else directions
        self.tangent = self.pinv @ directions  # Cartesian projector on the free subspace
        self.directions = directions
        self.n_members = torch.bincount(self.orbit, minlength=len(self.rep)).to(f64)

    def symmetrize_score(self, score: torch.Tensor) -> torch.Tensor:
        """Orbit-averaged, sub-manifold-projected score (Å^-1); other atoms unchanged."""
        if self.empty:
            return score
        s = score.to(torch.float64)
        pulled = torch.einsum("ni,nji->nj", s[self.atoms], self.q)  # s_k Q_k^T
        mean = torch.zeros((len(self.rep), 3), dtype=torch.float64, device=s.device)
        mean.index_add_(0, self.orbit, pulled)
        mean = mean / self.n_members[:, None]
        mean = torch.einsum("ni,nij->nj", mean, self.tangent)
        pushed = torch.einsum("ni,nij->nj", mean[self.orbit], self.q)  # s Q_k
        out = score.clone()
        out[self.atoms] = pushed.to(score.dtype)
        return out

    def project(self, positions: torch.Tensor) -> torch.Tensor:
        """Representatives onto their sub-manifolds, members regenerated (Å, wrapped)."""
        if self.empty:
            return positions
        x = positions.to(torch.float64)
        frac = torch.einsum("ni,nij->nj", x[self.rep], self.inv_lattice)
        images = _IMAGES.to(x.device)
        offset = frac[:, None, :] - self.origin[:, None, :] - images  # (n_orbits, 125, 3)
        y = torch.einsum("npi,nij->npj", offset, self.lattice)  # Cartesian, Å
        u = torch.einsum("npi,nij->npj", y, self.pinv)  # free parameters (Cartesian basis)
        residual = y - torch.einsum("npi,nij->npj", u, self.directions)
        best = torch.argmin((residual * residual).sum(dim=2), dim=1)
        pick = torch.arange(len(best), device=x.device)
        u_best = u[pick, best]
        rep_frac = self.origin + images[best] + torch.einsum("ni,nji->nj", u_best, self.basis)
        member_frac = torch.einsum("ni,nij->nj", rep_frac[self.orbit], self.rot_t) + self.trans
        member_frac = torch.remainder(member_frac, 1.0)
        cart = torch.einsum("ni,nij->nj", member_frac, self.lattice[self.orbit])
        out = positions.clone()
        out[self.atoms] = cart.to(positions.dtype)
        return out
