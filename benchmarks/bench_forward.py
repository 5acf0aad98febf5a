"""One forward of the shipped score model on CPU: where the time goes, and the current
forward against the previous ones, side by side in one process.

For batches of 64 x 20, 16 x 8, 2 x 6 and 1 x 20 crystals x atoms (random positions in
cubic cells of 18 Å^3/atom, Li/Si/Zn/P/S; the small ones are the sampler's batch sizes in
the main job) the script times, interleaved so that every variant sees the same load:

* the current forward of the shipped model: neighbour slots (``UVUConvolution``) and
  equivariant linear layers as one dense matrix product (``EquivariantLinear`` without
  gradients), at the shipped model's neighbour cap;
* the same kernels on the architecture before the cap was lowered (``--before-max-neighbors``,
  32: the same weights, which fit both; the time depends only on the architecture);
* that architecture with e3nn's own linear forward (the code before the dense path);
* that architecture with the previous edge-list kernel (kept below as the reference:
  per-edge messages ``(n_edges, mul, K)``, weights applied in place path by path, then a
  scatter-sum) and e3nn's linear forward: the forward before the speed work;

and reports per-atom times (thread CPU time, median of the repeats; wall time too), the
batch-64 over batch-1 throughput ratio, the largest output difference, and stage profiles
of the current forward at 64 x 20 and 2 x 6 (neighbour list, spherical harmonics, radial
basis, radial MLPs, convolutions, linear layers and gates). Writes
``benchmarks/results/forward.json``.

Usage: ``python benchmarks/bench_forward.py [--repeats 9] [--threads 1]
[--before-max-neighbors 32]``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from e3nn import o3

from chggen_kernels.crystal import CrystalBatch
from chggen_kernels.lattice import bravais_lattice
from chggen_kernels.model import EquivariantLinear, ScoreModel, ScoreModelConfig
from chggen_kernels.model.slots import NeighborSlots
from chggen_kernels.neighbors import edge_vectors, neighbor_list
from chggen_kernels.training import load_score_model

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from stamp import stamp  # noqa: E402

SPECIES = (3, 14, 30, 15, 16)


def random_batch(n_crystals: int, n_atoms: int, seed: int) -> CrystalBatch:
    rng = np.random.default_rng(seed)
    crystals = []
    for _ in range(n_crystals):
        lattice = bravais_lattice("cubic", n_atoms, 18.0, None)
        crystals.append((rng.uniform(size=(n_atoms, 3)) @ lattice, lattice,
                         rng.choice(SPECIES, n_atoms)))
    return CrystalBatch.from_arrays(crystals, dtype=torch.float32)


# ------------------------------------------------------------------ previous kernel
def edge_list_convolution(conv, node, edge_sh, edge_weights, edge_index) -> torch.Tensor:
    """The previous kernel (the reference): per-edge messages, then a scatter-sum."""
    center, neighbor = edge_index
    n_edges, n_atoms = center.shape[0], node.shape[0]
    cgs = conv._clebsch_gordan(node.dtype, node.device)
    summed = []
    for b, (in_slice, mul, dim_in, k_total, paths) in enumerate(conv._blocks):
        x = node[:, in_slice].index_select(0, neighbor).view(n_edges, mul, dim_in)
        contraction = (edge_sh @ cgs[b]).view(n_edges, dim_in, k_total)
        out = x * contraction if dim_in == 1 else torch.bmm(x, contraction)
        for k0, k1, w0 in paths:
            out[:, :, k0:k1].mul_(edge_weights[:, w0 : w0 + mul, None])
        block = out.new_zeros(n_atoms, mul * k_total)
        summed.append(block.index_add_(0, center, out.view(n_edges, mul * k_total)))
    return torch.cat(summed, dim=1)[:, conv._to_e3nn_layout]


def previous_forward(model, batch: CrystalBatch, sigma: torch.Tensor) -> torch.Tensor:
    """``ScoreModel.forward`` with the edge-list kernel (same parameters)."""
    cfg = model.config
    nl = neighbor_list(batch, cfg.cutoff, cfg.max_neighbors)
    vectors = edge_vectors(batch, nl)
    lengths = torch.linalg.vector_norm(vectors, dim=1)
    edge_sh = model.spherical_harmonics(vectors / lengths.clamp_min(1e-9)[:, None])
    edge_radial = model.radial_embedding(lengths)
    node = model.species_embedding(batch.atomic_numbers)
    atom_noise = model.noise_embedding(sigma)[batch.crystal_index]
    node = node + model.noise_to_species(atom_noise)
    x = model.node_embedding(node)
    for layer in model.layers:
        h = x.index_add(1, layer.scalar_columns, layer.noise_to_scalars(atom_noise))
        h = layer.pre_linear(h)
        summed = edge_list_convolution(layer.convolution, h, edge_sh,
                                       layer.radial_mlp(edge_radial), nl.edge_index)
        y = layer.post_linear(summed / layer.message_normalization) + layer.self_interaction(h)
        x = x + layer.residual_scale * layer.gate(y)
    return model.output(x) / sigma[batch.crystal_index, None]


# ------------------------------------------------------------------ timing
def timed(fn: Callable[..., object], *args: object) -> tuple[float, float]:
    """(thread CPU seconds, wall seconds) of one call ``fn(*args)``."""
    cpu, wall = time.thread_time(), time.perf_counter()
    fn(*args)
    return time.thread_time() - cpu, time.perf_counter() - wall


class StageClock:
    """Thread CPU time summed per stage name (``with clock("name"): ...``)."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = {}
        self._name = ""

    def __call__(self, name: str) -> StageClock:
        self._name = name
        return self

    def __enter__(self) -> None:
        self._start = time.thread_time()

    def __exit__(self, *exc: object) -> None:
        spent = 1e3 * (time.thread_time() - self._start)
        self.ms[self._name] = self.ms.get(self._name, 0.0) + spent


def stage_profile(model, batch: CrystalBatch, sigma: torch.Tensor, repeats: int
                  ) -> dict[str, float]:
    """Mean thread CPU ms per forward of each stage of the current forward."""
    cfg = model.config
    clock = StageClock()
    for _ in range(repeats):
        with clock("neighbour list"):
            nl = neighbor_list(batch, cfg.cutoff, cfg.max_neighbors)
        with clock("edge vectors and neighbour slots"):
            vectors = edge_vectors(batch, nl)
            lengths = torch.linalg.vector_norm(vectors, dim=1)
            slots = NeighborSlots.from_edge_index(nl.edge_index, batch.n_atoms)
        with clock("spherical harmonics"):
            sh = slots.scatter(model.spherical_harmonics(vectors / lengths[:, None]))
        with clock("radial basis"):
            radial = slots.scatter(model.radial_embedding(lengths))
        with clock("embeddings and output"):
            noise = model.noise_embedding(sigma)[batch.crystal_index]
            x = model.node_embedding(model.species_embedding(batch.atomic_numbers)
                                     + model.noise_to_species(noise))
        for layer in model.layers:
            with clock("linear layers and gates"):
                h = layer.pre_linear(x.index_add(1, layer.scalar_columns,
                                                 layer.noise_to_scalars(noise)))
            with clock("radial MLPs"):
                w = layer.radial_mlp(radial)
            with clock("convolutions"):
                m = layer.convolution(h, sh, w, slots)
            with clock("linear layers and gates"):
                y = layer.post_linear(m / layer.message_normalization)
                x = x + layer.residual_scale * layer.gate(y + layer.self_interaction(h))
        with clock("embeddings and output"):
            model.output(x)
    return {name: round(ms / repeats, 2) for name, ms in clock.ms.items()}


@contextlib.contextmanager
def e3nn_linears() -> Iterator[None]:
    """Every EquivariantLinear runs e3nn's own forward (the code before the dense path)."""
    saved = EquivariantLinear.forward
    EquivariantLinear.forward = o3.Linear.forward
    try:
        yield
    finally:
        EquivariantLinear.forward = saved


def _with_e3nn_linears(fn: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    def run(*args: object) -> torch.Tensor:
        with e3nn_linears():
            return fn(*args)
    return run


#: batch label -> (crystals, atoms per crystal): batch 64 of the issue, and sampler sizes
BATCHES = {"64x20": (64, 20), "16x8": (16, 8), "2x6": (2, 6), "1x20": (1, 20)}
CURRENT = "shipped architecture: neighbour slots, dense linears"
BEFORE_CAP = "previous cap: neighbour slots, dense linears"
E3NN = "previous cap: neighbour slots, e3nn linears"
PREVIOUS = "previous cap: edge list, e3nn linears (before the speed work)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--before-max-neighbors", type=int, default=32,
                        help="neighbour cap of the architecture before (default 32)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "forward.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, _ = load_score_model(ROOT / "chggen_kernels" / "data" / "default_model.pt")
    model.eval()
    before = ScoreModel(ScoreModelConfig.from_dict(
        {**model.config.to_dict(), "max_neighbors": args.before_max_neighbors,
         "avg_num_neighbors": model.config.message_normalization**2}))
    before.load_state_dict(model.state_dict())
    before.eval()
    batches = {label: random_batch(n, atoms, k) for k, (label, (n, atoms))
               in enumerate(BATCHES.items())}
    sigmas = {label: torch.linspace(0.05, 5.0, n) for label, (n, _) in BATCHES.items()}
    kernels = {CURRENT: lambda b, s: model(b, s),
               BEFORE_CAP: lambda b, s: before(b, s),
               E3NN: _with_e3nn_linears(lambda b, s: before(b, s)),
               PREVIOUS: _with_e3nn_linears(lambda b, s: previous_forward(before, b, s))}
    results: dict[str, dict[str, dict[str, float]]] = {k: {} for k in kernels}
    with torch.no_grad():
        big = batches["64x20"], sigmas["64x20"]
        reference = kernels[PREVIOUS](*big)
        diff = max(float((kernels[name](*big) - reference).abs().max())
                   for name in (BEFORE_CAP, E3NN))  # same architecture: float32 rounding
        scale = float(reference.abs().max())
        for label, batch in batches.items():
            repeats = args.repeats * max(1, 1280 // (5 * batch.n_atoms) + 1)
            samples: dict[str, list[tuple[float, float]]] = {k: [] for k in kernels}
            for fn in kernels.values():
                fn(batch, sigmas[label])  # warm up
            for _ in range(repeats):  # interleaved: every kernel sees the same load
                for name, fn in kernels.items():
                    samples[name].append(timed(fn, batch, sigmas[label]))
            for name, values in samples.items():
                cpu = float(np.median([c for c, _ in values]))
                wall = float(np.median([w for _, w in values]))
                results[name][label] = {"cpu_ms": round(1e3 * cpu, 2),
                                        "wall_ms": round(1e3 * wall, 2),
                                        "cpu_ms_per_atom": round(1e3 * cpu / batch.n_atoms, 4),
                                        "repeats": repeats}
        profile = {label: stage_profile(model, batches[label], sigmas[label], args.repeats)
                   for label in ("64x20", "2x6")}
    per_atom = {name: {label: r["cpu_ms_per_atom"] for label, r in by.items()}
                for name, by in results.items()}
    report = {
        "stamp": stamp(),
        "what": "one forward of the shipped model, CPU, float32; batches of crystals x atoms",
        "model": model.describe(), "threads": args.threads, "torch": torch.__version__,
        "results": results,
        "throughput_ratio_b64_over_b1": {name: round(v["1x20"] / v["64x20"], 2)
                                         for name, v in per_atom.items()},
        "speedup_per_atom_vs_previous": {label: round(per_atom[PREVIOUS][label]
                                                      / per_atom[CURRENT][label], 2)
                                         for label in BATCHES},
        "speedup_per_atom_dense_linears": {label: round(per_atom[E3NN][label]
                                                        / per_atom[BEFORE_CAP][label], 2)
                                           for label in BATCHES},
        "speedup_per_atom_neighbour_cap": {label: round(per_atom[BEFORE_CAP][label]
                                                        / per_atom[CURRENT][label], 2)
                                           for label in BATCHES},
        "before_max_neighbors": args.before_max_neighbors,
        "max_abs_output_difference": diff, "max_abs_output": scale,
        "stage_profile_cpu_ms": profile,
    }
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps({k: report[k] for k in (
        "speedup_per_atom_vs_previous", "speedup_per_atom_dense_linears",
        "speedup_per_atom_neighbour_cap", "throughput_ratio_b64_over_b1",
        "max_abs_output_difference")}, indent=1))


if __name__ == "__main__":
    main()
