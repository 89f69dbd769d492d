"""The one narrow interface every physics backend implements (``mujoco``, ``mjwarp``, ``isaacgym``).

The environment only ever talks to :class:`Simulator`. State accessors may return views that the
next ``step``/``reset_envs`` overwrites (as IsaacGym's state tensors): clone what you keep.
All tensors are torch, on
``simulator.device``, in the robot's body order (``RobotSpec.body_names``) and DoF order
(``RobotSpec.dof_names``); quaternions are xyzw; world frame is z-up; SI units.

DoF positions are the simulator's joint coordinates; ``RobotSpec.dof_format``
(:mod:`robots.spec`) says how they relate to a MotionLib's ``dof_pos``.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import NamedTuple, Optional

import torch
from torch import Tensor

from robots.spec import RobotSpec
from training.simulator.heightfield import TerrainSpec


@dataclass(frozen=True)
class SimulatorConfig:
    num_envs: int
    physics_hz: float = 120.0  # physics steps per second
    decimation: int = 4  # physics steps per control step → control at 30 Hz
    num_threads: int = 0  # CPU backends: worker threads; 0 = os.cpu_count()
    device: str = "cpu"
    seed: int = 0
    terrain: Optional[TerrainSpec] = None  # None: flat ground plane at z = 0

    @property
    def control_dt(self) -> float:
        return self.decimation / self.physics_hz


class BodyState(NamedTuple):
    """World-frame rigid-body states, (N, B, ·)."""

    pos: Tensor  # (N, B, 3) m
    rot: Tensor  # (N, B, 4) xyzw
    vel: Tensor  # (N, B, 3) m/s, linear velocity of the body origin
    ang_vel: Tensor  # (N, B, 3) rad/s, world frame


class DofState(NamedTuple):
    pos: Tensor  # (N, D) rad
    vel: Tensor  # (N, D) rad/s


class RootState(NamedTuple):
    """The free root body's state, (N, ·): what a reset sets alongside the DoFs."""

    pos: Tensor  # (N, 3) m
    rot: Tensor  # (N, 4) xyzw
    vel: Tensor  # (N, 3) m/s
    ang_vel: Tensor  # (N, 3) rad/s, world frame


class Simulator(abc.ABC):
    """N independent worlds of one robot on one terrain, stepped together."""

    def __init__(self, robot: RobotSpec, config: SimulatorConfig) -> None:
        self.robot = robot
        self.config = config
        self.num_envs = config.num_envs
        self.num_bodies = len(robot.body_names)
        self.num_dofs = len(robot.dof_names)
        self.device = torch.device(config.device)

    @property
    def control_dt(self) -> float:
        return self.config.control_dt

    @abc.abstractmethod
    def reset_envs(self, env_ids: Tensor, root: RootState, dofs: DofState) -> None:
        """Put worlds ``env_ids`` (K,) int64 into the given root (K, ·) and DoF (K, D) states,
        with zero applied torques; body states reflect the new pose immediately."""

    def checked_reset_ids(self, env_ids: Tensor, root: RootState, dofs: DofState) -> Tensor:
        """``env_ids`` as a flat int64 tensor on ``self.device`` after checking what every
        backend's ``reset_envs`` requires: shapes (K, 3|4|D) and distinct ids in [0, N)."""
        ids = env_ids.detach().to(self.device, torch.int64).reshape(-1)
        k = int(ids.numel())
        shapes = {"root.pos": (root.pos, 3), "root.rot": (root.rot, 4), "root.vel": (root.vel, 3),
                  "root.ang_vel": (root.ang_vel, 3), "dofs.pos": (dofs.pos, self.num_dofs),
                  "dofs.vel": (dofs.vel, self.num_dofs)}  # fmt: skip
        for name, (value, width) in shapes.items():
            if tuple(value.shape) != (k, width):
                raise ValueError(f"reset_envs {name}: expected ({k}, {width}), got {tuple(value.shape)}")
        if k and (int(ids.min()) < 0 or int(ids.max()) >= self.num_envs or int(ids.unique().numel()) != k):
            raise ValueError(f"reset_envs: env_ids must be distinct in [0, {self.num_envs}), got {ids.tolist()}")
        return ids

    @abc.abstractmethod
    def step(self, pd_targets: Tensor) -> None:
        """Advance every world by one control step (``decimation`` physics steps) with PD
        position targets ``pd_targets`` (N, D) rad; PD runs inside the physics engine."""

    @abc.abstractmethod
    def body_state(self) -> BodyState: ...

    @abc.abstractmethod
    def dof_state(self) -> DofState: ...

    @abc.abstractmethod
    def applied_torques(self) -> Tensor:
        """(N, D) N·m actually applied by the actuators in the last physics step."""

    @abc.abstractmethod
    def contact_forces(self) -> Tensor:
        """(N, B, 3) N: net contact force on each body (world frame), last physics step."""

    @abc.abstractmethod
    def terrain_heights(self, points_xy: Tensor) -> Tensor:
        """Ground height (N, P) m under world points ``points_xy`` (N, P, 2)."""

    def get_state(self) -> Optional[Tensor]:
        """(N, S) float64: everything the physics needs to continue bit for bit (checkpoints).

        ``None`` where a backend cannot capture it; a resumed run then restarts its episodes.
        """
        return None

    def set_state(self, state: Tensor) -> None:
        """Restore :meth:`get_state`; body and DoF states reflect it immediately."""
        raise ValueError(f"the {type(self).__name__} backend cannot restore a saved physics state")

    def park_envs(self, parked: Optional[Tensor]) -> None:  # noqa: B027 - optional hook
        """Worlds ``parked`` (N,) bool may be left unstepped by :meth:`step` until called again with
        ``None``; their states are then stale and must be ignored (the evaluator parks the envs a
        batch leaves over). A hint: backends that step every world in one kernel ignore it."""

    def diverged_envs(self) -> Tensor:
        """(N,) bool: worlds whose physics blew up during the last step (the engine reset them).

        Backends that cannot detect it report none; the environment terminates the ones listed.
        """
        return torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release native resources (threads, GPU memory)."""
