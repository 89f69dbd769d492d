"""`mimic train` under torchrun: 2 CPU ranks (gloo) joined by torchrun's rendezvous, and the
command `--nodes M` prints outside torchrun."""

from __future__ import annotations

import os
import subprocess
import sys

import torch

from training import launch

SMALL = ["agent.actor_units=[64,64]", "agent.critic_units=[64,64]", "agent.num_steps=8"]


def _train_arguments(results, motion_file, name):
    arguments = ["train", "--robot-name", "smpl", "--simulator", "mujoco"]
    arguments += ["--experiment-path", "training/experiments/mimic/mlp.py", "--experiment-name", name]
    arguments += ["--motion-file", str(motion_file), "--num-envs", "4", "--batch-size", "16", "--num-threads", "1"]
    return arguments + ["--results-dir", str(results), "--max-epochs", "2"]


def _clean_env():
    """This environment without torchrun's variables (pytest itself may run under a launcher)."""
    return {key: value for key, value in os.environ.items() if key not in launch.TORCHRUN_ENV_VARS}


def test_torchrun_two_ranks_one_run_directory(repo_root, synthetic_motion_lib, tmp_path):
    results = tmp_path / "results"
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1", "--nproc-per-node", "2"]
    command = torchrun + ["-m", "mimic.cli", *_train_arguments(results, synthetic_motion_lib, "tr")]
    command += ["--nodes", "1", "--ngpu", "2", "--overrides", *SMALL]
    result = subprocess.run(command, cwd=repo_root, capture_output=True, text=True, timeout=240, env=_clean_env())
    assert result.returncode == 0, result.stdout + result.stderr
    # Rank 0 alone wrote files: one run directory, with one metrics row per epoch.
    assert [p.name for p in results.iterdir()] == ["tr"]
    rows = (results / "tr" / "metrics.csv").read_text().splitlines()
    assert len(rows) == 1 + 2
    checkpoint = torch.load(results / "tr" / "last.ckpt", weights_only=True)
    # 2 epochs x 2 ranks x 4 envs x 8 steps, counted over both ranks.
    assert checkpoint["epoch"] == 2 and checkpoint["env_steps"] == 2 * 2 * 4 * 8
    states = checkpoint["rank_states"]
    assert len(states) == 2
    # Seeds by global rank: the two ranks' motion-sampling streams differ ...
    assert not torch.equal(states[0]["env_generator"], states[1]["env_generator"])
    # ... while their weights stayed identical (same start, same averaged gradients).
    weights = checkpoint["extra"]["rank_weights_md5"]
    assert len(weights) == 2 and weights[0] == weights[1]
    assert "ranks' weights differ" not in result.stderr


def test_nodes_outside_torchrun_prints_the_command_per_node(repo_root, synthetic_motion_lib, tmp_path):
    command = [sys.executable, "-m", "mimic.cli", *_train_arguments(tmp_path, synthetic_motion_lib, "multi")]
    command += ["--nodes", "2", "--ngpu", "4", "--overrides", *SMALL]
    result = subprocess.run(command, cwd=repo_root, capture_output=True, text=True, timeout=60, env=_clean_env())
    assert result.returncode == 2
    printed = result.stderr.strip().splitlines()[-1]
    assert printed.startswith(
        "torchrun --nnodes 2 --nproc-per-node 4 --rdzv-backend c10d --rdzv-endpoint HEAD:29500 --rdzv-id multi "
        "-m mimic.cli train --experiment-path training/experiments/mimic/mlp.py --experiment-name multi"
    )
    assert "--ngpu 4" in printed and "--nodes 2" in printed and "'agent.actor_units=[64,64]'" in printed
    assert not (tmp_path / "multi").exists()  # nothing trained, nothing written


def test_torchrun_rank_reads_the_launcher_environment():
    environ = {"RANK": "5", "WORLD_SIZE": "8", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "4", "MASTER_ADDR": "n0"}
    assert launch.torchrun_rank(environ) is None  # no MASTER_PORT: not torchrun
    environ["MASTER_PORT"] = "29500"
    assert launch.torchrun_rank(environ) == launch.TorchrunRank(rank=5, world_size=8, local_rank=1, local_world_size=4)
    assert launch.process_group_backend(False) == "gloo"
    assert launch.process_group_backend(True) == "cpu:gloo,cuda:nccl"
