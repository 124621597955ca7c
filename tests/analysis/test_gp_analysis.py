"""GP methods in the tables' order, the palette and the ablation panel, like the ensembles'."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.colors import to_rgb

from pets.analysis.figures import PALETTE, method_color, plot_ablation
from pets.analysis.tidy import categorize, method_order

GP_METHODS = ["GP-E", "GP-DS", "GP-MM"]
GRID = ["D-E", "P-E", "P-DS", "P-MM"] + [
    f"{m}-{p}" for m in ("DE", "PE") for p in ("E", "DS", "TS1", "TSinf", "MM")
]


def test_gp_methods_come_after_the_ensembles_in_prop_order() -> None:
    assert method_order(["GP-MM", "PE-TSinf", "GP-E", "D-E", "GP-DS"]) == [
        "D-E", "PE-TSinf", "GP-E", "GP-DS", "GP-MM",
    ]  # fmt: skip


def test_gp_methods_have_their_own_fixed_colours() -> None:
    colours = {tuple(np.round(method_color(m), 6)) for m in GRID + GP_METHODS}
    assert len(colours) == 17  # all 14 grid methods and the 3 GP baselines differ
    assert all(m in PALETTE for m in GP_METHODS)  # fixed, not the hash fallback


def test_ablation_panel_shows_gp_methods_beside_pets() -> None:
    rows = []
    for method, best in (("PE-TSinf", 180.0), ("GP-MM", 120.0), ("GP-E", 60.0)):
        model, prop = method.split("-")
        for seed in (0, 1):
            value = best + seed
            rows.append(("cartpole", model, prop, "CEM", method, seed, 1, 400, value, value))
    columns = ["env", "model", "prop", "opt", "method", "seed", "iteration", "env_steps"]
    frame = categorize(pd.DataFrame(rows, columns=[*columns, "episode_return", "max_return"]))
    assert list(frame["model"].cat.categories) == ["PE", "GP"]
    (ax,) = plot_ablation(frame).axes
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks == ["PE-TSinf", "GP-E", "GP-MM"]
    # one error-bar marker per method, at the mean over the two seeds, in the method's colour
    markers = [line for line in ax.get_lines() if line.get_marker() == "o"]
    means = {tuple(np.round(to_rgb(m.get_color()), 6)): m.get_ydata()[0] for m in markers}
    assert means[tuple(np.round(PALETTE["GP-MM"], 6))] == 120.5
    assert means[tuple(np.round(PALETTE["GP-E"], 6))] == 60.5
