"""Observation kernels of the mimic task: pure functions of batched states (ProtoMotions layout).

Everything is expressed in the *heading frame* of the pelvis: world rotated by the inverse of
the pelvis yaw, so the policy is invariant to where the humanoid faces. Rotations use the
6-D tangent/normal form (:func:`motion.rotations.quat_to_tan_norm`).

Sizes for the SMPL humanoid (B = 24 bodies): humanoid state 1 + 3(B−1) + 6B + 3B + 3B = 358;
one future reference frame 24·B = 576; previous action 69; total 1003 (+256 with terrain).
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from motion.rotations import quat_conjugate, quat_mul, quat_rotate, quat_to_tan_norm


def heading_quat_inv(root_rot: Tensor) -> Tensor:
    """(N, 4) xyzw → (N, 4): rotation about z by minus the yaw of ``root_rot``.

    The yaw is the angle of the root's x axis projected on the ground plane.
    """
    forward = torch.zeros_like(root_rot[..., :3])
    forward[..., 0] = 1.0
    forward = quat_rotate(root_rot, forward)
    heading = torch.atan2(forward[..., 1], forward[..., 0])
    half = -0.5 * heading
    zero = torch.zeros_like(half)
    return torch.stack((zero, zero, torch.sin(half), torch.cos(half)), dim=-1)


def humanoid_observation(
    body_pos: Tensor, body_rot: Tensor, body_vel: Tensor, body_ang_vel: Tensor, ground_height: Tensor
) -> Tensor:
    """The humanoid's own state (``max_coords_obs``), (N, 1 + 3(B−1) + 12B).

    Args:
        body_pos, body_vel, body_ang_vel: (N, B, 3) world frame; body_rot: (N, B, 4) xyzw.
        ground_height: (N,) terrain height under the pelvis, m.
    Returns: [pelvis height above ground, other bodies' positions relative to the pelvis,
        body rotations (6-D), linear velocities, angular velocities], all in the heading frame.
    """
    num_envs, num_bodies = body_pos.shape[:2]
    heading = heading_quat_inv(body_rot[:, 0])[:, None, :].expand(num_envs, num_bodies, 4)
    root_height = body_pos[:, 0, 2:3] - ground_height[:, None]
    local_pos = quat_rotate(heading[:, 1:], body_pos[:, 1:] - body_pos[:, :1])
    local_rot = quat_to_tan_norm(quat_mul(heading, body_rot))
    local_vel = quat_rotate(heading, body_vel)
    local_ang_vel = quat_rotate(heading, body_ang_vel)
    return torch.cat(
        (
            root_height,
            local_pos.reshape(num_envs, -1),
            local_rot.reshape(num_envs, -1),
            local_vel.reshape(num_envs, -1),
            local_ang_vel.reshape(num_envs, -1),
        ),
        dim=-1,
    )


def target_pose_observation(
    body_pos: Tensor,
    body_rot: Tensor,
    body_vel: Tensor,
    body_ang_vel: Tensor,
    ref_pos: Tensor,
    ref_rot: Tensor,
    ref_vel: Tensor,
    ref_ang_vel: Tensor,
) -> Tensor:
    """One future reference frame relative to the current state (``mimic_target_poses``), (N, 24B).

    Per body, in the current heading frame: reference − pelvis position (3), reference − same
    body position (3), reference rotation (6), rotation of the reference relative to the current
    body, conj(q)·q_ref (6), and reference − current linear and angular velocity (3 + 3).
    All inputs (N, B, 3|4), world frame; ``ref_*`` already include the spawn offset.
    """
    num_envs, num_bodies = body_pos.shape[:2]
    heading = heading_quat_inv(body_rot[:, 0])[:, None, :].expand(num_envs, num_bodies, 4)
    features = (
        quat_rotate(heading, ref_pos - body_pos[:, :1]),
        quat_rotate(heading, ref_pos - body_pos),
        quat_to_tan_norm(quat_mul(heading, ref_rot)),
        quat_to_tan_norm(quat_mul(quat_conjugate(body_rot), ref_rot)),
        quat_rotate(heading, ref_vel - body_vel),
        quat_rotate(heading, ref_ang_vel - body_ang_vel),
    )
    return torch.cat(features, dim=-1).reshape(num_envs, -1)


def height_map_points(num_points: int, extent: float, device: Optional[torch.device] = None) -> Tensor:
    """(P, 2) grid offsets over [−extent, extent]², P = num_points², in the heading frame."""
    axis = torch.linspace(-extent, extent, num_points, device=device)
    grid_x, grid_y = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack((grid_x.reshape(-1), grid_y.reshape(-1)), dim=-1)


def height_map_world_points(root_pos: Tensor, root_rot: Tensor, offsets: Tensor) -> Tensor:
    """World xy (N, P, 2) of the yaw-rotated sampling grid ``offsets`` (P, 2) around the pelvis."""
    heading_inv = heading_quat_inv(root_rot)
    yaw = quat_conjugate(heading_inv)  # heading frame → world
    points = torch.zeros(offsets.shape[0], 3, dtype=offsets.dtype, device=offsets.device)
    points[:, :2] = offsets
    world = quat_rotate(yaw[:, None, :].expand(-1, offsets.shape[0], 4), points.expand(root_pos.shape[0], -1, -1))
    return world[..., :2] + root_pos[:, None, :2]


def terrain_observation(root_height: Tensor, terrain_heights: Tensor) -> Tensor:
    """Pelvis height minus the terrain height at each grid point: (N,) and (N, P) → (N, P)."""
    return root_height[:, None] - terrain_heights
