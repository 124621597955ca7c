"""A run's model label: the model type, marked where a gymnasium env's reward or termination is
learned although pets knows it (`PE+R`, `PE+T`, `PE+R+T`).

The tables, figures and the workflow's run directories tell runs apart by env, model, propagation,
optimizer and seed; a run with a learned reward beside one with the env's own must differ in one
of them, and the model is what differs (it also predicts the reward, or a classifier predicts
the end). Where learning is the only choice (an env pets knows nothing of), no mark is added.
Torch-free: the analysis and the workflow use it.
"""

from __future__ import annotations

from pets.envs.registry import tasks
from pets.errors import ConfigError

__all__ = ["REWARD_MARK", "TERMINATION_MARK", "label_choices", "model_label", "split_label"]

REWARD_MARK = "+R"  # -ca reward learned, where pets has the env's reward function
TERMINATION_MARK = "+T"  # -ca termination learned, where pets has the env's termination


def _defaults(env: str) -> tuple[str, str]:
    # Registered tasks only: an id not registered in this process is one pets knows nothing of
    # (resolving it would import the user's module, which the analysis must not need).
    spec = tasks().get(env)
    return (spec.default_reward, spec.default_termination) if spec else ("learned", "learned")


def model_label(model_type: str, env: str, reward: str, termination: str) -> str:
    """`model_type` with the marks of the choices that differ from the env's default."""
    default_reward, default_termination = _defaults(env)
    label = model_type
    if reward == "learned" and default_reward != "learned":
        label += REWARD_MARK
    if termination == "learned" and default_termination != "learned":
        label += TERMINATION_MARK
    return label


def split_label(label: str) -> tuple[str, dict[str, str]]:
    """`"PE+R"` → `("PE", {"reward": "learned"})`: the model type and the `-ca` choices it marks.

    Raises:
        ConfigError: a mark other than +R and +T, or one given twice.
    """
    base, *marks = label.split("+")
    choices: dict[str, str] = {}
    for mark in marks:
        key = {REWARD_MARK[1:]: "reward", TERMINATION_MARK[1:]: "termination"}.get(mark)
        if key is None or key in choices:
            raise ConfigError(f"model {label!r}: marks are {REWARD_MARK} and {TERMINATION_MARK}")
        choices[key] = "learned"
    return base, choices


def label_choices(label: str) -> list[tuple[str, str]]:
    """The `-ca` pairs of a label: model-type, then reward and termination where marked."""
    base, choices = split_label(label)
    return [("model-type", base), *choices.items()]
