"""A virtual X server (Xvfb) for tests that open MuJoCo's real viewer window."""

from __future__ import annotations

import os
import subprocess
from typing import Dict, Iterator

import pytest

WINDOW_TITLE = "^MuJoCo"  # mujoco.viewer names its window "MuJoCo"
#: The viewer sizes its window from the screen; with software GL a 1280×720 screen renders
#: about 7 frames/s on 2 busy cores, 640×480 keeps up with the 30 frames/s playback.
SCREEN = "640x480x24"


def start_xvfb() -> Iterator[str]:
    """A running Xvfb (real process, killed at teardown); yields its DISPLAY value, e.g. ":5".

    ``-displayfd`` lets Xvfb pick a free display number itself and write it to the pipe once it
    accepts connections, so there is no guessing of free numbers and no polling.
    """
    read_end, write_end = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", SCREEN, "-nolisten", "tcp"],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    os.close(write_end)
    try:
        with os.fdopen(read_end, "rb") as pipe:
            number = pipe.readline().decode().strip()  # empty if Xvfb died before it was ready
        if not number.isdigit():
            server.kill()
            _, err = server.communicate(timeout=10)
            pytest.fail(f"Xvfb did not start: {err.decode(errors='replace')[-2000:]}")
        yield f":{number}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        if server.stderr is not None:
            server.stderr.close()


def viewer_env(display: str) -> Dict[str, str]:
    env = dict(os.environ, DISPLAY=display, MUJOCO_GL="glfw")
    env.pop("WAYLAND_DISPLAY", None)
    env.pop("PYOPENGL_PLATFORM", None)  # conftest may set EGL for the offscreen tests
    return env
