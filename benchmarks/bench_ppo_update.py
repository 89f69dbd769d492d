"""PPO update throughput: samples per second through ``PPOAgent.update`` at minibatch 4096.

Times whole ``update()`` calls (GAE and normalisers, then per minibatch: actor forward,
surrogate, backward, gradient clip, Adam step; critic likewise) on recorded rollouts of
random observations whose log-probs and values come from the current networks, so the ratio
starts near 1 and no minibatch is skipped (checked). One rollout is ``--minibatches`` ×
``--batch`` samples and one pass (``num_mini_epochs`` 1). Two networks: ProtoMotions' SMPL
default (actor 6×1024, critic 4×1024, obs 1003, actions 69) and a small CPU network (3×256).
Prints one JSON line, then a one-line summary.

    python benchmarks/bench_ppo_update.py [--batch 4096] [--minibatches 2] [--rounds 3] [--threads 0]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Dict, List

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from training.ppo.agent import PPOAgent  # noqa: E402
from training.ppo.config import PPOConfig  # noqa: E402
from training.ppo.rollout import RolloutStorage  # noqa: E402

OBS_SIZE, ACTION_SIZE = 1003, 69  # SMPL mimic on flat terrain
NETWORKS = {
    "default_6x1024_4x1024": ([1024] * 6, [1024] * 4),
    "small_3x256": ([256] * 3, [256] * 3),
}


def recorded_rollout(agent: PPOAgent, num_steps: int, num_envs: int, gen: torch.Generator) -> RolloutStorage:
    rollout = RolloutStorage(num_steps, num_envs, OBS_SIZE, ACTION_SIZE, agent.device)
    rollout.obs = torch.randn(num_steps, num_envs, OBS_SIZE, generator=gen)
    rollout.rewards = torch.rand(num_steps, num_envs, generator=gen)
    rollout.terminated = torch.rand(num_steps, num_envs, generator=gen) < 0.01
    rollout.truncated = torch.rand(num_steps, num_envs, generator=gen) < 0.01
    rollout.next_values = torch.randn(num_steps, num_envs, generator=gen)
    with torch.no_grad():
        actions, log_probs, values = agent.act(rollout.obs.reshape(-1, OBS_SIZE))
    rollout.actions = actions.reshape(num_steps, num_envs, ACTION_SIZE)
    rollout.log_probs = log_probs.reshape(num_steps, num_envs)
    rollout.values = values.reshape(num_steps, num_envs)
    return rollout


def time_updates(actor_units: List[int], critic_units: List[int], batch: int, minibatches: int, rounds: int) -> Dict:
    num_steps = 32
    num_envs = batch * minibatches // num_steps
    config = PPOConfig(actor_units=actor_units, critic_units=critic_units, num_steps=num_steps, batch_size=batch)
    agent = PPOAgent(config, OBS_SIZE, ACTION_SIZE, seed=0)
    gen = torch.Generator().manual_seed(0)
    seconds: List[float] = []
    for round_index in range(rounds + 1):  # round 0 warms up (allocations, Adam state)
        rollout = recorded_rollout(agent, num_steps, num_envs, gen)
        start = time.perf_counter()
        metrics = agent.update(rollout)
        elapsed = time.perf_counter() - start
        if metrics["Train/update_skipped"] != 0.0:
            raise RuntimeError(f"update skipped minibatches (clip_frac {metrics['Train/clip_frac']:.3f})")
        if round_index > 0:
            seconds.append(elapsed)
    samples = num_steps * num_envs
    params = sum(p.numel() for p in list(agent.actor.parameters()) + list(agent.critic.parameters()))
    return {
        "samples_per_s": round(samples / statistics.median(seconds), 1),
        "samples_per_s_best_round": round(samples / min(seconds), 1),
        "ms_per_minibatch": round(1e3 * statistics.median(seconds) / minibatches, 1),
        "samples_per_update": samples,
        "parameters": params,
        "actor_units": actor_units,
        "critic_units": critic_units,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4096, help="minibatch size (--batch-size)")
    parser.add_argument("--minibatches", type=int, default=2, help="minibatches per timed update")
    parser.add_argument("--rounds", type=int, default=3, help="timed updates per network (median)")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    results = {
        name: time_updates(actor, critic, args.batch, args.minibatches, args.rounds)
        for name, (actor, critic) in NETWORKS.items()
    }
    result = {
        "benchmark": "ppo_update",
        "networks": results,
        "batch": args.batch,
        "obs_size": OBS_SIZE,
        "action_size": ACTION_SIZE,
        "device": "cpu",
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine()},
    }
    print(json.dumps(result))
    print(
        f"PPO update at minibatch {args.batch}: "
        + "; ".join(
            f"{name} {r['samples_per_s']:,.0f} samples/s ({r['ms_per_minibatch']:,.0f} ms/minibatch)"
            for name, r in results.items()
        )
        + f" — {result['threads']} threads, median of {args.rounds} updates"
    )


if __name__ == "__main__":
    main()
