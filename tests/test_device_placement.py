"""Device placement: which device a rank runs on, and that the env, evaluator and PPO put every
tensor they make on the simulator's device (the GPU path of ``mjwarp``/``isaacgym``).

Tensors created without an explicit device are what breaks on a GPU (a CPU tensor meeting CUDA
ones), so the run below makes ``meta`` torch's default device: any such tensor lands on ``meta``
and the first operation mixing it with the simulator's tensors raises. A run that finishes created
every tensor where it meant to. It runs on ``MIMIC_TEST_DEVICE`` (``mujoco`` on the CPU, ``mjwarp``
on CUDA: tests/device_under_test.py), so on a GPU it checks the real thing.
"""

from __future__ import annotations

import pytest
import torch
from device_under_test import TEST_DEVICE, env_overrides

from evaluation.evaluator import evaluate
from evaluation.training_evaluation import run_training_evaluation
from training.baseline_agents import BaselineAgent
from training.command_flags import flag_by_dest
from training.config import ExperimentConfig
from training.devices import resolve_device, resume_promise
from training.envs.factory import make_env
from training.overrides import apply_overrides
from training.ppo.agent import PPOAgent
from training.trainer import TrainOptions, build_config

SMALL_AGENT = ["agent.num_steps=4", "agent.batch_size=8", "agent.actor_units=[32]", "agent.critic_units=[32]"]
SMALL_TERRAIN = [
    "env.terrain.kind=complex", "env.terrain.num_levels=2", "env.terrain.num_terrains=2",
    "env.terrain.map_length=4", "env.terrain.map_width=4", "env.terrain.border_size=2",
    "env.observations.terrain_obs=true", "env.observations.terrain_obs_points=4",
]  # fmt: skip


def _with_cuda(answer: bool):
    return lambda: answer


@pytest.mark.parametrize(
    ("simulator", "requested", "local_rank", "cuda", "expected"),
    [
        ("mujoco", "auto", 0, True, "cpu"),  # the CPU backend stays on the CPU even beside a GPU
        ("mjwarp", "auto", 0, False, "cpu"),  # no GPU: Warp's CPU device
        ("mjwarp", "auto", 1, True, "cuda:1"),  # rank 1 of a node: its own GPU
        ("isaacgym", "cuda", 3, True, "cuda:3"),
        ("mjwarp", "cuda:2", 0, True, "cuda:2"),
        ("mjwarp", " CPU ", 0, True, "cpu"),
    ],
)
def test_resolve_device(simulator, requested, local_rank, cuda, expected):
    assert resolve_device(simulator, requested, local_rank, _with_cuda(cuda)) == torch.device(expected)


@pytest.mark.parametrize(
    ("simulator", "requested", "local_rank", "cuda", "message"),
    [
        ("mujoco", "cuda", 0, True, "the 'mujoco' backend runs on the CPU"),
        ("mjwarp", "cuda", 0, False, "torch sees no CUDA device"),
        ("mjwarp", "cuda:1", 1, True, "several ranks run here"),
        ("mjwarp", "tpu", 0, True, "expected 'auto', 'cpu', 'cuda' or 'cuda:k', found 'tpu'"),
        ("mjwarp", "gpu0", 0, True, "found 'gpu0'"),
    ],
)
def test_resolve_device_refuses_what_cannot_be_met(simulator, requested, local_rank, cuda, message):
    with pytest.raises(ValueError, match=message):
        resolve_device(simulator, requested, local_rank, _with_cuda(cuda))


def test_resume_promises_bit_identity_on_the_cpu_only():
    assert resume_promise(torch.device("cpu")) == "on the CPU it continues bit for bit as if it had never stopped"
    on_gpu = resume_promise(torch.device("cuda", 1))
    assert on_gpu.startswith("on cuda:1 it continues from the exact saved state, but not bit for bit: ")
    assert "atomics" in on_gpu


def test_the_device_flag_reaches_the_config(repo_root):
    assert flag_by_dest("device").config_key == "device"
    experiment = str(repo_root / "training/experiments/mimic/mlp.py")
    assert build_config(TrainOptions(experiment, "x")).device == "auto"
    assert build_config(TrainOptions(experiment, "x", flags={"device": "cpu"})).device == "cpu"


def test_make_env_refuses_a_gpu_for_the_cpu_backend(synthetic_motion_lib):
    config = apply_overrides(ExperimentConfig(), [f"motion_file={synthetic_motion_lib}", "num_envs=2", "device=cuda"])
    with pytest.raises(ValueError, match="needs a GPU simulator"):
        make_env(config, threads=1)


def _run_everything_with_meta_default(env, config):
    agent = PPOAgent(config.agent, env.num_obs, env.num_actions, device=str(env.device))
    with torch.device("meta"):  # a tensor made without a device lands here and breaks the run
        obs = env.reset()
        actions = torch.randn(env.num_envs, env.num_actions, device=env.device)
        for _ in range(3):
            obs, reward, _terminated, _truncated, _info = env.step(actions)
        result = evaluate(env, BaselineAgent("oracle", env).act, max_frames=8)
        agent.collect(env)
        metrics = agent.update()
        eval_metrics = run_training_evaluation(env, agent, None, 0)
        env.load_state_dict(env.state_dict())
    return obs, reward, result, metrics, eval_metrics


@pytest.mark.device
def test_every_tensor_is_made_on_the_simulators_device(synthetic_motion_lib):
    overrides = [f"motion_file={synthetic_motion_lib}", "num_envs=4", *SMALL_AGENT, *SMALL_TERRAIN, *env_overrides()]
    config = apply_overrides(ExperimentConfig(), overrides)
    env, _ = make_env(config, threads=1)
    try:
        obs, reward, result, metrics, eval_metrics = _run_everything_with_meta_default(env, config)
    finally:
        env.sim.close()
    assert obs.device == reward.device == env.device == TEST_DEVICE
    assert torch.isfinite(obs).all() and obs.shape == (4, env.num_obs)
    assert len(result.rows) == env.motion_lib.num_motions
    assert all(row["frames"] >= 2 for row in result.rows)
    assert torch.isfinite(torch.tensor(metrics["Train/actor_grad_norm"]))
    assert eval_metrics["Eval/num_motions"] == env.motion_lib.num_motions
    assert env.motion_lib.motion_weights.device == env.device


@pytest.mark.device
def test_g1_actions_map_on_the_simulators_device(g1_clip, g1_xml):
    overrides = [f"motion_file={g1_clip}", "robot_name=g1", f"robot_xml={g1_xml}", "num_envs=2", *SMALL_AGENT]
    overrides += env_overrides()
    config = apply_overrides(ExperimentConfig(), overrides)
    env, _ = make_env(config, threads=1)
    try:
        assert env.action_scale is not None and env.action_scale.device == env.device  # per-joint action map
        obs, reward, result, _metrics, _eval = _run_everything_with_meta_default(env, config)
    finally:
        env.sim.close()
    assert obs.device == env.device and torch.isfinite(reward).all()
    assert len(result.rows) == 1
