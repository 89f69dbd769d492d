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

from motion.motion_lib import MotionState
from motion.rotations import quat_conjugate, quat_mul, quat_rotate, quat_to_tan_norm
from training.simulator.base import BodyState


def heading_angle(root_rot: Tensor) -> Tensor:
    """(N, 4) xyzw → (N,) yaw, rad: the angle of the root's x axis projected on the ground plane."""
    x, y, z, w = root_rot.unbind(-1)
    # The first column of the rotation matrix, in closed form (cheaper than rotating (1, 0, 0)).
    return torch.atan2(2.0 * (x * y + w * z), 1.0 - 2.0 * (y * y + z * z))


def heading_quat_inv(root_rot: Tensor) -> Tensor:
    """(N, 4) xyzw → (N, 4): rotation about z by minus the yaw of ``root_rot``."""
    half = -0.5 * heading_angle(root_rot)
    zero = torch.zeros_like(half)
    return torch.stack((zero, zero, torch.sin(half), torch.cos(half)), dim=-1)


def into_heading_frame(vectors: Tensor, heading: Tensor) -> Tensor:
    """Rotate world vectors (N, K, 3) about z by minus ``heading`` (N,) rad → (N, K, 3).

    The same as ``quat_rotate(heading_quat_inv(...), v)``, as a 2-D rotation: a handful of
    element-wise ops instead of two cross products (this runs on every body every step).
    """
    cos, sin = torch.cos(heading)[:, None], torch.sin(heading)[:, None]
    x, y, z = vectors.unbind(-1)
    return torch.stack((cos * x + sin * y, cos * y - sin * x, z), dim=-1)


def humanoid_observation(bodies: BodyState, ground_height: Tensor) -> Tensor:
    """The humanoid's own state (``max_coords_obs``), (N, 1 + 3(B−1) + 12B).

    Args:
        bodies: (N, B, 3|4) world-frame rigid-body states.
        ground_height: (N,) terrain height under the pelvis, m.
    Returns: [pelvis height above ground, other bodies' positions relative to the pelvis,
        body rotations (6-D), linear velocities, angular velocities], all in the heading frame.
    """
    body_pos, body_rot, body_vel, body_ang_vel = bodies
    num_envs, num_bodies = body_pos.shape[:2]
    yaw = heading_angle(body_rot[:, 0])
    heading = heading_quat_inv(body_rot[:, 0])[:, None, :].expand(num_envs, num_bodies, 4)
    root_height = body_pos[:, 0, 2:3] - ground_height[:, None]
    # One rotation for every vector: positions of bodies 1..B−1, velocities, angular velocities.
    vectors = into_heading_frame(torch.cat((body_pos[:, 1:] - body_pos[:, :1], body_vel, body_ang_vel), dim=1), yaw)
    local_pos, local_vel, local_ang_vel = vectors.split((num_bodies - 1, num_bodies, num_bodies), dim=1)
    local_rot = quat_to_tan_norm(quat_mul(heading, body_rot))
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


def target_pose_observation(bodies: BodyState, reference: BodyState) -> Tensor:
    """One future reference frame relative to the current state (``mimic_target_poses``), (N, 24B).

    Per body, in the current heading frame: reference − pelvis position (3), reference − same
    body position (3), reference rotation (6), rotation of the reference relative to the current
    body, conj(q)·q_ref (6), and reference − current linear and angular velocity (3 + 3).
    Both states (N, B, 3|4), world frame; ``reference`` already includes the spawn offset.
    """
    body_pos, body_rot, body_vel, body_ang_vel = bodies
    ref_pos, ref_rot, ref_vel, ref_ang_vel = reference
    num_envs, num_bodies = body_pos.shape[:2]
    yaw = heading_angle(body_rot[:, 0])
    heading = heading_quat_inv(body_rot[:, 0])[:, None, :].expand(num_envs, num_bodies, 4)
    differences = torch.stack((ref_pos - body_pos[:, :1], ref_pos - body_pos, ref_vel - body_vel,
                               ref_ang_vel - body_ang_vel), dim=2)  # (N, B, 4, 3)  # fmt: skip
    rotated = into_heading_frame(differences.reshape(num_envs, -1, 3), yaw).reshape(num_envs, num_bodies, 4, 3)
    features = (
        rotated[:, :, 0],
        rotated[:, :, 1],
        quat_to_tan_norm(quat_mul(heading, ref_rot)),
        quat_to_tan_norm(quat_mul(quat_conjugate(body_rot), ref_rot)),
        rotated[:, :, 2],
        rotated[:, :, 3],
    )
    return torch.cat(features, dim=-1).reshape(num_envs, -1)


def reference_bodies(state: MotionState) -> BodyState:
    """The rigid-body part of a reference :class:`~motion.motion_lib.MotionState` (views, no copy)."""
    return BodyState(state.rigid_body_pos, state.rigid_body_rot, state.rigid_body_vel, state.rigid_body_ang_vel)


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
