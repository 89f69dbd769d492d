"""Full-evaluation throughput: motion-seconds evaluated per wall-second (MuJoCo CPU backend).

For N = 64 and 256 envs, one batch of N motions (the synthetic walks and standing clip,
repeated), each run once from its start to its end as ``mimic inference --full-eval`` does
(recording every frame, metrics, predicted MotionLib), with
- ``policy``: the default actor (6×1024 MLP, deterministic; untrained weights cost the same), and
- ``zero``: zero actions, i.e. the environment and the evaluator alone.
Prints one JSON line, then a summary.

    python benchmarks/bench_evaluation.py [--envs 64 256]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import mujoco
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_mimic_env import THREADS, env_for, standing_library  # noqa: E402

from evaluation.evaluator import evaluate  # noqa: E402
from motion.motion_lib import MotionLib  # noqa: E402
from training.baseline_agents import BaselineAgent  # noqa: E402
from training.ppo.agent import PPOAgent  # noqa: E402


def repeated_library(folder: Path, count: int) -> Path:
    """``count`` motions cycling through the synthetic clips."""
    source = MotionLib.from_file(standing_library(folder / f"src{count}"))
    files = [source.motion_files[i % source.num_motions] for i in range(count)]
    path = folder / f"eval_{count}.pt"
    MotionLib.from_motion_files(files).save(path)
    return path


def time_evaluation(motion_file: Path, num_envs: int, agent: str):
    env, config = env_for(motion_file, num_envs)
    try:
        if agent == "policy":
            policy = PPOAgent(config.agent, env.num_obs, env.num_actions).policy
        else:
            policy = BaselineAgent("zero", env).act
        start = time.perf_counter()
        result = evaluate(env, policy)
        seconds = time.perf_counter() - start
    finally:
        env.sim.close()
    motion_seconds = sum((row["frames"] - 1) * env.dt for row in result.rows)
    return motion_seconds, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", type=int, nargs="+", default=[64, 256])
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for num_envs in args.envs:
            motion_file = repeated_library(Path(tmp), num_envs)
            for agent in ("policy", "zero"):
                motion_seconds, wall = time_evaluation(motion_file, num_envs, agent)
                results.append(
                    {
                        "num_envs": num_envs,
                        "agent": agent,
                        "motions": num_envs,
                        "motion_seconds": round(motion_seconds, 2),
                        "wall_seconds": round(wall, 2),
                        "motion_seconds_per_wall_second": round(motion_seconds / wall, 2),
                    }
                )
    record = {
        "benchmark": "evaluation",
        "threads": THREADS,
        "results": results,
        "versions": {"torch": torch.__version__, "mujoco": mujoco.__version__, "python": platform.python_version()},
        "machine": {"cpus": os.cpu_count(), "processor": platform.machine()},
    }
    print(json.dumps(record))
    for r in results:
        print(
            f"N={r['num_envs']} {r['agent']:>6}: {r['motion_seconds_per_wall_second']:.1f} motion-s per wall-s "
            f"({r['motion_seconds']:.0f} motion-s in {r['wall_seconds']:.1f} s)"
        )


if __name__ == "__main__":
    main()
