"""Figures of a results table (matplotlib, Agg canvas; no pyplot, no display needed).

Each ``*_figure`` function takes the results DataFrame and returns a matplotlib
``Figure``, or ``None`` when the table holds nothing to plot (the report then says so).
Colours follow the paper, blue for unconditional generation and orange for inpainting;
every other mode has its own colour too (:mod:`campaign.report.modes`), the same in every
figure.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from campaign.report.modes import MODE_COLORS, MODE_LABELS, mode_color, mode_label, mode_order

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = [
    "E_D_SCREENING_THRESHOLD",
    "MODE_COLORS",
    "MODE_LABELS",
    "e_d_figure",
    "new_figure",
    "relaxation_figure",
    "save_figure",
    "spacegroup_figure",
    "symmetry_rate_figure",
    "symmetry_rates",
]

E_D_SCREENING_THRESHOLD = 0.030  # eV/atom, the paper's suggested DFT screening threshold
FIGURE_DPI = 120


def new_figure(width: float = 6.4, height: float = 4.0) -> Figure:
    """A figure on its own Agg canvas (inches); independent of the pyplot backend."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as PNG (parent folders created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=FIGURE_DPI)
    return path


def _modes(table: pd.DataFrame) -> list[str]:
    return mode_order(table["mode"].dropna())


def _ok(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["status"] == "ok"]


# ------------------------------------------------------------------ symmetry (Fig. 6)
def symmetry_rates(table: pd.DataFrame) -> pd.DataFrame:
    """Symmetry success rate per (atoms per cell, mode): the fraction of successful
    candidates whose relaxed space group is above P1 / P-1 (paper Fig. 4f / 6).

    Columns: ``n_atoms``, ``mode``, ``n`` (successful candidates with a space group),
    ``n_symmetric``, ``rate``. Failed candidates are not counted.
    """
    import pandas as pd

    ok = _ok(table)
    ok = ok[ok["is_symmetric"].notna()]
    if ok.empty:
        return pd.DataFrame(columns=["n_atoms", "mode", "n", "n_symmetric", "rate"])
    sym = ok["is_symmetric"].astype(bool)
    grouped = sym.groupby([ok["n_atoms"].astype(int), ok["mode"]])
    out = pd.DataFrame({"n": grouped.size(), "n_symmetric": grouped.sum().astype(int)})
    out["rate"] = out["n_symmetric"] / out["n"]
    return out.reset_index().sort_values(["n_atoms", "mode"]).reset_index(drop=True)


def symmetry_rate_figure(table: pd.DataFrame) -> Figure | None:
    """Grouped bars: symmetry success rate versus atoms per cell, one bar per mode; the
    number of candidates behind each bar is written on it."""
    rates = symmetry_rates(table)
    if rates.empty:
        return None
    sizes = sorted(rates["n_atoms"].unique())
    modes = _modes(rates)
    fig = new_figure(max(5.0, 0.6 * len(sizes) * len(modes) + 2.0), 3.8)
    ax = fig.add_subplot()
    width = 0.8 / len(modes)
    x = np.arange(len(sizes))
    for k, mode in enumerate(modes):
        sub = rates[rates["mode"] == mode].set_index("n_atoms")
        heights = [100 * float(sub.at[n, "rate"]) if n in sub.index else 0.0 for n in sizes]
        pos = x + (k - (len(modes) - 1) / 2) * width
        ax.bar(pos, heights, width, color=mode_color(mode), label=mode_label(mode))
        for p, h, n in zip(pos, heights, sizes, strict=True):
            if n in sub.index:
                ax.annotate(f"n={int(sub.at[n, 'n'])}", (p, h), ha="center", va="bottom",
                            fontsize=7, xytext=(0, 1), textcoords="offset points")
    ax.set_xticks(x, [str(n) for n in sizes])
    ax.set_xlabel("atoms per cell")
    ax.set_ylabel("symmetry success rate (%)")
    ax.set_ylim(0, 122)
    ax.set_yticks(range(0, 101, 20))
    ax.set_title("Relaxed space group above P1 / P-1")
    ax.legend(frameon=False, loc="upper center", ncols=len(modes), fontsize=8)
    return fig


# ------------------------------------------------------------------ relaxation (Fig. 4a, b)
def _histograms(ax, table: pd.DataFrame, column: str, bins: np.ndarray, unit: str) -> bool:
    drawn = False
    for mode in _modes(table):
        values = table.loc[table["mode"] == mode, column].dropna().to_numpy(float)
        values = values[np.isfinite(values)]
        if not len(values):
            continue
        median = float(np.median(values))
        label = f"{mode_label(mode)} (median {median:.3g} {unit}, n={len(values)})"
        ax.hist(values, bins=bins, alpha=0.6, color=mode_color(mode), label=label)
        ax.axvline(median, color=mode_color(mode), linestyle="--", linewidth=1)
        drawn = True
    if drawn:
        ax.legend(frameon=False, fontsize=7)
    _integer_counts(ax)
    return drawn


def _integer_counts(ax) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))


def _bins(values: np.ndarray, n: int = 30) -> np.ndarray:
    values = values[np.isfinite(values)]
    lo, hi = (float(values.min()), float(values.max())) if len(values) else (0.0, 1.0)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5 * max(abs(lo), 1e-3), hi + 0.5 * max(abs(hi), 1e-3)
    return np.linspace(lo, hi, n + 1)


def relaxation_figure(table: pd.DataFrame) -> Figure | None:
    """Distributions of the relaxation energy change Delta E (eV/atom, generated minus
    relaxed) and of the generated-to-relaxed RMSD (Å), per mode with medians."""
    ok = _ok(table)
    de = ok["delta_e_relax"].dropna().to_numpy(float)
    rmsd = ok["rmsd_relax"].dropna().to_numpy(float)
    if not len(de) and not len(rmsd):
        return None
    fig = new_figure(9.0, 3.6)
    ax_e, ax_r = fig.subplots(1, 2)
    _histograms(ax_e, ok, "delta_e_relax", _bins(de), "eV/atom")
    ax_e.set_xlabel(r"relaxation $\Delta E$ (eV/atom)")
    ax_e.set_ylabel("candidates")
    ax_e.set_title("(a) energy change on relaxation")
    _histograms(ax_r, ok, "rmsd_relax", _bins(rmsd), "Å")
    ax_r.set_xlabel("RMSD generated vs relaxed (Å)")
    ax_r.set_ylabel("candidates")
    ax_r.set_title("(b) structural change on relaxation")
    return fig


# ------------------------------------------------------------------ stability (Fig. 4c)
def e_d_figure(table: pd.DataFrame, threshold: float = E_D_SCREENING_THRESHOLD) -> Figure | None:
    """Distribution of the decomposition energy E_d (eV/atom) with lines at 0 (on or below
    the reference hull) and at ``threshold`` (suggested DFT screening, 30 meV/atom)."""
    ok = _ok(table)
    e_d = ok["e_d"].dropna().to_numpy(float)
    if not len(e_d):
        return None
    fig = new_figure(6.4, 3.8)
    ax = fig.add_subplot()
    _histograms(ax, ok, "e_d", _bins(np.append(e_d, [0.0, threshold]), 40), "eV/atom")
    ax.axvline(0.0, color="k", linewidth=1.2)
    ax.axvline(threshold, color="tab:red", linewidth=1.2, linestyle=":")
    top = ax.get_ylim()[1]
    ax.text(0.0, top, " 0", va="top", fontsize=8)
    ax.text(threshold, top, f" {1000 * threshold:.0f} meV/atom", va="top", fontsize=8,
            color="tab:red")
    frac0 = float(np.mean(e_d < 0))
    frac_t = float(np.mean(e_d < threshold))
    ax.set_title(f"E_d < 0: {100 * frac0:.1f}%   E_d < {1000 * threshold:.0f} meV/atom: "
                 f"{100 * frac_t:.1f}%  (n={len(e_d)})", fontsize=9)
    ax.set_xlabel(r"decomposition energy $E_d$ (eV/atom)")
    ax.set_ylabel("candidates")
    return fig


# ------------------------------------------------------------------ space groups
def spacegroup_figure(table: pd.DataFrame, max_groups: int = 25) -> Figure | None:
    """Counts of the relaxed candidates' space groups (the ``max_groups`` most common),
    stacked by mode, labelled 'symbol (number)'."""
    ok = _ok(table)
    ok = ok[ok["spacegroup_relaxed"].notna()]
    if ok.empty:
        return None
    numbers = ok["spacegroup_relaxed"].astype(int)
    symbols = ok["spacegroup_symbol_relaxed"].fillna("?").astype(str)
    labels = [f"{s} ({n})" for s, n in zip(symbols, numbers, strict=True)]
    frame = ok.assign(_label=labels, _number=numbers)
    counts = frame.groupby(["_label", "mode"]).size().unstack(fill_value=0)
    order = (frame.drop_duplicates("_label").set_index("_label")["_number"]
             .loc[counts.sum(axis=1).sort_values(ascending=False).index[:max_groups]]
             .sort_values())
    counts = counts.loc[order.index]
    fig = new_figure(max(5.0, 0.35 * len(counts) + 2.0), 3.8)
    ax = fig.add_subplot()
    bottom = np.zeros(len(counts))
    for mode in _modes(frame):
        if mode not in counts:
            continue
        values = counts[mode].to_numpy(float)
        ax.bar(np.arange(len(counts)), values, bottom=bottom, color=mode_color(mode),
               label=mode_label(mode))
        bottom += values
    ax.set_xticks(np.arange(len(counts)), list(counts.index), rotation=60, ha="right",
                  fontsize=8)
    ax.set_ylabel("relaxed candidates")
    _integer_counts(ax)
    ax.set_title("Space groups of relaxed candidates")
    ax.legend(frameon=False)
    return fig
