"""Offscreen rendering of every task without a display: frames that show the task's model.

Whether an OpenGL backend (EGL or OSMesa) can create a context is decided once, before any
rendering, by probing it; the frame tests are skipped (with the reason) only then. Any failure
after that is a failure: nothing turns an exception into a skip. The oracle for "the frame
shows the model" is MuJoCo's segmentation rendering from the env's own camera (which body
each pixel belongs to), and the frame must change when the model's geometry is hidden.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import mujoco
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from pets.envs import ENV_NAMES, make_env, rendering
from pets.envs.rendering import INSTALL_HINT, available_gl_backend, ensure_gl_backend


@pytest.fixture(scope="module")
def gl() -> str:
    if available_gl_backend() is None:  # the only reason to skip, decided before rendering
        pytest.skip(f"no OpenGL backend (EGL/OSMesa) can create a context; {INSTALL_HINT}")
    return ensure_gl_backend()


#: Bodies that must be in view of each task's camera (at least MIN_PIXELS of 240 x 240 each).
BODIES_IN_VIEW = {
    "cartpole": ("cart", "pole"),
    "reacher": ("r_shoulder_pan_link", "r_upper_arm_link", "r_forearm_link", "r_gripper_palm_link"),
    "pusher": ("r_shoulder_pan_link", "r_forearm_link", "r_wrist_roll_link", "object", "goal"),
    "halfcheetah": ("torso", "bthigh", "fthigh", "bfoot", "ffoot"),
}
MIN_PIXELS = 10


def _pixels_per_body(env: object) -> dict[str, int]:
    """Segmentation-render the env's current state from the camera its rgb frames use."""
    base = env.unwrapped  # type: ignore[attr-defined]
    camera = base.mujoco_renderer._get_viewer("rgb_array").cam
    renderer = mujoco.Renderer(base.model, 240, 240)
    try:
        renderer.enable_segmentation_rendering()
        renderer.update_scene(base.data, camera=camera)
        seg = renderer.render()
    finally:
        renderer.close()
    geoms = seg[..., 0][seg[..., 1] == int(mujoco.mjtObj.mjOBJ_GEOM)]
    counts: Counter[str] = Counter()
    for geom_id, n in zip(*np.unique(geoms, return_counts=True), strict=True):
        counts[base.model.body(base.model.geom_bodyid[geom_id]).name] += int(n)
    return dict(counts)


@pytest.mark.render
@pytest.mark.parametrize("name", ENV_NAMES, ids=ENV_NAMES)
def test_the_camera_sees_the_task_bodies(gl: str, name: str) -> None:
    env = make_env(name, render_mode="rgb_array")
    env.reset(seed=0)
    env.step(env.action_space.sample())
    env.render()  # creates the viewer and its camera, as a recording does
    pixels = _pixels_per_body(env)
    env.close()
    missing = {b: pixels.get(b, 0) for b in BODIES_IN_VIEW[name] if pixels.get(b, 0) < MIN_PIXELS}
    assert not missing, f"bodies out of view: {missing}"


@pytest.mark.render
@pytest.mark.parametrize("name", ENV_NAMES, ids=ENV_NAMES)
def test_frame_changes_when_the_geometry_is_hidden(gl: str, name: str) -> None:
    env = make_env(name, render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render().copy()
    model = env.unwrapped.model
    model.geom_rgba[model.geom_bodyid != 0, 3] = 0.0  # every body's geometry transparent
    hidden = env.render()
    env.close()
    changed = np.any(frame != hidden, axis=-1).mean()
    assert changed > 0.005, f"only {changed:.2%} of the pixels show the model"


@pytest.mark.render
@pytest.mark.parametrize("name", ENV_NAMES, ids=ENV_NAMES)
def test_rgb_frame_is_a_real_image(gl: str, name: str) -> None:
    env = make_env(name, render_mode="rgb_array")
    env.reset(seed=0)
    env.step(env.action_space.sample())
    frame = env.render()
    env.close()
    assert frame.shape == (480, 480, 3) and frame.dtype == np.uint8
    colours = np.unique(frame.reshape(-1, 3), axis=0)
    assert len(colours) > 20  # a scene, not a blank or single-colour frame
    assert frame.std() > 5.0


@pytest.mark.render
def test_render_passes_check_env(gl: str) -> None:
    from pets.envs.cartpole import CartpoleEnv

    env = CartpoleEnv(render_mode="rgb_array", width=64, height=64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env)
    env.close()


@pytest.fixture()
def fresh_choice(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """A process state in which the backend is still open to choose (restored afterwards)."""
    monkeypatch.delitem(sys.modules, "OpenGL", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setenv("MUJOCO_GL", "egl")
    monkeypatch.setenv("PYOPENGL_PLATFORM", "egl")
    available_gl_backend.cache_clear()
    yield monkeypatch
    available_gl_backend.cache_clear()


def test_backend_falls_back_to_osmesa_when_egl_fails(fresh_choice: pytest.MonkeyPatch) -> None:
    tried: list[str] = []

    def probe(backend: str) -> bool:
        tried.append(backend)
        return backend == "osmesa"

    fresh_choice.setattr(rendering, "_probe", probe)
    assert ensure_gl_backend() == "osmesa"
    assert tried == ["egl", "osmesa"]
    assert os.environ["MUJOCO_GL"] == "osmesa" and os.environ["PYOPENGL_PLATFORM"] == "osmesa"


def test_no_backend_raises_with_install_hint(fresh_choice: pytest.MonkeyPatch) -> None:
    fresh_choice.setattr(rendering, "_probe", lambda backend: False)
    assert available_gl_backend() is None
    with pytest.raises(RuntimeError, match="libosmesa6"):
        ensure_gl_backend()


def test_user_choice_is_trusted(fresh_choice: pytest.MonkeyPatch) -> None:
    fresh_choice.setenv("MUJOCO_GL", "glfw")
    fresh_choice.setattr(rendering, "_probe", lambda backend: pytest.fail("probed"))
    assert ensure_gl_backend() == "glfw"


@pytest.mark.render
def test_pets_render_records_the_loaded_model_acting(gl: str, tmp_path: Path) -> None:
    import imageio.v2 as imageio
    import scipy.io

    from pets.cli import main
    from pets.models import load_model

    tiny = [("exp_cfg.sim_cfg.task_hor", "12"), ("ctrl_cfg.opt_cfg.plan_hor", "2"),
            ("ctrl_cfg.opt_cfg.cfg.popsize", "8"), ("ctrl_cfg.opt_cfg.cfg.num_elites", "2"),
            ("ctrl_cfg.opt_cfg.cfg.max_iters", "2"), ("ctrl_cfg.prop_cfg.npart", "5"),
            ("ctrl_cfg.prop_cfg.model_train_cfg.epochs", "1")]  # fmt: skip
    flags = [x for p, v in tiny for x in ("-o", p, v)]
    run_dir = tmp_path / "run"
    train = ["mbexp", "-env", "cartpole", "-outdir", str(run_dir), "-device", "cpu"]
    assert main([*train, *flags, "-o", "exp_cfg.exp_cfg.ntrain_iters", "1"]) == 0
    logdir = tmp_path / "render"
    argv = ["render", "-env", "cartpole", "-model-dir", str(run_dir), "-logdir", str(logdir)]
    assert main([*argv, "-device", "cpu", "-seed", "3", *flags]) == 0
    (video,) = logdir.glob("*/train_iter1/rollout0.mp4")
    frames = np.stack(imageio.mimread(video, memtest=False))
    assert frames.shape[0] == 12  # task_hor frames of the one recorded rollout
    # the model moves between frames: a camera on empty sky would give identical frames
    assert np.any(frames[0] != frames[-1], axis=-1).mean() > 0.001
    mat = scipy.io.loadmat(video.parent.parent / "logs.mat")
    assert mat["returns"].shape == (1, 1) and mat["observations"].shape[0] == 1
    # no training in a render run: the model it re-saves is the one it loaded from model_dir
    loaded, _ = load_model(run_dir / "model.pt", device="cpu")
    resaved, _ = load_model(video.parent.parent / "model.pt", device="cpu")
    for key, value in loaded.state_dict().items():
        torch.testing.assert_close(resaved.state_dict()[key], value, msg=key)
