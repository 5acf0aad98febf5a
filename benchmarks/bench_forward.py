"""One forward of the shipped score model on CPU: where the time goes, and the neighbour-slot
convolution against the previous edge-list kernel, side by side in one process.

For batches of 64 and 1 crystals of 20 atoms (random positions in cubic cells of
18 Å^3/atom, Li/Si/Zn/P/S) the script times, interleaved so that both kernels see the
same machine load:

* the whole forward with the current kernel (neighbour slots, ``UVUConvolution``);
* the whole forward with the previous edge-list kernel (kept below as the reference:
  per-edge messages ``(n_edges, mul, K)``, weights applied in place path by path, then a
  scatter-sum), on the same parameters;

and reports per-atom times (thread CPU time, median of the repeats; wall time too), the
batch-64 over batch-1 throughput ratio, the largest output difference, and a stage profile
of the current forward (neighbour list, spherical harmonics, radial basis, radial MLPs,
convolutions, linear layers and gates). Writes ``benchmarks/results/forward.json``.

Usage: ``python benchmarks/bench_forward.py [--repeats 9] [--threads 1]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from chggen_kernels.crystal import CrystalBatch
from chggen_kernels.lattice import bravais_lattice
from chggen_kernels.model.slots import NeighborSlots
from chggen_kernels.neighbors import edge_vectors, neighbor_list
from chggen_kernels.training import load_score_model

ROOT = Path(__file__).resolve().parents[1]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "forward.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, _ = load_score_model(ROOT / "chggen_kernels" / "data" / "default_model.pt")
    model.eval()
    batches = {64: random_batch(64, 20, 0), 1: random_batch(1, 20, 1)}
    sigmas = {64: torch.linspace(0.05, 5.0, 64), 1: torch.tensor([0.5])}
    kernels = {"neighbour slots": lambda b, s: model(b, s),
               "edge list (previous)": lambda b, s: previous_forward(model, b, s)}
    results: dict[str, dict[int, dict[str, float]]] = {k: {} for k in kernels}
    with torch.no_grad():
        diff = float((kernels["neighbour slots"](batches[64], sigmas[64])
                      - kernels["edge list (previous)"](batches[64], sigmas[64])).abs().max())
        scale = float(kernels["edge list (previous)"](batches[64], sigmas[64]).abs().max())
        for size, batch in batches.items():
            repeats = args.repeats if size == 64 else 5 * args.repeats
            samples: dict[str, list[tuple[float, float]]] = {k: [] for k in kernels}
            for fn in kernels.values():
                fn(batch, sigmas[size])  # warm up
            for _ in range(repeats):  # interleaved: both kernels see the same load
                for name, fn in kernels.items():
                    samples[name].append(timed(fn, batch, sigmas[size]))
            for name, values in samples.items():
                cpu = float(np.median([c for c, _ in values]))
                wall = float(np.median([w for _, w in values]))
                results[name][size] = {"cpu_ms": round(1e3 * cpu, 2),
                                       "wall_ms": round(1e3 * wall, 2),
                                       "cpu_ms_per_atom": round(1e3 * cpu / batch.n_atoms, 4),
                                       "repeats": repeats}
        profile = stage_profile(model, batches[64], sigmas[64], args.repeats)
    summary = {}
    for name, by_size in results.items():
        summary[name] = {"throughput_ratio_b64_over_b1": round(
            by_size[1]["cpu_ms_per_atom"] / by_size[64]["cpu_ms_per_atom"], 2)}
    new, old = results["neighbour slots"], results["edge list (previous)"]
    report = {
        "what": "one forward of the shipped model, CPU, float32, 20-atom crystals",
        "model": model.describe(), "threads": args.threads, "torch": torch.__version__,
        "cpu_count": os.cpu_count(), "load_average_1min": os.getloadavg()[0],
        "platform": platform.platform(), "results": results, "summary": summary,
        "speedup_per_atom_b64": round(old[64]["cpu_ms_per_atom"] / new[64]["cpu_ms_per_atom"], 2),
        "speedup_per_atom_b1": round(old[1]["cpu_ms_per_atom"] / new[1]["cpu_ms_per_atom"], 2),
        "max_abs_output_difference": diff, "max_abs_output": scale,
        "stage_profile_b64_cpu_ms": profile,
    }
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps({k: report[k] for k in ("speedup_per_atom_b64", "speedup_per_atom_b1",
                                               "summary", "stage_profile_b64_cpu_ms",
                                               "max_abs_output_difference")}, indent=1))


if __name__ == "__main__":
    main()
