"""Robot registry: the model and control facts each robot brings to the simulator.

Per-robot defaults (model file, body/DoF order, PD gains, joint limits) live here so the
environment, every simulator backend and the visualizer read them from one place.
"""

from __future__ import annotations

import math
from typing import Callable, Dict, Optional, Tuple

from motion.skeleton import NUM_BODIES, NUM_DOFS
from robots.g1 import G1_NUM_BODIES, G1_NUM_DOFS
from robots.spec import RobotSpec


def smpl_robot() -> RobotSpec:
    """The SMPL humanoid (neutral mean shape): 24 bodies, 69 hinges, PD inside the engine."""
    from robots.smpl_humanoid import build_smpl_humanoid_xml, humanoid_spec

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


def g1_robot(robot_xml: Optional[str] = None) -> RobotSpec:
    """The Unitree G1 (29 hinges + free root, 30 bodies) from its MJCF, rewritten for in-engine PD.

    Action mapping per 1-DoF joint (ProtoMotions' rule): offset = mid-range, scale = half-range of
    the joint limits, so tanh(a) ∈ (−1, 1) spans exactly the joint's range.
    """
    from robots.g1 import G1_CONTACT_BODIES, build_g1_robot_xml, joint_gains, resolve_g1_xml

    path = resolve_g1_xml(robot_xml)
    xml, bodies, hinges, ranges, efforts = build_g1_robot_xml(path)
    gains = [joint_gains(name) for name in hinges]
    return RobotSpec(
        name="g1",
        mjcf_xml=xml,
        body_names=tuple(bodies),
        dof_names=tuple(hinges),
        kp=tuple(kp for kp, _, _ in gains),
        kd=tuple(kd for _, kd, _ in gains),
        effort_limit=tuple(efforts),
        dof_lower=tuple(low for low, _ in ranges),
        dof_upper=tuple(high for _, high in ranges),
        contact_bodies=G1_CONTACT_BODIES,
        dof_format="joint_angles",
        action_offset=tuple(0.5 * (low + high) for low, high in ranges),
        action_scale=tuple(0.5 * (high - low) for low, high in ranges),
        model_path=str(path),
    )


ROBOTS: Dict[str, Callable[..., RobotSpec]] = {"smpl": smpl_robot, "g1": g1_robot}
#: Robots built from an external model file (accept ``robot_xml``); the others generate theirs.
FILE_ROBOTS = ("g1",)
#: (bodies, DoFs) per frame of each robot's MotionLibs, known without building the robot (a file
#: robot's model may be absent): what ``--robot auto`` matches a MotionLib against. The SMPL
#: humanoid's 24 bodies with 23 × 3 exp-map DoFs; the G1's 30 bodies with 29 hinges (g1_29dof.xml).
MOTION_SHAPES: Dict[str, Tuple[int, int]] = {"smpl": (NUM_BODIES, NUM_DOFS), "g1": (G1_NUM_BODIES, G1_NUM_DOFS)}


def robot_by_name(name: str, robot_xml: Optional[str] = None) -> RobotSpec:
    """The robot ``name``; ``robot_xml`` overrides where a file-based robot's MJCF is found."""
    if name not in ROBOTS:
        raise ValueError(f"unknown robot {name!r}; known robots: {', '.join(sorted(ROBOTS))}")
    if robot_xml is not None and name not in FILE_ROBOTS:
        raise ValueError(f"robot {name!r} builds its own model; robot_xml applies only to {', '.join(FILE_ROBOTS)}")
    return ROBOTS[name](robot_xml) if name in FILE_ROBOTS else ROBOTS[name]()


def robot_names() -> Tuple[str, ...]:
    return tuple(sorted(ROBOTS))
