"""`mimic visualize` in MuJoCo's real (GLFW) passive viewer, on a virtual X server (Xvfb).

The viewer needs a display; Xvfb provides one and Mesa renders it in software. Keys are sent
to the viewer window with xdotool, as a person at the keyboard would, and the command reports
the playback state it ended with.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest
from xvfb_display import WINDOW_TITLE, viewer_env

pytestmark = pytest.mark.skipif(
    shutil.which("Xvfb") is None, reason="Xvfb is not on PATH (Debian: apt-get install xvfb)"
)

REPO_ROOT = Path(__file__).resolve().parents[1]
COMMAND_TIMEOUT_S = 120.0  # generous: model build, jerk and software GL on a slow 2-core runner


def _visualize_argv(lib: Path, max_frames: int) -> List[str]:
    return [
        sys.executable, "-m", "mimic.cli", "visualize",
        "--motion_files", str(lib), str(lib), "--robot", "smpl", "--max-frames", str(max_frames), "--json",
    ]  # fmt: skip


def _report(stdout: str) -> Dict[str, object]:
    """The JSON line the command prints last on stdout."""
    return json.loads(stdout.strip().splitlines()[-1])


def test_viewer_plays_max_frames_and_exits_cleanly(synthetic_motion_lib: Path, x_display: str) -> None:
    done = subprocess.run(
        _visualize_argv(synthetic_motion_lib, 45),
        env=viewer_env(x_display),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )
    # Exit status 0, not -11: the viewer thread must be done before the interpreter exits.
    assert done.returncode == 0, done.stderr[-3000:]
    report = _report(done.stdout)
    assert report == {"frames": 45, "motion_index": 0, "speed": 1.0, "threshold": 6500.0, "keys": []}


@pytest.mark.skipif(shutil.which("xdotool") is None, reason="xdotool is not on PATH (Debian: apt-get install xdotool)")
def test_viewer_keys_change_speed_threshold_and_motion(synthetic_motion_lib: Path, x_display: str) -> None:
    env = viewer_env(x_display)
    # 150 frames at 30 fps: about 5 s of playback, ample time for the keys after the window maps
    # (keys that arrive before the first frame wait in the queue, so only the end is a deadline).
    viewer = subprocess.Popen(
        _visualize_argv(synthetic_motion_lib, 150),
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        keys = subprocess.run(
            ["xdotool", "search", "--sync", "--name", WINDOW_TITLE, "key", "--delay", "50", "1", "1", "3", "r"],
            env=env,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
        stdout, stderr = viewer.communicate(timeout=COMMAND_TIMEOUT_S)
    finally:
        if viewer.poll() is None:
            viewer.kill()
            viewer.communicate()
    assert keys.returncode == 0, keys.stderr
    assert viewer.returncode == 0, stderr[-3000:]
    report = _report(stdout)
    assert report["frames"] == 150
    assert report["keys"] == ["1", "1", "3", "r"]
    assert report["speed"] == pytest.approx(1.5 * 1.5)  # "1" twice: 1.0 × 1.5 × 1.5 = 2.25
    assert report["threshold"] == pytest.approx(6500.0 * 1.5)  # "3" once: 9750
    assert report["motion_index"] == 1  # "r": motion 0 → 1 (of the 4 synthetic clips)
