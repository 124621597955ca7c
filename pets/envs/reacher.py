"""Reacher3D, a 7-DOF arm reaching a 3-D goal (`MBRLReacher3D-v0`, `docs/spec/pets-facts.md` §3.2).

The MuJoCo model is gymnasium's `pusher.xml` arm turned into PETS's reacher arm by MjSpec edits
(`docs/spec/environments.md` §5, route B): RK4, shoulder at y = −0.188, PETS's damping and ranges,
0.321 m forearm, density 1000, a palm and two two-link fingers instead of the pusher's scoop.
Holds the end-effector forward kinematics in torch (`ee_position`), used by the planning cost.
Imports nothing from models or planners.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
import torch
from gymnasium.utils import EzPickle
from torch import Tensor

from pets.envs.base import RENDER_SIZE, SpecMujocoEnv, Task, add_skybox, gym_asset, squared_norm

ASSET = gym_asset("pusher.xml")
FRAME_SKIP = 2
TASK_HORIZON = 150
AC_COST_WEIGHT = 0.01
#: Goal mean in world coordinates (PETS: the target_y slide joint has ref 0.25).
GOAL_MEAN = (0.0, 0.25, 0.0)
GOAL_STD = 0.1
#: World position of the shoulder (PETS moved gymnasium's pusher arm from y = −0.6).
SHOULDER_Y = -0.188
UPPER_ARM = 0.4
FOREARM = 0.321
#: End effector beyond the wrist along the gripper x axis (midpoint of the fingertip links).
HAND = 0.16828
ARM_JOINTS = (
    "r_shoulder_pan_joint",
    "r_shoulder_lift_joint",
    "r_upper_arm_roll_joint",
    "r_elbow_flex_joint",
    "r_forearm_roll_joint",
    "r_wrist_flex_joint",
    "r_wrist_roll_joint",
)
#: Per joint: damping, range (None = unlimited); `docs/spec/pets-facts.md` §3.2.
JOINT_SETTINGS: dict[str, tuple[float, tuple[float, float] | None]] = {
    "r_shoulder_pan_joint": (10.0, (-2.2854, 1.714602)),
    "r_shoulder_lift_joint": (10.0, (-0.5236, 1.3963)),
    "r_upper_arm_roll_joint": (0.1, (-3.9, 0.8)),
    "r_elbow_flex_joint": (1.0, (-2.3213, 0.0)),
    "r_forearm_roll_joint": (0.1, None),
    "r_wrist_flex_joint": (0.1, (-2.094, 0.0)),
    "r_wrist_roll_joint": (0.1, None),
}
CTRL_LIMIT = 20.0
DEFAULT_CAMERA_CONFIG: dict[str, Any] = {
    "distance": 2.5,
    "lookat": np.array([0.3, 0.0, -0.1]),
    "elevation": -30.0,
    "azimuth": 270.0,
}


def _add_capsule(body: Any, p0: list[float], p1: list[float], radius: float, name: str) -> None:
    body.add_geom(
        name=name, type=mujoco.mjtGeom.mjGEOM_CAPSULE, fromto=[*p0, *p1], size=[radius, 0, 0]
    )


def build_spec() -> mujoco.MjSpec:
    """Return PETS's Reacher3D arm built from gymnasium's pusher arm.

    The edits are route B of `docs/spec/environments.md` §5.
    """
    spec = mujoco.MjSpec.from_file(ASSET)
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_RK4
    for name in ("object", "goal", "tips_arm"):
        spec.delete(spec.body(name))
    spec.delete(spec.geom("table"))
    wrist = spec.body("r_wrist_roll_link")
    for geom in list(wrist.geoms):  # the pusher's U-shaped scoop
        spec.delete(geom)
    spec.body("r_shoulder_pan_link").pos = [0.0, SHOULDER_Y, 0.0]
    for name, (damping, limits) in JOINT_SETTINGS.items():
        joint = spec.joint(name)
        joint.damping[0] = damping
        if limits is None:
            joint.limited = mujoco.mjtLimited.mjLIMITED_FALSE
        else:
            joint.limited = mujoco.mjtLimited.mjLIMITED_TRUE
            joint.range = list(limits)
    spec.geom("fa").fromto = [0.0, 0.0, 0.0, FOREARM, 0.0, 0.0]

    # The gripper of PETS's reacher: wrist capsule, palm, two fingers of two links each.
    _add_capsule(wrist, [-0.02, 0, 0], [0.02, 0, 0], 0.01, "wr")
    palm = wrist.add_body(name="r_gripper_palm_link")
    _add_capsule(palm, [0.05, 0, -0.02], [0.05, 0, 0.02], 0.05, "pl")
    for side, sign in (("l", 1.0), ("r", -1.0)):
        finger = palm.add_body(name=f"r_gripper_{side}_finger_link", pos=[0.07691, 0.03 * sign, 0])
        tip_offset = [0.09137, 0.00495 * sign, 0.0]
        _add_capsule(finger, [0, 0, 0], tip_offset, 0.01, f"{side}_finger")
        tip = finger.add_body(name=f"r_gripper_{side}_finger_tip_link", pos=tip_offset)
        _add_capsule(tip, [0, 0, 0], [0.09137, 0, 0], 0.01, f"{side}_finger_tip")
    # The end effector: midpoint of the two fingertip-link origins.
    palm.add_site(name="ee", pos=[HAND, 0.0, 0.0], size=[0.01, 0, 0])
    # PETS's goal was a body on three free slide joints (never moved by the arm); a site moved
    # at reset is the same for the dynamics and adds no state.
    spec.worldbody.add_site(
        name="goal", pos=list(GOAL_MEAN), size=[0.035, 0, 0], rgba=[0.9, 0.2, 0.2, 1.0]
    )
    for geom in spec.geoms:  # elements parsed from XML already hold their defaults
        geom.density = 1000.0
        geom.friction = [0.5, 0.1, 0.1]
    for actuator in spec.actuators:
        actuator.ctrlrange = [-CTRL_LIMIT, CTRL_LIMIT]
    add_skybox(spec)
    return spec


def _ee_position_np(q: np.ndarray) -> np.ndarray:
    """Return PETS's analytic end effector of arm angles q [7] (the env's copy of `ee_position`)."""
    t1, t2, t3, t4, t5, t6 = q[:6]
    r = np.array([np.cos(t2) * np.cos(t1), np.cos(t2) * np.sin(t1), -np.sin(t2)])
    p = np.array([-np.sin(t1), np.cos(t1), 0.0])
    e = np.array(
        [
            0.1 * np.cos(t1) + UPPER_ARM * np.cos(t1) * np.cos(t2),
            0.1 * np.sin(t1) + UPPER_ARM * np.sin(t1) * np.cos(t2) + SHOULDER_Y,
            -UPPER_ARM * np.sin(t2),
        ]
    )
    for length, hinge, roll in ((FOREARM, t4, t3), (HAND, t6, t5)):
        q_axis = np.cross(r, p)
        r_new = np.cos(hinge) * r + np.sin(hinge) * (np.sin(roll) * p - np.cos(roll) * q_axis)
        p_new = np.cross(r_new, r)
        norm = np.linalg.norm(p_new)
        # PETS: a straight joint leaves the flex axis undefined; keep the previous one.
        p_new = p / np.linalg.norm(p) if norm < 1e-30 else p_new / norm
        r, p, e = r_new, p_new, e + length * r_new
    return e


class Reacher3DEnv(SpecMujocoEnv, EzPickle):
    r"""Move the end effector of a 7-DOF arm (PR2 right arm) to a random 3-D goal.

    ## Description
    Seven hinge joints (shoulder pan, shoulder lift, upper-arm roll, elbow flex, forearm roll,
    wrist flex, wrist roll), torque motors (gear 1), no gravity, no contacts. Timestep 0.01 s,
    RK4, 2 physics steps per env step (dt = 0.02 s). The goal is drawn anew at every reset.

    ## Action Space
    `Box(-20, 20, (7,), float32)`: torque on each arm joint in `ARM_JOINTS` order (N·m).

    ## Observation Space
    `Box(-inf, inf, (17,), float64)`:

    | index | meaning | unit | source |
    |---|---|---|---|
    | 0–6 | arm joint angles θ1..θ7 | rad | `qpos[0:7]` |
    | 7–9 | goal position (x, y, z) | m | site `goal` (world frame) |
    | 10–16 | arm joint velocities | rad/s | `qvel[0:7]` |

    ## Rewards
    After the step: r = −‖EE(obs) − goal‖² − 0.01·‖a‖², with EE PETS's analytic forward
    kinematics of θ1..θ6 (`ee_position`; equal to site `ee` within the joint limits).

    ## Starting State
    The arm at zero angles and zero velocity, without noise; goal = (0, 0.25, 0) + N(0, 0.1²)
    per axis.

    ## Episode End
    Never terminates; truncated by the TimeLimit at `TASK_HORIZON` = 150 steps (3 s).

    ## Arguments
    | argument | default | meaning |
    |---|---|---|
    | `frame_skip` | 2 | physics steps per env step |
    | `goal_std` | 0.1 | std of the goal around (0, 0.25, 0), per axis |
    | `render_mode`, `width`, `height` | None, 480, 480 | gymnasium rendering |
    | `default_camera_config` | PETS's view | free-camera attributes |

    ## Differences from the original
    The goal is a world site moved at reset instead of a body on three slide joints, so
    nq = nv = 7 instead of 10; the observation is unchanged (the original read the goal from
    `qpos[7:10]`, and the goal body never moved). Randomness comes from `self.np_random`.
    """

    metadata = {  # noqa: RUF012  (gymnasium declares it on Env, not as a ClassVar)
        **SpecMujocoEnv.metadata,
        "render_fps": round(1 / (0.01 * FRAME_SKIP)),
    }

    def __init__(
        self,
        frame_skip: int = FRAME_SKIP,
        goal_std: float = GOAL_STD,
        render_mode: str | None = None,
        width: int = RENDER_SIZE[0],
        height: int = RENDER_SIZE[1],
        default_camera_config: dict[str, Any] | None = None,
    ) -> None:
        EzPickle.__init__(
            self, frame_skip, goal_std, render_mode, width, height, default_camera_config
        )
        self._goal_std = goal_std
        self.goal = np.array(GOAL_MEAN, dtype=np.float64)
        SpecMujocoEnv.__init__(
            self,
            build_spec,
            source=ASSET,
            frame_skip=frame_skip,
            obs_dim=17,
            render_mode=render_mode,
            width=width,
            height=height,
            default_camera_config=default_camera_config or DEFAULT_CAMERA_CONFIG,
        )
        self._goal_site = self.model.site("goal").id

    def _get_rew(self, obs: np.ndarray, action: np.ndarray) -> tuple[float, dict[str, float]]:
        reward_dist = -float(np.sum(np.square(_ee_position_np(obs[:7]) - self.goal)))
        reward_ctrl = -AC_COST_WEIGHT * squared_norm(action)
        return reward_dist + reward_ctrl, {"reward_dist": reward_dist, "reward_ctrl": reward_ctrl}

    def _get_obs(self) -> np.ndarray:
        return np.concatenate([self.data.qpos, self.goal, self.data.qvel]).astype(np.float64)

    def reset_model(self) -> np.ndarray:
        # PETS: the arm starts exactly at rest in the zero pose; only the goal is random.
        self.goal = np.asarray(GOAL_MEAN) + self.np_random.normal(0.0, self._goal_std, size=3)
        self.model.site_pos[self._goal_site] = self.goal
        self.set_state(self.init_qpos.copy(), self.init_qvel.copy())
        return self._get_obs()

    def _get_reset_info(self) -> dict[str, Any]:
        return {"goal": self.goal.copy()}


def ee_position(q: Tensor) -> Tensor:
    """Return PETS's analytic end-effector position (`docs/spec/pets-facts.md` §3.2).

    Exact (= midpoint of the fingertip-link origins) within the joint limits; wrong when an
    elbow or wrist flex angle is positive, as in the original.

    Args:
        q: [M, >=6] states whose first six columns are θ1..θ6.

    Returns:
        [M, 3] end-effector positions in the world frame (m).
    """
    t1, t2, t3, t4, t5, t6 = (q[:, i : i + 1] for i in range(6))
    # Each sine and cosine once, on the same [M, 1] columns as before (the same kernel and
    # rounding), then reused: the planner evaluates this for every particle and step.
    c1, s1, c2, s2 = t1.cos(), t1.sin(), t2.cos(), t2.sin()
    r = torch.cat([c2 * c1, c2 * s1, -s2], dim=1)  # [M, 3]
    p = torch.cat([-s1, c1, torch.zeros_like(t1)], dim=1)  # [M, 3]
    e = torch.cat(
        [
            0.1 * c1 + UPPER_ARM * c1 * c2,
            0.1 * s1 + UPPER_ARM * s1 * c2 + SHOULDER_Y,
            -UPPER_ARM * s2,
        ],
        dim=1,
    )
    for length, hinge, roll in ((FOREARM, t4, t3), (HAND, t6, t5)):
        q_axis = torch.linalg.cross(r, p)
        r_new = hinge.cos() * r + hinge.sin() * (roll.sin() * p - roll.cos() * q_axis)
        p_new = torch.linalg.cross(r_new, r)
        norm = torch.linalg.vector_norm(p_new, dim=1, keepdim=True)
        # PETS: a straight joint leaves the flex axis undefined; keep the previous one (a mask,
        # not a branch, so there is no host sync).
        p_new = torch.where(norm < 1e-30, p, p_new)
        p = p_new / torch.linalg.vector_norm(p_new, dim=1, keepdim=True)
        r, e = r_new, e + length * r_new
    return e


class Reacher3DTask(Task):
    """Planning side of Reacher3D (`docs/spec/pets-facts.md` §4.3).

    Identity preprocessing; targets and postproc are deltas; cost ‖EE(o) − g‖² + 0.01‖a‖² with
    the goal g copied from the env after each reset (`update_goal`).
    """

    name = "reacher"
    obs_dim = 17
    act_dim = 7
    task_hor = TASK_HORIZON
    model_in_dim = 24
    model_out_dim = 17
    ac_cost_weight = AC_COST_WEIGHT
    _ac_bound = (CTRL_LIMIT,) * 7

    def __init__(self, *, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32):
        super().__init__(device=device, dtype=dtype)
        self.goal = self._const(GOAL_MEAN)

    def targ_proc(self, obs: Tensor, next_obs: Tensor) -> Tensor:
        """[M, 17] x2 -> [M, 17]: the state change."""
        return next_obs - obs

    def obs_postproc(self, obs: Tensor, pred: Tensor) -> Tensor:
        """[M, 17] x2 -> [M, 17]: state plus predicted change."""
        return obs + pred

    def obs_cost(self, obs: Tensor) -> Tensor:
        """[M, 17] -> [M]: squared distance of the end effector to the goal."""
        return (ee_position(obs) - self.goal).square().sum(dim=1)

    def update_goal(self, env: gym.Env) -> None:
        """Copy the goal of the env's current episode (works through wrappers)."""
        base = env.unwrapped
        if not isinstance(base, Reacher3DEnv):
            raise TypeError(f"update_goal needs a Reacher3DEnv, got {type(base).__name__}")
        self.goal.copy_(torch.as_tensor(base.goal, dtype=self.dtype))
