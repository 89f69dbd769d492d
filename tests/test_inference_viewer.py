"""`mimic inference` in MuJoCo's real viewer window on a virtual X server (Xvfb): the policy
runs with training's resets at the control rate, env 0 on screen, until --steps or the window
closes; a backend the viewer cannot show is one clear error."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from xvfb_display import WINDOW_TITLE, viewer_env

from mimic.cli import main as mimic_main

pytestmark = pytest.mark.skipif(
    shutil.which("Xvfb") is None, reason="Xvfb is not on PATH (Debian: apt-get install xvfb)"
)

REPO_ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 120.0  # model build and software GL on a slow 2-core runner
STEPS = 45  # 1.5 s at 30 Hz


@pytest.mark.skipif(shutil.which("xdotool") is None, reason="xdotool is not on PATH (Debian: apt-get install xdotool)")
def test_the_viewer_opens_a_window_runs_the_steps_and_exits_cleanly(synthetic_motion_lib, x_display):
    env = viewer_env(x_display)
    argv = [sys.executable, "-m", "mimic.cli", "inference", "--agent", "oracle", "--motion-file",
            str(synthetic_motion_lib), "--num-envs", "2", "--num-threads", "1", "--steps", str(STEPS)]  # fmt: skip
    run = subprocess.Popen(argv, env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # The window really maps on the X server (xdotool waits for it).
        window = subprocess.run(["xdotool", "search", "--sync", "--name", WINDOW_TITLE], env=env,
                                capture_output=True, text=True, timeout=TIMEOUT_S, check=False)  # fmt: skip
        stdout, stderr = run.communicate(timeout=TIMEOUT_S)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert window.returncode == 0 and window.stdout.strip().isdigit(), window.stderr
    # Exit status 0, not -11: the viewer thread is joined before the interpreter exits.
    assert run.returncode == 0, stderr[-3000:]
    assert f"ran {STEPS} steps x 2 envs in the viewer;" in stdout


def test_the_viewer_refuses_a_backend_it_cannot_show(synthetic_motion_lib, x_display, monkeypatch, capsys):
    pytest.importorskip("mujoco_warp")
    monkeypatch.setenv("DISPLAY", x_display)
    argv = ["inference", "--agent", "zero", "--motion-file", str(synthetic_motion_lib), "--simulator", "mjwarp",
            "--num-envs", "1", "--steps", "1"]  # fmt: skip
    assert mimic_main(argv) == 2
    assert "the viewer and --record show the mujoco backend's worlds, not 'mjwarp'" in capsys.readouterr().err
