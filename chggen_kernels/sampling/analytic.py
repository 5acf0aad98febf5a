"""Exact scores of periodic Gaussian mixtures, to drive and test the samplers.

The clean density of an atom is a mixture of isotropic Gaussians of width ``s0`` (Å)
centred on fractional sites and repeated over every lattice image. VE noise of level
``sigma`` widens each Gaussian to ``s = sqrt(s0^2 + sigma^2)``, so the noised score is
known exactly at every level. The periodic Gaussian is evaluated as a sum over lattice
images for ``s`` small compared with the cell and as its Fourier series for ``s``
comparable to or larger than the cell, each truncated where the dropped terms are below
``exp(-30)`` of the leading one: exact to ~1e-13 relative for any cell.
"""

from __future__ import annotations

import itertools
import math

import torch

from chggen_kernels.crystal import CrystalBatch

__all__ = ["PeriodicGaussianMixtureScore", "periodic_gaussian_mixture_score"]

_LOG_TOL = 30.0  # dropped terms are below exp(-_LOG_TOL) of the largest
_REACH = math.sqrt(2.0 * _LOG_TOL)  # in units of s (images) or 1/s (Fourier)
_FOURIER_MIN_LOG_RATIO = 20.0  # Fourier series only where q_min / q_max > exp(-20)


class PeriodicGaussianMixtureScore:
    """Score function (Å^-1) of a periodic Gaussian mixture under VE noise.

    Two kinds of mixture, chosen by the shape of ``sites`` (fractional coordinates):

    * ``(K, 3)``: every atom independently follows the mixture of ``K`` sites with
      ``weights``.
    * ``(K, n, 3)``: a joint mixture over configurations of ``n``-atom crystals:
      component ``k`` puts atom ``j`` of a crystal near ``sites[k, j]``, with probability
      ``weights[k]``. Every crystal scored must have ``n`` atoms. This is how a guest's
      site can depend on its host's site.

    Called as ``score(batch, sigma)`` with ``sigma`` ``(n_crystals,)`` in Å (the
    sampler's score-function contract).
    """

    def __init__(self, sites: torch.Tensor, weights: torch.Tensor, width: float) -> None:
        sites = torch.as_tensor(sites, dtype=torch.float64)
        weights = torch.as_tensor(weights, dtype=torch.float64)
        if sites.ndim not in (2, 3) or sites.shape[-1] != 3:
            raise ValueError(f"sites must have shape (K, 3) or (K, n, 3), got {tuple(sites.shape)}")
        if weights.shape != (sites.shape[0],):
            raise ValueError(
                f"weights must have shape ({sites.shape[0]},) to match sites, "
                f"got {tuple(weights.shape)}"
            )
        if not bool((weights > 0).all()):
            raise ValueError(f"weights must be positive, got {weights.tolist()}")
        if not (math.isfinite(width) and width > 0):
            raise ValueError(f"width must be a positive number of Å, got {width!r}")
        self.sites = sites
        self.log_weights = torch.log(weights / weights.sum())
        self.width = float(width)
        self.joint = sites.ndim == 3

    def __call__(self, batch: CrystalBatch, sigma: torch.Tensor) -> torch.Tensor:
        dtype = batch.dtype
        pos = batch.positions.double()
        lattices = batch.lattices.double()
        atom_lat = lattices[batch.crystal_index]
        frac = torch.einsum("ni,nij->nj", pos, torch.linalg.inv(lattices)[batch.crystal_index])
        sites = self._atom_sites(batch).to(pos.device)  # (n, K, 3)
        disp = frac.unsqueeze(1) - sites
        disp = disp - torch.round(disp)  # (n, K, 3) in [-0.5, 0.5]
        s = torch.sqrt(self.width**2 + sigma.double().to(pos.device) ** 2)[batch.crystal_index]
        log_q = torch.empty(disp.shape[:2], dtype=torch.float64, device=pos.device)
        grad = torch.empty_like(disp)
        method = _choose_method(lattices, s, batch.crystal_index)
        for code, fn in enumerate((_orthogonal_terms, _image_terms, _fourier_terms)):
            atoms = torch.nonzero(method == code).flatten()
            if len(atoms):
                log_q[atoms], grad[atoms] = fn(disp[atoms], atom_lat[atoms], s[atoms])
        # responsibilities of the components: per atom, or per crystal for joint mixtures
        if self.joint:
            per_crystal = torch.zeros(
                (batch.n_crystals, log_q.shape[1]), dtype=torch.float64, device=pos.device
            )
            per_crystal.index_add_(0, batch.crystal_index, log_q)
            logits = self.log_weights.to(pos.device) + per_crystal
            resp = torch.softmax(logits, dim=1)[batch.crystal_index]
        else:
            resp = torch.softmax(self.log_weights.to(pos.device) + log_q, dim=1)
        return (resp.unsqueeze(2) * grad).sum(dim=1).to(dtype)

    def _atom_sites(self, batch: CrystalBatch) -> torch.Tensor:
        n = batch.n_atoms
        if not self.joint:
            return self.sites.unsqueeze(0).expand(n, -1, -1)
        counts = batch.atoms_per_crystal
        expected = self.sites.shape[1]
        if bool((counts != expected).any()):
            bad = int(torch.nonzero(counts != expected)[0])
            raise ValueError(
                f"crystal {bad} has {int(counts[bad])} atoms; this joint mixture describes "
                f"crystals of {expected} atoms"
            )
        within = torch.arange(n) - batch.offsets[:-1].cpu()[batch.crystal_index.cpu()]
        return self.sites[:, within].transpose(0, 1)  # (n, K, 3)


def periodic_gaussian_mixture_score(
    sites: torch.Tensor, weights: torch.Tensor, width: float
) -> PeriodicGaussianMixtureScore:
    """Exact VE-noised score of a periodic Gaussian mixture (see the class)."""
    return PeriodicGaussianMixtureScore(sites, weights, width)


def _choose_method(lattices: torch.Tensor, s: torch.Tensor, crystal_index: torch.Tensor):
    """Per atom: 0 = orthogonal cell (separable), 1 = lattice images, 2 = Fourier series.

    The Fourier series is used where it needs fewer terms than the image sum and the
    density stays well above its truncation error over the whole cell.
    """
    off_diagonal = lattices - torch.diag_embed(torch.diagonal(lattices, dim1=1, dim2=2))
    orthogonal = (off_diagonal == 0).all(dim=2).all(dim=1)[crystal_index]
    lengths = torch.linalg.norm(lattices, dim=2)  # (C, 3) |a_i|
    recip = torch.linalg.norm(torch.linalg.inv(lattices).transpose(1, 2), dim=2)  # |b_i|
    corners = torch.tensor(list(itertools.product((0.0, 1.0), repeat=3)), dtype=torch.float64)
    diag = torch.einsum("pi,cij->cpj", corners.to(lattices.device), lattices)
    # distance from the cell centre to its farthest corner: bounds |x - site| after wrapping
    half_diag = torch.linalg.norm(diag - diag.mean(dim=1, keepdim=True), dim=2).amax(1)
    lengths, recip = lengths[crystal_index], recip[crystal_index]
    half_diag = half_diag[crystal_index]
    image_count = torch.prod(2 * torch.ceil(_REACH * s[:, None] * recip + 0.5) + 1, dim=1)
    fourier_count = torch.prod(
        2 * torch.ceil(_REACH * lengths / (2 * math.pi * s[:, None])) + 1, dim=1
    )
    well_conditioned = half_diag**2 / (2 * s**2) < _FOURIER_MIN_LOG_RATIO
    method = torch.ones_like(s, dtype=torch.long)
    method[(fourier_count < image_count) & well_conditioned] = 2
    method[orthogonal] = 0
    return method


def _integer_grid(ranges: list[int], dtype: torch.dtype, device) -> torch.Tensor:
    axes = [torch.arange(-r, r + 1, dtype=dtype, device=device) for r in ranges]
    return torch.cartesian_prod(*axes).reshape(-1, 3)


def _orthogonal_terms(disp: torch.Tensor, lattice: torch.Tensor, s: torch.Tensor):
    """log q and grad log q for orthogonal cells: a product of 1D periodic Gaussians."""
    lengths = torch.diagonal(lattice, dim1=1, dim2=2)  # (n, 3) Å
    reach = int(math.ceil(float((_REACH * s[:, None] / lengths).max()) + 0.5))
    images = torch.arange(-reach, reach + 1, dtype=disp.dtype, device=disp.device)
    cart = (disp.unsqueeze(3) + images) * lengths[:, None, :, None]  # (n, K, 3, P) Å
    s2 = (s**2)[:, None, None, None]
    logits = -(cart * cart) / (2 * s2)
    log_q = (torch.logsumexp(logits, dim=3) - 0.5 * torch.log(2 * math.pi * s2[..., 0])).sum(2)
    grad = -(torch.softmax(logits, dim=3) * cart).sum(dim=3) / s2[..., 0]
    return log_q, grad


def _image_terms(disp: torch.Tensor, lattice: torch.Tensor, s: torch.Tensor):
    """log q and grad log q from the sum over lattice images (small ``s``)."""
    recip = torch.linalg.norm(torch.linalg.inv(lattice).transpose(1, 2), dim=2)  # (n, 3)
    ranges = torch.ceil(_REACH * s[:, None] * recip + 0.5).amax(0).long().tolist()
    images = _integer_grid(ranges, disp.dtype, disp.device)  # (P, 3)
    disp_cart = torch.bmm(disp, lattice)  # (n, K, 3)
    image_cart = torch.einsum("pi,nij->npj", images, lattice)  # (n, P, 3)
    # |d + I_p|^2 = |d|^2 + 2 d.I_p + |I_p|^2, as batched matrix products
    dist2 = (
        (disp_cart * disp_cart).sum(dim=2, keepdim=True)
        + 2 * torch.bmm(disp_cart, image_cart.transpose(1, 2))
        + (image_cart * image_cart).sum(dim=2).unsqueeze(1)
    )  # (n, K, P)
    s2 = (s**2)[:, None, None]
    logits = -dist2 / (2 * s2)
    log_q = torch.logsumexp(logits, dim=2) - 1.5 * torch.log(2 * math.pi * s2[..., 0])
    mean_image = torch.bmm(torch.softmax(logits, dim=2), image_cart)  # (n, K, 3)
    grad = -(disp_cart + mean_image) / s2
    return log_q, grad


def _fourier_terms(disp: torch.Tensor, lattice: torch.Tensor, s: torch.Tensor):
    """log q and grad log q from the Fourier series (``s`` comparable to the cell)."""
    lengths = torch.linalg.norm(lattice, dim=2)  # (n, 3)
    ranges = torch.ceil(_REACH * lengths / (2 * math.pi * s[:, None])).amax(0).long().tolist()
    m = _integer_grid(ranges, disp.dtype, disp.device)  # (P, 3)
    recip = torch.linalg.inv(lattice).transpose(1, 2)  # rows b_i, (n, 3, 3)
    g_vec = 2 * math.pi * torch.einsum("pi,nij->npj", m, recip)  # (n, P, 3) Å^-1
    damp = torch.exp(-0.5 * (s**2)[:, None] * (g_vec * g_vec).sum(dim=2))  # (n, P)
    phase = 2 * math.pi * (disp @ m.T)  # (n, K, P)
    volume = torch.abs(torch.linalg.det(lattice))[:, None]
    q = (damp.unsqueeze(1) * torch.cos(phase)).sum(dim=2) / volume  # (n, K)
    dq = -torch.bmm(damp.unsqueeze(1) * torch.sin(phase), g_vec) / volume.unsqueeze(2)
    return torch.log(q), dq / q.unsqueeze(2)
