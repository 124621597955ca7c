"""PETS: probabilistic ensembles with trajectory sampling (Chua et al., NeurIPS 2018).

Importing the package registers the four tasks as gymnasium ids (`pets/Cartpole-v0`, ...) and picks
a headless OpenGL backend when none is set. It imports neither torch nor mujoco, so light users
(`pets.analysis`) stay light.
"""

from __future__ import annotations

import os

__version__ = "0.1.0"


def _choose_gl_backend() -> None:
    # MuJoCo reads MUJOCO_GL at import; without a display gymnasium would pick glfw and fail.
    if "MUJOCO_GL" not in os.environ and not os.environ.get("DISPLAY"):
        os.environ["MUJOCO_GL"] = "egl"
        os.environ.setdefault("PYOPENGL_PLATFORM", "egl")


_choose_gl_backend()

from pets.envs import register_envs  # noqa: E402  (needs the GL choice above)

register_envs()
