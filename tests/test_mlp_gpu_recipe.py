"""The GPU recipe (``mlp_gpu.py``): its batch arithmetic for 4,096-16,384 envs, and one real epoch of
``mimic train`` with it on MuJoCo Warp's CPU device (the GPU itself is ``make gpu-check``'s)."""

from __future__ import annotations

import csv
import math
import subprocess
import sys

import pytest
import torch

from training.experiment_loader import load_experiment

RECIPE = "training/experiments/mimic/mlp_gpu.py"


def test_the_recipe_keeps_16_updates_per_epoch_with_the_minibatch_scaled_to_the_envs(repo_root):
    config = load_experiment(str(repo_root / RECIPE))
    agent, env = config.agent, config.env
    assert (config.simulator, config.num_envs, agent.batch_size, agent.num_mini_epochs) == ("mjwarp", 8192, 32768, 2)
    assert (agent.actor_lr, agent.critic_lr, agent.learnable_std) == (2e-4, 6e-4, False)
    assert math.exp(agent.actor_logstd) == pytest.approx(0.30, abs=0.005)
    assert math.exp(agent.actor_logstd_final) == pytest.approx(0.15, abs=0.005)
    # the corpus recipe's std schedule spans ~49k updates of 512 samples; this one as many of 16,384
    assert agent.logstd_decay_env_steps / 16384 == pytest.approx(25_000_000 / 512, rel=0.03)
    # built on the CPU recipes' measured levers
    assert env.action_mode == "residual" and env.residual_velocity_feedforward
    assert env.reset_root_velocity == "finite_difference" and env.failure_start_prob == 0.3
    assert agent.actor_units == [512, 256, 128] and agent.eval_metrics_every == 50
    # --batch-size = 4 x --num-envs keeps 16 updates per epoch at every documented size
    for num_envs in (4096, 8192, 16384):
        batch = 4 * num_envs
        samples = num_envs * agent.num_steps
        assert samples % batch == 0 and samples // batch * agent.num_mini_epochs == 16


@pytest.mark.slow
def test_one_epoch_of_the_gpu_recipe_runs_on_warps_cpu_device(repo_root, synthetic_motion_lib, tmp_path):
    pytest.importorskip("mujoco_warp", reason="mujoco-warp is not installed: the mjwarp backend cannot run")
    command = [sys.executable, "-m", "mimic.cli", "train", "--robot-name", "smpl", "--simulator", "mjwarp"]
    command += ["--device", "cpu", "--experiment-path", RECIPE, "--experiment-name", "gpu_recipe"]
    command += ["--motion-file", str(synthetic_motion_lib), "--num-envs", "8", "--batch-size", "64"]
    command += ["--num-threads", "2", "--results-dir", str(tmp_path), "--max-epochs", "1"]
    result = subprocess.run(command, cwd=repo_root, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    # The run's log says when MuJoCo Warp's kernels were ready (compiled, or loaded from the cache).
    assert "mjwarp: MuJoCo Warp ready on cpu (smpl, plane) after " in result.stdout
    with open(tmp_path / "gpu_recipe" / "metrics.csv", newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    assert int(row["env_steps"]) == 8 * 32
    # A fresh policy's first epoch may skip some updates at this tiny minibatch (clip fraction above
    # 0.6: Adam's first steps are full-sized; measured 5 of 8 skipped here), never all of them.
    assert float(row["Train/update_skipped"]) < 1.0 and math.isfinite(float(row["Train/actor_loss"]))
    checkpoint = torch.load(tmp_path / "gpu_recipe" / "last.ckpt", weights_only=True)
    assert checkpoint["config"]["simulator"] == "mjwarp" and checkpoint["config"]["agent"]["batch_size"] == 64
    assert checkpoint["config"]["agent"]["actor_lr"] == 2e-4
