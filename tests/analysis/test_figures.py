"""Figures: panels, lines, bands and colours, read back from the matplotlib objects."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib.colors as mcolors
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection, PolyCollection
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from pets.analysis.figures import (
    PALETTE,
    REFERENCE_GID,
    plot_ablation,
    plot_diagnostics,
    plot_learning_curves,
)
from pets.analysis.load import load_runs
from pets.analysis.tidy import DIAGNOSTIC_COLUMNS, categorize

T = 1000  # steps per episode; ninit = 1 → iteration i ends at (1 + i)·1000 env steps


def _tidy(runs: dict[tuple[str, str, str, int], Sequence[float]]) -> pd.DataFrame:
    """Tidy rows from `{(env, method, opt, seed): max-so-far returns}`."""
    rows = []
    for (env, method, opt, seed), best in runs.items():
        model, prop = method.split("-")
        for i, value in enumerate(best, start=1):
            rows.append((env, model, prop, opt, method, seed, i, (1 + i) * T, value, value))
    columns = ["env", "model", "prop", "opt", "method", "seed", "iteration", "env_steps"]
    return categorize(pd.DataFrame(rows, columns=[*columns, "episode_return", "max_return"]))


# cartpole PE-TSinf: max-so-far (10, 30, 30) and (20, 20, 40) → mean 15, 25, 35, se 5, 5, 5
# cartpole DE-E:     (5, 5, 5) and (7, 7, 7)                → mean 6, se 1
# pusher PE-TSinf:   (−90, −80, −70) and (−100, −80, −60)   → mean −95, −80, −65, se 5, 0, 5
RUNS = {
    ("cartpole", "PE-TSinf", "CEM", 0): [10.0, 30.0, 30.0],
    ("cartpole", "PE-TSinf", "CEM", 1): [20.0, 20.0, 40.0],
    ("cartpole", "DE-E", "CEM", 0): [5.0, 5.0, 5.0],
    ("cartpole", "DE-E", "CEM", 1): [7.0, 7.0, 7.0],
    ("pusher", "PE-TSinf", "CEM", 0): [-90.0, -80.0, -70.0],
    ("pusher", "PE-TSinf", "CEM", 1): [-100.0, -80.0, -60.0],
}


def _data_lines(ax: Axes) -> list[Line2D]:
    return [line for line in ax.get_lines() if line.get_gid() != REFERENCE_GID]


def _reference_lines(ax: Axes) -> list[Line2D]:
    return [line for line in ax.get_lines() if line.get_gid() == REFERENCE_GID]


def _same_colour(a: object, b: object) -> bool:
    return np.allclose(mcolors.to_rgba(a), mcolors.to_rgba(b))


def test_plot_learning_curves_panels_lines_bands_references() -> None:
    fig = plot_learning_curves(_tidy(RUNS))
    assert isinstance(fig, Figure)
    cart, push = fig.axes
    assert [ax.get_title() for ax in fig.axes] == ["Cartpole", "7-DOF Pusher"]
    assert cart.get_xlabel() == "environment steps" and cart.get_ylabel() == "max return so far"

    lines = _data_lines(cart)
    assert [line.get_label() for line in lines] == ["DE-E", "PE-TSinf"]  # model order D<P<DE<PE
    assert all(_same_colour(line.get_color(), PALETTE[line.get_label()]) for line in lines)
    np.testing.assert_allclose(lines[1].get_xdata(), [2000, 3000, 4000])
    np.testing.assert_allclose(lines[1].get_ydata(), [15.0, 25.0, 35.0])
    np.testing.assert_allclose(lines[0].get_ydata(), [6.0, 6.0, 6.0])

    bands = [c for c in cart.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 2  # one ± standard-error band per line
    ys = bands[1].get_paths()[0].vertices[:, 1]
    assert (ys.min(), ys.max()) == pytest.approx((10.0, 40.0))  # 15 − 5 … 35 + 5

    # The reference curve over our 4,000 steps (docs/spec/pets-facts.md §10 read-offs): cartpole
    # (1,400, 175) and (3,000, 180); pusher's first point (3,000, −80), its next (15,000, −67)
    # lies beyond twice our steps and is named in a note instead.
    (ref,) = _reference_lines(cart)
    assert ref.get_linestyle() == "--"
    assert (list(ref.get_xdata()), list(ref.get_ydata())) == ([1400, 3000], [175.0, 180.0])
    (ref,) = _reference_lines(push)
    assert (list(ref.get_xdata()), list(ref.get_ydata())) == ([3000], [-80.0])
    (note,) = [t for t in push.texts if t.get_gid() == "reference"]
    assert note.get_text() == "TF original: -67 at 15,000 steps"
    np.testing.assert_allclose(_data_lines(push)[0].get_ydata(), [-95.0, -80.0, -65.0])

    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["DE-E", "PE-TSinf", "TF original (ref.)"]


def test_a_reference_far_beyond_our_steps_does_not_flatten_the_curves() -> None:
    """Half-cheetah's only read-off is 15,000 at 300,000 steps; 10 trials end at 11,000."""
    fig = plot_learning_curves(_tidy({("halfcheetah", "PE-TSinf", "CEM", 0): [-50.0] * 9 + [300]}))
    (ax,) = fig.axes
    assert not _reference_lines(ax)
    assert ax.get_ylim()[1] < 1000  # the axis follows our returns, not the 15,000 level
    (note,) = [t for t in ax.texts if t.get_gid() == "reference"]
    assert note.get_text() == "TF original: 15,000 at 300,000 steps"


def test_plot_learning_curves_subset_one_env_one_seed() -> None:
    fig = plot_learning_curves(_tidy({("reacher", "P-DS", "CEM", 3): [-70.0, -60.0]}))
    (ax,) = fig.axes
    (line,) = _data_lines(ax)
    assert line.get_label() == "P-DS" and _same_colour(line.get_color(), PALETTE["P-DS"])
    assert not [c for c in ax.collections if isinstance(c, PolyCollection)]  # no band, one seed
    assert len(_reference_lines(ax)) == 1
    (point,) = _data_lines(
        plot_learning_curves(_tidy({("reacher", "P-DS", "CEM", 3): [-7.0]})).axes[0]
    )
    assert point.get_marker() == "o"  # one iteration: drawn as a visible point


def test_plot_learning_curves_two_optimizers_and_unknown_env() -> None:
    runs = {
        ("cartpole", "PE-TSinf", "CEM", 0): [1.0, 2.0],
        ("cartpole", "PE-TSinf", "Random", 0): [1.0, 1.5],
        ("pendulum", "PE-TSinf", "CEM", 0): [3.0, 4.0],
    }
    fig = plot_learning_curves(_tidy(runs))
    cart, pend = fig.axes
    cem, rnd = _data_lines(cart)
    assert (cem.get_label(), rnd.get_label()) == ("PE-TSinf (CEM)", "PE-TSinf (Random)")
    assert _same_colour(cem.get_color(), rnd.get_color())  # colour = method, style = optimizer
    assert cem.get_linestyle() == "-" and rnd.get_linestyle() != "-"
    assert pend.get_title() == "pendulum" and not _reference_lines(pend)  # no reference known
    (legend,) = fig.legends  # methods by colour, optimizers by style: not their product
    assert [t.get_text() for t in legend.get_texts()] == [
        "PE-TSinf",
        "CEM",
        "Random",
        "TF original (ref.)",
    ]

    fig = plot_ablation(_tidy(runs))
    cart = fig.axes[0]
    assert [t.get_text() for t in cart.get_xticklabels()] == ["PE-TSinf"]
    cem, rnd = (c for c in cart.containers if isinstance(c, ErrorbarContainer))
    assert (cem.get_label(), rnd.get_label()) == ("PE-TSinf (CEM)", "PE-TSinf (Random)")
    # side by side around the method's tick; final max-so-far 2.0 and 1.5
    assert list(cem.lines[0].get_xdata()) == [-0.15] and list(rnd.lines[0].get_xdata()) == [0.15]
    assert list(cem.lines[0].get_ydata()) == [2.0] and list(rnd.lines[0].get_ydata()) == [1.5]
    assert cem.lines[0].get_marker() != rnd.lines[0].get_marker()


def test_plot_ablation_final_returns_per_method() -> None:
    fig = plot_ablation(_tidy(RUNS))
    cart, push = fig.axes
    assert [t.get_text() for t in cart.get_xticklabels()] == ["DE-E", "PE-TSinf"]
    assert [t.get_text() for t in push.get_xticklabels()] == ["PE-TSinf"]
    de, pe = (c for c in cart.containers if isinstance(c, ErrorbarContainer))
    # final max-so-far: PE-TSinf 30, 40 → mean 35, se 5; DE-E 5, 7 → mean 6, se 1
    assert list(pe.lines[0].get_ydata()) == [35.0] and list(de.lines[0].get_ydata()) == [6.0]
    (segment,) = pe.lines[2][0].get_segments()
    np.testing.assert_allclose(segment[:, 1], [30.0, 40.0])
    assert _same_colour(pe.lines[0].get_color(), PALETTE["PE-TSinf"])
    seeds = [c for c in cart.collections if isinstance(c, PathCollection)]
    assert [len(c.get_offsets()) for c in seeds] == [2, 2]  # one dot per seed
    assert sorted(c.get_offsets()[:, 1].tolist() for c in seeds) == [[5.0, 7.0], [30.0, 40.0]]
    assert len(_reference_lines(cart)) == 1 and cart.get_ylabel() == "final max return so far"


def _diagnostics(loss: bool = True) -> pd.DataFrame:
    rows = []
    for env in ("cartpole", "reacher"):
        for seed in (0, 1):
            for it in (1, 2):
                ms = 10.0 + seed + it
                rows.append((env, "PE", "TSinf", "CEM", "PE-TSinf", seed, it, (1 + it) * T,
                             0.5 * it if loss else np.nan, 1.0, 2.0, ms))  # fmt: skip
    return categorize(pd.DataFrame(rows, columns=list(DIAGNOSTIC_COLUMNS)), DIAGNOSTIC_COLUMNS)


def test_plot_diagnostics_rows_per_diagnostic_columns_per_env() -> None:
    fig = plot_diagnostics(_diagnostics())
    assert len(fig.axes) == 4  # (loss, ms per action) × (cartpole, reacher)
    assert [ax.get_ylabel() for ax in fig.axes] == [
        "model training loss",
        "",
        "planning time per action [ms]",
        "",
    ]
    assert [ax.get_title() for ax in fig.axes[:2]] == ["Cartpole", "7-DOF Reacher"]
    assert fig.axes[2].get_xlabel() == "iteration"
    (loss,) = _data_lines(fig.axes[0])
    np.testing.assert_allclose(loss.get_ydata(), [0.5, 1.0])
    (ms,) = _data_lines(fig.axes[2])
    np.testing.assert_allclose(ms.get_ydata(), [11.5, 12.5])  # seeds 0, 1: 10 + s + i
    assert _same_colour(ms.get_color(), PALETTE["PE-TSinf"])


def test_plot_diagnostics_drops_empty_rows_and_says_when_nothing() -> None:
    fig = plot_diagnostics(_diagnostics(loss=False))
    assert len(fig.axes) == 2
    assert fig.axes[0].get_ylabel() == "planning time per action [ms]"
    empty = plot_diagnostics(_diagnostics().iloc[0:0])
    (ax,) = empty.axes
    assert not ax.axison and "no progress.csv" in ax.texts[0].get_text()


def test_plots_of_no_runs_say_so() -> None:
    empty = _tidy({})
    for plot in (plot_learning_curves, plot_ablation):
        (ax,) = plot(empty).axes
        assert "no runs" in ax.texts[0].get_text()


def test_palette_is_fixed_per_method_and_distinct() -> None:
    methods = ["D-E", "P-E", "P-DS", "P-MM", *(f"{m}-{p}" for m in ("DE", "PE")
               for p in ("E", "DS", "TS1", "TSinf", "MM"))]  # fmt: skip
    colours = {tuple(np.round(PALETTE[m], 6)) for m in methods}
    assert len(colours) == len(methods)  # the 14 valid model × prop pairs all differ


def test_learning_curve_plots_max_so_far_not_raw_returns(make_run: Callable[..., Path]) -> None:
    # raw returns that fall and rise again, so raw and max-so-far differ in two columns
    raw = [[5.0, 1.0, 8.0, 3.0], [2.0, 6.0, 4.0, 9.0]]
    runs = [make_run(r, env="cartpole", seed=s) for s, r in enumerate(raw)]
    frame = load_runs(runs).returns
    fig = plot_learning_curves(frame)
    (line,) = _data_lines(fig.axes[0])
    # oracle: the running maximum per seed (docs/spec/pets-facts.md §10), then the mean over the
    # two seeds
    best = np.maximum.accumulate(np.asarray(raw), axis=1)
    np.testing.assert_allclose(line.get_ydata(), best.mean(axis=0))  # 3.5, 5.5, 7, 8.5
    assert not np.allclose(line.get_ydata(), np.mean(raw, axis=0))
    bands = [c for c in fig.axes[0].collections if isinstance(c, PolyCollection)]
    se = best.std(axis=0, ddof=1) / np.sqrt(2)
    ys = bands[0].get_paths()[0].vertices[:, 1]
    assert (ys.min(), ys.max()) == pytest.approx(
        ((best.mean(axis=0) - se).min(), (best.mean(axis=0) + se).max())
    )


def test_seeds_that_reach_an_iteration_at_different_steps_are_averaged_per_iteration() -> None:
    """Rollouts that end early: seed 0 reaches iterations 1, 2 at 100, 300 env steps with
    max-so-far 10, 50; seed 1 at 200, 500 with 20, 30. One point per iteration, at the mean
    steps (150, 400) with the mean return (15, 40); grouped by steps it would be four points of
    one seed each, going down from 50 to 30."""
    rows = [
        ("Hopper-v5", "PE", "TSinf", "CEM", "PE-TSinf", 0, 1, 100, 10.0, 10.0),
        ("Hopper-v5", "PE", "TSinf", "CEM", "PE-TSinf", 0, 2, 300, 50.0, 50.0),
        ("Hopper-v5", "PE", "TSinf", "CEM", "PE-TSinf", 1, 1, 200, 20.0, 20.0),
        ("Hopper-v5", "PE", "TSinf", "CEM", "PE-TSinf", 1, 2, 500, 30.0, 30.0),
    ]
    columns = ["env", "model", "prop", "opt", "method", "seed", "iteration", "env_steps"]
    df = categorize(pd.DataFrame(rows, columns=[*columns, "episode_return", "max_return"]))
    (line,) = _data_lines(plot_learning_curves(df, references={}).axes[0])
    np.testing.assert_allclose(line.get_xdata(), [150.0, 400.0])
    np.testing.assert_allclose(line.get_ydata(), [15.0, 40.0])
