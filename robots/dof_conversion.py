"""MotionLib DoFs ↔ simulator DoFs, per robot ``dof_format`` (the one place that knows both).

``"joint_angles"`` (robots with 1-DoF hinges, e.g. the G1): the MotionLib's ``dof_pos``/``dof_vel``
are the hinge angles and rates themselves; nothing to convert.

``"exp_map_3hinge"`` (the SMPL humanoid): MotionLib DoFs are an exp-map per body, the simulator
has three hinges x, y, z per body.

A body with hinges on x, y, z has local rotation R = Rx(a)·Ry(b)·Rz(c): its joint coordinates
are intrinsic x-y-z Euler angles, not the rotation vector MotionLibs store. Velocities differ
too: MotionLib ``dof_vel`` is the local angular velocity ω in the parent frame
(axis·angle of q_{t+1}·q_t⁻¹ per second), while hinge velocities are Euler rates (ȧ, ḃ, ċ) with

    ω = ȧ·x + ḃ·Rx(a)·y + ċ·Rx(a)·Ry(b)·z.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Tuple

import torch
from torch import Tensor

from motion.rotations import quat_from_euler_xyz, quat_from_rotvec, quat_to_euler_xyz, quat_to_rotvec

if TYPE_CHECKING:  # pragma: no cover
    from motion.motion_lib import MotionState

EXP_MAP_3HINGE = "exp_map_3hinge"
JOINT_ANGLES = "joint_angles"
DOF_FORMATS = (EXP_MAP_3HINGE, JOINT_ANGLES)

_MIN_COS = 1e-3  # gimbal lock guard: |cos b| below this is treated as ±1e-3


def exp_map_to_hinge_angles(dof_pos: Tensor) -> Tensor:
    """(..., 3·J) rotation vectors → (..., 3·J) Euler x-y-z hinge angles, rad."""
    rotvec = dof_pos.reshape(dof_pos.shape[:-1] + (-1, 3))
    return quat_to_euler_xyz(quat_from_rotvec(rotvec)).reshape(dof_pos.shape)


def hinge_angles_to_exp_map(hinge_pos: Tensor) -> Tensor:
    """(..., 3·J) Euler x-y-z hinge angles → (..., 3·J) rotation vectors, rad."""
    euler = hinge_pos.reshape(hinge_pos.shape[:-1] + (-1, 3))
    return quat_to_rotvec(quat_from_euler_xyz(euler)).reshape(hinge_pos.shape)


def local_rotations_to_hinge_angles(local_rot: Tensor) -> Tensor:
    """(..., J, 4) xyzw local rotations → (..., 3·J) hinge angles."""
    angles = quat_to_euler_xyz(local_rot)
    return angles.reshape(angles.shape[:-2] + (-1,))


def angular_velocity_to_hinge_rates(hinge_pos: Tensor, omega: Tensor) -> Tensor:
    """Parent-frame angular velocities (..., 3·J) rad/s at hinge angles (..., 3·J) → Euler rates.

    Solves ω = J(a, b)·(ȧ, ḃ, ċ) in closed form (det J = cos b):
        ḃ = cos a·ω_y + sin a·ω_z,  ċ = (cos a·ω_z − sin a·ω_y) / cos b,  ȧ = ω_x − sin b·ċ.
    """
    euler = hinge_pos.reshape(hinge_pos.shape[:-1] + (-1, 3))
    w = omega.reshape(euler.shape)
    sin_a, cos_a = torch.sin(euler[..., 0]), torch.cos(euler[..., 0])
    sin_b, cos_b = torch.sin(euler[..., 1]), torch.cos(euler[..., 1])
    cos_b = torch.where(cos_b.abs() < _MIN_COS, torch.copysign(torch.full_like(cos_b, _MIN_COS), cos_b), cos_b)
    rate_b = cos_a * w[..., 1] + sin_a * w[..., 2]
    rate_c = (cos_a * w[..., 2] - sin_a * w[..., 1]) / cos_b
    rate_a = w[..., 0] - sin_b * rate_c
    return torch.stack((rate_a, rate_b, rate_c), dim=-1).reshape(hinge_pos.shape)


def hinge_rates_to_angular_velocity(hinge_pos: Tensor, hinge_vel: Tensor) -> Tensor:
    """Euler rates (..., 3·J) at hinge angles (..., 3·J) → parent-frame angular velocity (..., 3·J)."""
    euler = hinge_pos.reshape(hinge_pos.shape[:-1] + (-1, 3))
    rates = hinge_vel.reshape(euler.shape)
    sin_a, cos_a = torch.sin(euler[..., 0]), torch.cos(euler[..., 0])
    sin_b, cos_b = torch.sin(euler[..., 1]), torch.cos(euler[..., 1])
    rate_a, rate_b, rate_c = rates.unbind(-1)
    omega = torch.stack(
        (
            rate_a + sin_b * rate_c,
            cos_a * rate_b - sin_a * cos_b * rate_c,
            sin_a * rate_b + cos_a * cos_b * rate_c,
        ),
        dim=-1,
    )
    return omega.reshape(hinge_pos.shape)


def _check_format(dof_format: str) -> None:
    if dof_format not in DOF_FORMATS:
        raise ValueError(f"unknown dof_format {dof_format!r}; expected one of {', '.join(DOF_FORMATS)}")


def reference_dof_positions(dof_format: str, state: MotionState) -> Tensor:
    """Simulator joint coordinates (N, D) rad of reference states (N rows of a MotionState)."""
    _check_format(dof_format)
    if dof_format == JOINT_ANGLES:
        return state.dof_pos
    if state.local_rigid_body_rot is not None:
        return local_rotations_to_hinge_angles(state.local_rigid_body_rot[:, 1:])
    return exp_map_to_hinge_angles(state.dof_pos)


def reference_dof_velocities(dof_format: str, state: MotionState, hinge_pos: Tensor) -> Tensor:
    """Simulator joint rates (N, D) rad/s of reference states at joint coordinates ``hinge_pos`` (N, D)."""
    _check_format(dof_format)
    if dof_format == JOINT_ANGLES:
        return state.dof_vel
    return angular_velocity_to_hinge_rates(hinge_pos, state.dof_vel)


def simulated_dofs_to_reference(
    dof_format: str, dof_pos: Tensor, dof_vel: Tensor, root_rot: Tensor
) -> Tuple[Tensor, Tensor, Optional[Tensor]]:
    """Simulated joint state → MotionLib ``(dps, dvs, lrs)``: (F, D), (F, D), (F, B, 4) xyzw or None.

    ``root_rot`` (F, 4) xyzw is the root's world rotation (the first local rotation of ``lrs``);
    robots with ``"joint_angles"`` DoFs get no ``lrs`` (their bodies carry fixed frame offsets).
    """
    _check_format(dof_format)
    if dof_format == JOINT_ANGLES:
        return dof_pos.clone(), dof_vel.clone(), None
    count = dof_pos.shape[0]
    hinge = dof_pos.reshape(count, -1, 3)
    local = torch.cat([root_rot[:, None], quat_from_euler_xyz(hinge)], dim=1)
    return hinge_angles_to_exp_map(dof_pos), hinge_rates_to_angular_velocity(dof_pos, dof_vel), local
