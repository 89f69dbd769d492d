"""Run a baseline agent (oracle, zero, random) through the mimic env and time each first episode."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import List, Optional

import torch
from torch import Tensor

from training.baseline_agents import BaselineAgent
from training.envs.mimic_env import MimicEnv

log = logging.getLogger(__name__)


@dataclass
class BaselineResult:
    kind: str
    motion_ids: List[int]  # per env: the motion of its first episode
    seconds: List[float]  # per env: how long the first episode lasted (simulated s)
    terminated: List[bool]  # per env: the first episode ended by failure (not time-out/clip end)
    mean_reward: float  # per step, over envs and steps of first episodes


def run_baseline(env: MimicEnv, kind: str, seconds: float, motion_ids: Optional[Tensor] = None) -> BaselineResult:
    """Reset every env, act with the baseline for ``seconds`` of simulated time, and record how
    each env's first episode ended. ``motion_ids`` (N,) pins env i to that motion from t = 0;
    by default motions and start times are sampled as in training."""
    agent = BaselineAgent(kind, env)
    if motion_ids is None:
        obs = env.reset()
    else:
        env.reset_envs(torch.arange(env.num_envs), motion_ids=motion_ids, times=torch.zeros(env.num_envs))
        obs = env.observe()
    motion_ids = env.motion_ids.clone()
    ended = torch.zeros(env.num_envs, dtype=torch.bool)
    failed = torch.zeros(env.num_envs, dtype=torch.bool)
    length = torch.zeros(env.num_envs)
    reward_sum = torch.zeros(())
    reward_count = 0
    for _ in range(int(round(seconds / env.dt))):
        obs, reward, terminated, truncated, _info = env.step(agent.act(obs))
        running: Tensor = ~ended
        length += running.float()
        reward_sum += reward[running].sum()
        reward_count += int(running.sum())
        failed |= terminated & running
        ended |= terminated | truncated
        if bool(ended.all()):
            break
    return BaselineResult(
        kind=kind,
        motion_ids=motion_ids.tolist(),
        seconds=(length * env.dt).tolist(),
        terminated=failed.tolist(),
        mean_reward=float(reward_sum) / max(reward_count, 1),
    )


def run_baseline_command(options, kind: str, seconds: float) -> int:  # noqa: ANN001 - TrainOptions
    from training.envs.factory import make_env
    from training.trainer import build_config

    config = build_config(options)
    config.env.init_start_prob = 1.0  # every motion from its start, like an evaluation
    env, _md5 = make_env(config)
    try:
        # Env i plays motion i mod M from its start, like an evaluation.
        motions = torch.arange(env.num_envs) % env.motion_lib.num_motions
        result = run_baseline(env, kind, seconds, motions)
    finally:
        env.sim.close()
    files = env.motion_lib.motion_files
    for env_id, (motion, lasted, failed) in enumerate(zip(result.motion_ids, result.seconds, result.terminated)):
        how = "terminated" if failed else "completed/timed out"
        log.info(
            f"{kind}: env {env_id:4d}  {lasted:6.2f} s  {how:<20} {files[motion] if motion < len(files) else motion}"
        )
    log.info(f"{kind}: mean reward per step {result.mean_reward:.3f}")
    return 0
