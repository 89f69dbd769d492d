"""The robot as every simulator backend, the environment and the visualizer see it: :class:`RobotSpec`.

Bodies and DoFs are in the robot's order (``body_names``, ``dof_names``; the free root body
first). DoF positions are the simulator's joint coordinates; ``dof_format`` says how they relate
to a MotionLib's ``dof_pos``: ``"exp_map_3hinge"`` (SMPL humanoid) — three hinges per body on x,
y, z, i.e. intrinsic x-y-z Euler angles of each local rotation (R = Rx·Ry·Rz), while the
MotionLib stores exp-maps; ``"joint_angles"`` (G1 and other 1-DoF-joint robots) — the MotionLib
stores the hinge angles themselves. :mod:`robots.dof_conversion` converts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple


@dataclass(frozen=True)
class RobotSpec:
    """What the simulator needs to know about a robot, backend-independent."""

    name: str
    mjcf_xml: str  # the MJCF text: one model file per robot for every backend
    body_names: Tuple[str, ...]
    dof_names: Tuple[str, ...]
    kp: Tuple[float, ...]  # per DoF, N·m/rad
    kd: Tuple[float, ...]  # per DoF, N·m·s/rad
    effort_limit: Tuple[float, ...]  # per DoF, N·m
    dof_lower: Tuple[float, ...]  # per DoF, rad
    dof_upper: Tuple[float, ...]
    contact_bodies: Tuple[str, ...] = ()  # bodies whose contacts the env reads (e.g. feet)
    dof_format: str = "exp_map_3hinge"  # MotionLib dof_pos ↔ hinge angles: see robots.dof_conversion
    # PD target = action_offset + action_scale · tanh(a), per DoF, rad. Empty: every DoF uses
    # offset 0 and the experiment's scalar ``env.action_scale`` (π: the SMPL humanoid's 3-hinge joints).
    action_offset: Tuple[float, ...] = ()
    action_scale: Tuple[float, ...] = ()
    model_path: Optional[str] = None  # the MJCF file the model came from (meshes beside it); None if generated
