"""Choose a working OpenGL backend for headless offscreen rendering.

`pets/__init__.py` sets `MUJOCO_GL=egl` when there is no display. EGL can still be missing (no
libEGL/Mesa packages), and PyOpenGL fixes its platform at first import, so a backend cannot be
switched after a failed attempt in the same process. `ensure_gl_backend` therefore probes the
candidates once, each in a short subprocess, and sets `MUJOCO_GL`/`PYOPENGL_PLATFORM` to the first
that creates a context (EGL, then OSMesa; `docs/spec/environments.md` §6). Imports no torch or
mujoco.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys

#: Headless backends in order of preference (both run on Mesa's llvmpipe without a GPU).
HEADLESS_BACKENDS = ("egl", "osmesa")

_PROBE = (
    "import importlib; "
    "m = importlib.import_module('mujoco.' + {backend!r}); "
    "c = m.GLContext(8, 8); c.make_current(); c.free()"
)

#: How to install a backend on Debian/Ubuntu, for error messages.
INSTALL_HINT = "apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri (EGL) or libosmesa6 (OSMesa)"


def _probe(backend: str) -> bool:
    """Return whether a fresh interpreter can create a `backend` GL context."""
    env = dict(os.environ, MUJOCO_GL=backend, PYOPENGL_PLATFORM=backend)
    try:
        done = subprocess.run(
            [sys.executable, "-c", _PROBE.format(backend=backend)],
            env=env,
            capture_output=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


@functools.cache
def available_gl_backend() -> str | None:
    """Return the headless GL backend to use, or None when none works.

    A backend already chosen by the user (`MUJOCO_GL` set to something other than the
    headless defaults, e.g. `glfw` with a display) is trusted as is. Once PyOpenGL has been
    imported the platform is fixed, so only the current choice is reported.
    """
    current = os.environ.get("MUJOCO_GL")
    if current is not None and current not in HEADLESS_BACKENDS:
        return current
    if current is None and os.environ.get("DISPLAY"):
        return "glfw"
    if "OpenGL" in sys.modules:
        return current
    order = ([current] if current else []) + [b for b in HEADLESS_BACKENDS if b != current]
    for backend in order:
        if _probe(backend):
            return backend
    return None


def ensure_gl_backend() -> str:
    """Select a working headless backend in this process (environment variables) and return it.

    Raises:
        RuntimeError: when no OpenGL backend can create a context; the message says what to
            install.
    """
    backend = available_gl_backend()
    if backend is None:
        raise RuntimeError(
            "offscreen rendering needs OpenGL, but neither EGL nor OSMesa could create a "
            f"context on this machine; install one: {INSTALL_HINT}"
        )
    if backend in HEADLESS_BACKENDS and "OpenGL" not in sys.modules:
        os.environ["MUJOCO_GL"] = backend
        os.environ["PYOPENGL_PLATFORM"] = backend
    return backend
