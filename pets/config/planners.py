"""The configs of the planners after PETS: iCEM and MPPI (`docs/spec/planners.md`).

Each is a frozen, keyword-only dataclass of the fields under `ctrl_cfg.opt_cfg.cfg`, with the
authors' defaults and a `check()` that raises a one-line `ConfigError` naming the key; the
registry (`pets.config.registry`) registers them beside CEM and random shooting. Also owns
iCEM's population schedule, which both the optimizer and the compute count of a preset read.
Free of torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pets.errors import ConfigError

__all__ = ["ICEMCfg", "MPPICfg", "icem_populations"]

_KEY = "ctrl_cfg.opt_cfg.cfg"


def _help(text: str) -> dict[str, str]:
    return {"help": text}


def icem_populations(
    popsize: int, num_elites: int, max_iters: int, decay: float
) -> tuple[int, ...]:
    """iCEM's fresh samples per iteration: N_0 = popsize, N_i = max(2K, ⌊N_{i−1}/γ⌋).

    The division and the floor are the authors' (`int(n / γ)` in Python floats,
    `docs/spec/planners.md` §1.3), so the schedule is theirs to the sample.

    Args:
        popsize: N_0.
        num_elites: K.
        max_iters: iterations.
        decay: γ.

    Returns:
        The sample counts, one per iteration.
    """
    counts = [popsize]
    for _ in range(max_iters - 1):
        counts.append(max(2 * num_elites, int(counts[-1] / decay)))
    return tuple(counts)


@dataclass(frozen=True, kw_only=True)
class ICEMCfg:
    popsize: int = field(default=40, metadata=_help("Samples of the first iteration, N_0."))
    num_elites: int = field(
        default=10,
        metadata=_help("Elites K, 2 <= K <= popsize/2."),
    )
    max_iters: int = field(default=3, metadata=_help("Iterations per re-plan."))
    alpha: float = field(
        default=0.1,
        metadata=_help("Weight of the previous mean and std in each update."),
    )
    decay: float = field(
        default=1.25,
        metadata=_help("Population decay γ >= 1: N_i = max(2K, floor(N_{i-1}/γ))."),
    )
    init_std: float = field(
        default=0.5,
        metadata=_help("Std at each re-plan, in half action ranges."),
    )
    noise_beta: float = field(
        default=3.0,
        metadata=_help(
            "Coloured-noise exponent β, power ∝ f^-β along the horizon (0: white). "
            "Tasks may set their own (pets/envs/registry.py)."
        ),
    )
    elite_fraction: float = field(
        default=0.3,
        metadata=_help("Fraction of the K elites kept and shifted."),
    )
    keep_elites: bool = field(
        default=True,
        metadata=_help("Add the previous iteration's best elites."),
    )
    shift_elites: bool = field(
        default=True,
        metadata=_help("Add the last re-plan's best elites, shifted."),
    )
    use_mean: bool = field(
        default=True,
        metadata=_help("The mean replaces a sample in the last iteration."),
    )

    def check(self) -> None:
        """Raise ConfigError naming the key unless the settings make an iCEM."""
        if self.popsize < 2:
            raise ConfigError(f"{_KEY}.popsize must be at least 2, got {self.popsize}")
        # DEVIATION: the authors clamp K into [2, N // 2] with a warning; a wrong K is an error.
        if not 2 <= self.num_elites <= self.popsize // 2:
            raise ConfigError(
                f"{_KEY}.num_elites must be in [2, popsize // 2 = {self.popsize // 2}], "
                f"got {self.num_elites}"
            )
        if self.max_iters < 1:
            raise ConfigError(f"{_KEY}.max_iters must be at least 1, got {self.max_iters}")
        _in_range("alpha", self.alpha, 0.0, 1.0)
        _in_range("elite_fraction", self.elite_fraction, 0.0, 1.0)
        if not self.decay >= 1.0:
            raise ConfigError(f"{_KEY}.decay must be at least 1, got {self.decay}")
        if not self.init_std > 0.0:
            raise ConfigError(f"{_KEY}.init_std must be positive, got {self.init_std}")
        if not self.noise_beta >= 0.0:
            raise ConfigError(f"{_KEY}.noise_beta must be at least 0, got {self.noise_beta}")

    def populations(self) -> tuple[int, ...]:
        """Candidates simulated per iteration: the schedule, plus the shifted elites first."""
        counts = list(icem_populations(self.popsize, self.num_elites, self.max_iters, self.decay))
        if self.shift_elites:
            counts[0] += int(self.num_elites * self.elite_fraction)
        return tuple(counts)


@dataclass(frozen=True, kw_only=True)
class MPPICfg:
    popsize: int = field(default=700, metadata=_help("Candidate sequences per re-plan."))
    kappa: float = field(
        default=1.0,
        metadata=_help("κ of the weights exp(κ·(R - max R)), R = -cost."),
    )
    sigma: float = field(
        default=0.9,
        metadata=_help("Noise std, in half action ranges."),
    )
    beta: float = field(
        default=0.9,
        metadata=_help("Filter β, a_t = β·(μ_t + ε_t) + (1 - β)·a_{t-1}; 1: no filter."),
    )

    def check(self) -> None:
        """Raise ConfigError naming the key unless the settings make an MPPI."""
        if self.popsize < 1:
            raise ConfigError(f"{_KEY}.popsize must be at least 1, got {self.popsize}")
        if not self.kappa > 0.0:
            raise ConfigError(f"{_KEY}.kappa must be positive, got {self.kappa}")
        if not self.sigma > 0.0:
            raise ConfigError(f"{_KEY}.sigma must be positive, got {self.sigma}")
        if not 0.0 < self.beta <= 1.0:
            raise ConfigError(f"{_KEY}.beta must be in (0, 1], got {self.beta}")

    def populations(self) -> tuple[int, ...]:
        """Candidates simulated per re-plan: one update."""
        return (self.popsize,)


def _in_range(key: str, value: float, lo: float, hi: float) -> None:
    if not lo <= value <= hi:
        raise ConfigError(f"{_KEY}.{key} must be in [{lo:g}, {hi:g}], got {value}")
