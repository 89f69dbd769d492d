"""The full mimic environment against raw MuJoCo physics, and end-to-end PPO training throughput.

In one run, for N = 64 and 256:
- ``rollout``: raw physics steps/s of the SMPL model (``mujoco.rollout``, 2 threads; from
  ``bench_simulator.py``);
- ``env``: ``MimicEnv.step`` (physics, state reads, reference sampling, observations, rewards,
  terminations and resets) on the synthetic clips (a standing clip and walks, so episodes end
  and restart throughout) with fixed PD targets, reported as
  env-steps/s × decimation (target ≥ 70% of ``rollout``; medians of interleaved rounds);
- ``train``: env steps per second of whole PPO epochs (collect + update) with the default
  network (6×1024 actor, 4×1024 critic), a small CPU network (3×256), and the CPU experiment
  ``mlp_cpu.py`` as it trains (its networks, minibatches, mini-epochs and residual actions).
Prints one JSON line, then a summary.

    python benchmarks/bench_mimic_env.py [--envs 64 256] [--epochs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

import mujoco
import torch
from mujoco import rollout as mujoco_rollout

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_simulator import settled_state, time_rollout  # noqa: E402

from motion.batch_convert import convert_amass_tree  # noqa: E402
from motion.motion_lib_packaging import package_motion_lib  # noqa: E402
from motion.synthetic import synthesize_amass_clips  # noqa: E402
from robots.registry import robot_by_name  # noqa: E402
from training.baseline_agents import BaselineAgent  # noqa: E402
from training.config import ExperimentConfig  # noqa: E402
from training.envs.factory import make_env  # noqa: E402
from training.experiment_loader import load_experiment  # noqa: E402
from training.overrides import apply_overrides  # noqa: E402
from training.ppo.agent import PPOAgent  # noqa: E402
from training.simulator.mujoco_model import build_model  # noqa: E402

THREADS = 2
MLP_CPU = REPO / "training/experiments/mimic/mlp_cpu.py"
STEPS = 150  # control steps per timed env run


def standing_library(folder: Path) -> Path:
    synthesize_amass_clips(folder / "amass")
    convert_amass_tree(folder / "amass", folder / "motions", progress=False)
    lib = folder / "lib.pt"
    package_motion_lib(folder / "motions" / "SYNTHETIC", lib)
    return lib


def env_for(motion_file: Path, num_envs: int, extra=(), base: Optional[ExperimentConfig] = None):
    overrides = [f"motion_file={motion_file}", f"num_envs={num_envs}", "env.init_start_prob=1.0", *extra]
    config = apply_overrides(base or ExperimentConfig(), overrides)
    env, _ = make_env(config, threads=THREADS)
    return env, config


class EnvTimer:
    """Keeps one environment alive so its timing can be interleaved with the rollout's."""

    def __init__(self, motion_file: Path, num_envs: int) -> None:
        self.env, _ = env_for(motion_file, num_envs)
        self.num_envs = num_envs
        # Fixed PD targets (the oracle's at the first reset), so the timing below is the
        # environment's alone; walks fail and restart, standing clips run to their end.
        self.actions = BaselineAgent("oracle", self.env).act(self.env.reset())
        for _ in range(10):  # warm-up
            self.env.step(self.actions)

    def physics_steps_per_s(self) -> float:
        start = time.perf_counter()
        for _ in range(STEPS):
            self.env.step(self.actions)
        return self.num_envs * STEPS * self.env.sim.config.decimation / (time.perf_counter() - start)

    def close(self) -> None:
        self.env.sim.close()


def time_training(
    motion_file: Path, num_envs: int, units, epochs: int, base: Optional[ExperimentConfig] = None
) -> float:
    """Env steps/s of whole PPO epochs; ``units`` None keeps the config's networks and minibatch."""
    extra = []
    if units is not None:
        batch = f"agent.batch_size={num_envs * 32}"
        extra = [f"agent.actor_units={units[0]}", f"agent.critic_units={units[1]}", batch]
    env, config = env_for(motion_file, num_envs, extra, base)
    try:
        agent = PPOAgent(config.agent, env.num_obs, env.num_actions)
        agent.collect(env)
        agent.update()  # warm-up epoch
        start = time.perf_counter()
        for _ in range(epochs):
            agent.collect(env)
            agent.update()
        return num_envs * 32 * epochs / (time.perf_counter() - start)
    finally:
        env.sim.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    model = build_model(robot_by_name("smpl"), None, 120.0)  # the backend's own model: humanoid + plane
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        motion_file = standing_library(Path(tmp))
        for num_envs in args.envs:
            state = settled_state(model)
            datas = [mujoco.MjData(model) for _ in range(THREADS)]
            timer = EnvTimer(motion_file, num_envs)
            rollouts, envs = [], []
            try:
                with mujoco_rollout.Rollout(nthread=THREADS) as runner:
                    time_rollout(runner, model, datas, state, num_envs, 120, 120)  # warm-up
                    for _ in range(args.rounds):  # interleaved: machine noise hits both alike
                        rollouts.append(time_rollout(runner, model, datas, state, num_envs, 120, 120))
                        envs.append(timer.physics_steps_per_s())
            finally:
                timer.close()
            rollout, env_physics = statistics.median(rollouts), statistics.median(envs)
            default_net = time_training(
                motion_file, num_envs, ("[1024,1024,1024,1024,1024,1024]", "[1024,1024,1024,1024]"), args.epochs
            )
            small_net = time_training(motion_file, num_envs, ("[256,256,256]", "[256,256,256]"), args.epochs)
            cpu_experiment = time_training(motion_file, num_envs, None, args.epochs, load_experiment(str(MLP_CPU)))
            results.append(
                {
                    "num_envs": num_envs,
                    "rollout_physics_steps_per_s": round(rollout),
                    "env_physics_steps_per_s": round(env_physics),
                    "env_steps_per_s": round(env_physics / 4),
                    "env_over_rollout": round(env_physics / rollout, 3),
                    "train_env_steps_per_s_default_net": round(default_net),
                    "train_env_steps_per_s_small_net": round(small_net),
                    "train_env_steps_per_s_mlp_cpu": round(cpu_experiment),
                }
            )
    record = {
        "benchmark": "mimic_env",
        "threads": THREADS,
        "results": results,
        "target_env_over_rollout": 0.7,
        "versions": {"torch": torch.__version__, "mujoco": mujoco.__version__, "python": platform.python_version()},
        "machine": {"cpus": os.cpu_count(), "processor": platform.machine()},
    }
    print(json.dumps(record))
    for r in results:
        print(
            f"N={r['num_envs']}: env {r['env_steps_per_s']:,} env-steps/s = {r['env_over_rollout']:.0%} of raw "
            f"MuJoCo ({r['rollout_physics_steps_per_s']:,} physics steps/s); training "
            f"{r['train_env_steps_per_s_default_net']:,} (6x1024) / {r['train_env_steps_per_s_small_net']:,} "
            f"(3x256) / {r['train_env_steps_per_s_mlp_cpu']:,} (mlp_cpu.py) env-steps/s"
        )


if __name__ == "__main__":
    main()
