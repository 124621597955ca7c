"""The PETS trial loop: random rollouts, then train → act → log, resumable.

The loop is the original's (`docs/spec/pets-facts.md` §7). Owns the experiment: the run
directory and its lock, rollouts, training data, logging every
finished iteration atomically, stopping on a signal and resuming a killed run from its
checkpoint (`pets.run.checkpoint`); the objects come from `pets.run.building`. Knows nothing of
Snakemake or the command line.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from pets import config as cfgmod
from pets.config import Config
from pets.envs import check_renders, make_env, make_task
from pets.envs.registry import get_task
from pets.errors import ConfigError, DamagedFileError
from pets.models import (
    Ensemble,
    GraphedStep,
    SparseGP,
    fit,
    fit_gp,
    load_model,
    save_model,
)
from pets.run import runlog
from pets.run.building import (
    Rngs,
    build_controller,
    build_model,
    build_termination,
    make_model_optimizer,
    make_rngs,
    seed_everything,
)
from pets.run.checkpoint import (
    CHECKPOINT_KEYS,
    CHECKPOINT_REMEDY,
    RunState,
    checkpoint_payload,
    load_checkpoint,
    restore_checkpoint,
    save_checkpoint,
)
from pets.run.rollout import (
    Policy,
    RandomPolicy,
    rollout,
    termination_data,
    training_data,
    write_video,
)
from pets.run.runlog import Episode, ProgressRow
from pets.util.device import resolve_device
from pets.util.precision import check_precision_supported, set_precision
from pets.util.runlock import run_lock
from pets.util.stopping import stop_in
from pets.util.threads import available_cores, set_threads
from pets.util.torchfile import first_line

__all__ = [  # the loop, and the builders re-exported for benchmarks and tests
    "Rngs",
    "RunState",
    "build_controller",
    "build_model",
    "make_rngs",
    "new_run_dir",
    "preflight",
    "run",
    "seed_everything",
]

log = logging.getLogger(__name__)


# --- the run -----------------------------------------------------------------------------------


def new_run_dir(logdir: Path) -> Path:
    """Create `<logdir>/<YYYY-MM-DD--HH:MM:SS>/` as the original, never reusing a directory."""
    stamp = time.strftime("%Y-%m-%d--%H:%M:%S")
    Path(logdir).mkdir(parents=True, exist_ok=True)
    for n in range(1000):
        path = Path(logdir) / (stamp if n == 0 else f"{stamp}-{n}")
        try:
            path.mkdir()  # atomic: two runs started in the same second get different names
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"could not create a fresh run directory under {logdir}")


Pretrained = tuple[Ensemble | SparseGP, dict | None]
"""A model_dir's model and optimiser state, as `load_model` returns them (on the CPU)."""


def preflight(cfg: Config) -> Pretrained | None:
    """Check what only the machine can tell (device, model_dir) before anything is written.

    Returns:
        The model_dir's model and optimiser state, read and validated once here, to hand to
        `run` (None when the configuration loads no model).

    Raises:
        ConfigError: CUDA asked for but absent, bf16 asked for on a device without bf16
            units, a user's termination function that cannot be loaded, or a model_dir without
            a saved model.
        DamagedFileError: model_dir's model file is damaged or foreign.
    """
    check_precision_supported(cfg.precision, resolve_device(cfg.device))
    if get_task(cfg.env).gym is not None:
        # Its reward and termination functions (a user's too) load before a directory exists.
        make_task(cfg.env, reward=cfg.reward, termination=cfg.termination)
        if cfg.exp_cfg.log_cfg.nrecord > 0:
            check_renders(cfg.env)  # gymnasium's classic-control envs render only with pygame
    init = cfg.ctrl_cfg.prop_cfg.model_init_cfg
    if not (init.load_model and init.model_dir):
        return None
    path = Path(init.model_dir) / runlog.MODEL_FILE
    if not path.is_file():
        raise ConfigError(f"model_dir {init.model_dir} holds no {runlog.MODEL_FILE}")
    return load_model(path)  # a damaged file fails here, before a run directory is made


def _comparable(data: dict[str, Any]) -> dict[str, Any]:
    # Where and how a run executes (device, CPU threads, CUDA matmul precision) may change
    # between a kill and its resume.
    return {k: v for k, v in data.items() if k not in ("device", "threads", "precision")}


class _Run:
    """The objects of one run, built from its Config; `execute` is the loop of §7."""

    finished: int | None = None  # iterations in the checkpoint on disk (None: none yet)

    def __init__(
        self, cfg: Config, outdir: Path, *, progress_bars: bool, pretrained: Pretrained | None
    ) -> None:
        self.cfg, self.outdir, self.bars = cfg, outdir, progress_bars
        self.device = resolve_device(cfg.device)
        set_threads(available_cores() if cfg.threads is None else cfg.threads)
        set_precision(cfg.precision, self.device)  # before any CUDA graph is captured
        seed_everything(cfg.seed)
        self.rngs = make_rngs(cfg.seed, self.device)
        sim, log_cfg = cfg.exp_cfg.sim_cfg, cfg.exp_cfg.log_cfg
        self.env = make_env(
            cfg.env,
            render_mode="rgb_array" if log_cfg.nrecord > 0 else None,
            max_episode_steps=sim.task_hor,
        )
        self.env.reset(seed=cfg.seed)
        self.env.action_space.seed(cfg.seed)
        self.task, self.data_task = (
            make_task(
                cfg.env, device=device, dtype=dtype, task_hor=sim.task_hor,
                reward=cfg.reward, termination=cfg.termination,
            )
            for device, dtype in ((self.device, None), (torch.device("cpu"), torch.float64))
        )  # fmt: skip
        init = cfg.ctrl_cfg.prop_cfg.model_init_cfg
        self.model = build_model(cfg, self.task, self.device)
        # After the model: it draws its initial weights from the global stream.
        self.termination = build_termination(cfg, self.task, self.device)
        self.optimizer = make_model_optimizer(self.model, init.lr)
        if pretrained is not None and init.model_dir:
            self._load_pretrained(Path(init.model_dir) / runlog.MODEL_FILE, pretrained)
        self.mpc = build_controller(cfg, self.task, self.model, self.rngs.plan)
        # CUDA: one captured training step for the whole run (the MPC captures its own re-plan).
        self.step = None
        if self.device.type == "cuda" and isinstance(self.model, Ensemble):
            assert self.optimizer is not None  # every ensemble has its Adam
            self.step = GraphedStep(self.model, self.optimizer)
        self.random = RandomPolicy(self.task.ac_lb, self.task.ac_ub, self.rngs.actions)

    def _load_pretrained(self, path: Path, pretrained: Pretrained) -> None:
        loaded, opt_state = pretrained  # copied to the run's device by load_state_dict
        try:
            self.model.load_state_dict(loaded.state_dict())
        except RuntimeError as err:  # e.g. another env or ensemble size than the -ca/-o given
            raise ConfigError(
                f"{path} holds a model of another shape than this configuration "
                f"({first_line(err)}); give the -env, -ca and -o it was trained with"
            ) from err
        if opt_state is not None and self.optimizer is not None:
            self.optimizer.load_state_dict(opt_state)

    # -- pieces of the loop --

    def policy(self, state: RunState) -> Policy:
        return self.mpc if state.trained else self.random

    def collect(
        self, state: RunState, count: int, iterdir: Path | None, nrecord: int
    ) -> list[Episode]:
        """`count` rollouts; the first `nrecord` recorded to `iterdir/rollout<j>.mp4`."""
        sim, log_cfg = self.cfg.exp_cfg.sim_cfg, self.cfg.ctrl_cfg.log_cfg
        policy = self.policy(state)
        preds: dict[str, list[np.ndarray]] = {"predictions": [], "means": [], "vars": []}
        logging_preds = policy is self.mpc and (log_cfg.log_traj_preds or log_cfg.log_particles)

        def record_prediction(obs: np.ndarray) -> None:
            particles = self.mpc.predict_particles(obs, self.mpc.last_plan, self.rngs.plan)
            if log_cfg.log_particles:
                preds["predictions"].append(particles.cpu().numpy())
            if log_cfg.log_traj_preds:
                preds["means"].append(particles.mean(dim=1).cpu().numpy())
                preds["vars"].append(particles.var(dim=1, unbiased=False).cpu().numpy())

        episodes = []
        for j in range(count):
            frames: list[np.ndarray] | None = [] if j < nrecord else None
            bar = tqdm(total=sim.task_hor, desc=f"rollout {j}", leave=False, disable=not self.bars)

            def on_step(obs: np.ndarray, bar: tqdm = bar) -> None:
                if logging_preds:
                    record_prediction(obs)
                bar.update()

            with bar:
                episodes.append(
                    rollout(
                        self.env,
                        policy,
                        sim.task_hor,
                        noise_std=sim.noise_std if sim.stochastic else None,
                        rng=self.rngs.actions,
                        frames=frames,
                        on_step=on_step,
                    )
                )
            if frames is not None and iterdir is not None:
                write_video(iterdir / f"rollout{j}.mp4", frames, self.env.metadata["render_fps"])
        if logging_preds and iterdir is not None:
            arrays = {k: np.stack(v) for k, v in preds.items() if v}
            runlog.write_predictions(iterdir / runlog.PREDICTIONS_FILE, arrays)
        return episodes

    def train(self, state: RunState) -> None:
        inputs, targets = training_data(self.data_task, state.episodes)
        start = time.perf_counter()
        bar = tqdm(desc="training", unit="step", leave=False, disable=not self.bars)

        def on_step(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        with bar:
            report = self._fit(inputs, targets, on_step)
        if self.termination is not None:
            x, ended = termination_data(state.episodes)
            self.termination.fit(x, ended, generator=self.rngs.train)
        self.mpc.model_updated()  # the planner's bf16 weight copies follow every training call
        state.last_train_seconds = time.perf_counter() - start
        state.last_loss = float(report.epoch_losses[-1])
        state.trained = True
        log.info(
            "trained on %d transitions in %.1f s (%d steps), loss %.4g",
            inputs.shape[0],
            state.last_train_seconds,
            report.steps,
            state.last_loss,
        )

    def _fit(self, inputs: torch.Tensor, targets: torch.Tensor, on_step: Any) -> Any:
        if isinstance(self.model, SparseGP):
            return fit_gp(self.model, inputs, targets, generator=self.rngs.train)
        assert self.optimizer is not None  # every ensemble has its Adam
        train_cfg = self.cfg.ctrl_cfg.prop_cfg.model_train_cfg
        return fit(
            self.model,
            self.optimizer,
            inputs.to(self.device),
            targets.to(self.device),
            epochs=train_cfg.epochs,
            batch_size=train_cfg.batch_size,
            generator=self.rngs.train,
            holdout_ratio=train_cfg.holdout_ratio,
            max_logging=train_cfg.max_logging,
            on_step=on_step,
            step=self.step,
        )

    def resume(self, path: Path) -> RunState:
        """The state saved in checkpoint `path`, with model, optimizer and generators restored.

        Raises:
            DamagedFileError: the checkpoint is damaged or not one of this run's.
        """
        ckpt = load_checkpoint(path, CHECKPOINT_KEYS, remedy=CHECKPOINT_REMEDY)
        try:
            state = restore_checkpoint(
                ckpt, self.model, self.optimizer, self.rngs, self.env, self.termination
            )
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as err:
            problem = f"does not fit this run ({type(err).__name__}: {first_line(err)})"
            raise DamagedFileError(path, problem, CHECKPOINT_REMEDY) from err
        return state  # the planner's bf16 copies are made at its first re-plan, after this

    def checkpoint(self, state: RunState) -> None:
        payload = checkpoint_payload(
            state, self.model, self.optimizer, self.rngs, self.env, self.termination
        )
        save_checkpoint(self.outdir / runlog.CHECKPOINT_FILE, payload)

    def write_results(self, state: RunState, iterdir: Path) -> None:
        runlog.write_logs(self.outdir / runlog.LOGS_FILE, state.episodes, state.returns)
        runlog.write_progress(self.outdir / runlog.PROGRESS_FILE, state.progress)
        save_model(self.outdir / runlog.MODEL_FILE, self.model, self.optimizer)
        if self.cfg.ctrl_cfg.log_cfg.save_all_models:
            save_model(iterdir / runlog.MODEL_FILE, self.model, self.optimizer)

    def restore_results(self, state: RunState) -> None:
        """A finished run: rewrite result files that someone deleted, else do nothing."""
        files = (runlog.LOGS_FILE, runlog.PROGRESS_FILE, runlog.MODEL_FILE)
        missing = [name for name in files if not (self.outdir / name).is_file()]
        if not missing:
            log.info("run in %s is already finished; nothing to do", self.outdir)
            return
        # Snakemake deletes a job's declared output (logs.mat) before re-running it.
        runlog.write_logs(self.outdir / runlog.LOGS_FILE, state.episodes, state.returns)
        runlog.write_progress(self.outdir / runlog.PROGRESS_FILE, state.progress)
        save_model(self.outdir / runlog.MODEL_FILE, self.model, self.optimizer)
        log.info("run in %s is already finished; rewrote %s", self.outdir, ", ".join(missing))

    # -- the loop --

    def execute(self) -> None:
        cfg, outdir = self.cfg, self.outdir
        loop, log_cfg = cfg.exp_cfg.exp_cfg, cfg.exp_cfg.log_cfg
        ckpt_path = outdir / runlog.CHECKPOINT_FILE
        state = RunState(trained=cfg.ctrl_cfg.prop_cfg.model_pretrained)
        if ckpt_path.is_file():
            state = self.resume(ckpt_path)
            self.finished = state.iteration
            if state.iteration >= loop.ntrain_iters:
                self.restore_results(state)
                return
            log.info("resuming from iteration %d in %s", state.iteration + 1, outdir)
        else:
            runlog.write_config(outdir / runlog.CONFIG_FILE, cfgmod.to_dict(cfg))
            state.episodes = self.collect(state, loop.ninit_rollouts, None, 0)
            if loop.ninit_rollouts > 0:
                self.train(state)
            self.checkpoint(state)
            self.finished = 0
        for i in range(state.iteration + 1, loop.ntrain_iters + 1):
            iterdir = outdir / f"train_iter{i}"
            iterdir.mkdir(parents=True, exist_ok=True)
            count = max(log_cfg.neval, loop.nrollouts_per_iter)
            episodes = self.collect(state, count, iterdir, log_cfg.nrecord)
            state.episodes.extend(episodes[: loop.nrollouts_per_iter])
            new_returns = [e.ret for e in episodes[: log_cfg.neval]]
            state.returns.extend(new_returns)
            plan_seconds = sum(e.plan_seconds for e in episodes)
            row = ProgressRow(
                iteration=i,
                env_steps=sum(e.length for e in state.episodes),
                episode_return=float(np.mean(new_returns)),
                max_return=float(max(state.returns)),
                model_loss=state.last_loss,
                train_seconds=state.last_train_seconds,
                plan_seconds=plan_seconds,
                ms_per_action=1000.0 * plan_seconds / sum(e.length for e in episodes),
            )
            state.progress.append(row)
            self.write_results(state, iterdir)
            log.info(
                "iteration %d/%d: return %.2f, max-so-far %.2f, model loss %.4g, "
                "train %.1f s, plan %.1f s (%.1f ms/action)",
                i,
                loop.ntrain_iters,
                row.episode_return,
                row.max_return,
                row.model_loss,
                row.train_seconds,
                row.plan_seconds,
                row.ms_per_action,
            )
            if i < loop.ntrain_iters:
                self.train(state)
            state.iteration = i
            self.checkpoint(state)
            self.finished = i
            if not any(iterdir.iterdir()):
                iterdir.rmdir()


def run(
    cfg: Config,
    outdir: Path,
    *,
    progress_bars: bool | None = None,
    pretrained: Pretrained | None = None,
) -> Path:
    """Run (or resume, or skip if finished) the experiment `cfg` in `outdir`.

    The run directory is locked for the whole call (`pets.util.runlock`): one process per directory.

    Args:
        cfg: a validated configuration.
        outdir: the run directory; created if missing. If it holds a checkpoint of the same
            configuration, the run continues from its last finished iteration.
        progress_bars: draw progress bars (default: when stderr is a terminal).
        pretrained: what `preflight(cfg)` returned, so model_dir's file is read once; None
            reads it here where the configuration loads a model.

    Returns:
        The run directory.

    Raises:
        ConfigError: the directory holds a run of another configuration, or a bad model_dir.
        DamagedFileError: its checkpoint.pt or config.yaml, or model_dir's model, is damaged.
        RunLockedError: another process is running in the directory (nothing was written).
        WriteError: a result file could not be written (e.g. a full disk); the files of the
            last finished iteration are kept.
        StopRequested: SIGTERM/SIGINT (under `pets.util.stopping`), with where the run stood.
    """
    if pretrained is None:
        pretrained = preflight(cfg)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    with run_lock(outdir):
        _check_same_config(cfg, outdir)
        for stale in outdir.rglob(".*.tmp*"):  # left by a write that a kill interrupted
            stale.unlink()
        bars = sys.stderr.isatty() if progress_bars is None else progress_bars
        runner: _Run | None = None
        try:
            runner = _Run(cfg, outdir, progress_bars=bars, pretrained=pretrained)
            runner.execute()
        except BaseException as err:
            stop = stop_in(err)
            if stop is None:
                raise
            stop.run_dir, stop.total = outdir, cfg.exp_cfg.exp_cfg.ntrain_iters
            stop.finished = None if runner is None else runner.finished
            raise stop from None
    return outdir


def _check_same_config(cfg: Config, outdir: Path) -> None:
    stored_cfg = outdir / runlog.CONFIG_FILE
    if not ((outdir / runlog.CHECKPOINT_FILE).is_file() and stored_cfg.is_file()):
        return
    remedy = "restore it from a copy, or choose another output directory"
    stored = runlog.read_config(stored_cfg, remedy=remedy)
    if _comparable(stored) != _comparable(cfgmod.to_dict(cfg)):
        raise ConfigError(
            f"{outdir} holds a run with a different configuration; choose another output directory"
        )
