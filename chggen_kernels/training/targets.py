"""Denoising score-matching targets for periodic crystals (eqn 6 of the CHGGen paper).

Each atom is perturbed independently by isotropic Gaussian noise of standard deviation
``sigma`` (Å, one value per crystal) and wrapped back into the cell. On the torus the
perturbation density of the noisy position ``x`` given the clean one ``x0`` is the
*wrapped* Gaussian

    p(x | x0) ∝ sum_n exp(-|x - x0 + n @ L|^2 / (2 sigma^2))        (n integer, L rows)

and the DSM target is its score with respect to ``x`` (Å^-1):

    grad_x log p = -sum_n w_n (x - x0 + n @ L) / sigma^2,   w_n = softmax_n(-|..|^2 / 2 sigma^2)

When sigma is small against the cell only the minimum image contributes and the target
is ``-mic(x - x0) / sigma^2`` (the reference CHGGen target). When sigma is comparable to
the cell the minimum-image target is wrong (it points at one image while the density is
shaped by many) and at sigma >> cell the true target tends to zero. :func:`periodic_score`
evaluates the exact sum: in real space for small sigma, or through its Poisson-summed
(reciprocal-space) form

    p ∝ sum_G exp(-sigma^2 |G|^2 / 2) cos(G . d),   G = 2 pi m @ inv(L).T

for large sigma, whichever needs fewer terms for the requested tolerance.

Conventions: Cartesian Å, lattice vectors as rows, sigma in Å, scores in Å^-1.
"""

from __future__ import annotations

import dataclasses
import math

import torch

from chggen_kernels.crystal import CrystalBatch

__all__ = [
    "NoisyBatch",
    "dsm_loss_per_crystal",
    "minimum_image",
    "minimum_image_score",
    "perturb",
    "periodic_score",
    "sample_log_uniform_sigmas",
]

# Relative weight below which a lattice image (or reciprocal vector) is neglected.
_DEFAULT_TOLERANCE = 1e-14
# Atoms x terms evaluated at once, to bound memory for large cells.
_CHUNK_ELEMENTS = 2_000_000


def _plane_spacings(lattice: torch.Tensor) -> torch.Tensor:
    """Distances between the lattice planes spanned by the other two vectors, Å, (3,)."""
    recip = torch.linalg.inv(lattice).T  # rows b_k with a_i . b_k = delta_ik
    return 1.0 / torch.linalg.norm(recip, dim=1)


def _reduce(displacement: torch.Tensor, lattice: torch.Tensor) -> torch.Tensor:
    """Lattice-equivalent displacement with fractional components in [-0.5, 0.5]."""
    frac = displacement @ torch.linalg.inv(lattice)
    return (frac - torch.round(frac)) @ lattice


def _integer_grid(ranges: list[int], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    axes = [torch.arange(-k, k + 1, dtype=dtype, device=device) for k in ranges]
    return torch.cartesian_prod(*axes).reshape(-1, 3)


def _check_inputs(batch: CrystalBatch, displacement: torch.Tensor) -> None:
    if displacement.shape != (batch.n_atoms, 3):
        raise ValueError(
            f"displacement must have shape ({batch.n_atoms}, 3), got {tuple(displacement.shape)}"
        )


def minimum_image(batch: CrystalBatch, displacement: torch.Tensor) -> torch.Tensor:
    """Shortest lattice-equivalent vector of each atom's displacement, Å, ``(n_atoms, 3)``.

    Exact for any cell, skewed ones included: after reducing the fractional components to
    [-0.5, 0.5] every image that could be shorter is searched.
    """
    _check_inputs(batch, displacement)
    out = torch.empty_like(displacement)
    offsets = batch.offsets.tolist()
    for c in range(batch.n_crystals):
        a, b = offsets[c], offsets[c + 1]
        if a == b:
            continue
        lat = batch.lattices[c].to(torch.float64)
        red = _reduce(displacement[a:b].to(torch.float64), lat)
        longest = float(torch.linalg.norm(red, dim=1).max())
        ranges = [int(math.ceil(longest / float(s) + 0.5)) for s in _plane_spacings(lat)]
        images = _integer_grid(ranges, lat.dtype, lat.device) @ lat  # (k, 3)
        cand = red[:, None, :] + images[None, :, :]
        best = torch.argmin((cand * cand).sum(-1), dim=1)
        out[a:b] = cand[torch.arange(b - a), best].to(displacement.dtype)
    return out


def minimum_image_score(
    batch: CrystalBatch, displacement: torch.Tensor, sigma: torch.Tensor
) -> torch.Tensor:
    """Reference CHGGen target ``-mic(x - x0) / sigma^2``, Å^-1, ``(n_atoms, 3)``.

    ``displacement`` is ``x_noisy - x0`` (any image), ``sigma`` has shape ``(n_crystals,)``.
    Equal to :func:`periodic_score` only while sigma is small against the cell.
    """
    sig = sigma.to(displacement.dtype)[batch.crystal_index, None]
    return -minimum_image(batch, displacement) / sig**2


def periodic_score(
    batch: CrystalBatch,
    displacement: torch.Tensor,
    sigma: torch.Tensor,
    tolerance: float = _DEFAULT_TOLERANCE,
) -> torch.Tensor:
    """Exact score of the wrapped Gaussian perturbation, Å^-1, ``(n_atoms, 3)``.

    Parameters
    ----------
    batch
        Supplies the lattices and the atom-to-crystal index (positions are not used).
    displacement
        ``x_noisy - x0`` per atom in Å, any periodic image.
    sigma
        Noise standard deviation per crystal in Å, shape ``(n_crystals,)``.
    tolerance
        Neglected images / reciprocal vectors weigh less than this relative to the
        leading term. Computed in float64 and returned in ``displacement``'s dtype.
    """
    _check_inputs(batch, displacement)
    if sigma.shape != (batch.n_crystals,):
        raise ValueError(f"sigma must have shape ({batch.n_crystals},), got {tuple(sigma.shape)}")
    if not bool((sigma > 0).all()):
        raise ValueError("sigma must be positive for every crystal")
    if not 0 < tolerance < 1:
        raise ValueError(f"tolerance must lie in (0, 1), got {tolerance}")
    log_inv_tol = math.log(1.0 / tolerance)
    out = torch.empty_like(displacement)
    offsets = batch.offsets.tolist()
    for c in range(batch.n_crystals):
        a, b = offsets[c], offsets[c + 1]
        if a == b:
            continue
        lat = batch.lattices[c].to(torch.float64)
        s = float(sigma[c])
        red = _reduce(displacement[a:b].to(torch.float64), lat)
        # Real space: keep images closer than r_cut, where exp(-(r^2 - |red|^2)/2s^2) < tol.
        longest = float(torch.linalg.norm(red, dim=1).max())
        r_cut = math.sqrt(longest**2 + 2.0 * s * s * log_inv_tol)
        real_ranges = [int(math.ceil(r_cut / float(sp) + 0.5)) for sp in _plane_spacings(lat)]
        # Reciprocal space: keep |G| < g_cut, where exp(-s^2 g^2 / 2) < tol.
        g_cut = math.sqrt(2.0 * log_inv_tol) / s
        lengths = torch.linalg.norm(lat, dim=1)
        recip_ranges = [int(math.floor(g_cut * float(ln) / (2 * math.pi))) for ln in lengths]
        n_real = math.prod(2 * k + 1 for k in real_ranges)
        n_recip = math.prod(2 * k + 1 for k in recip_ranges)
        if n_real <= n_recip:
            score = _real_space_score(red, lat, s, real_ranges)
        else:
            score = _reciprocal_space_score(red, lat, s, recip_ranges)
        out[a:b] = score.to(displacement.dtype)
    return out


def _chunks(n_atoms: int, n_terms: int) -> range:
    step = max(1, _CHUNK_ELEMENTS // max(1, n_terms))
    return range(0, n_atoms, step)


def _real_space_score(
    red: torch.Tensor, lat: torch.Tensor, s: float, ranges: list[int]
) -> torch.Tensor:
    images = _integer_grid(ranges, lat.dtype, lat.device) @ lat  # (k, 3)
    out = torch.empty_like(red)
    step = _chunks(len(red), len(images)).step
    for i in range(0, len(red), step):
        vec = red[i : i + step, None, :] + images[None, :, :]  # (m, k, 3)
        weights = torch.softmax(-(vec * vec).sum(-1) / (2 * s * s), dim=1)
        out[i : i + step] = -(weights[:, :, None] * vec).sum(1) / (s * s)
    return out


def _reciprocal_space_score(
    red: torch.Tensor, lat: torch.Tensor, s: float, ranges: list[int]
) -> torch.Tensor:
    g = 2 * math.pi * _integer_grid(ranges, lat.dtype, lat.device) @ torch.linalg.inv(lat).T
    w = torch.exp(-0.5 * s * s * (g * g).sum(-1))  # (k,)
    out = torch.empty_like(red)
    step = _chunks(len(red), len(g)).step
    for i in range(0, len(red), step):
        phase = red[i : i + step] @ g.T  # (m, k)
        density = (w * torch.cos(phase)).sum(1)  # >= 0 up to truncation; G = 0 term is 1
        gradient = -((w * torch.sin(phase)) @ g)  # (m, 3)
        out[i : i + step] = gradient / density[:, None]
    return out


def sample_log_uniform_sigmas(
    n: int,
    sigma_min: float,
    sigma_max: float,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """``n`` noise levels (Å) with ``log(sigma)`` uniform on ``[log sigma_min, log sigma_max]``.

    Random numbers are drawn on the CPU generator, so a seed gives the same sigmas on
    every device.
    """
    if not 0 < sigma_min <= sigma_max:
        raise ValueError(f"need 0 < sigma_min <= sigma_max, got {sigma_min}, {sigma_max}")
    u = torch.rand(n, generator=generator, dtype=torch.float64)
    log_s = math.log(sigma_min) + u * (math.log(sigma_max) - math.log(sigma_min))
    return torch.exp(log_s).to(dtype=dtype, device=device)


@dataclasses.dataclass(frozen=True, eq=False)
class NoisyBatch:
    """A perturbed batch and its DSM target.

    ``batch``: noisy positions wrapped into the cell; ``sigma``: ``(n_crystals,)`` Å;
    ``target``: ``(n_atoms, 3)`` score of the perturbation in Å^-1.
    """

    batch: CrystalBatch
    sigma: torch.Tensor
    target: torch.Tensor


def perturb(
    clean: CrystalBatch,
    sigma: torch.Tensor,
    generator: torch.Generator | None = None,
    exact_target: bool = True,
) -> NoisyBatch:
    """Add Gaussian noise ``sigma * z`` to every atom (Cartesian, Å) and wrap into the cell.

    ``exact_target=True`` uses :func:`periodic_score` (the wrapped-Gaussian score);
    ``False`` uses the minimum-image approximation of the reference code. Noise is drawn
    on the CPU ``generator`` so that seeded runs agree across devices.
    """
    if sigma.shape != (clean.n_crystals,):
        raise ValueError(f"sigma must have shape ({clean.n_crystals},), got {tuple(sigma.shape)}")
    z = torch.randn(clean.n_atoms, 3, generator=generator, dtype=torch.float64)
    sig = sigma.to(device=clean.device, dtype=clean.dtype)
    displacement = z.to(device=clean.device, dtype=clean.dtype) * sig[clean.crystal_index, None]
    noisy = clean.replace(positions=clean.positions + displacement).wrap()
    score_fn = periodic_score if exact_target else minimum_image_score
    target = score_fn(clean, displacement, sig)
    return NoisyBatch(batch=noisy, sigma=sig, target=target)


def dsm_loss_per_crystal(
    score: torch.Tensor, noisy: NoisyBatch
) -> torch.Tensor:
    """Eqn (6) with weight ``lambda = sigma^2``: per crystal, the mean over its atoms of
    ``sigma^2 |score - target|^2`` (dimensionless), shape ``(n_crystals,)``.

    For the minimum-image target this is ``|sigma * score + z|^2``; a model that outputs
    zero scores about 3 at small sigma.
    """
    batch = noisy.batch
    sig = noisy.sigma.to(score.dtype)[batch.crystal_index]
    per_atom = sig**2 * ((score - noisy.target.to(score.dtype)) ** 2).sum(-1)
    totals = torch.zeros(batch.n_crystals, dtype=score.dtype, device=score.device)
    totals = totals.index_add(0, batch.crystal_index, per_atom)
    return totals / batch.atoms_per_crystal.clamp(min=1).to(score.dtype)
