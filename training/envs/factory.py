"""Building one rank's environment from the config: MotionLib, simulator backend, terrain and :class:`MimicEnv`.

Training, evaluation, the baselines and the benchmarks all build their env here, so they run the
same robot on the same simulator and device for the same config.
"""

from __future__ import annotations

from typing import Any, Tuple

import torch

from training.config import ExperimentConfig


def load_motion_lib(config: ExperimentConfig, rank: int = 0, world_size: int = 1, local_rank: int = 0) -> Any:
    """The rank's MotionLib (its ``*_slurmrank.pt`` shard, if sharded) on the rank's device."""
    from motion.motion_lib import MotionLib
    from motion.motion_lib_shards import resolve_motion_file
    from training.devices import resolve_device

    motion_path = resolve_motion_file(config.motion_file, rank, world_size)
    return MotionLib.from_file(motion_path, device=resolve_device(config.simulator, config.device, local_rank))


def check_motion_lib_robot(motion_lib: Any, robot_name: str, config_source: str) -> None:
    """Raise :class:`motion.errors.MotionDataError` (naming the MotionLib file, ``gts`` or ``dps``,
    the robot's shape and the library's) unless the MotionLib holds motions of ``robot_name``.

    Without it, a G1 checkpoint on an SMPL MotionLib (or the reverse) ended in the first reward as
    ``RuntimeError: The size of tensor a (24) must match the size of tensor b (30)``. Checked from
    the robots' known shapes (:data:`robots.registry.MOTION_SHAPES`), before a model file is read."""
    from motion.errors import MotionDataError
    from robots.registry import MOTION_SHAPES

    if robot_name not in MOTION_SHAPES:
        return  # an unknown robot name is reported by robot_by_name, listing the known ones
    bodies, dofs = MOTION_SHAPES[robot_name]
    found = (int(motion_lib.gts.shape[1]), int(motion_lib.dps.shape[1]))
    if found == (bodies, dofs):
        return
    owner = next((name for name, shape in MOTION_SHAPES.items() if shape == found), None)
    raise MotionDataError(
        motion_lib.source,
        "gts" if found[0] != bodies else "dps",
        f"{bodies} bodies with {dofs} DoFs per frame, the {robot_name} robot's ({config_source} has robot_name "
        f"{robot_name!r})",
        f"{found[0]} bodies with {found[1]} DoFs: "
        + (f"a MotionLib of the {owner} robot" if owner else "a MotionLib of no known robot"),
    )


def make_env(
    config: ExperimentConfig,
    rank: int = 0,
    world_size: int = 1,
    threads: int = 0,
    local_rank: int = 0,
    motion_lib: Any = None,
    config_source: str = "the config",
) -> Tuple[Any, str]:
    """Simulator + MotionLib + MimicEnv for one rank, all on the rank's device
    (:func:`training.devices.resolve_device`); also returns the MotionLib file's md5.

    ``motion_lib``: the rank's MotionLib when the caller loaded it already (:func:`load_motion_lib`).
    ``config_source`` names where the config came from in the error of a MotionLib of another
    robot (the experiment file, a checkpoint)."""
    from motion.io_utils import file_digest
    from robots.registry import robot_by_name
    from training.envs.mimic_env import MimicEnv
    from training.simulator import create_simulator
    from training.simulator.base import SimulatorConfig
    from training.terrain import build_terrain

    if motion_lib is None:
        motion_lib = load_motion_lib(config, rank, world_size, local_rank)
    check_motion_lib_robot(motion_lib, config.robot_name, config_source)
    device = motion_lib.device
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
    return MimicEnv(config, simulator, motion_lib, generator), file_digest(motion_lib.source, "md5")
