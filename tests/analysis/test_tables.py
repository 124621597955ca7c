"""Summary tables, CIs, reference comparisons and metrics (pets.analysis.tables, .reference)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from pets.analysis.load import load_runs
from pets.analysis.reference import (
    RandomPolicyReturns,
    ratio_to_reference,
    reference_near,
    references,
    threshold_return,
)
from pets.analysis.tables import (
    SUMMARY_COLUMNS,
    across_seeds,
    bootstrap_ci,
    final_rows,
    metrics,
    steps_to_threshold,
    summarize,
    summary_markdown,
    to_csv_text,
    verdict_lines,
)
from pets.analysis.tidy import TIDY_COLUMNS, categorize

RunWriter = Callable[..., Path]  # the make_run fixture (conftest.py)

# cartpole PE-TSinf CEM, T = 10, ninit = 1 → env steps 20, 30, 40
#   seed 0 returns 100 170 150 → max-so-far 100 170 170
#   seed 1 returns 120 160 190 → max-so-far 120 160 190
#   seed 2 returns  80 150 175 → max-so-far  80 150 175
CARTPOLE = {0: [100.0, 170.0, 150.0], 1: [120.0, 160.0, 190.0], 2: [80.0, 150.0, 175.0]}
# reacher DE-E CEM, one seed: max-so-far −60 −45 −45, final raw −50
REACHER = [-60.0, -45.0, -50.0]


@pytest.fixture
def tidy(make_run: RunWriter, tmp_path: Path) -> pd.DataFrame:
    make_run(REACHER, env="reacher", model="DE", prop="E")  # written first, sorted second
    for seed, returns in CARTPOLE.items():
        make_run(returns, env="cartpole", seed=seed)
    return load_runs([tmp_path / "runs"]).returns


def _bootstrap(values: list[float]) -> tuple[float, float]:
    res = scipy.stats.bootstrap(
        (np.array(values),), np.mean, method="percentile", n_resamples=9999,
        confidence_level=0.95, rng=np.random.default_rng(0),
    )  # fmt: skip
    return res.confidence_interval.low, res.confidence_interval.high


def test_summarize_known_returns(tidy: pd.DataFrame) -> None:
    summary = summarize(tidy)
    assert tuple(summary.columns) == SUMMARY_COLUMNS
    assert summary["env"].astype(str).tolist() == ["cartpole", "reacher"]
    cart, reach = summary.iloc[0], summary.iloc[1]

    assert (cart.method, cart.opt, cart.n_seeds) == ("PE-TSinf", "CEM", 3)
    assert (cart.final_iteration, cart.final_env_steps) == (3, 40)
    # final max-so-far 170, 190, 175 → 535/3; final raw 150, 190, 175 → 515/3
    assert cart.final_max_return_mean == pytest.approx(535 / 3)
    assert cart.final_return_mean == pytest.approx(515 / 3)
    low, high = _bootstrap([170.0, 190.0, 175.0])
    assert (cart.final_max_return_ci_low, cart.final_max_return_ci_high) == (low, high)
    low, high = _bootstrap([150.0, 190.0, 175.0])
    assert (cart.final_return_ci_low, cart.final_return_ci_high) == (low, high)
    assert (
        cart.ref_return == 180.0 and cart.ref_env_steps == 3000 and "quanvuong" in cart.ref_source
    )
    assert cart.ratio_to_ref == pytest.approx((535 / 3) / 180)
    # threshold 0.9·180 = 162; seed-mean max-so-far 100, 160, 178.3 → first reached at iter 3
    assert cart.threshold_return == pytest.approx(162.0)
    assert cart.steps_to_threshold == 40
    assert cart.n_seeds_reached == 3  # each seed's best: 170, 190, 175 ≥ 162

    assert (reach.method, reach.n_seeds) == ("DE-E", 1)
    assert reach.final_max_return_mean == -45.0 and reach.final_return_mean == -50.0
    assert math.isnan(reach.final_max_return_ci_low) and math.isnan(reach.final_return_ci_high)
    # cost ratio −38 / −45; threshold −38 / 0.9 = −42.2 is never reached (best −45)
    assert reach.ratio_to_ref == pytest.approx(38 / 45)
    assert reach.threshold_return == pytest.approx(-38 / 0.9)
    assert pd.isna(reach.steps_to_threshold) and reach.n_seeds_reached == 0


def test_summarize_is_deterministic_and_csv_stable(tidy: pd.DataFrame) -> None:
    assert to_csv_text(summarize(tidy)) == to_csv_text(
        summarize(tidy.sample(frac=1, random_state=1))
    )


def test_bootstrap_ci_matches_scipy_and_handles_small_samples() -> None:
    values = [3.0, 1.0, 4.0, 1.0, 5.0]
    assert bootstrap_ci(np.array(values)) == _bootstrap(values)
    assert all(math.isnan(v) for v in bootstrap_ci(np.array([2.0])))
    assert bootstrap_ci(np.array([2.0, 2.0])) == (2.0, 2.0)  # degenerate but defined


def test_final_rows_take_each_runs_last_iteration(tidy: pd.DataFrame) -> None:
    shorter = tidy[~((tidy["seed"] == 2) & (tidy["iteration"] == 3))]  # seed 2 stopped early
    finals = final_rows(shorter)
    cart = finals[finals["env"] == "cartpole"].set_index("seed")
    assert cart["iteration"].to_dict() == {0: 3, 1: 3, 2: 2}
    assert cart["max_return"].to_dict() == {0: 170.0, 1: 190.0, 2: 150.0}


def test_across_seeds_mean_and_standard_error(tidy: pd.DataFrame) -> None:
    stats = across_seeds(tidy[tidy["env"] == "cartpole"], "env_steps", "max_return")
    # at 20 steps: 100, 120, 80 → mean 100, sd 20, se 20/√3
    first = stats.iloc[0]
    assert (first.env_steps, first["mean"], first.n) == (20, 100.0, 3)
    assert first.se == pytest.approx(20 / np.sqrt(3))
    single = across_seeds(tidy[tidy["env"] == "reacher"], "env_steps", "max_return")
    assert single["se"].isna().all() and single["mean"].tolist() == [-60.0, -45.0, -45.0]


@pytest.mark.parametrize(
    ("ours", "ref", "ratio", "threshold"),
    [
        (162.0, 180.0, 0.9, 162.0),  # rewards: ours / ref, 0.9·ref
        (-40.0, -38.0, 0.95, -38 / 0.9),  # costs: ref / ours, ref / 0.9
        (-76.0, -38.0, 0.5, -38 / 0.9),  # twice the reference cost → half as good
        (1.0, -38.0, math.inf, -38 / 0.9),  # no cost at all
    ],
    ids=["reward", "cost", "cost-half", "cost-zero"],
)
def test_reference_ratio_and_threshold(
    ours: float, ref: float, ratio: float, threshold: float
) -> None:
    assert ratio_to_reference(ours, ref) == pytest.approx(ratio)
    assert threshold_return(ref) == pytest.approx(threshold)
    assert math.isnan(ratio_to_reference(ours, math.nan)) and math.isnan(threshold_return(0.0))


def test_metrics_flat_ordered_json(tidy: pd.DataFrame) -> None:
    m = metrics(summarize(tidy), n_runs=4)
    keys = list(m)
    assert keys[0] == "n_runs" and m["n_runs"] == 4
    assert keys[1:4] == [
        "cartpole/PE-TSinf/CEM/n_seeds",
        "cartpole/PE-TSinf/CEM/final_max_return_mean",
        "cartpole/PE-TSinf/CEM/final_max_return_ci_low",
    ]
    assert m["cartpole/PE-TSinf/CEM/n_seeds"] == 3
    assert m["cartpole/PE-TSinf/CEM/steps_to_threshold"] == 40
    assert m["reacher/DE-E/CEM/final_max_return_ci_low"] is None  # one seed: no CI
    assert m["reacher/DE-E/CEM/steps_to_threshold"] is None
    assert all(not isinstance(v, dict) for v in m.values())
    json.dumps(m, allow_nan=False)


def test_summary_markdown_lists_rows_and_sources(tidy: pd.DataFrame) -> None:
    text = summary_markdown(summarize(tidy))
    rows = [line for line in text.splitlines() if line.startswith("| cartpole")]
    assert len(rows) == 1
    ci = _bootstrap([170.0, 190.0, 175.0])
    assert f"178.3 [{ci[0]:.1f}, {ci[1]:.1f}]" in rows[0]
    assert "180 (3,000) [1]" in rows[0] and "| 0.99 |" in rows[0] and "| 40 |" in rows[0]
    assert "[1] TF original re-run" in text


def test_summarize_empty_frame_gives_empty_table() -> None:
    empty = categorize(pd.DataFrame({c: [] for c in TIDY_COLUMNS}))
    summary = summarize(empty)
    assert summary.empty and tuple(summary.columns) == SUMMARY_COLUMNS
    assert metrics(summary, n_runs=0) == {"n_runs": 0}


def test_summary_reference_near_our_steps_and_random_policy_margin(tidy: pd.DataFrame) -> None:
    """The reference point for our step count (the read-offs of docs/spec/pets-facts.md §10,
    written out here) and the margin over a random policy given as (mean 10, SD 20, best 50)."""
    rand = RandomPolicyReturns(10.0, 20.0, 50.0)
    summary = summarize(tidy, random_policy={"cartpole": rand})
    cart, reach = summary.iloc[0], summary.iloc[1]
    # cartpole read-offs (1,400 steps: 175), (3,000: 180); ours ends at 40 steps -> 175 at 1,400
    assert (cart.ref_near_return, cart.ref_near_env_steps) == (175.0, 1400)
    assert (cart.random_return_mean, cart.random_return_sd) == (10.0, 20.0)
    assert cart.margin_sd == pytest.approx((535 / 3 - 10.0) / 20.0)
    # reacher read-offs (2,700: −48) first; no random policy given -> no margin
    assert (reach.ref_near_return, reach.ref_near_env_steps) == (-48.0, 2700)
    assert math.isnan(reach.margin_sd) and math.isnan(reach.random_return_mean)
    text = summary_markdown(summary)
    assert "| 175 (1,400) | 10.0 ± 20.0 (50.0) | 8.4 |" in text  # (178.33 − 10) / 20 = 8.4
    assert "| -48 (2,700) | – | – |" in text
    table = [line for line in text.splitlines() if line.startswith("|")]
    assert len({line.count("|") for line in table}) == 1, table  # header, rule, rows agree


@pytest.mark.parametrize(
    ("sd", "verdict"), [(20.0, "learned"), (34.0, "NOT learned"), (33.0, "learned")]
)
def test_verdict_is_learned_at_five_random_policy_sds_above_the_random_mean(
    tidy: pd.DataFrame, sd: float, verdict: str
) -> None:
    """cartpole's seed-mean final max-so-far is 535/3 = 178.33; random mean 10 (SD given):
    (178.33 − 10)/20 = 8.4 and /33 = 5.1 are ≥ 5 SD, /34 = 4.95 is not."""
    summary = summarize(tidy, random_policy={"cartpole": RandomPolicyReturns(10.0, sd, 50.0)})
    lines = verdict_lines(summary)
    assert len(lines) == len(summary) == 2
    assert lines[0].startswith(f"cartpole PE-TSinf CEM: {verdict} (final max-so-far 178.3, 3 seeds")
    assert lines[1].startswith("reacher ") and "no verdict" in lines[1]  # no random policy given
    text = summary_markdown(summary)
    assert text.split("## Verdict", 1)[1].split()[:1] == ["-"]  # the lines follow the heading
    assert all(f"- {line}" in text for line in lines)


@pytest.mark.parametrize(
    ("steps", "expected"),
    [(2_400, (-48.0, 2_700)), (2_700, (-48.0, 2_700)), (6_000, (-38.0, 15_000)),
     (40_000, (-38.0, 15_000))],
)  # fmt: skip
def test_reference_near_takes_the_first_point_at_or_after_our_steps(
    steps: int, expected: tuple[float, int]
) -> None:
    # reacher, docs/spec/pets-facts.md §10: ≈ −48 by ~2,700 steps, ≈ −40 by ~5,500, ≈ −38 at 15,000
    assert reference_near(references()["reacher"], steps) == expected


def _cell(max_so_far: dict[int, list[float]], steps: list[int]) -> pd.DataFrame:
    """Tidy rows of one cell: per seed its max-so-far at iterations 1.. with these env steps."""
    return pd.DataFrame(
        [
            {"seed": seed, "iteration": i + 1, "env_steps": steps[i], "max_return": value}
            for seed, values in max_so_far.items()
            for i, value in enumerate(values)
        ]
    )


def test_steps_to_threshold_is_the_first_iteration_where_the_seed_mean_reaches_it() -> None:
    # Threshold 162. Seed means 166.7, 166.7, 213.3 (first reached at iteration 1, 20 steps);
    # seed medians 100, 100, 170 (only at iteration 3): the mean of the seeds counts, the first hit.
    cell = _cell({0: [100, 100, 170], 1: [100, 100, 170], 2: [300, 300, 300]}, [20, 30, 40])
    assert steps_to_threshold(cell, 162.0) == (20.0, 3)
    # Exactly at the threshold counts as reached (0.9 · 180 = 162 exactly in floats).
    at = _cell({0: [150, 162], 1: [100, 162], 2: [161, 162]}, [20, 30])
    assert steps_to_threshold(at, 0.9 * 180.0) == (30.0, 3)
    # Reached by no seed; then by one seed's own curve but not by the mean.
    steps, reached = steps_to_threshold(at, 162.5)
    assert math.isnan(steps) and reached == 0
    steps, reached = steps_to_threshold(_cell({0: [100, 170], 1: [100, 120]}, [20, 30]), 162.0)
    assert math.isnan(steps) and reached == 1


def test_final_steps_are_the_longest_seeds_when_seeds_stop_at_different_iterations(
    make_run: RunWriter, tmp_path: Path
) -> None:
    # T = 10, ninit = 1: seed 0 finished 3 iterations (40 steps), seed 1 only 2 (30 steps).
    make_run([100.0, 170.0, 150.0], env="cartpole", seed=0)
    make_run([120.0, 160.0], env="cartpole", seed=1)
    row = summarize(load_runs([tmp_path / "runs"]).returns).iloc[0]
    assert (row.n_seeds, row.final_iteration, row.final_env_steps) == (2, 3, 40)
