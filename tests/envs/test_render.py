"""Offscreen rendering of every task without a display: real, non-blank frames.

The frame tests are marked `render` and skipped with the reason when no OpenGL backend (EGL or
OSMesa) can create a context. The backend choice itself is tested with a faked probe.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterator

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from pets.envs import ENV_NAMES, make_env, rendering
from pets.envs.rendering import INSTALL_HINT, available_gl_backend, ensure_gl_backend


@pytest.fixture(scope="module")
def gl() -> str:
    backend = available_gl_backend()
    if backend is None:
        pytest.skip(f"no OpenGL backend (EGL/OSMesa) can create a context; {INSTALL_HINT}")
    return backend


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
