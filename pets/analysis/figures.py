"""Tidy frames → paper-style figures (learning curves, ablation, diagnostics).

Owns one function per figure, `plot_<what>(df) -> Figure`, drawn with seaborn on a plain
`matplotlib.figure.Figure` with the Agg canvas (no pyplot state, no display needed). They never
save: the caller writes PNG and PDF through `pets.util.fileio`. Colours are fixed per method
(`PALETTE`), line styles per optimizer, so a method looks the same in every figure. Sizes target
a two-column paper: one panel ≈ 3.4 in wide (a column), two panels side by side ≈ 6.8 in (the
full text width), fonts from seaborn's "paper" context. Must not import torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib as mpl
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import EngFormatter
from matplotlib.typing import LineStyleType

from pets.analysis.reference import Reference
from pets.analysis.reference import references as reference_table
from pets.analysis.tables import across_seeds, final_rows
from pets.analysis.tidy import MODEL_ORDER, PROP_ORDER
from pets.config.registry import optimizers
from pets.envs.registry import tasks

PANEL_WIDTH = 3.4  # inches: one column of a two-column paper
PANEL_HEIGHT = 2.5
REFERENCE_GID = "reference"  # gid of the dashed reference lines (tests find them by it)
# The learning curves draw the reference's next point past our last step only within this
# factor of our steps; a point further off is named in a note (see `_reference_curve`).
REFERENCE_REACH = 2.0
DIAGNOSTIC_LABELS = {
    "model_loss": "model training loss",
    "ms_per_action": "planning time per action [ms]",
}
# Line styles and markers by the optimizer's place in the registry: CEM solid with circles,
# Random dotted with diamonds, later ones dashed, dash-dotted, ...
_LINESTYLES: tuple[LineStyleType, ...] = ("-", (0, (1.5, 1.5)), "--", "-.", (0, (4, 1, 1, 1, 1, 1)))
_MARKERS = ("o", "D", "s", "^", "v", "P")


def _opt_style(opt: str) -> tuple[LineStyleType, str]:
    """(line style, marker) of optimizer `opt`; one not registered gets the last ones."""
    names = list(optimizers())
    i = names.index(opt) if opt in names else len(names)
    return _LINESTYLES[min(i, len(_LINESTYLES) - 1)], _MARKERS[min(i, len(_MARKERS) - 1)]


def _env_title(env: str) -> str:
    """The task's label from the registry (its short name if it is not registered)."""
    return tasks()[env].label if env in tasks() else env


# One hue family per model type, darker shades for the trajectory-sampling propagations, so
# PE-TSinf (PETS) is the darkest red (the family darkens E < DS < MM < TS1 < TSinf).
_MODEL_CMAPS = {"D": "Greys", "P": "Purples", "DE": "Blues", "PE": "Reds", "GP": "Greens"}
_PROP_SHADE = {"E": 0, "DS": 1, "MM": 2, "TS1": 3, "TSinf": 4}
PALETTE: dict[str, tuple[float, float, float]] = {
    f"{model}-{prop}": sns.color_palette(_MODEL_CMAPS[model], 8)[3 + _PROP_SHADE[prop]]
    for model in MODEL_ORDER
    for prop in PROP_ORDER
}
_FALLBACK_COLOURS = sns.color_palette("colorblind", 10)


def method_color(method: str) -> tuple[float, float, float]:
    """The fixed colour of a method; methods outside the grid get a stable fallback colour."""
    if method in PALETTE:
        return PALETTE[method]
    return _FALLBACK_COLOURS[sum(map(ord, method)) % len(_FALLBACK_COLOURS)]


def _apply_theme() -> None:
    # The one theme of every figure; set per call because rcParams are global state.
    sns.set_theme(
        context="paper",
        style="whitegrid",
        rc={"legend.frameon": False, "pdf.fonttype": 42},  # TrueType: no Type 3 fonts in PDFs
    )


def _new_figure(n_panels: int, *, ncols: int | None = None) -> tuple[Figure, list[Axes]]:
    """A figure with exactly `n_panels` axes on a grid (no empty slots)."""
    _apply_theme()
    ncols = ncols or (1 if n_panels == 1 else 2)
    nrows = math.ceil(n_panels / ncols)
    fig = Figure(figsize=(PANEL_WIDTH * ncols, PANEL_HEIGHT * nrows + 0.5), layout="constrained")
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(nrows, ncols, i + 1) for i in range(n_panels)]
    return fig, axes


def _placeholder(message: str) -> Figure:
    """A one-panel figure that says why there is nothing to draw."""
    fig, (ax,) = _new_figure(1)
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()
    return fig


def _present(df: pd.DataFrame, column: str) -> list[str]:
    """Levels of a factor that occur in `df`, in the factor's order."""
    values = set(df[column].astype(str))
    levels = df[column].cat.categories if hasattr(df[column], "cat") else sorted(values)
    return [str(v) for v in levels if str(v) in values]


def _line_label(method: str, opt: str, several_opts: bool) -> str:
    return f"{method} ({opt})" if several_opts else method


def _legend(fig: Figure, df: pd.DataFrame, *, reference: bool, lines: bool = True) -> None:
    """One legend for the whole figure: colour per method, style per optimizer, reference.

    With one optimizer each entry is a method's line; with several, the methods (solid) and
    the optimizers' line styles (or markers, `lines=False`) are listed apart, so the legend
    grows with methods + optimizers rather than their product.
    """
    opts = _present(df, "opt") if len(df) else []
    several = len(opts) > 1
    handles = []
    for method in _present(df, "method") if len(df) else []:
        style = "-" if several else _opt_style(opts[0])[0]
        marker = None if lines else ("o" if several else _opt_style(opts[0])[1])
        handles.append(
            Line2D(
                [],
                [],
                color=method_color(method),
                linestyle=style if lines else "none",
                marker=marker,
                label=method,
            )
        )
    if several:
        for opt in opts:
            handles.append(
                Line2D(
                    [],
                    [],
                    color="0.4",
                    linestyle=_opt_style(opt)[0] if lines else "none",
                    marker=None if lines else _opt_style(opt)[1],
                    label=opt,
                )
            )
    if reference:
        handles.append(Line2D([], [], color="0.2", linestyle="--", label="TF original (ref.)"))
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncols=min(4, len(handles)))


def _reference_line(ax: Axes, ref: Reference | None) -> bool:
    if ref is None:
        return False
    ax.axhline(ref.value, color="0.2", linestyle="--", linewidth=1.0, gid=REFERENCE_GID)
    return True


def _reference_curve(ax: Axes, ref: Reference | None, steps: float) -> bool:
    """The reference over our step range: the points read off the original's curve up to the
    first one at or after our last step (`steps`), dashed. A first point beyond
    `REFERENCE_REACH` × our steps (half-cheetah's 15,000 at 300,000 steps after our 11,000) is
    named in a corner note instead, so that it cannot flatten our curves to the axis. A
    reference without curve points is its level, flat. Returns whether a line was drawn."""
    if ref is None:
        return False
    if not ref.curve:
        return _reference_line(ax, ref)
    points = [p for p in ref.curve if p[0] <= steps]
    beyond = next((p for p in ref.curve if p[0] > steps), None)
    if beyond is not None and beyond[0] <= REFERENCE_REACH * steps:
        points.append(beyond)
    elif beyond is not None:
        ax.annotate(
            f"TF original: {beyond[1]:,.0f} at {beyond[0]:,} steps",
            xy=(0.98, 0.03), xycoords="axes fraction", ha="right", va="bottom",
            fontsize=6, color="0.2", gid=REFERENCE_GID,
        )  # fmt: skip
    if not points:
        return False
    xs, ys = zip(*points, strict=True)
    ax.plot(xs, ys, color="0.2", linestyle="--", linewidth=1.0, marker="x", markersize=4,
            gid=REFERENCE_GID)  # fmt: skip
    return True


def _lines(ax: Axes, df: pd.DataFrame, x: str, y: str, several_opts: bool) -> None:
    """Mean ± standard error across seeds of `y` against `x`, one line per method × opt.

    Drawn with matplotlib from one vectorised aggregation (`tables.across_seeds`): seaborn's
    lineplot aggregates each x value in Python, minutes for the full grid.
    """
    stats = across_seeds(df, x, y)
    for (method, opt), line in stats.groupby(["method", "opt"], observed=True, sort=True):
        method, opt = str(method), str(opt)
        colour = method_color(method)
        xs, mean, se = (line[c].to_numpy(dtype=float) for c in (x, "mean", "se"))
        ax.plot(
            xs,
            mean,
            color=colour,
            linestyle=_opt_style(opt)[0],
            marker="o" if len(xs) == 1 else None,  # a single iteration is a point, not a line
            markersize=3,
            label=_line_label(method, opt, several_opts),
        )
        if np.isfinite(se).any():
            ax.fill_between(xs, mean - se, mean + se, color=colour, alpha=0.2, linewidth=0)


# --- the figures -------------------------------------------------------------------------------


def plot_learning_curves(
    df: pd.DataFrame, *, references: Mapping[str, Reference] | None = None
) -> Figure:
    """Paper Figure 3: max-so-far return against env steps, one panel per env present.

    One line per method (× optimizer when several are present): the mean across seeds at each
    iteration, drawn at the seeds' mean env steps there, with a band of ± one standard error of
    the mean across seeds (no band with one seed). The dashed
    line is the original's reference curve over our step range (the task registry's points, or
    `references`; `_reference_curve`).

    Args:
        df: the tidy frame (`load.TIDY_COLUMNS`), any subset.
        references: env → reference return.

    Returns:
        The figure (not saved).
    """
    refs = reference_table() if references is None else references
    envs = _present(df, "env") if len(df) else []
    if not envs:
        return _placeholder("no runs to plot")
    fig, axes = _new_figure(len(envs))
    several = len(_present(df, "opt")) > 1
    any_ref = False
    for i, (ax, env) in enumerate(zip(axes, envs, strict=True)):
        sub = df[df["env"] == env]
        # Seeds whose rollouts end early reach an iteration at different env steps: average the
        # seeds per iteration, at the iteration's mean env steps (equal steps: the same curve).
        cell = sub.groupby(["method", "opt", "iteration"], observed=True)["env_steps"]
        sub = sub.assign(env_steps=cell.transform("mean"))
        _lines(ax, sub, "env_steps", "max_return", several)
        any_ref |= _reference_curve(ax, refs.get(env), float(sub["env_steps"].max()))
        ax.set_title(_env_title(env))
        ax.xaxis.set_major_formatter(EngFormatter(sep=""))
        ax.set_xlabel("environment steps" if i + _ncols(len(envs)) >= len(envs) else "")
        ax.set_ylabel("max return so far" if i % _ncols(len(envs)) == 0 else "")
    _legend(fig, df, reference=any_ref)
    return fig


def _ncols(n_panels: int) -> int:
    return 1 if n_panels == 1 else 2


def plot_ablation(df: pd.DataFrame, *, references: Mapping[str, Reference] | None = None) -> Figure:
    """Ablation: final max-so-far return per model × propagation, one panel per env present.

    One marker per method and optimizer (circles CEM, diamonds Random, side by side at the
    method's tick): the mean across seeds of each run's final max-so-far return, error bar ± one
    standard error of the mean across seeds (none with one seed), small dots for the single
    seeds; dashed line: the original's reference return. Markers rather than bars because the
    reacher and pusher returns are negative and close together.

    Args:
        df: the tidy frame (`load.TIDY_COLUMNS`), any subset.
        references: env → reference return.

    Returns:
        The figure (not saved).
    """
    refs = reference_table() if references is None else references
    finals = final_rows(df) if len(df) else df
    envs = _present(finals, "env") if len(finals) else []
    if not envs:
        return _placeholder("no runs to plot")
    fig, axes = _new_figure(len(envs))
    opts = _present(finals, "opt")
    several = len(opts) > 1
    # optimizers side by side around each method's tick
    shift = {o: (k - (len(opts) - 1) / 2) * 0.3 for k, o in enumerate(opts)}
    any_ref = False
    for i, (ax, env) in enumerate(zip(axes, envs, strict=True)):
        sub = finals[finals["env"] == env]
        methods = _present(sub, "method")
        stats = across_seeds(sub.assign(final="final"), "final", "max_return")
        for row in stats.itertuples(index=False):
            method, opt = str(row.method), str(row.opt)
            pos = methods.index(method) + shift[opt]
            ax.errorbar(
                [pos],
                [row.mean],
                yerr=[row.se] if np.isfinite(row.se) else None,
                fmt=_opt_style(opt)[1],
                color=method_color(method),
                markersize=5,
                capsize=2.5,
                label=_line_label(method, opt, several),
            )
            seeds = sub[(sub["method"] == method) & (sub["opt"] == opt)]["max_return"]
            offsets = np.linspace(-0.08, 0.08, len(seeds)) if len(seeds) > 1 else np.zeros(1)
            ax.scatter(pos + offsets, seeds, s=4, color="0.3", linewidths=0, zorder=3)
        any_ref |= _reference_line(ax, refs.get(env))
        ax.set_xticks(range(len(methods)), methods, rotation=90)
        ax.set_xlim(-0.6, len(methods) - 0.4)
        ax.set_title(_env_title(env))
        ax.set_ylabel("final max return so far" if i % _ncols(len(envs)) == 0 else "")
    _legend(fig, finals, reference=any_ref, lines=False)
    return fig


def plot_diagnostics(
    df: pd.DataFrame, *, columns: Sequence[str] = tuple(DIAGNOSTIC_LABELS)
) -> Figure:
    """Per-run diagnostics over iterations: model training loss and planning ms per action.

    One row of panels per diagnostic that has data, one column per env that has data; one line
    per method (× optimizer) with a band of ± one standard error across seeds. The loss is the
    last-epoch training loss as logged (NLL for P/PE, ½·MSE for D/DE: compare within a model
    type only).

    Args:
        df: the diagnostics frame (`load.DIAGNOSTIC_COLUMNS`), any subset.
        columns: which diagnostics to draw, in row order.

    Returns:
        The figure (not saved); a one-panel note when no run has a progress.csv.
    """
    finite = {c: df[np.isfinite(df[c].to_numpy(dtype=float))] for c in columns} if len(df) else {}
    rows = [c for c in columns if len(finite.get(c, ()))]
    envs = [
        e
        for e in (_present(df, "env") if len(df) else [])
        if any((finite[c]["env"] == e).any() for c in rows)
    ]
    if not rows or not envs:
        return _placeholder("no diagnostics (no progress.csv in these runs)")
    _apply_theme()
    fig = Figure(
        figsize=(max(PANEL_WIDTH, 1.75 * len(envs)), PANEL_HEIGHT * len(rows) + 0.5),
        layout="constrained",
    )
    FigureCanvasAgg(fig)
    several = len(_present(df, "opt")) > 1
    for r, column in enumerate(rows):
        for c, env in enumerate(envs):
            ax = fig.add_subplot(len(rows), len(envs), r * len(envs) + c + 1)
            panel = finite[column][finite[column]["env"] == env]
            _lines(ax, panel, "iteration", column, several)
            if panel.empty:
                ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
            ax.set_title(_env_title(env) if r == 0 else "")
            ax.set_xlabel("iteration" if r == len(rows) - 1 else "")
            ax.set_ylabel(DIAGNOSTIC_LABELS.get(column, column) if c == 0 else "")
            ax.xaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True, nbins=4))
    _legend(fig, df, reference=False)
    return fig
