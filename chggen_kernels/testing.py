"""Test helpers that ship with chggen_kernels: tiny crystals and score-function checks.

Every check takes a score function ``score_fn(batch, sigma) -> (n_atoms, 3)`` (the
contract of ``docs/architecture.md``), transforms the input in a way that must not change
the physics, and raises ``AssertionError`` with the crystal, the atom, the expected and
the obtained vectors when the output does not transform accordingly. A check refuses to
pass on a score that is zero everywhere (a zero function is trivially equivariant); set
``min_score=0`` to allow it.

Tolerances: an error passes when ``|got - expected| <= atol + rtol * max|score|``; the
default ``rtol`` is 1e-7 for float64 and 1e-4 for float32 inputs.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import numpy as np
import torch
from pymatgen.core import Lattice, Structure

from chggen_kernels.crystal import CrystalBatch

__all__ = [
    "ScoreFn",
    "assert_batch_consistent",
    "assert_permutation_equivariant",
    "assert_rotation_equivariant",
    "assert_supercell_invariant",
    "assert_translation_invariant",
    "bcc",
    "diamond",
    "fcc",
    "perovskite",
    "random_rotation",
    "random_triclinic",
    "randomize_parameters",
    "rock_salt",
    "supercell_batch",
    "wurtzite",
]

ScoreFn = Callable[[CrystalBatch, torch.Tensor], torch.Tensor]


# ---------------------------------------------------------------------- tiny crystals
def rock_salt(
    a: float = 5.64, species: tuple[str, str] = ("Na", "Cl"), primitive: bool = False
) -> Structure:
    """Rock salt (Fm-3m), conventional cubic cell of 8 atoms (2 if ``primitive``); a in Å."""
    s = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(a), list(species), [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    return s.get_primitive_structure() if primitive else s


def bcc(a: float = 2.87, species: str = "Fe") -> Structure:
    """Body-centred cubic conventional cell (2 atoms); a in Å."""
    return Structure(Lattice.cubic(a), [species] * 2, [[0, 0, 0], [0.5, 0.5, 0.5]])


def fcc(a: float = 3.61, species: str = "Cu") -> Structure:
    """Face-centred cubic conventional cell (4 atoms); a in Å."""
    frac = [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]
    return Structure(Lattice.cubic(a), [species] * 4, frac)


def diamond(a: float = 5.43, species: tuple[str, str] = ("Si", "Si")) -> Structure:
    """Diamond (zinc blende if the two species differ), conventional cell of 8 atoms; Å."""
    fcc_frac = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    frac = np.concatenate([fcc_frac, fcc_frac + 0.25])
    return Structure(Lattice.cubic(a), [species[0]] * 4 + [species[1]] * 4, frac)


def wurtzite(
    a: float = 3.25, c: float = 5.21, u: float = 0.382, species: tuple[str, str] = ("Zn", "O")
) -> Structure:
    """Wurtzite (P6_3mc), hexagonal cell of 4 atoms; a, c in Å, u fractional.

    Coordinates are exact fractions (pymatgen's ``from_spacegroup`` rounds to 1e-10,
    which breaks the 3-fold symmetry at that level)."""
    frac = [[1 / 3, 2 / 3, 0], [2 / 3, 1 / 3, 0.5], [1 / 3, 2 / 3, u], [2 / 3, 1 / 3, 0.5 + u]]
    return Structure(Lattice.hexagonal(a, c), [species[0]] * 2 + [species[1]] * 2, frac)


def perovskite(a: float = 3.905, species: tuple[str, str, str] = ("Sr", "Ti", "O")) -> Structure:
    """Cubic perovskite ABX3 (Pm-3m), 5 atoms; a in Å."""
    frac = [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]
    return Structure(Lattice.cubic(a), [species[0], species[1]] + [species[2]] * 3, frac)


def random_triclinic(
    rng: np.random.Generator,
    n_atoms: int,
    species: Sequence[str] = ("Si",),
    volume_per_atom: float = 18.0,
    unwrapped: bool = False,
) -> Structure:
    """A random triclinic cell (angles 65-115 degrees) with uniformly random atoms.

    ``species`` is cycled over the atoms; the cell volume is ``n_atoms * volume_per_atom``
    (Å^3). With ``unwrapped`` the fractional coordinates lie in [-1, 2) instead of [0, 1).
    """
    if n_atoms < 1:
        raise ValueError(f"n_atoms must be >= 1, got {n_atoms}")
    lengths = rng.uniform(0.8, 1.25, size=3)
    angles = rng.uniform(65.0, 115.0, size=3)
    for _ in range(100):  # rare angle triples give no valid cell
        lattice = Lattice.from_parameters(*lengths, *angles)
        if lattice.volume > 0.3:
            break
        angles = rng.uniform(75.0, 105.0, size=3)
    lattice = lattice.scale(n_atoms * volume_per_atom)
    low, high = (-1.0, 2.0) if unwrapped else (0.0, 1.0)
    frac = rng.uniform(low, high, size=(n_atoms, 3))
    names = [species[i % len(species)] for i in range(n_atoms)]
    return Structure(lattice, names, frac, to_unit_cell=False)


# ---------------------------------------------------------------------- utilities
def random_rotation(rng: np.random.Generator, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """A uniformly random proper rotation matrix (det +1), shape (3, 3)."""
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return torch.as_tensor(q, dtype=dtype)


@torch.no_grad()
def randomize_parameters(module: torch.nn.Module, std: float = 0.3, seed: int = 0) -> None:
    """Add N(0, std^2) noise to every parameter (in place), so that zero-initialised parts
    (e.g. residual scales) do not make property checks vacuous."""
    gen = torch.Generator().manual_seed(seed)
    for p in module.parameters():
        noise = torch.randn(p.shape, generator=gen, dtype=torch.float64)
        p.add_(std * noise.to(dtype=p.dtype, device=p.device))


def supercell_batch(batch: CrystalBatch, scaling: tuple[int, int, int]) -> CrystalBatch:
    """Every crystal as a ``scaling`` supercell; atoms ordered image-major.

    Image ``n`` (``itertools.product`` over ``range(scaling[k])``) holds copies of the
    crystal's atoms shifted by ``n @ lattice``; the new lattice rows are
    ``scaling[k] * lattice[k]``.
    """
    images = torch.tensor(
        list(itertools.product(*(range(int(s)) for s in scaling))), dtype=batch.dtype,
        device=batch.device,
    )
    scale = torch.tensor(scaling, dtype=batch.dtype, device=batch.device)
    offsets = batch.offsets.tolist()
    pos, z, idx, masks = [], [], [], []
    for c in range(batch.n_crystals):
        a, b = offsets[c], offsets[c + 1]
        shift = images @ batch.lattices[c]  # (n_img, 3)
        pos.append((batch.positions[a:b][None] + shift[:, None]).reshape(-1, 3))
        z.append(batch.atomic_numbers[a:b].repeat(len(images)))
        idx.append(torch.full(((b - a) * len(images),), c, dtype=torch.long, device=batch.device))
        if batch.mask is not None:
            masks.append(batch.mask[a:b].repeat(len(images)))
    return CrystalBatch(
        positions=torch.cat(pos),
        lattices=batch.lattices * scale[None, :, None],
        atomic_numbers=torch.cat(z),
        crystal_index=torch.cat(idx),
        mask=torch.cat(masks) if batch.mask is not None else None,
    )


def _sigma_tensor(batch: CrystalBatch, sigma: torch.Tensor | float) -> torch.Tensor:
    sigma = torch.as_tensor(sigma, dtype=batch.dtype, device=batch.device)
    return sigma.expand(batch.n_crystals).clone() if sigma.ndim == 0 else sigma


def _score(score_fn: ScoreFn, batch: CrystalBatch, sigma: torch.Tensor, what: str) -> torch.Tensor:
    with torch.no_grad():
        out = score_fn(batch, sigma)
    if out.shape != (batch.n_atoms, 3):
        raise AssertionError(
            f"{what}: score_fn returned shape {tuple(out.shape)}, expected ({batch.n_atoms}, 3)"
        )
    if not bool(torch.isfinite(out).all()):
        raise AssertionError(f"{what}: score_fn returned non-finite values")
    return out


def _compare(
    what: str,
    batch: CrystalBatch,
    expected: torch.Tensor,
    got: torch.Tensor,
    atol: float,
    rtol: float | None,
    min_score: float,
    detail: str = "",
) -> None:
    """Raise if ``got`` differs from ``expected`` (both ``(n_atoms, 3)``, atom order of
    ``batch``) beyond ``atol + rtol * max|expected|``."""
    if rtol is None:
        rtol = 1e-7 if expected.dtype == torch.float64 else 1e-4
    scale = float(expected.abs().max()) if expected.numel() else 0.0
    if min_score > 0 and scale <= min_score:
        raise AssertionError(
            f"{what}: the score is zero everywhere (max |score| = {scale:.3g} <= "
            f"min_score = {min_score:g}), so the check would be vacuous; perturb the model "
            "parameters (testing.randomize_parameters) or pass min_score=0"
        )
    error = (got - expected).norm(dim=1)
    worst = int(torch.argmax(error))
    tolerance = atol + rtol * scale
    if float(error[worst]) > tolerance:
        crystal = int(batch.crystal_index[worst])
        local = worst - int(batch.offsets[crystal])
        z = int(batch.atomic_numbers[worst])
        n_bad = int((error > tolerance).sum())
        raise AssertionError(
            f"{what} violated: {n_bad} of {batch.n_atoms} atoms off; worst is atom {local} "
            f"(Z={z}) of crystal {crystal}: expected {expected[worst].tolist()}, got "
            f"{got[worst].tolist()}, |error| = {float(error[worst]):.3g} > tolerance "
            f"{tolerance:.3g} (atol {atol:g} + rtol {rtol:g} x max|score| {scale:.3g})"
            + (f"; {detail}" if detail else "")
        )


# ---------------------------------------------------------------------- property checks
def assert_rotation_equivariant(
    score_fn: ScoreFn,
    batch: CrystalBatch,
    sigma: torch.Tensor | float,
    *,
    seed: int = 0,
    n_trials: int = 2,
    inversion: bool = False,
    atol: float = 1e-9,
    rtol: float | None = None,
    min_score: float = 1e-6,
) -> None:
    """Rotating positions and lattice by ``R`` must rotate every score: ``s(Rx) = R s(x)``.

    With ``inversion`` the operation is ``-R`` on the positions (an improper rotation; the
    lattice is rotated by ``R``, the same set of lattice points): a polar score must then
    transform with ``-R`` as well (E(3) rather than SE(3) equivariance).
    """
    sigma = _sigma_tensor(batch, sigma)
    rng = np.random.default_rng(seed)
    reference = _score(score_fn, batch, sigma, "rotation equivariance")
    for trial in range(n_trials):
        rot = random_rotation(rng, batch.dtype).to(batch.device)
        op = -rot if inversion else rot
        moved = batch.replace(positions=batch.positions @ op.T, lattices=batch.lattices @ rot.T)
        got = _score(score_fn, moved, sigma, "rotation equivariance")
        _compare(
            "improper rotation equivariance" if inversion else "rotation equivariance",
            batch,
            reference @ op.T,
            got,
            atol,
            rtol,
            min_score,
            detail=f"trial {trial}, operation {op.tolist()}",
        )


def assert_translation_invariant(
    score_fn: ScoreFn,
    batch: CrystalBatch,
    sigma: torch.Tensor | float,
    *,
    seed: int = 0,
    lattice_shifts: bool = True,
    atol: float = 1e-9,
    rtol: float | None = None,
    min_score: float = 1e-6,
) -> None:
    """Scores must not change when every crystal is rigidly translated (a random vector
    per crystal, up to 5 Å per component) and, with ``lattice_shifts``, when individual
    atoms are moved by random integer lattice vectors (-2..2 per axis: periodicity)."""
    sigma = _sigma_tensor(batch, sigma)
    gen = torch.Generator().manual_seed(seed)
    reference = _score(score_fn, batch, sigma, "translation invariance")
    shift = (torch.rand(batch.n_crystals, 3, generator=gen, dtype=torch.float64) - 0.5) * 10.0
    shift = shift.to(batch.dtype).to(batch.device)
    moved = batch.replace(positions=batch.positions + shift[batch.crystal_index])
    got = _score(score_fn, moved, sigma, "translation invariance")
    _compare("translation invariance", batch, reference, got, atol, rtol, min_score,
             detail=f"crystal shifts {shift.tolist()} Å")
    if lattice_shifts:
        n = torch.randint(-2, 3, (batch.n_atoms, 3), generator=gen).to(batch.dtype).to(batch.device)
        cart = torch.einsum("ni,nij->nj", n, batch.atom_lattices)
        got = _score(score_fn, batch.replace(positions=batch.positions + cart), sigma,
                     "lattice-shift invariance")
        _compare("lattice-shift (periodicity) invariance", batch, reference, got, atol, rtol,
                 min_score, detail="atoms moved by integer lattice vectors")


def assert_permutation_equivariant(
    score_fn: ScoreFn,
    batch: CrystalBatch,
    sigma: torch.Tensor | float,
    *,
    seed: int = 0,
    atol: float = 1e-9,
    rtol: float | None = None,
    min_score: float = 1e-6,
) -> None:
    """Shuffling the atoms within each crystal must shuffle the scores the same way."""
    sigma = _sigma_tensor(batch, sigma)
    gen = torch.Generator().manual_seed(seed)
    offsets = batch.offsets.tolist()
    perm = torch.cat(
        [torch.randperm(offsets[c + 1] - offsets[c], generator=gen) + offsets[c]
         for c in range(batch.n_crystals)]
    ).to(batch.device)
    if batch.n_atoms > batch.n_crystals and bool((perm.cpu() == torch.arange(batch.n_atoms)).all()):
        perm = _reverse_within_crystals(offsets).to(batch.device)
    shuffled = batch.replace(
        positions=batch.positions[perm],
        atomic_numbers=batch.atomic_numbers[perm],
        mask=None if batch.mask is None else batch.mask[perm],
    )
    reference = _score(score_fn, batch, sigma, "permutation equivariance")
    got = _score(score_fn, shuffled, sigma, "permutation equivariance")
    # Compare in the shuffled order: got[k] must equal reference[perm[k]].
    _compare("permutation equivariance", shuffled, reference[perm], got, atol, rtol, min_score,
             detail="atom order of the shuffled batch")


def _reverse_within_crystals(offsets: list[int]) -> torch.Tensor:
    return torch.cat(
        [torch.arange(offsets[c + 1] - 1, offsets[c] - 1, -1) for c in range(len(offsets) - 1)]
    )


def assert_supercell_invariant(
    score_fn: ScoreFn,
    batch: CrystalBatch,
    sigma: torch.Tensor | float,
    *,
    scaling: tuple[int, int, int] = (2, 1, 1),
    atol: float = 1e-9,
    rtol: float | None = None,
    min_score: float = 1e-6,
) -> None:
    """The same crystal written as a ``scaling`` supercell must give every copy of an atom
    the score of the original atom (see :func:`supercell_batch` for the atom order).

    A score model with a ``max_neighbors`` cap may break distance ties differently in the
    supercell; check such models with the cap removed.
    """
    sigma = _sigma_tensor(batch, sigma)
    big = supercell_batch(batch, scaling)
    reference = _score(score_fn, batch, sigma, "supercell invariance")
    got = _score(score_fn, big, sigma, "supercell invariance")
    n_img = int(np.prod(scaling))
    offsets = batch.offsets.tolist()
    expected = torch.cat(
        [reference[offsets[c] : offsets[c + 1]].repeat(n_img, 1) for c in range(batch.n_crystals)]
    )
    _compare(f"supercell {tuple(scaling)} invariance", big, expected, got, atol, rtol, min_score,
             detail="atoms of the supercell are ordered image-major")


def assert_batch_consistent(
    score_fn: ScoreFn,
    batch: CrystalBatch,
    sigma: torch.Tensor | float,
    *,
    atol: float = 1e-9,
    rtol: float | None = None,
    min_score: float = 1e-6,
) -> None:
    """Scoring the whole batch must equal scoring each crystal on its own."""
    sigma = _sigma_tensor(batch, sigma)
    batched = _score(score_fn, batch, sigma, "batch consistency")
    singles = torch.cat(
        [_score(score_fn, batch[c], sigma[c : c + 1], "batch consistency")
         for c in range(batch.n_crystals)]
    )
    _compare("batch consistency (batched vs one crystal at a time)", batch, singles, batched,
             atol, rtol, min_score)
