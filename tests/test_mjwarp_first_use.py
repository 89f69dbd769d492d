"""MuJoCo Warp's first use: one line before its kernels compile (what, how long, where the cache is,
how to move it), and one after the first control step with the time it took and what compiled.

On an H200 the first use compiled for 90-125 s with no word (it looked like a hang). Run here on
Warp's CPU device in a fresh process, as `mimic train` meets it; with ``WARP_CACHE_PATH`` pointing at
an empty folder, everything compiles into that folder (so moving the cache, as the notice advises,
works).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytest.importorskip("warp", reason="warp-lang is not installed: the mjwarp backend cannot run")
pytest.importorskip("mujoco_warp", reason="mujoco-warp is not installed: the mjwarp backend cannot run")

from training.simulator.mjwarp_backend import first_use_notice, kernel_cache_entries  # noqa: E402

FIRST_STEPS = """
import logging, sys, torch
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(name)s %(message)s")
from robots.registry import smpl_robot
from training.simulator import create_simulator
from training.simulator.base import SimulatorConfig
for _ in range(2):  # the second simulator of the same kind is ready at once: no second notice
    sim = create_simulator("mjwarp", smpl_robot(), SimulatorConfig(num_envs=2, device="cpu"))
    sim.step(torch.zeros(2, 69))
    sim.step(torch.zeros(2, 69))
    print("first_use_seconds", sim.first_use_seconds)
"""


def _first_steps(repo_root, environment):
    result = subprocess.run([sys.executable, "-c", FIRST_STEPS], cwd=repo_root, env=environment,
                            capture_output=True, text=True, timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if "mjwarp" in line or "first_use" in line]


def test_notice_names_what_how_long_where_and_how_to_move_it():
    cold = first_use_notice("cuda:0", "/home/u/.cache/warp/1.19.0", cached_modules=0)
    assert cold.startswith("mjwarp: compiling MuJoCo Warp's kernels for cuda:0 on first use (90-125 s on an H200;")
    assert "/home/u/.cache/warp/1.19.0" in cold and "WARP_CACHE_PATH" in cold and "cluster" in cold
    warm = first_use_notice("cpu", "/c", cached_modules=7)
    assert warm.startswith("mjwarp: loading MuJoCo Warp's kernels for cpu from Warp's kernel cache /c (1-5 s;")
    assert "about 45 s on 2 CPU cores" in warm and "\n" not in warm + cold


def test_cache_entries_are_the_compiled_module_folders(tmp_path):
    assert kernel_cache_entries(str(tmp_path / "absent")) == set() and kernel_cache_entries(None) == set()
    (tmp_path / "wp_mujoco_warp._src.smooth_439a86e").mkdir()
    (tmp_path / "bin").mkdir()
    assert kernel_cache_entries(str(tmp_path)) == {"wp_mujoco_warp._src.smooth_439a86e"}


@pytest.mark.slow
def test_a_cold_cache_is_announced_then_timed_and_filled(repo_root, tmp_path):
    """Everything compiles (about 45 s on 2 cores) into the WARP_CACHE_PATH folder; the log says
    so before, and after the first step with the time; a second run loads from that folder."""
    environment = dict(os.environ, WARP_CACHE_PATH=str(tmp_path), PYTHONPATH=str(repo_root))
    lines = _first_steps(repo_root, environment)
    notice, ready, seconds, again = lines
    assert notice.startswith("training.simulator.mjwarp_backend mjwarp: compiling MuJoCo Warp's kernels for cpu")
    assert str(tmp_path) in notice and "WARP_CACHE_PATH" in notice
    compiled = len(kernel_cache_entries(os.path.join(str(tmp_path), os.listdir(tmp_path)[0])))
    assert compiled > 20  # MuJoCo Warp's modules for this model (43 with mujoco-warp 4.0.0)
    assert "mjwarp: MuJoCo Warp ready on cpu (smpl, plane) after " in ready
    assert f"first control step: {compiled} kernel modules compiled into {tmp_path}" in ready
    first = float(seconds.split()[1])
    assert first > 1.0 and ready.split(" after ")[1].startswith(f"{first:.1f} s")
    assert again == "first_use_seconds None"  # same kind, same process: nothing announced or timed

    loaded = _first_steps(repo_root, environment)  # a later run: the cache is full
    assert loaded[0].startswith("training.simulator.mjwarp_backend mjwarp: loading MuJoCo Warp's kernels for cpu")
    assert "all loaded from" in loaded[1] and float(loaded[2].split()[1]) < first
