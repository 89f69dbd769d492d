"""``mimic visualize --grid``: several clips' references beside their simulations in one video,
from a real full-eval of the oracle on real clips."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from evaluation.video import read_video_frames
from motion.batch_convert import convert_amass_tree
from motion.motion_lib import MotionLib
from motion.motion_lib_packaging import package_motion_lib


@pytest.fixture(scope="module")
def oracle_eval(amass_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("grid")
    assert convert_amass_tree(amass_dir, root / "motions", progress=False).ok
    package_motion_lib(root / "motions", root / "lib.pt")
    command = [sys.executable, "-m", "mimic.cli", "inference", "--agent", "oracle", "--motion-file",
               str(root / "lib.pt"), "--full-eval", "--num-envs", "3", "--headless", "--output-dir",
               str(root / "eval")]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return root


def test_grid_video_tiles_each_clip_with_its_simulation(oracle_eval: Path) -> None:
    lib = MotionLib.from_file(oracle_eval / "lib.pt")
    jumps = next(i for i, f in enumerate(lib.motion_files) if "dmpl" in f)  # the 1.9 s jumps
    walk = next(i for i, f in enumerate(lib.motion_files) if "walk" in f)  # the 4.1 s walk
    out = oracle_eval / "grid.mp4"
    command = [sys.executable, "-m", "mimic.cli", "visualize", "--motion-files", str(oracle_eval / "lib.pt"),
               str(oracle_eval / "eval" / "predicted_motionlib.pt"), "--grid", str(jumps), str(walk),
               "--columns", "2", "--eval-dir", str(oracle_eval / "eval"), "--output", str(out)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    frames = read_video_frames(out)
    longest = max(float(lib.motion_lengths[jumps]), float(lib.motion_lengths[walk]))
    assert frames.shape[1:] == (288, 768, 3)
    assert frames.shape[0] == int(longest * 30 + 1e-6) + 1  # the longest clip once, no wrap
    assert f"wrote {out}: 2 clips, 768x288" in result.stdout
    left, right = frames[:, :, :384].astype(int), frames[:, :, 384:].astype(int)
    assert np.abs(left - right).mean() > 2.0  # two different clips
    # The jumps end first and hold their last frame while the walk plays on.
    assert np.abs(left[-1] - left[-2]).mean() < 0.5 and np.abs(right[-1] - right[-15]).mean() > 0.5


def test_grid_needs_a_reference_and_a_prediction(oracle_eval: Path) -> None:
    command = [sys.executable, "-m", "mimic.cli", "visualize", "--motion-files", str(oracle_eval / "lib.pt"),
               "--grid", "0", "--output", str(oracle_eval / "x.mp4")]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "two --motion-files: reference.pt predicted.pt" in result.stderr
