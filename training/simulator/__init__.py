"""Simulator backends behind one interface (:class:`training.simulator.base.Simulator`).

Backends are imported only when chosen: ``isaacgym`` must be imported before torch, and
``mujoco``/``mjwarp`` pull native libraries a user of another backend may not have.
"""

from __future__ import annotations

import importlib
from typing import Dict

from robots.spec import RobotSpec
from training.simulator.base import Simulator, SimulatorConfig

#: --simulator name → "module:class"
BACKENDS: Dict[str, str] = {
    "mujoco": "training.simulator.mujoco_backend:MujocoSimulator",
    "mjwarp": "training.simulator.mjwarp_backend:MjwarpSimulator",
    "isaacgym": "training.simulator.isaacgym_backend:IsaacGymSimulator",  # import isaacgym before torch
}


def create_simulator(name: str, robot: RobotSpec, config: SimulatorConfig) -> Simulator:
    """Instantiate backend ``name`` (e.g. ``"mujoco"``) for ``robot``."""
    if name not in BACKENDS:
        raise ValueError(f"unknown simulator {name!r}; available: {', '.join(BACKENDS)}")
    module_name, class_name = BACKENDS[name].split(":")
    backend = getattr(importlib.import_module(module_name), class_name)
    return backend(robot, config)
