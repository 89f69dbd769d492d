"""Building one rank's environment from the config: MotionLib, simulator backend, terrain and :class:`MimicEnv`.

Training, evaluation, the baselines and the benchmarks all build their env here, so they run the
same robot on the same simulator and device for the same config.
"""

from __future__ import annotations

from typing import Any, Tuple

import torch

from training.config import ExperimentConfig


def make_env(
    config: ExperimentConfig, rank: int = 0, world_size: int = 1, threads: int = 0, local_rank: int = 0
) -> Tuple[Any, str]:
    """Simulator + MotionLib + MimicEnv for one rank, all on the rank's device
    (:func:`training.devices.resolve_device`); also returns the MotionLib file's md5."""
    from motion.io_utils import file_digest
    from motion.motion_lib import MotionLib
    from motion.motion_lib_shards import resolve_motion_file
    from robots.registry import robot_by_name
    from training.devices import resolve_device
    from training.envs.mimic_env import MimicEnv
    from training.simulator import create_simulator
    from training.simulator.base import SimulatorConfig
    from training.terrain import build_terrain

    motion_path = resolve_motion_file(config.motion_file, rank, world_size)
    device = resolve_device(config.simulator, config.device, local_rank)
    motion_lib = MotionLib.from_file(motion_path, device=device)
    sim_config = SimulatorConfig(
        num_envs=config.num_envs,
        physics_hz=config.env.physics_hz,
        decimation=config.env.decimation,
        num_threads=threads,
        seed=config.seed + rank,
        terrain=build_terrain(config.env.terrain),
        device=str(device),
    )
    robot = robot_by_name(config.robot_name, robot_xml=config.robot_xml or None)
    simulator = create_simulator(config.simulator, robot, sim_config)
    generator = torch.Generator(device=device).manual_seed(config.seed + rank)
    return MimicEnv(config, simulator, motion_lib, generator), file_digest(motion_path, "md5")
