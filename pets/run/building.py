"""A run's objects from its Config: seeded random streams, the model, its optimiser, the MPC.

Split from `pets.run.experiment` (the loop) so the pieces a benchmark or a test builds are exactly
the ones a run builds (docs/spec/pets-facts.md §4.2, §5, §6).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from pets.config import Config, get_optimizer
from pets.models import Adam, Ensemble, SparseGP, make_optimizer
from pets.models.termination import TerminationModel
from pets.planning.mpc import MPC, action_bounds
from pets.planning.propagation import Propagation
from pets.util.imports import load_object
from pets.util.precision import planning_dtype

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    """Seed the global generators; components also get explicit generators from `make_rngs`."""
    np.random.seed(seed)
    torch.manual_seed(seed)


RESEED_KEY = 3  # SeedSequence child of a run's seed after a device change (0-2: make_rngs)


@dataclass
class Rngs:
    """Every random stream of a run, so a checkpoint can restore all of them.

    `seed` is the run's seed: a resume on another kind of device (a CUDA generator's state is 16
    bytes, a CPU one's 5056, and neither reads the other) reseeds the device streams from it.
    """

    actions: np.random.Generator  # random policy and action noise
    train: torch.Generator  # bootstrap and minibatch shuffles
    plan: torch.Generator  # CEM samples and particle noise
    seed: int

    def state(self) -> dict[str, Any]:
        return {
            "actions": self.actions.bit_generator.state,
            "train": self.train.get_state(),
            "plan": self.plan.get_state(),
            "torch_global": torch.get_rng_state(),
            "devices": {"train": str(self.train.device), "plan": str(self.plan.device)},
        }

    def restore(self, state: dict[str, Any], *, iteration: int) -> None:
        """Restore `state` (from `state()`); reseed device streams saved on another device.

        A run may resume on another device than the one it was killed on (a GPU node's run
        continued with `-device cpu`, or the reverse). Its device streams then start afresh from
        the run's seed and `iteration` (`reseeded_streams`), the same on every such resume, and
        one warning says the continuation is no longer bit-identical to an uninterrupted run.
        The numpy and torch CPU streams are restored as saved.

        Args:
            state: a checkpoint's streams; one without "devices" (older checkpoints) is taken
                to come from another kind of device when a state's size differs from this
                generator's.
            iteration: the checkpoint's finished iterations.
        """
        self.actions.bit_generator.state = state["actions"]
        torch.set_rng_state(state["torch_global"])
        devices = state.get("devices", {})
        moved = []
        for name in ("train", "plan"):
            gen: torch.Generator = getattr(self, name)
            saved = state[name]
            if name in devices:
                same = torch.device(devices[name]).type == gen.device.type
            else:
                same = saved.numel() == gen.get_state().numel()
            if same:
                gen.set_state(saved)
            else:
                moved.append(name)
        if not moved:
            return
        fresh = reseeded_streams(self.seed, iteration)
        for name in moved:
            getattr(self, name).manual_seed(fresh[name])
        source = ", ".join(sorted({devices.get(n, "another device") for n in moved}))
        log.warning(
            "the checkpoint's %s random streams come from %s, this run is on %s: reseeded from "
            "seed %d and iteration %d, so the continuation is no longer bit-identical to an "
            "uninterrupted run",
            " and ".join(moved),
            source,
            self.plan.device,
            self.seed,
            iteration,
        )


def reseeded_streams(seed: int, iteration: int) -> dict[str, int]:
    """Seeds of the train and plan streams of a run resumed on another device after `iteration`.

    Children (RESEED_KEY, iteration, k) of the run's `SeedSequence`: deterministic, and apart
    from the streams `make_rngs` derives (children 0-2) and from every other iteration's.
    """
    seq = np.random.SeedSequence(seed, spawn_key=(RESEED_KEY, iteration))
    t, p = (int(s.generate_state(1, dtype=np.uint64)[0] >> 1) for s in seq.spawn(2))
    return {"train": t, "plan": p}


def make_rngs(seed: int, device: torch.device) -> Rngs:
    """Independent, seeded streams derived from one seed."""
    seq = np.random.SeedSequence(seed)
    a, t, p = (int(s.generate_state(1, dtype=np.uint64)[0] >> 1) for s in seq.spawn(3))
    return Rngs(
        actions=np.random.default_rng(a),
        train=torch.Generator(device=device).manual_seed(t),
        plan=torch.Generator(device=device).manual_seed(p),
        seed=seed,
    )


def build_model(
    cfg: Config, task: Any, device: torch.device, generator: torch.Generator | None = None
) -> Ensemble | SparseGP:
    """A fresh model of the configured type and the env's architecture (§4.2, §5).

    Args:
        cfg: the run's configuration (model type, ensemble size, architecture).
        task: gives the model's input and output widths.
        device: where the model lives.
        generator: CPU source of the initial weights (default: torch's global generator);
            the GP has no random initial state.
    """
    init = cfg.ctrl_cfg.prop_cfg.model_init_cfg
    if init.model_type == "GP":
        assert init.num_inducing_points is not None  # validate() guarantees it
        gp = SparseGP(task.model_in_dim, task.model_out_dim, num_inducing=init.num_inducing_points)
        return gp.to(device)
    return Ensemble(
        task.model_in_dim,
        task.model_out_dim,
        ensemble_size=init.num_nets,
        hidden_layers=init.hidden_layers,
        hidden_width=init.hidden_width,
        weight_decays=init.weight_decays,
        probabilistic=init.model_type in ("P", "PE"),
        generator=generator,
    ).to(device)


def build_controller(
    cfg: Config, task: Any, model: Ensemble | SparseGP, generator: torch.Generator
) -> MPC:
    """The MPC controller with the configured propagation and optimizer (§6)."""
    prop, opt = cfg.ctrl_cfg.prop_cfg, cfg.ctrl_cfg.opt_cfg
    device = next(model.buffers() if isinstance(model, SparseGP) else model.parameters()).device
    propagation = Propagation(
        prop.prop_type,
        npart=prop.npart,
        ensemble_size=prop.model_init_cfg.num_nets,
        ign_var=prop.ign_var,
        compute_dtype=planning_dtype(cfg.precision),
    )
    lb, ub = action_bounds(task, opt.plan_hor, device=device, dtype=torch.float32)
    implementation = get_optimizer(opt.opt_type).implementation
    optimizer_class = load_object(implementation, f"opt-type {opt.opt_type}'s implementation")
    optimizer = optimizer_class(**dataclasses.asdict(opt.cfg), lb=lb, ub=ub)
    return MPC(
        task,
        model,
        propagation,
        optimizer,
        plan_hor=opt.plan_hor,
        per=cfg.ctrl_cfg.per,
        npart=prop.npart,
        generator=generator,
    )


TERMINATION_KEY = 4  # SeedSequence child of a run's seed for the termination model's weights


def build_termination(cfg: Config, task: Any, device: torch.device) -> TerminationModel | None:
    """The learned termination of `-ca termination learned`, handed to the task (else None).

    Its initial weights come from its own stream (child TERMINATION_KEY of the run's seed), so
    the dynamics model's draws are those of a run without it.
    """
    if cfg.termination != "learned":
        return None
    seq = np.random.SeedSequence(cfg.seed, spawn_key=(TERMINATION_KEY,))
    generator = torch.Generator().manual_seed(int(seq.generate_state(1, dtype=np.uint64)[0] >> 1))
    model = TerminationModel(task.obs_dim, task.act_dim, generator=generator).to(device)
    task.set_termination(model.terminated)
    return model


def make_model_optimizer(model: Ensemble | SparseGP, lr: float) -> Adam | None:
    """Adam for an ensemble; None for the GP, whose L-BFGS-B call keeps no state between fits."""
    return None if isinstance(model, SparseGP) else make_optimizer(model, lr)
