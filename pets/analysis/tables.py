"""Tidy frame → comparison tables: final returns with bootstrap CIs, references, DVC metrics.

Owns the summary statistics (`docs/spec/reference-numbers.md` §1) as frame → frame functions
with a deterministic sort, and their text forms (CSV, Markdown, the flat `metrics.json` mapping).
Must not import torch.

Definitions (also in `workflow/report/summary.rst`):
- final: the last logged iteration of each run; "final max-so-far" is that row's `max_return`.
- mean and 95 % CI across seeds: `scipy.stats.bootstrap` of the mean, percentile method (BCa
  is unstable with the 2–5 seeds of a grid), `BOOTSTRAP_RESAMPLES` resamples, a fresh
  `np.random.default_rng(BOOTSTRAP_SEED)` per cell so a cell's CI does not depend on which
  other cells exist; NaN with a single seed.
- ratio and 90 % threshold: `pets.analysis.reference` (for negative, cost-like returns the
  ratio is reference/ours and the threshold reference/0.9).
- steps to threshold: env steps of the first iteration at which the seed-mean max-so-far
  return reaches the threshold (the curve of the learning-curve figure); NaN if never.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import scipy.stats

from pets.analysis.reference import (
    RANDOM_POLICY_EPISODES,
    RandomPolicyReturns,
    Reference,
    margin_in_sd,
    random_policies,
    ratio_to_reference,
    reference_near,
    threshold_return,
)
from pets.analysis.reference import references as reference_table
from pets.analysis.tidy import RUN_KEYS
from pets.envs.registry import tasks

BOOTSTRAP_SEED = 0
# A cell has learned when its seed-mean final max-so-far lies this many random-policy SDs above
# the random mean: a random policy's own best of 20 episodes lies 2.3-2.6 SDs above it on the
# four tasks, and the CPU evidence runs, the least of them half-cheetah after 10 trials, 6.4.
LEARNED_MARGIN_SD = 5.0
CEILING_FRACTION = 0.75  # of the way to a task's best possible return, where 5 SD lie beyond it
BOOTSTRAP_RESAMPLES = 9999
BOOTSTRAP_METHOD = "percentile"
CONFIDENCE = 0.95
CELL_KEYS = ("env", "model", "prop", "opt")  # one summary row; method = model-prop
SUMMARY_COLUMNS = (
    "env",
    "method",
    "model",
    "prop",
    "opt",
    "n_seeds",
    "final_iteration",
    "final_env_steps",
    "final_max_return_mean",
    "final_max_return_ci_low",
    "final_max_return_ci_high",
    "final_return_mean",
    "final_return_ci_low",
    "final_return_ci_high",
    "ref_return",
    "ref_env_steps",
    "ref_source",
    "ratio_to_ref",
    "threshold_return",
    "steps_to_threshold",
    "n_seeds_reached",
    "ref_near_return",
    "ref_near_env_steps",
    "random_return_mean",
    "random_return_sd",
    "random_return_best",
    "margin_sd",
)
METRIC_FIELDS = (
    "n_seeds",
    "final_max_return_mean",
    "final_max_return_ci_low",
    "final_max_return_ci_high",
    "final_return_mean",
    "ratio_to_ref",
    "steps_to_threshold",
    "margin_sd",
)


def final_rows(tidy: pd.DataFrame) -> pd.DataFrame:
    """The last logged iteration of every run (one row per env, model, prop, opt, seed)."""
    last = tidy.groupby(list(RUN_KEYS), observed=True, sort=False)["iteration"].transform("max")
    return tidy[tidy["iteration"] == last].reset_index(drop=True)


def across_seeds(df: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """Mean and standard error of `y` across seeds at each `x`, per method × opt.

    Args:
        df: rows with `method`, `opt`, `x` and `y` (one per seed at each x).
        x: the column to group on besides method and opt (e.g. `env_steps`).
        y: the column to summarise (NaN values are left out).

    Returns:
        Columns `method, opt, x, mean, se, n`, sorted by method, opt, x; `se` is the sample
        standard deviation (ddof 1) over √n, NaN for a single seed.
    """
    data = df[np.isfinite(df[y].to_numpy(dtype=float))]
    grouped = data.groupby(["method", "opt", x], observed=True, sort=True)[y]
    out = grouped.agg(mean="mean", sd="std", n="count").reset_index()
    out["se"] = out["sd"] / np.sqrt(out["n"])
    return out[["method", "opt", x, "mean", "se", "n"]]


def bootstrap_ci(values: np.ndarray, *, seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """95 % percentile-bootstrap confidence interval of the mean of `values`.

    Args:
        values: [n] one number per seed.
        seed: seeds a fresh generator, so the interval is reproducible.

    Returns:
        (low, high); (NaN, NaN) for fewer than two values.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size < 2:
        return (math.nan, math.nan)
    result = scipy.stats.bootstrap(
        (values,),
        np.mean,
        n_resamples=BOOTSTRAP_RESAMPLES,
        confidence_level=CONFIDENCE,
        method=BOOTSTRAP_METHOD,
        rng=np.random.default_rng(seed),
    )
    return (float(result.confidence_interval.low), float(result.confidence_interval.high))


def steps_to_threshold(cell: pd.DataFrame, threshold: float) -> tuple[float, int]:
    """When the seed-mean max-so-far curve of one cell first reaches `threshold`.

    Args:
        cell: tidy rows of one env × method × opt (all seeds).
        threshold: the return to reach (`reference.threshold_return`).

    Returns:
        (env steps of the first iteration whose mean `max_return` across seeds is >= threshold,
        or NaN; number of seeds whose own max-so-far ever reaches it).
    """
    if math.isnan(threshold):
        return (math.nan, 0)
    curve = cell.groupby("iteration", sort=True).agg(
        max_return=("max_return", "mean"), env_steps=("env_steps", "max")
    )
    hit = curve.index[curve["max_return"].to_numpy() >= threshold]
    steps = float(curve.loc[hit[0], "env_steps"]) if len(hit) else math.nan
    best = cell.groupby("seed", sort=False)["max_return"].max()
    return (steps, int((best >= threshold).sum()))


def summarize(
    tidy: pd.DataFrame,
    *,
    references: Mapping[str, Reference] | None = None,
    random_policy: Mapping[str, RandomPolicyReturns] | None = None,
    seed: int = BOOTSTRAP_SEED,
) -> pd.DataFrame:
    """One row per env × method × opt: final returns with CIs, the reference, the comparison.

    Args:
        tidy: the tidy frame (`load.TIDY_COLUMNS`).
        references: env → reference return (envs without one get NaN comparisons); None:
            the task registry's.
        random_policy: env → a uniformly random policy's returns (the margin's scale); None:
            the task registry's.
        seed: bootstrap seed.

    Returns:
        `SUMMARY_COLUMNS`, sorted by env, model, prop, opt in the factors' order.
    """
    references = reference_table() if references is None else references
    random_policy = random_policies() if random_policy is None else random_policy
    rows = []
    for key, cell in tidy.groupby(list(CELL_KEYS), observed=True, sort=True):
        env, model, prop, opt = key
        final = final_rows(cell).sort_values("seed")  # CI independent of row order
        best, last = final["max_return"].to_numpy(), final["episode_return"].to_numpy()
        ref = references.get(str(env))
        ref_value = ref.value if ref else math.nan
        threshold = threshold_return(ref_value)
        steps, reached = steps_to_threshold(cell, threshold)
        final_steps = int(final["env_steps"].max())
        near, near_steps = reference_near(ref, final_steps) if ref else (math.nan, 0)
        rand = random_policy.get(str(env))
        rows.append(
            {
                "env": env,
                "method": f"{model}-{prop}",
                "model": model,
                "prop": prop,
                "opt": opt,
                "n_seeds": len(final),
                "final_iteration": int(final["iteration"].max()),
                "final_env_steps": final_steps,
                "final_max_return_mean": float(best.mean()),
                **_ci("final_max_return", best, seed),
                "final_return_mean": float(last.mean()),
                **_ci("final_return", last, seed),
                "ref_return": ref_value,
                "ref_env_steps": ref.env_steps if ref else math.nan,
                "ref_source": ref.source if ref else "",
                "ratio_to_ref": ratio_to_reference(float(best.mean()), ref_value),
                "threshold_return": threshold,
                "steps_to_threshold": steps,
                "n_seeds_reached": reached,
                "ref_near_return": near,
                "ref_near_env_steps": near_steps if near_steps else math.nan,
                "random_return_mean": rand.mean if rand else math.nan,
                "random_return_sd": rand.sd if rand else math.nan,
                "random_return_best": rand.best if rand else math.nan,
                "margin_sd": margin_in_sd(float(best.mean()), rand),
            }
        )
    out = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    for column in ("ref_env_steps", "steps_to_threshold", "ref_near_env_steps"):  # int or NA
        out[column] = out[column].astype("Int64")
    for factor in ("env", "model", "prop", "opt", "method"):
        levels = [v for v in tidy[factor].cat.categories if v in set(out[factor])]
        out[factor] = pd.Categorical(out[factor], categories=levels, ordered=True)
    return out


def _ci(name: str, values: np.ndarray, seed: int) -> dict[str, float]:
    low, high = bootstrap_ci(values, seed=seed)
    return {f"{name}_ci_low": low, f"{name}_ci_high": high}


# --- text forms --------------------------------------------------------------------------------


def to_csv_text(frame: pd.DataFrame) -> str:
    """CSV text with a fixed layout (no index, `\\n` line ends, NaN as empty), for DVC hashes."""
    return frame.to_csv(index=False, lineterminator="\n")


def _num(value: Any, fmt: str) -> str:
    if value is None or pd.isna(value):
        return "–"
    if isinstance(value, float) and math.isinf(value):
        return "∞" if value > 0 else "−∞"
    return format(value, fmt)


def _with_ci(mean: float, low: float, high: float) -> str:
    if math.isnan(low):
        return _num(mean, ".1f")
    return f"{_num(mean, '.1f')} [{_num(low, '.1f')}, {_num(high, '.1f')}]"


def _near(r: Any) -> str:
    if pd.isna(r.ref_near_return):
        return "–"
    return f"{_num(r.ref_near_return, '.0f')} ({_num(r.ref_near_env_steps, ',.0f')})"


def _random(r: Any) -> str:
    if pd.isna(r.random_return_mean):
        return "–"
    return (
        f"{_num(r.random_return_mean, '.1f')} ± {_num(r.random_return_sd, '.1f')} "
        f"({_num(r.random_return_best, '.1f')})"
    )


VERDICT_HEADING = "## Verdict"


def summary_markdown(summary: pd.DataFrame) -> str:
    """The summary as a Markdown table with its definitions and the references' sources."""
    sources = list(dict.fromkeys(s for s in summary["ref_source"] if s))
    header = (
        "| env | method | opt | seeds | env steps | final max-so-far [95% CI] "
        "| final return [95% CI] | reference (steps) | ours/ref | steps to 90% ref "
        "| reference near our steps | random policy: mean ± SD (best) | margin (SD) |"
    )
    lines = [
        "# PETS reproduction: final returns",
        "",
        header,
        "|" + "---|" * 13,
    ]
    for r in summary.itertuples(index=False):
        ref = "–"
        if r.ref_source:
            note = sources.index(r.ref_source) + 1
            ref = f"{_num(r.ref_return, '.0f')} ({_num(r.ref_env_steps, ',.0f')}) [{note}]"
        lines.append(
            f"| {r.env} | {r.method} | {r.opt} | {r.n_seeds} | {r.final_env_steps:,} "
            f"| {_with_ci(r.final_max_return_mean, r.final_max_return_ci_low, r.final_max_return_ci_high)} "  # noqa: E501
            f"| {_with_ci(r.final_return_mean, r.final_return_ci_low, r.final_return_ci_high)} "
            f"| {ref} | {_num(r.ratio_to_ref, '.2f')} | {_num(r.steps_to_threshold, ',.0f')} "
            f"| {_near(r)} | {_random(r)} | {_num(r.margin_sd, '.1f')} |"
        )
    lines += [
        "",
        "Final = last logged iteration of each run; mean across seeds with a 95 % percentile "
        f"bootstrap CI of the mean ({BOOTSTRAP_RESAMPLES} resamples, seed {BOOTSTRAP_SEED}; none "
        "with one seed). ours/ref = final max-so-far / reference for positive references and "
        "reference / final max-so-far (a cost ratio) for negative ones; > 1 is better than the "
        "reference. Steps to 90% ref: env steps at which the seed-mean max-so-far return first "
        "reaches 0.9 × reference (positive) or reference / 0.9 (negative). Reference near our "
        "steps: the earliest point read off the reference curve at or after our env steps (the "
        "original had at least as many steps there). Random policy: uniformly random actions, "
        f"{RANDOM_POLICY_EPISODES} episodes (tools/random_policy.py); margin = (final max-so-far "
        "− random mean) / random SD.",
        "",
    ]
    lines += [f"[{i}] {source}" for i, source in enumerate(sources, start=1)]
    lines += ["", VERDICT_HEADING, "", *(f"- {line}" for line in verdict_lines(summary))]
    return "\n".join(lines) + "\n"


def verdict_lines(summary: pd.DataFrame) -> list[str]:
    """One line per env × method × opt: did it learn, judged against a random policy?

    Learned when the margin (seed-mean final max-so-far − random mean, in random SDs) is at
    least `LEARNED_MARGIN_SD`; no verdict for an env without random-policy returns.
    """
    lines = []
    for r in summary.itertuples(index=False):
        cell = f"{r.env} {r.method} {r.opt}"
        best = f"final max-so-far {_num(r.final_max_return_mean, '.1f')}"
        seeds = f"{r.n_seeds} seed{'s' if r.n_seeds != 1 else ''}"
        if pd.isna(r.margin_sd):
            lines.append(f"{cell}: no verdict ({best}, {seeds}; no random-policy returns)")
            continue
        needed, why = learned_margin(str(r.env), r.random_return_mean, r.random_return_sd)
        learned = r.margin_sd >= needed
        lines.append(
            f"{cell}: {'learned' if learned else 'NOT learned'} ({best}, {seeds}, "
            f"{_num(r.margin_sd, '.1f')} SD above a random policy's "
            f"{_num(r.random_return_mean, '.1f')} ± {_num(r.random_return_sd, '.1f')}; learned "
            f"means at least {needed:.3g} SD{why})"
        )
    return lines


def learned_margin(env: str, random_mean: float, random_sd: float) -> tuple[float, str]:
    """The margin (in random SDs) that counts as learned on `env`, and why if not the usual.

    `LEARNED_MARGIN_SD`, unless the task's best possible return
    (`TaskSpec.best_possible_return`) lies closer than that to the random mean (Pendulum-v1:
    its random starts spread the random returns so widely that a perfect policy is 3.9 SD
    above them): then `CEILING_FRACTION` of the way from the random mean to that best.
    """
    spec = tasks().get(env)
    if spec is None or spec.best_possible_return is None:
        return LEARNED_MARGIN_SD, ""
    reach = (spec.best_possible_return - random_mean) / random_sd
    if CEILING_FRACTION * reach >= LEARNED_MARGIN_SD:
        return LEARNED_MARGIN_SD, ""
    best = spec.best_possible_return
    why = f", {CEILING_FRACTION:g} of the way to the best possible return {best:g} ({reach:.2f} SD)"
    return CEILING_FRACTION * reach, why


def metrics(summary: pd.DataFrame, *, n_runs: int) -> dict[str, Any]:
    """The flat DVC metrics mapping: `n_runs`, then `{env}/{method}/{opt}/{field}`.

    Keys follow the summary's sort and `METRIC_FIELDS`; NaN and ±inf become None (JSON null).
    """
    out: dict[str, Any] = {"n_runs": int(n_runs)}
    for r in summary.itertuples(index=False):
        for field in METRIC_FIELDS:
            value = getattr(r, field)
            if pd.isna(value):
                value = None
            elif isinstance(value, (int, np.integer)):
                value = int(value)
            else:
                value = float(value)
                value = value if math.isfinite(value) else None
            out[f"{r.env}/{r.method}/{r.opt}/{field}"] = value
    return out
