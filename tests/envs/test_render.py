"""Offscreen rendering of every task without a display: real, non-blank frames.

Skipped with the reason when no OpenGL backend (EGL or OSMesa) can create a context.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from pets.envs import ENV_NAMES, make_env
from pets.envs.rendering import INSTALL_HINT, available_gl_backend

pytestmark = pytest.mark.render


@pytest.fixture(scope="module", autouse=True)
def _need_gl() -> None:
    if available_gl_backend() is None:
        pytest.skip(f"no OpenGL backend (EGL/OSMesa) can create a context; {INSTALL_HINT}")


@pytest.mark.parametrize("name", ENV_NAMES, ids=ENV_NAMES)
def test_rgb_frame_is_a_real_image(name: str) -> None:
    env = make_env(name, render_mode="rgb_array")
    env.reset(seed=0)
    env.step(env.action_space.sample())
    frame = env.render()
    env.close()
    assert frame.shape == (480, 480, 3) and frame.dtype == np.uint8
    colours = np.unique(frame.reshape(-1, 3), axis=0)
    assert len(colours) > 20  # a scene, not a blank or single-colour frame
    assert frame.std() > 5.0


def test_render_passes_check_env() -> None:
    from pets.envs.cartpole import CartpoleEnv

    env = CartpoleEnv(render_mode="rgb_array", width=64, height=64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env)
    env.close()
