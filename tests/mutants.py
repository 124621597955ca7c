"""Plant plausible bugs one at a time in a scratch copy and run only the tests meant to catch them.

Usage: `cp -r . /tmp/mut && python tests/mutants.py /tmp/mut [index ...]`. Each mutant replaces
one exact text (which must occur once) in one file, runs `pytest -x -q` on its test files, and
restores the file; one line per mutant says which test caught it (tests/README.md's table). The
exit status is 1 when a mutant's text is not found exactly once (NOT APPLIED: the file moved or
was reformatted) or a mutant survives; `tests/test_mutants.py` checks every text in the default
run, without planting any.
Never run it on a checkout you work in: a kill between plant and restore leaves the bug in.
"""

# ruff: noqa: E501  (the planted texts are exact source lines)
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

S, E, R = "tests/test_spec_oracles.py", "tests/test_seams.py", "tests/envs/test_render.py"
OPT, F = "tests/test_options.py", "tests/analysis/test_figures.py"
L = "tests/test_learning.py"

# (bug, file, exact old text, new text, test files)
MUTANTS = [
    (
        "cartpole action-cost weight ×10",
        "pets/envs/cartpole.py",
        "AC_COST_WEIGHT = 0.01",
        "AC_COST_WEIGHT = 0.1",
        [S],
    ),
    (
        "pusher object-goal weight 1.25 → 1.0",
        "pets/envs/pusher.py",
        "DIST_WEIGHT = 1.25",
        "DIST_WEIGHT = 1.0",
        [S],
    ),
    (
        "halfcheetah action-cost weight 0.1 → 0.01",
        "pets/envs/halfcheetah.py",
        "AC_COST_WEIGHT = 0.1",
        "AC_COST_WEIGHT = 0.01",
        [S],
    ),
    (
        "reacher action-cost weight 0.01 → 0.001",
        "pets/envs/reacher.py",
        "AC_COST_WEIGHT = 0.01",
        "AC_COST_WEIGHT = 0.001",
        [S],
    ),
    (
        "cartpole targ_proc returns next state",
        "pets/envs/cartpole.py",
        "        return next_obs - obs",
        "        return next_obs",
        [E],
    ),
    (
        "training targets with arguments swapped",
        "pets/run/rollout.py",
        "task.targ_proc(obs, nxt)",
        "task.targ_proc(nxt, obs)",
        [E],
    ),
    (
        "halfcheetah targ_proc: o0 as a delta",
        "pets/envs/halfcheetah.py",
        "        return torch.cat([next_obs[:, :1], next_obs[:, 1:] - obs[:, 1:]], dim=1)",
        "        return torch.cat([next_obs[:, :1] - obs[:, :1], next_obs[:, 1:] - obs[:, 1:]], dim=1)",
        [E],
    ),
    (
        "cartpole weight decay of the first layer 0",
        "pets/envs/registry.py",
        "weight_decays=(1e-4, 2.5e-4, 2.5e-4, 5e-4)",
        "weight_decays=(0.0, 2.5e-4, 2.5e-4, 5e-4)",
        [S],
    ),
    (
        "Adam β2 0.999 → 0.99",
        "pets/models/training.py",
        "ADAM_BETAS = (0.9, 0.999)",
        "ADAM_BETAS = (0.9, 0.99)",
        [S],
    ),
    ("Adam ε 1e-8 → 1e-7", "pets/models/training.py", "ADAM_EPS = 1e-8", "ADAM_EPS = 1e-7", [S]),
    (
        "reacher lr 7.5e-4 → 1e-3",
        "pets/envs/registry.py",
        "lr=7.5e-4",
        "lr=1e-3",
        [S],
    ),
    (
        "halfcheetah plan_hor 30 → 25",
        "pets/envs/registry.py",
        "plan_hor=30",
        "plan_hor=25",
        [S],
    ),
    (
        "every model probabilistic",
        "pets/run/building.py",
        'probabilistic=init.model_type in ("P", "PE")',
        "probabilistic=True",
        [E],
    ),
    (
        "ensemble size ignored (always 5)",
        "pets/run/building.py",
        "ensemble_size=init.num_nets,",
        "ensemble_size=5,",
        [E],
    ),
    (
        "pets render never loads model.pt",
        "pets/cli.py",
        '("ctrl_cfg.prop_cfg.model_init_cfg.load_model", "True"),',
        "",
        [R],
    ),
    (
        "pets render crashes",
        "pets/cli.py",
        "    pretrained = preflight(cfg)\n    outdir = new_run_dir",
        "    raise RuntimeError('boom')\n    outdir = new_run_dir",
        [R],
    ),
    (
        "cartpole camera looks at the sky",
        "pets/envs/cartpole.py",
        '"lookat": np.array([0.0, 0.0, 0.0]),',
        '"lookat": np.array([0.0, 0.0, 30.0]),',
        [R],
    ),
    (
        "learning curve draws raw returns",
        "pets/analysis/figures.py",
        '_lines(ax, sub, "env_steps", "max_return", several)',
        '_lines(ax, sub, "env_steps", "episode_return", several)',
        [F],
    ),
    (
        "action noise never applied",
        "pets/run/experiment.py",
        "noise_std=sim.noise_std if sim.stochastic else None,",
        "noise_std=None,",
        [OPT],
    ),
    (
        "neval ignored (one return per iteration)",
        "pets/run/experiment.py",
        "episodes[: log_cfg.neval]",
        "episodes[:1]",
        [OPT],
    ),
    (
        "nrollouts_per_iter ignored",
        "pets/run/experiment.py",
        "state.episodes.extend(episodes[: loop.nrollouts_per_iter])",
        "state.episodes.extend(episodes[:1])",
        [OPT],
    ),
    (
        "mbexp ignores load_model",
        "pets/run/experiment.py",
        "    if not (init.load_model and init.model_dir):\n        return None",
        "    if True:\n        return None",
        [OPT],
    ),
    (
        "mbexp ignores model_pretrained",
        "pets/run/experiment.py",
        "state = RunState(trained=cfg.ctrl_cfg.prop_cfg.model_pretrained)",
        "state = RunState(trained=False)",
        [OPT],
    ),
    (
        "mbexp ignores nrecord",
        "pets/run/experiment.py",
        "episodes = self.collect(state, count, iterdir, log_cfg.nrecord)",
        "episodes = self.collect(state, count, iterdir, 0)",
        [OPT],
    ),
    (
        "workflow: global override wins over per-env",
        "workflow/rules/common.smk",
        '    merged = dict(config["overrides"])\n    merged.update(config["env_overrides"].get(env, {}))',
        '    merged = dict(config["env_overrides"].get(env, {}))\n    merged.update(config["overrides"])',
        [OPT],
    ),
    (
        "MPC trains on the first rollout only",
        "pets/run/experiment.py",
        "training_data(self.data_task, state.episodes)",
        "training_data(self.data_task, state.episodes[:1])",
        [L],
    ),
]


# The CPU hot path (2026-12-03): fused training step, Adam, planning forward, propagation, MPC,
# CEM. Each runs its module group's test files; the first failing test is the verdict.
_T = "tests/test_{}.py".format
FS = [
    _T(n) for n in ("fused_step", "models", "adam", "spec_oracles", "precision", "capture_training")
]
AD = [*FS, *(_T(n) for n in ("learning", "experiment", "threads"))]
PR = [_T(n) for n in ("propagation", "plan_buffers", "mpc", "seams", "precision", "gp", "capture")]
MP = [
    _T(n)
    for n in ("mpc", "plan_buffers", "seams", "capture", "spec_oracles", "propagation", "precision")
]
OP = [_T(n) for n in ("optimizers", "mpc", "seams", "spec_oracles", "capture", "plan_buffers")]
MUTANTS += [
    (
        "F1: penalty loss: bound coefs signs swapped",
        "pets/models/fused_step.py",
        "coefs += [LOGVAR_BOUND_COEF, -LOGVAR_BOUND_COEF]",
        "coefs += [-LOGVAR_BOUND_COEF, LOGVAR_BOUND_COEF]",
        FS,
    ),
    (
        "F2: max_logvar grad: +0.01 -> -0.01",
        "pets/models/fused_step.py",
        "out=max_grad).add_(LOGVAR_BOUND_COEF)",
        "out=max_grad).sub_(LOGVAR_BOUND_COEF)",
        FS,
    ),
    (
        "F3: dmean: 2(mu-y)/var -> (mu-y)/var",
        "pets/models/fused_step.py",
        "scale * 2.0, out=self.dmean",
        "scale * 1.0, out=self.dmean",
        FS,
    ),
    (
        "F4: inner softplus backward at a instead of c",
        "pets/models/fused_step.py",
        "dc = _softplus_backward(dlogvar, c,",
        "dc = _softplus_backward(dlogvar, a,",
        FS,
    ),
    (
        "F5: bias grad: sum -> mean over batch",
        "pets/models/fused_step.py",
        "torch.sum(grad, dim=1, keepdim=True, out=b_grad)",
        "torch.mean(grad, dim=1, keepdim=True, out=b_grad)",
        FS,
    ),
    (
        "F6: silu backward at post-activation h instead of z",
        "pets/models/fused_step.py",
        "z=self.z[k - 1] if k else None,",
        "z=self.h[k] if k else None,",
        FS,
    ),
    (
        "F7: weight decays reversed across layers",
        "pets/models/fused_step.py",
        "zip(self.layers, model.weight_decays, strict=True)",
        "zip(self.layers, model.weight_decays[::-1], strict=True)",
        FS,
    ),
    (
        "F8: minibatch idx transposed (member grouping)",
        "pets/models/fused_step.py",
        "flat = idx.reshape(-1)",
        "flat = idx.t().reshape(-1)",
        FS,
    ),
    (
        "F9: min_logvar grad operands swapped",
        "pets/models/fused_step.py",
        "torch.sub(dlogvar.sum(dim=(0, 1)), sum_dc, out=min_grad)",
        "torch.sub(sum_dc, dlogvar.sum(dim=(0, 1)), out=min_grad)",
        FS,
    ),
    (
        "F10: D/DE loss value missing 1/2",
        "pets/models/fused_step.py",
        "data = (diff.square() * scale).sum() * 0.5",
        "data = (diff.square() * scale).sum()",
        FS,
    ),
    (
        "F11: softplus backward threshold 20 -> 5",
        "pets/models/fused_step.py",
        "_SOFTPLUS_BETA, _SOFTPLUS_THRESHOLD = 1.0, 20.0",
        "_SOFTPLUS_BETA, _SOFTPLUS_THRESHOLD = 1.0, 5.0",
        FS,
    ),
    (
        "F12: row_scale missing /d_out",
        "pets/models/fused_step.py",
        "(row_weights / (row_weights.sum() * out_dim))",
        "(row_weights / row_weights.sum())",
        FS,
    ),
    (
        "A1: non-fused m lerp weight 1-b1 -> b1",
        "pets/models/adam.py",
        "            exp_avg.lerp_(grad, 1 - beta1)\n            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)\n            bias_correction1 = 1 - beta1**step\n            bias_correction2_sqrt = (1 - beta2**step) ** 0.5",
        "            exp_avg.lerp_(grad, beta1)\n            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)\n            bias_correction1 = 1 - beta1**step\n            bias_correction2_sqrt = (1 - beta2**step) ** 0.5",
        AD,
    ),
    (
        "A2: non-fused bias_correction2 missing sqrt",
        "pets/models/adam.py",
        "bias_correction2_sqrt = (1 - beta2**step) ** 0.5",
        "bias_correction2_sqrt = (1 - beta2**step)",
        AD,
    ),
    (
        "A3: fused: weight decay dropped",
        "pets/models/adam.py",
        "weight_decay=group.decay,",
        "weight_decay=0.0,",
        AD,
    ),
    (
        "A4: fused: step count off by one",
        "pets/models/adam.py",
        "steps = {c: torch.tensor(float(c)) for c in counts}",
        "steps = {c: torch.tensor(float(c + 1)) for c in counts}",
        AD,
    ),
    (
        "A5: fused: cache key ignores decays",
        "pets/models/adam.py",
        "key = (None if decays is None else tuple(decays), tuple(map(id, grads)))",
        "key = (None, tuple(map(id, grads)))",
        AD,
    ),
    (
        "A6: non-fused eps inside the bias-corrected sqrt",
        "pets/models/adam.py",
        "denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(self.eps)\n            param.addcdiv_",
        "denom = exp_avg_sq.sqrt().add_(self.eps) / bias_correction2_sqrt\n            param.addcdiv_",
        AD,
    ),
    (
        "P1: planning fwd: scaler divides missing",
        "pets/planning/forward.py",
        "h = self.input.sub_(scaler.mu).div_(scaler.sigma)",
        "h = self.input.sub_(scaler.mu)",
        PR,
    ),
    (
        "P2: planning fwd: swish on output layer too",
        "pets/planning/forward.py",
        "if i < last:",
        "if i <= last:",
        PR,
    ),
    (
        "P3: planning fwd: max/min logvar swapped in first sub",
        "pets/planning/forward.py",
        "t = torch.sub(model.max_logvar, raw, out=self.var)",
        "t = torch.sub(model.min_logvar, raw, out=self.var)",
        PR,
    ),
    (
        "P4: planning fwd: returns logvar (no exp)",
        "pets/planning/forward.py",
        "return mean, torch.add(model.min_logvar, t, out=t).exp_()",
        "return mean, torch.add(model.min_logvar, t, out=t)",
        PR,
    ),
    (
        "PF1: planning fwd: fp32 layers without their bias",
        "pets/planning/forward.py",
        "                out.add_(bias)\n",
        "                pass\n",
        PR,
    ),
    (
        "PF2: planning fwd: softplus threshold 20 -> 2",
        "pets/planning/forward.py",
        "_SOFTPLUS_THRESHOLD = 20.0",
        "_SOFTPLUS_THRESHOLD = 2.0",
        PR,
    ),
    (
        "PF3: planning fwd: no swish",
        "pets/planning/forward.py",
        "                F.silu(out, inplace=True)  # swish",
        "                pass  # swish",
        PR,
    ),
    (
        "PF4: planning fwd: bf16 copies never refreshed",
        "pets/planning/forward.py",
        "        if not self.params:\n            return\n",
        "        return\n",
        [_T("bf16")],
    ),
    (
        "R1: tsinf_buffered: features grouped member-major",
        "pets/planning/propagation.py",
        "x[..., :f].copy_(features.reshape(n, e, r, f))",
        "x[..., :f].copy_(features.reshape(e, n, r, f).transpose(0, 1))",
        PR,
    ),
    (
        "R2: tsinf_buffered: var used as std (no sqrt)",
        "pets/planning/propagation.py",
        "grouped.mul_(var.sqrt_().view(e, n, r, d))",
        "grouped.mul_(var.view(e, n, r, d))",
        PR,
    ),
    (
        "R3: tsinf_buffered: output ungrouped without transpose",
        "pets/planning/propagation.py",
        "grouped = out.view(n, e, r, d).transpose(0, 1)",
        "grouped = out.view(e, n, r, d)",
        PR,
    ),
    (
        "R4: ts1_rows: offsets not multiplied by P",
        "pets/planning/propagation.py",
        "offsets = torch.arange(n, device=device).mul_(p).unsqueeze(1)",
        "offsets = torch.arange(n, device=device).unsqueeze(1)",
        PR,
    ),
    (
        "R5: moment_match: unbiased variance",
        "pets/planning/propagation.py",
        "var = (x - mean).square().mean(dim=1, keepdim=True)",
        "var = x.var(dim=1, keepdim=True)",
        PR,
    ),
    (
        "R6: moment_match: missing sqrt",
        "pets/planning/propagation.py",
        "return z.mul_(var.sqrt()).add_(mean).view(m, d)",
        "return z.mul_(var).add_(mean).view(m, d)",
        PR,
    ),
    (
        "R7: sample_gaussian: missing sqrt",
        "pets/planning/propagation.py",
        "return eps.mul_(var.sqrt()).add_(mean)",
        "return eps.mul_(var).add_(mean)",
        PR,
    ),
    (
        "R8: tsinf_buffered ignores ign_var",
        "pets/planning/propagation.py",
        "        if var is None or self.ign_var:\n            grouped.copy_(mean)",
        "        if var is None:\n            grouped.copy_(mean)",
        PR,
    ),
    (
        "R9: TS1 permutation applied but not undone",
        "pets/planning/propagation.py",
        "    return torch.empty_like(t).index_copy_(0, rows, t)  # slot order",
        "    return t\n    return torch.empty_like(t).index_copy_(0, rows, t)  # slot order",
        PR,
    ),
    (
        "M1: candidate_costs drops ac_cost",
        "pets/planning/mpc.py",
        "total.add_(task.obs_cost(state).view(n, p)).add_(ac_costs[:, t : t + 1])",
        "total.add_(task.obs_cost(state).view(n, p))",
        MP,
    ),
    (
        "M2: NaN replaced after the particle mean",
        "pets/planning/mpc.py",
        "    total.masked_fill_(total.isnan(), NAN_COST)\n    return total.mean(dim=1)",
        "    return total.mean(dim=1).nan_to_num_(nan=NAN_COST)",
        MP,
    ),
    (
        "M3: obs_cost of s_t instead of s_{t+1}",
        "pets/planning/mpc.py",
        "        state = _rollout_states(task, model, propagation, state, actions[:, t], generator)\n        # In place, in the order of `total + obs_cost + ac_cost`: the same roundings.\n        total.add_(task.obs_cost(state).view(n, p)).add_(ac_costs[:, t : t + 1])",
        "        total.add_(task.obs_cost(state).view(n, p)).add_(ac_costs[:, t : t + 1])\n        state = _rollout_states(task, model, propagation, state, actions[:, t], generator)",
        MP,
    ),
    (
        "M4: replan does not shift the warm start",
        "pets/planning/mpc.py",
        "self._prev_sol.copy_(shift_plan(plan, self.per, self._midpoint))",
        "self._prev_sol.copy_(plan)",
        MP,
    ),
    (
        "M5: shift_plan pads with plan tail",
        "pets/planning/mpc.py",
        "return torch.cat([plan[per:], pad[:per]])",
        "return torch.cat([plan[per:], plan[-per:]])",
        MP,
    ),
    (
        "M6: init var (ub-lb)^2/16 -> /4",
        "pets/planning/mpc.py",
        "self._init_var = (ub - lb).square() / 16",
        "self._init_var = (ub - lb).square() / 4",
        MP,
    ),
    (
        "M7: act buffers plan[1:per+1]",
        "pets/planning/mpc.py",
        "plan[: self.per].cpu()",
        "plan[1 : self.per + 1].cpu()",
        MP,
    ),
    (
        "M8: reset keeps the warm start",
        "pets/planning/mpc.py",
        "        self._prev_sol.copy_(self._midpoint)\n        if self._stateful is not None:",
        "        if self._stateful is not None:",
        MP,
    ),
    (
        "M9: candidate cost sum over particles, not mean",
        "pets/planning/mpc.py",
        "return total.mean(dim=1)  # [N, P] -> [N]",
        "return total.sum(dim=1)  # [N, P] -> [N]",
        MP,
    ),
    (
        "O1: CEM update from all samples",
        "pets/planning/optimizers.py",
        "elites = self._elites(samples, cost_fn(samples))",
        "cost_fn(samples)\n            elites = samples",
        OP,
    ),
    (
        "O2: CEM alpha swapped",
        "pets/planning/optimizers.py",
        "return a * mean + (1.0 - a) * elite_mean, a * var + (1.0 - a) * elite_var",
        "return (1.0 - a) * mean + a * elite_mean, (1.0 - a) * var + a * elite_var",
        OP,
    ),
    (
        "O3: CEM var clip missing /2",
        "pets/planning/optimizers.py",
        "c = torch.minimum(torch.minimum((lb_dist / 2).square(), (ub_dist / 2).square()), var)",
        "c = torch.minimum(torch.minimum(lb_dist.square(), ub_dist.square()), var)",
        OP,
    ),
    (
        "O4: truncation erf missing /sqrt2",
        "pets/planning/optimizers.py",
        "_ERF_TRUNCATION = math.erf(TRUNCATION / math.sqrt(2.0))",
        "_ERF_TRUNCATION = math.erf(TRUNCATION)",
        OP,
    ),
    (
        "O5: elite var about previous mean",
        "pets/planning/optimizers.py",
        "elite_var = (elites - elite_mean).square()",
        "elite_var = (elites - mean).square()",
        OP,
    ),
    (
        "O6: CEM freeze test uses amin",
        "pets/planning/optimizers.py",
        "active = var.amax() > self.epsilon",
        "active = var.amin() > self.epsilon",
        OP,
    ),
    (
        "O7: CEM sampling uses var as std",
        "pets/planning/optimizers.py",
        "samples = truncated_standard_normal(u).mul_(c.sqrt()).add_(mean)",
        "samples = truncated_standard_normal(u).mul_(c).add_(mean)",
        OP,
    ),
    (
        "O8: CEM topk largest (worst elites)",
        "pets/planning/optimizers.py",
        "largest=False, sorted=False",
        "largest=True, sorted=False",
        OP,
    ),
    (
        "O9: CEM var smoothing uses new elite_var only (alpha on var dropped)",
        "pets/planning/optimizers.py",
        "a * var + (1.0 - a) * elite_var",
        "elite_var",
        OP,
    ),
    (
        "S1: shared const LOGVAR_BOUND_COEF 0.01 -> 0.1 (fused + autograd oracle)",
        "pets/models/losses.py",
        "LOGVAR_BOUND_COEF = 0.01",
        "LOGVAR_BOUND_COEF = 0.1",
        FS,
    ),
    (
        "S2: fit: last (padded) minibatch uses the full-batch scale",
        "pets/models/training.py",
        "last if b == num_batches - 1 else full)",
        "full)",
        FS,
    ),
    (
        "X6: TS1 ungroup applies the permutation instead of its inverse",
        "pets/planning/propagation.py",
        "return torch.empty_like(t).index_copy_(0, rows, t)",
        "return t.index_select(0, rows)",
        PR,
    ),
    (
        "X7: moment_match groups particle-major (across candidates)",
        "pets/planning/propagation.py",
        "x = samples.view(m // npart, npart, d)  # [M, d_out] -> [N, P, d_out]\n    mean = x.mean(dim=1, keepdim=True)",
        "x = samples.view(npart, m // npart, d).transpose(0, 1)\n    mean = x.mean(dim=1, keepdim=True)",
        PR,
    ),
    (
        "X9: ac_cost computed on H-major reshaped actions",
        "pets/planning/mpc.py",
        "ac_costs = task.ac_cost(actions.reshape(n * h, a)).view(n, h)",
        "ac_costs = task.ac_cost(actions.transpose(0, 1).reshape(n * h, a)).view(n, h)",
        MP,
    ),
    (
        "X14: act pops buffered actions last-first",
        "pets/planning/mpc.py",
        "return self._buffer.pop(0)",
        "return self._buffer.pop()",
        MP,
    ),
    (
        "X20: generic propagate tiles actions particle-major",
        "pets/planning/propagation.py",
        "acts = actions.unsqueeze(1).expand(n, self.npart, a)  # [N, a] -> [N, P, a]\n            acts = acts.reshape(n * self.npart, a)",
        "acts = actions.repeat(self.npart, 1)\n            acts = acts.reshape(n * self.npart, a)",
        PR,
    ),
    (
        "X13: random shooting samples lb + ub*u",
        "pets/planning/optimizers.py",
        "samples = self.lb + (self.ub - self.lb) * u",
        "samples = self.lb + self.ub * u",
        OP,
    ),
]


# Planning-side task costs, run logs / resume, and the analysis tables (2026-12-03). Each runs its
# group's test files; the first failing test is the verdict.
TK = [
    *(
        f"tests/envs/test_{n}.py"
        for n in ("cartpole", "reacher", "pusher", "halfcheetah", "registry")
    ),
    S,
    E,
    "tests/test_mpc.py",
]
EX = [_T(n) for n in ("experiment", "options", "faults_runs", "faults_files")]
AN = [
    f"tests/analysis/test_{n}.py" for n in ("load", "tables", "pipeline", "figures", "gp_analysis")
]
MUTANTS += [
    (
        "K1: cartpole obs_cost divides by L, not L²",
        "pets/envs/cartpole.py",
        "(ee - self.target).square().sum(dim=1) / POLE_LENGTH**2)",
        "(ee - self.target).square().sum(dim=1) / POLE_LENGTH)",
        TK,
    ),
    (
        "K2: cartpole obs_cost tip x sign (x + L sin θ)",
        "pets/envs/cartpole.py",
        "x - POLE_LENGTH * theta.sin()",
        "x + POLE_LENGTH * theta.sin()",
        TK,
    ),
    (
        "K3: cartpole obs_preproc feeds θ instead of ẋ",
        "pets/envs/cartpole.py",
        "theta.cos(), obs[:, :1], obs[:, 2:]], dim=1)",
        "theta.cos(), obs[:, :2], obs[:, 3:]], dim=1)",
        TK,
    ),
    (
        "K4: reacher obs_cost reads the goal from obs[7:10]",
        "pets/envs/reacher.py",
        "return (ee_position(obs) - self.goal).square().sum(dim=1)",
        "return (ee_position(obs) - obs[:, 7:10]).square().sum(dim=1)",
        TK,
    ),
    (
        "K5: reacher obs_cost Euclidean distance, not squared",
        "pets/envs/reacher.py",
        "return (ee_position(obs) - self.goal).square().sum(dim=1)",
        "return torch.linalg.vector_norm(ee_position(obs) - self.goal, dim=1)",
        TK,
    ),
    (
        "K6: reacher update_goal rebinds the goal tensor (loses device / capture identity)",
        "pets/envs/reacher.py",
        "self.goal.copy_(torch.as_tensor(base.goal, dtype=self.dtype))",
        "self.goal = torch.as_tensor(base.goal, dtype=self.dtype)",
        TK,
    ),
    (
        "K7: pusher obs_cost slices shifted by one (13:16, 16:19)",
        "pets/envs/pusher.py",
        "tip, obj = obs[:, 14:17], obs[:, 17:20]",
        "tip, obj = obs[:, 13:16], obs[:, 16:19]",
        TK,
    ),
    (
        "K8: pusher obs_cost near/dist weights swapped",
        "pets/envs/pusher.py",
        "return NEAR_WEIGHT * near + DIST_WEIGHT * dist",
        "return DIST_WEIGHT * near + NEAR_WEIGHT * dist",
        TK,
    ),
    (
        "K9: pusher goal distance L2² instead of L1",
        "pets/envs/pusher.py",
        "dist = (self.goal - obj).abs().sum(dim=1)",
        "dist = (self.goal - obj).square().sum(dim=1)",
        TK,
    ),
    (
        "K10: halfcheetah obs_cost uses qvel rootx (obs[9])",
        "pets/envs/halfcheetah.py",
        "return -obs[:, 0]",
        "return -obs[:, 9]",
        TK,
    ),
    (
        "K11: halfcheetah obs_preproc sin/cos of the height, not the pitch",
        "pets/envs/halfcheetah.py",
        "pitch = obs[:, 2:3]",
        "pitch = obs[:, 1:2]",
        TK,
    ),
    (
        "K12: ac_cost mean over action dims, not sum",
        "pets/envs/base.py",
        "return self.ac_cost_weight * act.square().sum(dim=-1)",
        "return self.ac_cost_weight * act.square().mean(dim=-1)",
        TK,
    ),
    (
        "E1: Episode.ret drops the first reward",
        "pets/run/runlog.py",
        "return float(self.rewards.sum())",
        "return float(self.rewards[1:].sum())",
        EX,
    ),
    (
        "E2: logs.mat returns as a column [K, 1]",
        "pets/run/runlog.py",
        '"returns": np.asarray(returns, dtype=np.float64).reshape(1, -1),',
        '"returns": np.asarray(returns, dtype=np.float64).reshape(-1, 1),',
        EX,
    ),
    (
        "E3: logs.mat written in place (not atomic)",
        "pets/run/runlog.py",
        "write_atomic(path, lambda tmp: scipy.io.savemat(tmp, data))",
        "scipy.io.savemat(path, data)",
        EX,
    ),
    (
        "E4: progress.csv written in place (not atomic)",
        "pets/run/runlog.py",
        "write_text_atomic(path, buf.getvalue())",
        'Path(path).write_text(buf.getvalue(), encoding="utf-8")',
        EX,
    ),
    (
        "E5: returns include the initial random rollouts",
        "pets/run/experiment.py",
        "            state.episodes = self.collect(state, loop.ninit_rollouts, None, 0)\n",
        "            state.episodes = self.collect(state, loop.ninit_rollouts, None, 0)\n            state.returns.extend(e.ret for e in state.episodes)\n",
        EX,
    ),
    (
        "E6: progress max_return is this iteration's max, not max-so-far",
        "pets/run/experiment.py",
        "max_return=float(max(state.returns)),",
        "max_return=float(max(new_returns)),",
        EX,
    ),
    (
        "E7: progress env_steps counts every evaluation rollout",
        "pets/run/experiment.py",
        "env_steps=sum(e.length for e in state.episodes),",
        "env_steps=sum(e.length for e in [*state.episodes, *episodes[loop.nrollouts_per_iter :]]),",
        EX,
    ),
    (
        "E8: progress episode_return is the first evaluation only",
        "pets/run/experiment.py",
        "episode_return=float(np.mean(new_returns)),",
        "episode_return=float(new_returns[0]),",
        EX,
    ),
    (
        "E9: checkpoint written before training (resume skips a training)",
        "pets/run/experiment.py",
        "            if i < loop.ntrain_iters:\n                self.train(state)\n            state.iteration = i\n            self.checkpoint(state)\n",
        "            state.iteration = i\n            self.checkpoint(state)\n            if i < loop.ntrain_iters:\n                self.train(state)\n",
        EX,
    ),
    (
        "E10: stale temp files never match the cleanup glob",
        "pets/run/experiment.py",
        'for stale in outdir.rglob(".*.tmp*"):',
        'for stale in outdir.rglob("*.tmp"):',
        EX,
    ),
    (
        "E11: resume accepts a run of another seed",
        "pets/run/experiment.py",
        'if k not in ("device", "threads", "precision")}',
        'if k not in ("device", "threads", "precision", "seed")}',
        EX,
    ),
    (
        "E12: finished run does not rewrite a deleted progress.csv",
        "pets/run/experiment.py",
        "        runlog.write_logs(self.outdir / runlog.LOGS_FILE, state.episodes, state.returns)\n        runlog.write_progress(self.outdir / runlog.PROGRESS_FILE, state.progress)\n        save_model(self.outdir / runlog.MODEL_FILE, self.model, self.optimizer)\n        log.info(",
        "        runlog.write_logs(self.outdir / runlog.LOGS_FILE, state.episodes, state.returns)\n        save_model(self.outdir / runlog.MODEL_FILE, self.model, self.optimizer)\n        log.info(",
        EX,
    ),
    (
        "A1: max-so-far with np.maximum (a NaN return poisons it)",
        "pets/analysis/load.py",
        "best = np.fmax.accumulate(returns)",
        "best = np.maximum.accumulate(returns)",
        AN,
    ),
    (
        "A2: max-so-far read at the first evaluation of each iteration",
        "pets/analysis/load.py",
        ".reshape(-1, info.neval)[:, -1]",
        ".reshape(-1, info.neval)[:, 0]",
        AN,
    ),
    (
        "A3: progress env_steps fallback leaves out the random rollouts",
        "pets/analysis/load.py",
        "            else info.env_steps(iteration)",
        "            else iteration * info.nrollouts_per_iter * info.task_hor",
        AN,
    ),
    (
        "A4: missing diagnostic column read as 0, not NaN",
        "pets/analysis/load.py",
        "return np.full(n, np.nan)",
        "return np.zeros(n)",
        AN,
    ),
    (
        "A5: task_hor of an original log from the rewards' first axis",
        "pets/run/runlog.py",
        "return returns.astype(np.float64).ravel(), int(rewards.shape[1])",
        "return returns.astype(np.float64).ravel(), int(rewards.shape[0])",
        AN,
    ),
    (
        "T1: steps_to_threshold takes the last hit, not the first",
        "pets/analysis/tables.py",
        'float(curve.loc[hit[0], "env_steps"])',
        'float(curve.loc[hit[-1], "env_steps"])',
        AN,
    ),
    (
        "T2: steps_to_threshold needs > threshold, not >=",
        "pets/analysis/tables.py",
        'curve["max_return"].to_numpy() >= threshold',
        'curve["max_return"].to_numpy() > threshold',
        AN,
    ),
    (
        "T3: threshold curve is the seed median, not the mean",
        "pets/analysis/tables.py",
        'max_return=("max_return", "mean")',
        'max_return=("max_return", "median")',
        AN,
    ),
    (
        "T4: standard error sd/√(n−1)",
        "pets/analysis/tables.py",
        'out["se"] = out["sd"] / np.sqrt(out["n"])',
        'out["se"] = out["sd"] / np.sqrt(out["n"] - 1)',
        AN,
    ),
    (
        "T5: margin_sd from the final raw return, not max-so-far",
        "pets/analysis/tables.py",
        '"margin_sd": margin_in_sd(float(best.mean()), rand),',
        '"margin_sd": margin_in_sd(float(last.mean()), rand),',
        AN,
    ),
    (
        "T6: final_env_steps of the shortest seed",
        "pets/analysis/tables.py",
        'final_steps = int(final["env_steps"].max())',
        'final_steps = int(final["env_steps"].min())',
        AN,
    ),
]


# iCEM, MPPI and the NaN rule for every optimizer (docs/spec/planners.md), each caught by
# tests/test_planners.py alone.
PL = ["tests/test_planners.py"]
MUTANTS += [
    (
        "P1: coloured noise with the sign of β flipped (blue noise)",
        "pets/planning/noise.py",
        "scale = (k / n) ** (-beta / 2.0)",
        "scale = (k / n) ** (beta / 2.0)",
        PL,
    ),
    (
        "P2: coloured noise not normalised to unit variance",
        "pets/planning/noise.py",
        "    return basis / np.sqrt((basis**2).sum(axis=1, keepdims=True))",
        "    return basis",
        PL,
    ),
    (
        "P3: iCEM samples not clipped to the bounds",
        "pets/planning/icem.py",
        "        return torch.clamp(noise * std + mean, self.lb, self.ub)",
        "        return noise * std + mean",
        PL,
    ),
    (
        "P4: iCEM keeps the worst elites, not the best",
        "pets/planning/icem.py",
        "                samples = torch.cat([samples, elites[:r]])  # + [r, H, a], best first\n                costs = torch.cat([costs, elite_costs[:r]])  # their old costs",
        "                samples = torch.cat([samples, elites[-r:]])\n                costs = torch.cat([costs, elite_costs[-r:]])",
        PL,
    ),
    (
        "P5: iCEM shifts the worst elites into the next re-plan",
        "pets/planning/icem.py",
        "            kept = self.elites[: self.reused, steps:]  # [r, H − steps, a]",
        "            kept = self.elites[-self.reused :, steps:]",
        PL,
    ),
    (
        "P6: iCEM's reset keeps the shifted elites (an episode inherits them)",
        "pets/planning/icem.py",
        "        self.has_shifted.fill_(False)",
        "        pass",
        PL,
    ),
    (
        "P7: iCEM population decays from N_0 every iteration",
        "pets/config/planners.py",
        "        counts.append(max(2 * num_elites, int(counts[-1] / decay)))",
        "        counts.append(max(2 * num_elites, int(popsize / decay)))",
        PL,
    ),
    (
        "P8: iCEM's mean replaces a sample in the first iteration, not the last",
        "pets/planning/icem.py",
        "            if i == last and self.use_mean:",
        "            if i == 0 and self.use_mean:",
        PL,
    ),
    (
        "P9: MPPI weights without subtracting max R",
        "pets/planning/mppi.py",
        "    weights = torch.exp(kappa * (rewards - rewards.max()))  # [N]",
        "    weights = torch.exp(kappa * rewards)  # [N]",
        PL,
    ),
    (
        "P10: MPPI samples not clipped",
        "pets/planning/mppi.py",
        "        return torch.clamp(samples, self.lb, self.ub)",
        "        return samples",
        PL,
    ),
    (
        "P11: MPPI filter weights the previous action by β",
        "pets/planning/mppi.py",
        "            prev = drive[:, t] + (1.0 - self.beta) * prev",
        "            prev = drive[:, t] + self.beta * prev",
        PL,
    ),
    (
        "P12: MPPI's previous action is the first executed one, not the last",
        "pets/planning/mppi.py",
        "        self.prev_action.copy_(self.mean[steps - 1])",
        "        self.prev_action.copy_(self.mean[0])",
        PL,
    ),
    (
        "P13: the MPC never advances a stateful planner",
        "pets/planning/mpc.py",
        "            self._stateful.advance(self.per, self.generator)",
        "            pass",
        PL,
    ),
    (
        "P14: NaN rollouts ranked best (mbrl-lib's sign)",
        "pets/planning/mpc.py",
        "NAN_COST = 1e6  # docs/spec/pets-facts.md §6.2",
        "NAN_COST = -1e6  # docs/spec/pets-facts.md §6.2",
        PL,
    ),
    (
        "P15: the rehearsal does not restore a planner's state",
        "pets/planning/mpc.py",
        "            for buffer, value in zip(self._optimizer_state(), saved, strict=True):\n                buffer.copy_(value)",
        "            pass",
        PL,
    ),
]

GY = [_T("gym_envs")]
MUTANTS += [
    (
        "G1: a particle's rewards go on after its predicted termination",
        "pets/planning/mpc.py",
        "            total.add_(torch.where(alive > 0, cost, 0.0))",
        "            total.add_(cost)",
        GY,
    ),
    (
        "G2: a rollout runs on past the env's termination",
        "pets/run/rollout.py",
        "        if terminated:\n            break",
        "        if False:\n            break",
        GY,
    ),
    (
        "G3: env steps counted as if every rollout took the horizon",
        "pets/run/experiment.py",
        "env_steps=sum(e.length for e in state.episodes),",
        "env_steps=(loop.ninit_rollouts + i * loop.nrollouts_per_iter) * cfg.exp_cfg.sim_cfg.task_hor,",
        GY,
    ),
    (
        "G4: logs.mat pads ended rollouts with zeros, not NaN",
        "pets/run/runlog.py",
        "    out = np.full((len(arrays), rows, *arrays[0].shape[1:]), np.nan)",
        "    out = np.zeros((len(arrays), rows, *arrays[0].shape[1:]))",
        GY,
    ),
    (
        "G5: a resume leaves the learned termination untrained",
        "pets/run/checkpoint.py",
        '        termination.load_state_dict(ckpt["termination"])',
        "        pass",
        GY,
    ),
    (
        "G6: the learned reward gets no training target",
        "pets/run/rollout.py",
        '    if getattr(task, "learned_reward", False):',
        "    if False:",
        GY,
    ),
    (
        "G7: the termination classifier does not weight the rare ends",
        "pets/models/termination.py",
        "pos_weight=weight",
        "pos_weight=None",
        GY,
    ),
    (
        "G8: x stays in the locomotion model's input",
        "pets/envs/gym_task.py",
        "        return obs[..., self.hidden :]",
        "        return obs",
        GY,
    ),
    (
        "G9: the analysis counts env steps without the logged lengths",
        "pets/analysis/load.py",
        "        if self.lengths is not None and",
        "        if False and self.lengths is not None and",
        GY,
    ),
]


def run_mutant(root: Path, name: str, path: str, old: str, new: str, tests: list[str]) -> str:
    """Plant, test, restore; return the verdict line."""
    full = root / path
    src = full.read_text(encoding="utf-8")
    if src.count(old) != 1:
        return f"{name}\tNOT APPLIED ({src.count(old)} matches)"
    full.write_text(src.replace(old, new), encoding="utf-8")
    try:
        start = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=900,
            env={**os.environ, "PYTHONPATH": str(root)},
        )
        failed = [
            line.split(" - ")[0].removeprefix("FAILED ")
            for line in proc.stdout.splitlines()
            if line.startswith("FAILED")
        ]
        if proc.returncode == 0:
            verdict = "SURVIVED"
        elif failed:
            verdict = f"CAUGHT by {failed[0]}"
        else:
            verdict = f"pytest exit {proc.returncode}"
        return f"{name}\t{verdict}\t{time.monotonic() - start:.0f} s"
    finally:
        full.write_text(src, encoding="utf-8")


def main(argv: list[str]) -> int:
    """Run the chosen mutants; exit status 1 if any was not applied or survived its tests."""
    root, only = Path(argv[0]), set(argv[1:])
    failures = 0
    for i, mutant in enumerate(MUTANTS):
        if not only or str(i) in only:
            verdict = run_mutant(root, *mutant)
            failures += "\tNOT APPLIED" in verdict or "\tSURVIVED" in verdict
            print(f"{i}\t{verdict}", flush=True)
    if failures:
        print(f"{failures} mutant(s) not applied or survived", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
