"""The SMPL mimic environment on a GPU simulator, against the CPU backend, in one run.

For each N in ``--envs`` on ``--simulator`` (default ``mjwarp``) on ``--device`` (default cuda):
- ``physics``: ``Simulator.step`` alone with fixed PD targets (env-steps/s; × decimation for
  physics steps/s);
- ``env``: ``MimicEnv.step`` (physics, state reads, reference sampling, observations, rewards,
  terminations, resets on device) with the oracle's fixed PD targets on the synthetic clips (a
  standing clip and walks, so episodes end and restart throughout);
- ``train``: env steps per second of whole PPO epochs (collect + update) with the default
  network (6×1024 actor, 4×1024 critic), minibatch ``--batch-size``, and its ratio to ``env``;
- ``memory``: device memory in use after building the simulator and env (and after the PPO
  epochs), per env: the free-memory drop seen by the driver, so Warp's and torch's allocations
  both count.
The same measurements for the CPU backend (``mujoco``) at ``--cpu-envs`` go in the same record.
One JSON line per configuration as it finishes (a run cut short keeps what it measured), then a
final JSON record and a summary. Targets: ≥ 150,000 env-steps/s for the full environment at
8192 envs on one H100; training within 2× of the environment alone.

    python benchmarks/bench_gpu_scale.py [--envs 1024 4096 8192] [--cpu-envs 256] [--epochs 3]

Without a CUDA device (and ``--device cuda``) it prints a record saying so and exits 0, so
``make bench`` runs everywhere. ``--device cpu --envs 4`` runs MuJoCo Warp on Warp's CPU device
(a smoke run: kernels compile for a minute or more, steps are slow).
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
from typing import Any, Callable, Dict, List, Optional

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_mimic_env import standing_library as synthetic_library  # noqa: E402  (standing clip + walks)

from training.baseline_agents import BaselineAgent  # noqa: E402
from training.config import ExperimentConfig  # noqa: E402
from training.envs.factory import make_env  # noqa: E402
from training.overrides import apply_overrides  # noqa: E402
from training.ppo.agent import PPOAgent  # noqa: E402

TARGET_ENV_STEPS_PER_S = 150_000  # full SMPL env at 8192 envs on one H100
TARGET_TRAIN_OVER_ENV = 0.5  # training throughput within 2× of the env alone
DEFAULT_ACTOR = "[1024,1024,1024,1024,1024,1024]"
DEFAULT_CRITIC = "[1024,1024,1024,1024]"


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_memory_used(device: torch.device) -> Optional[int]:
    """Bytes in use on ``device`` as the driver sees it (all allocators), None on the CPU."""
    if device.type != "cuda":
        return None
    free, total = torch.cuda.mem_get_info(device)
    return int(total - free)


def timed(device: torch.device, steps: int, work: Callable[[], Any]) -> float:
    """Seconds for ``steps`` calls of ``work``, with the device drained before and after."""
    synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        work()
    synchronize(device)
    return time.perf_counter() - start


def measure(
    motion_file: Path,
    simulator: str,
    device: str,
    num_envs: int,
    steps: int,
    epochs: int,
    batch_size: int,
    threads: int,
) -> Dict[str, Any]:
    """Physics, env and PPO throughput and memory of one (simulator, device, N)."""
    overrides = [
        f"motion_file={motion_file}", f"num_envs={num_envs}", f"simulator={simulator}", f"device={device}",
        "env.init_start_prob=1.0", f"agent.actor_units={DEFAULT_ACTOR}", f"agent.critic_units={DEFAULT_CRITIC}",
        f"agent.batch_size={min(batch_size, num_envs * 32)}",
    ]  # fmt: skip
    config = apply_overrides(ExperimentConfig(), overrides)
    torch_device = torch.device("cuda" if device.startswith("cuda") else "cpu")
    baseline_memory = device_memory_used(torch_device)
    built = time.perf_counter()
    env, _ = make_env(config, threads=threads)
    try:
        actions = BaselineAgent("oracle", env).act(env.reset())
        targets = env.pd_targets(actions)
        env.sim.step(targets)  # first step: kernel compilation and CUDA-graph capture
        env.step(actions)
        setup_seconds = time.perf_counter() - built
        physics = num_envs * steps / timed(env.device, steps, lambda: env.sim.step(targets))
        env.reset()
        env_rate = num_envs * steps / timed(env.device, steps, lambda: env.step(actions))
        env_memory = device_memory_used(torch_device)
        agent = PPOAgent(config.agent, env.num_obs, env.num_actions, device=str(env.device), seed=0)
        agent.collect(env)
        agent.update()  # warm-up epoch (allocations, cuBLAS plans)
        samples = num_envs * config.agent.num_steps * epochs
        train_rate = samples / timed(env.device, epochs, lambda: (agent.collect(env), agent.update()))
        train_memory = device_memory_used(torch_device)
    finally:
        env.sim.close()
    result: Dict[str, Any] = {
        "simulator": simulator,
        "device": str(env.device),
        "num_envs": num_envs,
        "setup_s": round(setup_seconds, 1),
        "physics_env_steps_per_s": round(physics),
        "physics_steps_per_s": round(physics * config.env.decimation),
        "env_steps_per_s": round(env_rate),
        "env_over_physics": round(env_rate / physics, 3),
        "train_env_steps_per_s": round(train_rate),
        "train_over_env": round(train_rate / env_rate, 3),
        "batch_size": config.agent.batch_size,
    }
    if baseline_memory is not None and env_memory is not None and train_memory is not None:
        result["env_memory_mib"] = round((env_memory - baseline_memory) / 2**20, 1)
        result["env_memory_kib_per_env"] = round((env_memory - baseline_memory) / 1024 / num_envs, 1)
        result["train_memory_mib"] = round((train_memory - baseline_memory) / 2**20, 1)
    return result


def versions() -> Dict[str, str]:
    found = {"torch": torch.__version__, "python": platform.python_version()}
    for name in ("mujoco", "mujoco_warp", "warp"):
        try:
            module = __import__(name)
            found[name] = str(getattr(module, "__version__", "?"))
        except ImportError:
            found[name] = "not installed"
    return found


def machine(device: str) -> Dict[str, Any]:
    info: Dict[str, Any] = {"cpus": os.cpu_count(), "processor": platform.machine()}
    if device.startswith("cuda") and torch.cuda.is_available():
        properties = torch.cuda.get_device_properties(0)
        info.update(gpu=properties.name, gpu_memory_gib=round(properties.total_memory / 2**30, 1))
        info["cuda"] = torch.version.cuda
    return info


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulator", default="mjwarp")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--envs", type=int, nargs="+", default=[1024, 4096, 8192])
    parser.add_argument("--cpu-envs", type=int, nargs="*", default=[256], help="the mujoco backend, for comparison")
    parser.add_argument("--steps", type=int, default=200, help="timed control steps per measurement")
    parser.add_argument("--cpu-steps", type=int, default=60)
    parser.add_argument("--epochs", type=int, default=3, help="timed PPO epochs (after one warm-up epoch)")
    parser.add_argument("--batch-size", type=int, default=8192, help="PPO minibatch (as ProtoMotions' users pass)")
    parser.add_argument("--threads", type=int, default=0, help="CPU backend threads (0: all cores)")
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(json.dumps({"benchmark": "gpu_scale", "skipped": "no CUDA device visible to torch"}))
        print("gpu_scale: skipped (no CUDA device); run it on a GPU machine, or --device cpu --envs 4 as a smoke run")
        return 0
    threads = args.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    results: List[Dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        motion_file = synthetic_library(Path(tmp))
        plan = [(args.simulator, args.device, n, args.steps) for n in args.envs]
        plan += [("mujoco", "cpu", n, args.cpu_steps) for n in args.cpu_envs]
        for simulator, device, num_envs, steps in plan:
            result = measure(motion_file, simulator, device, num_envs, steps, args.epochs, args.batch_size, threads)
            results.append(result)
            print(json.dumps(result), flush=True)
    record = {
        "benchmark": "gpu_scale",
        "results": results,
        "targets": {"env_steps_per_s_at_8192": TARGET_ENV_STEPS_PER_S, "train_over_env": TARGET_TRAIN_OVER_ENV},
        "versions": versions(),
        "machine": machine(args.device),
    }
    print(json.dumps(record))
    for r in results:
        memory = f", {r['env_memory_kib_per_env']:,} KiB/env" if "env_memory_kib_per_env" in r else ""
        print(
            f"{r['simulator']}@{r['device']} N={r['num_envs']}: physics {r['physics_env_steps_per_s']:,}, env "
            f"{r['env_steps_per_s']:,}, training {r['train_env_steps_per_s']:,} env-steps/s "
            f"(training/env {r['train_over_env']:.2f}){memory}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
