"""Robot registry: the model and control facts each robot brings to the simulator.

Per-robot defaults (model file, body/DoF order, PD gains, joint limits) live here so the
environment and every simulator backend read them from one place.
"""

from __future__ import annotations

import math
from typing import Callable, Dict, Tuple

from training.simulator.base import RobotSpec


def smpl_robot() -> RobotSpec:
    """The SMPL humanoid (neutral mean shape): 24 bodies, 69 hinges, PD inside the engine."""
    from motion.smpl_humanoid import build_smpl_humanoid_xml, humanoid_spec

    spec = humanoid_spec()
    num_dofs = len(spec.dof_names)
    return RobotSpec(
        name="smpl",
        mjcf_xml=build_smpl_humanoid_xml(),
        body_names=tuple(spec.body_names),
        dof_names=tuple(spec.dof_names),
        kp=tuple(float(v) for v in spec.kp),
        kd=tuple(float(v) for v in spec.kd),
        effort_limit=(float(spec.effort_limit),) * num_dofs,
        dof_lower=(-math.pi,) * num_dofs,
        dof_upper=(math.pi,) * num_dofs,
        contact_bodies=("L_Ankle", "L_Toe", "R_Ankle", "R_Toe"),
    )


ROBOTS: Dict[str, Callable[[], RobotSpec]] = {"smpl": smpl_robot}


def robot_by_name(name: str) -> RobotSpec:
    try:
        return ROBOTS[name]()
    except KeyError:
        raise ValueError(f"unknown robot {name!r}; known robots: {', '.join(sorted(ROBOTS))}") from None


def robot_names() -> Tuple[str, ...]:
    return tuple(sorted(ROBOTS))
