"""The configuration tree of a PETS run: frozen dataclasses mirroring the original's
`exp_cfg`/`ctrl_cfg` tree, with each leaf's help text in its field metadata.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pets.config.registry import (
    BUILTIN_OPTIMIZERS,
    BUILTIN_PROPAGATIONS,
    MODEL_TYPES,
    allowed_props,
    get_propagation,
)
from pets.envs.registry import PAPER_TASKS

# The paper's tasks and methods as registered when pets loads (tests and docs enumerate them);
# validation and parsing ask the registries, which plugins may extend.
ENV_NAMES = PAPER_TASKS
PROP_TYPES = BUILTIN_PROPAGATIONS
OPT_TYPES = BUILTIN_OPTIMIZERS
ALLOWED_PROPS = {
    model: tuple(p for p in allowed_props(model, plugins=False) if p in PROP_TYPES)
    for model in MODEL_TYPES
}
CA_KEYS = ("model-type", "prop-type", "opt-type", "reward", "termination")
# A gymnasium env's reward: its known function (where pets has one) or a learned model output;
# its termination: known, learned, never, or a user's "module:function" (pets.envs.gym_task).
REWARDS = ("known", "learned")
TERMINATIONS = ("known", "learned", "never")
# float32 matmuls of the planner and the trainer on CUDA: full fp32 (the original's), or TF32;
# or bf16 for the planner's ensemble layers where the hardware has bf16 units (pets.util.precision).
PRECISIONS = ("fp32", "tf32", "bf16")
DEFAULT_ENSEMBLE_SIZE = 5


def _help(text: str) -> dict[str, str]:
    return {"help": text}


# --- the tree ------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SimCfg:
    task_hor: int = field(metadata=_help("Task horizon: steps per episode."))
    stochastic: bool = field(
        default=False, metadata=_help("Add Gaussian action noise in the environment.")
    )
    noise_std: float | None = field(
        default=None, metadata=_help("Action noise standard deviation (needed if stochastic).")
    )


@dataclass(frozen=True, kw_only=True)
class LoopCfg:
    ntrain_iters: int = field(metadata=_help("Number of training iterations."))
    nrollouts_per_iter: int = field(
        default=1, metadata=_help("Rollouts per training iteration added to the training data.")
    )
    ninit_rollouts: int = field(
        default=1, metadata=_help("Random-action rollouts before the first training.")
    )


@dataclass(frozen=True, kw_only=True)
class LogCfg:
    nrecord: int = field(default=0, metadata=_help("Rollouts recorded to mp4 per iteration."))
    neval: int = field(
        default=1, metadata=_help("Rollouts whose returns are logged per iteration.")
    )


@dataclass(frozen=True, kw_only=True)
class ExpCfg:
    sim_cfg: SimCfg
    exp_cfg: LoopCfg
    log_cfg: LogCfg = field(default_factory=LogCfg)


@dataclass(frozen=True, kw_only=True)
class ModelInitCfg:
    model_type: str = field(metadata=_help("D, P, DE, PE or GP (set with -ca model-type)."))
    num_nets: int = field(metadata=_help("Ensemble size (> 1 for DE/PE; 1 for D/P/GP)."))
    hidden_layers: int = field(
        metadata=_help("Hidden layers of each network (gymnasium envs; the paper's: fixed).")
    )
    hidden_width: int = field(
        metadata=_help("Units per hidden layer (gymnasium envs; the paper's: fixed).")
    )
    weight_decays: tuple[float, ...] = field(
        metadata=_help(
            "L2 coefficient per layer, input to output, e.g. 1e-4,2e-4,3e-4 (gymnasium envs)."
        )
    )
    lr: float = field(metadata=_help("Adam learning rate (gymnasium envs; the paper's: fixed)."))
    model_dir: str | None = field(default=None, metadata=_help("Directory to load a model from."))
    load_model: bool = field(default=False, metadata=_help("Load the model from model_dir."))
    num_inducing_points: int | None = field(
        default=None,
        metadata=_help("GP only: inducing points of the sparse GP (the task's default, e.g. 200)."),
    )


@dataclass(frozen=True, kw_only=True)
class ModelTrainCfg:
    batch_size: int = field(default=32, metadata=_help("Minibatch size per ensemble member."))
    epochs: int = field(default=5, metadata=_help("Passes over the data per training call."))
    max_logging: int = field(default=5000, metadata=_help("Maximum number of holdout rows."))
    holdout_ratio: float = field(
        default=0.0, metadata=_help("Fraction of data held out for reporting (no early stop).")
    )


@dataclass(frozen=True, kw_only=True)
class PropCfg:
    prop_type: str = field(metadata=_help("E, DS, TS1, TSinf or MM (set with -ca prop-type)."))
    model_init_cfg: ModelInitCfg
    model_train_cfg: ModelTrainCfg = field(default_factory=ModelTrainCfg)
    model_pretrained: bool = field(
        default=False, metadata=_help("The model starts trained: plan from the first rollout.")
    )
    npart: int = field(default=20, metadata=_help("Particles per candidate action sequence."))
    ign_var: bool = field(
        default=False, metadata=_help("Use the predicted means only (no output sampling).")
    )


@dataclass(frozen=True, kw_only=True)
class OptCfg:
    opt_type: str = field(metadata=_help("A registered optimizer (set with -ca opt-type)."))
    plan_hor: int = field(metadata=_help("Planning horizon."))
    cfg: Any  # the optimizer's config dataclass (pets.config.registry.OptimizerSpec.config)


@dataclass(frozen=True, kw_only=True)
class CtrlLogCfg:
    save_all_models: bool = field(default=False, metadata=_help("Keep a model per iteration."))
    log_traj_preds: bool = field(
        default=False, metadata=_help("Save predicted trajectory means and variances.")
    )
    log_particles: bool = field(default=False, metadata=_help("Save all particle predictions."))


@dataclass(frozen=True, kw_only=True)
class CtrlCfg:
    prop_cfg: PropCfg
    opt_cfg: OptCfg
    per: int = field(default=1, metadata=_help("Re-plan every `per` steps."))
    log_cfg: CtrlLogCfg = field(default_factory=CtrlLogCfg)


@dataclass(frozen=True, kw_only=True)
class Config:
    """One run: the environment, our additions (seed, device, threads) and the original's trees.

    `threads` is torch's intra-op thread count; None means every core the process may use
    (`pets mbexp` resolves it to that number, so the run's config.yaml records it).
    `reward` and `termination` say how a gymnasium env's rewards and episode ends are predicted
    (`-ca reward`, `-ca termination`; the paper's tasks have their own cost and never end early).
    `precision` is how CUDA runs the float32 matmuls of planning and training: `fp32` (default,
    faithful) or `tf32` (opt-in; no effect on the CPU), or `bf16`: the planner's TSinf ensemble
    layers in bf16 on a CPU or GPU with bf16 units, training in fp32 (`pets.util.precision`).
    """

    env: str
    exp_cfg: ExpCfg
    ctrl_cfg: CtrlCfg
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    precision: str = "fp32"
    reward: str = "known"
    termination: str = "known"

    @property
    def model_type(self) -> str:
        return self.ctrl_cfg.prop_cfg.model_init_cfg.model_type

    @property
    def prop_type(self) -> str:
        return self.ctrl_cfg.prop_cfg.prop_type

    @property
    def opt_type(self) -> str:
        return self.ctrl_cfg.opt_cfg.opt_type

    @property
    def method(self) -> str:
        """The paper's name of the model × propagation pair, e.g. `PE-TSinf`."""
        return f"{self.model_type}-{self.prop_type}"

    @property
    def is_trajectory_sampling(self) -> bool:
        """Particles stay with one ensemble member (TS1, TSinf: `PropagationSpec.per_member`)."""
        return get_propagation(self.prop_type).per_member
