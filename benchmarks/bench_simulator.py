"""MuJoCo backend throughput against raw MuJoCo physics (``mujoco.rollout``, 2 threads).

Scenario: the SMPL humanoid standing on flat ground from a settled standing state, PD targets
zero (the neutral pose) for the whole run, so both sides do the same physics with realistic
foot contacts. For N = 64 and 256 worlds and the same number of physics steps it times:

- ``rollout``: raw physics, ``mujoco.rollout.Rollout(nthread=2)`` over N trajectories of
  ``STEPS`` physics steps each (the reference: no Python per step, no state gather);
- ``backend``: our ``MujocoSimulator.step()`` with 2 threads, reading every state accessor after
  each control step, as env-steps/s × decimation = physics steps/s;
- ``rollout_per_control_step``: one ``rollout`` call per control step (``decimation`` steps
  from the saved states, warm start lost), without any of the state the environment needs;
- ``rollout_with_gather``: the alternative design in full: the same rollout call, then per world
  (2 threads) ``mj_setState`` + ``mj_forward`` (for contact and actuator forces at the new state)
  and the raw copies our backend makes, without its vectorised conversion.

Rounds interleave the four so machine noise hits all alike; medians are reported.
Prints one JSON line, then a one-line summary. Target: backend ≥ 70% of rollout.

    python benchmarks/bench_simulator.py [--envs 64 256] [--rounds 5] [--steps 120]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from motion.rotations import quat_rotate  # noqa: E402
from robots.registry import smpl_robot  # noqa: E402
from training.simulator.base import DofState, RootState, SimulatorConfig  # noqa: E402
from training.simulator.mujoco_backend import MujocoSimulator  # noqa: E402
from training.simulator.mujoco_model import build_model  # noqa: E402

THREADS = 2
DECIMATION = 4
STAND_HEIGHT = 0.95  # m, pelvis height from which the humanoid drops onto its feet
SETTLE_STEPS = 120  # physics steps to settle before timing


def settled_state(model) -> np.ndarray:
    """Full physics state of the humanoid standing still on the ground after SETTLE_STEPS."""
    import mujoco

    data = mujoco.MjData(model)
    data.qpos[2] = STAND_HEIGHT
    mujoco.mj_step(model, data, SETTLE_STEPS)
    spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
    state = np.zeros(mujoco.mj_stateSize(model, spec))
    mujoco.mj_getState(model, data, state, spec)
    return state


def time_rollout(runner, model, datas, state: np.ndarray, num_envs: int, steps: int, chunk: int) -> float:
    """Physics steps/s of ``num_envs`` rollouts of ``steps`` steps, ``steps / chunk`` calls each."""
    initial = np.tile(state, (num_envs, 1))
    controls = np.zeros((num_envs, chunk, model.nu))
    out = np.zeros((num_envs, chunk, len(state)))
    sensors = np.zeros((num_envs, chunk, 0))
    start = time.perf_counter()
    for _ in range(steps // chunk):
        runner.rollout(model, datas, initial, controls, nstep=chunk, state=out, sensordata=sensors)
        initial = out[:, -1].copy()
    return num_envs * steps / (time.perf_counter() - start)


def time_rollout_with_gather(runner, model, datas, gather_datas, state: np.ndarray, steps: int, pool) -> float:
    """Physics steps/s of the rollout-based design: a rollout call per control step, then the
    per-world state gather in ``pool`` (THREADS workers, contiguous slices)."""
    import mujoco

    num_envs = len(gather_datas)
    spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
    initial = np.tile(state, (num_envs, 1))
    controls = np.zeros((num_envs, DECIMATION, model.nu))
    out = np.zeros((num_envs, DECIMATION, len(state)))
    sensors = np.zeros((num_envs, DECIMATION, 0))
    raw = {key: np.zeros((num_envs,) + shape) for key, shape in (
        ("xpos", (model.nbody, 3)), ("xquat", (model.nbody, 4)), ("cvel", (model.nbody, 6)),
        ("subtree_com", (model.nbody, 3)), ("qpos", (model.nq,)), ("qvel", (model.nv,)),
        ("actuator_force", (model.nu,)))}  # fmt: skip
    bounds = np.linspace(0, num_envs, THREADS + 1).round().astype(int)

    def gather(k: int) -> None:
        for i in range(bounds[k], bounds[k + 1]):
            d = gather_datas[i]
            mujoco.mj_setState(model, d, initial[i], spec)
            mujoco.mj_forward(model, d)
            for key, buffer in raw.items():
                buffer[i] = getattr(d, key)
            c = d.contact
            _ = (c.geom, c.frame, c.friction, d.efc_force[c.efc_address[:, None] + np.arange(4)])

    start = time.perf_counter()
    for _ in range(steps // DECIMATION):
        runner.rollout(model, datas, initial, controls, nstep=DECIMATION, state=out, sensordata=sensors)
        initial = out[:, -1].copy()
        list(pool.map(gather, range(THREADS)))
    return num_envs * steps / (time.perf_counter() - start)


def time_backend(sim: MujocoSimulator, root: RootState, dofs: DofState, steps: int) -> float:
    n = sim.num_envs
    sim.reset_envs(torch.arange(n), root, dofs)
    targets = torch.zeros(n, sim.num_dofs)
    start = time.perf_counter()
    for _ in range(steps // DECIMATION):
        sim.step(targets)
        sim.body_state(), sim.dof_state(), sim.contact_forces(), sim.applied_torques()
    return n * steps / (time.perf_counter() - start)


def standing_reset(robot, model, state: np.ndarray, num_envs: int):
    """The settled state as (RootState, DofState) for ``num_envs`` worlds."""
    import mujoco

    qpos = state[1 : 1 + model.nq]  # FULLPHYSICS starts with the time
    qvel = state[1 + model.nq : 1 + model.nq + model.nv]
    joints = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name) for name in robot.dof_names]
    rep = lambda a: torch.from_numpy(np.tile(np.asarray(a, dtype=np.float64), (num_envs, 1)))
    rot = rep(qpos[[4, 5, 6, 3]])  # wxyz → xyzw
    # the free joint's angular velocity is in the root's frame; RootState wants the world frame
    root = RootState(rep(qpos[0:3]), rot, rep(qvel[0:3]), quat_rotate(rot, rep(qvel[3:6])))
    return root, DofState(rep(qpos[model.jnt_qposadr[joints]]), rep(qvel[model.jnt_dofadr[joints]]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--envs", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=120, help="physics steps per timed run")
    args = parser.parse_args()

    import mujoco
    from mujoco import rollout

    robot = smpl_robot()
    model = build_model(robot, None, 120.0)
    state = settled_state(model)
    datas = [mujoco.MjData(model) for _ in range(THREADS)]
    results: Dict[str, Dict[str, float]] = {}
    with rollout.Rollout(nthread=THREADS) as runner, ThreadPoolExecutor(THREADS) as pool:
        for num_envs in args.envs:
            config = SimulatorConfig(num_envs=num_envs, num_threads=THREADS, decimation=DECIMATION)
            sim = MujocoSimulator(robot, config)
            root, dofs = standing_reset(robot, model, state, num_envs)
            samples: Dict[str, List[float]] = {
                "rollout": [],
                "backend": [],
                "rollout_per_control_step": [],
                "rollout_with_gather": [],
            }
            gather_datas = [mujoco.MjData(model) for _ in range(num_envs)]
            time_backend(sim, root, dofs, args.steps)  # warm-up
            for _ in range(args.rounds):
                samples["rollout"].append(time_rollout(runner, model, datas, state, num_envs, args.steps, args.steps))
                samples["backend"].append(time_backend(sim, root, dofs, args.steps))
                samples["rollout_per_control_step"].append(
                    time_rollout(runner, model, datas, state, num_envs, args.steps, DECIMATION)
                )
                samples["rollout_with_gather"].append(
                    time_rollout_with_gather(runner, model, datas, gather_datas, state, args.steps, pool)
                )
            sim.close()
            medians = {key: statistics.median(values) for key, values in samples.items()}
            medians["ratio"] = medians["backend"] / medians["rollout"]
            results[str(num_envs)] = {key: round(value, 3 if key == "ratio" else 0) for key, value in medians.items()}

    record = {
        "benchmark": "simulator_mujoco",
        "threads": THREADS,
        "decimation": DECIMATION,
        "physics_steps_per_run": args.steps,
        "rounds": args.rounds,
        "unit": "physics steps/s (median)",
        "results": results,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "mujoco": mujoco.__version__},
    }
    print(json.dumps(record))
    summary = ", ".join(
        f"N={n}: backend {r['backend']:,.0f} vs rollout {r['rollout']:,.0f} steps/s = {r['ratio']:.0%}"
        f" (rollout-based design with gather: {r['rollout_with_gather']:,.0f})"
        for n, r in results.items()
    )
    print(f"MuJoCo backend ({THREADS} threads, with state gather): {summary} (target ≥ 70%)")


if __name__ == "__main__":
    main()
