"""Batched quaternion and rotation-vector maths in torch.

Convention everywhere in the project: quaternions are ``(x, y, z, w)`` (scalar last, as
MotionLibs and IsaacGym store them), Hamilton product, active rotations of column vectors.
Every function broadcasts over leading dimensions: a quaternion tensor has shape (..., 4),
a vector or rotation vector (axis·angle, radians) shape (..., 3).
"""

from __future__ import annotations

from typing import Tuple, Union

import torch
from torch import Tensor

_EPS = 1e-9


def _cross(a: Tensor, b: Tensor) -> Tensor:
    """Cross product over the last axis with full broadcasting (linalg.cross broadcasts sizes
    but needs equal ranks; leading singleton axes are free views)."""
    if a.dim() < b.dim():
        a = a.reshape((1,) * (b.dim() - a.dim()) + a.shape)
    elif b.dim() < a.dim():
        b = b.reshape((1,) * (a.dim() - b.dim()) + b.shape)
    return torch.linalg.cross(a, b, dim=-1)


def quat_mul(a: Tensor, b: Tensor) -> Tensor:
    """Hamilton product ``a ⊗ b`` (apply ``b`` first, then ``a``). (..., 4) xyzw."""
    # Vector form: a few large ops instead of ~28 per-channel ops (per-op overhead dominates
    # small batches).
    a_xyz, a_w = a[..., :3], a[..., 3:]
    b_xyz, b_w = b[..., :3], b[..., 3:]
    xyz = a_w * b_xyz + b_w * a_xyz + _cross(a_xyz, b_xyz)
    w = a_w * b_w - (a_xyz * b_xyz).sum(dim=-1, keepdim=True)
    return torch.cat((xyz, w), dim=-1)


def quat_conjugate(q: Tensor) -> Tensor:
    """Inverse of a unit quaternion. (..., 4) xyzw."""
    return torch.cat((-q[..., :3], q[..., 3:]), dim=-1)


def quat_normalize(q: Tensor) -> Tensor:
    return q / q.norm(dim=-1, keepdim=True).clamp_min(_EPS)


def quat_standardize(q: Tensor) -> Tensor:
    """The same rotation with a non-negative scalar part (q and −q are one rotation)."""
    return torch.where(q[..., 3:4] < 0, -q, q)


def quat_rotate(q: Tensor, v: Tensor) -> Tensor:
    """Rotate vectors ``v`` (..., 3) by unit quaternions ``q`` (..., 4)."""
    xyz = q[..., :3]
    w = q[..., 3:4]
    t = 2.0 * _cross(xyz, v)
    return v + w * t + _cross(xyz, t)


def quat_from_rotvec(rotvec: Tensor) -> Tensor:
    """Exp-map: rotation vector (..., 3), radians → unit quaternion (..., 4) xyzw."""
    angle = rotvec.norm(dim=-1, keepdim=True)
    half = 0.5 * angle
    # sin(θ/2)/θ with its Taylor series near zero (keeps gradients and small angles exact).
    small = angle < 1e-6
    safe_angle = torch.where(small, torch.ones_like(angle), angle)
    scale = torch.where(small, 0.5 - angle * angle / 48.0, torch.sin(half) / safe_angle)
    return torch.cat((rotvec * scale, torch.cos(half)), dim=-1)


def quat_to_rotvec(q: Tensor) -> Tensor:
    """Log-map: unit quaternion (..., 4) xyzw → rotation vector (..., 3) with angle in [0, π]."""
    xyz = q[..., :3]
    w = q[..., 3:4]
    sin_half = xyz.norm(dim=-1, keepdim=True)
    # angle/sin(θ/2) with angle = 2·atan2(sin(θ/2), |w|): well defined down to sin_half → 0
    # (atan2(s, |w|) ≈ s/|w| there), so no small-angle branch is needed. copysign folds the
    # q ≡ −q choice into the scale: the w ≥ 0 representative, computed without a where().
    scale = 2.0 * torch.atan2(sin_half, w.abs()) / sin_half.clamp_min(1e-30)
    return xyz * torch.copysign(scale, w)


def quat_angle(q: Tensor) -> Tensor:
    """Rotation angle in [0, π] of unit quaternions (..., 4) → (...)."""
    sin_half = q[..., :3].norm(dim=-1)
    return 2.0 * torch.atan2(sin_half, q[..., 3].abs())


def quat_slerp(q0: Tensor, q1: Tensor, t: Tensor) -> Tensor:
    """Spherical interpolation along the shorter arc; ``t`` broadcasts as (..., 1)."""
    # Per-quaternion scalars stay (..., 1); only the final blend touches all four components.
    cos_signed = (q0 * q1).sum(dim=-1, keepdim=True)
    half = torch.acos(cos_signed.abs().clamp(max=1.0))
    weight0, weight1 = slerp_weights(half, t)
    # Shorter arc: negate q1's weight rather than q1 itself.
    return quat_normalize(weight0 * q0 + torch.copysign(weight1, cos_signed) * q1)


def slerp_weights(half_angle: Tensor, t: Tensor) -> Tuple[Tensor, Tensor]:
    """Slerp weights sin((1−t)θ)/sin θ and sin(tθ)/sin θ for arcs of half-angle θ ≥ 0.

    Below θ = MIN_SLERP_ARC (1e-4) the arc is treated as that: the weights then equal (1 − t, t) to 1e-9,
    which avoids 0/0 without a branch.
    """
    half = half_angle.clamp_min(MIN_SLERP_ARC)
    inv_sin = 1.0 / torch.sin(half)
    return torch.sin((1.0 - t) * half) * inv_sin, torch.sin(t * half) * inv_sin


#: Smallest arc half-angle slerp divides by (see slerp_weights); radians.
MIN_SLERP_ARC = 1e-4


def quat_to_matrix(q: Tensor) -> Tensor:
    """Unit quaternions (..., 4) xyzw → rotation matrices (..., 3, 3)."""
    x, y, z, w = q.unbind(-1)
    xx, yy, zz = x * x, y * y, z * z
    xy, xz, yz = x * y, x * z, y * z
    wx, wy, wz = w * x, w * y, w * z
    rows = (
        1 - 2 * (yy + zz), 2 * (xy - wz), 2 * (xz + wy),
        2 * (xy + wz), 1 - 2 * (xx + zz), 2 * (yz - wx),
        2 * (xz - wy), 2 * (yz + wx), 1 - 2 * (xx + yy),
    )  # fmt: skip
    return torch.stack(rows, dim=-1).reshape(q.shape[:-1] + (3, 3))


def quat_from_euler_xyz(angles: Tensor) -> Tensor:
    """Intrinsic x-y-z Euler angles (..., 3), radians → quaternion of R = Rx·Ry·Rz.

    This is the rotation MuJoCo composes from three hinges on the x, y and z axes of one body.
    """
    half = 0.5 * angles
    c, s = torch.cos(half), torch.sin(half)
    zero = torch.zeros_like(half[..., 0])
    qx = torch.stack((s[..., 0], zero, zero, c[..., 0]), dim=-1)
    qy = torch.stack((zero, s[..., 1], zero, c[..., 1]), dim=-1)
    qz = torch.stack((zero, zero, s[..., 2], c[..., 2]), dim=-1)
    return quat_mul(quat_mul(qx, qy), qz)


def quat_to_euler_xyz(q: Tensor) -> Tensor:
    """Unit quaternions (..., 4) → intrinsic x-y-z Euler angles (..., 3) with R = Rx·Ry·Rz.

    Angles lie in (−π, π]; the middle angle in [−π/2, π/2].
    """
    m = quat_to_matrix(q)
    # R = Rx Ry Rz  ⇒  R[0,2] = sin(y), R[1,2] = −sin(x)cos(y), R[2,2] = cos(x)cos(y),
    #                  R[0,1] = −cos(y)sin(z), R[0,0] = cos(y)cos(z).
    y = torch.asin(m[..., 0, 2].clamp(-1.0, 1.0))
    x = torch.atan2(-m[..., 1, 2], m[..., 2, 2])
    z = torch.atan2(-m[..., 0, 1], m[..., 0, 0])
    return torch.stack((x, y, z), dim=-1)


def quat_to_tan_norm(q: Tensor) -> Tensor:
    """6-D rotation features: the rotated x axis (tangent) and z axis (normal), (..., 6).

    The first and third columns of the rotation matrix, in closed form (one stack instead of
    two quaternion rotations: this runs on every body twice per env step).
    """
    x, y, z, w = q.unbind(-1)
    xx, yy, zz = x * x, y * y, z * z
    xy, xz, yz = x * y, x * z, y * z
    wx, wy, wz = w * x, w * y, w * z
    return torch.stack(
        (
            1.0 - 2.0 * (yy + zz), 2.0 * (xy + wz), 2.0 * (xz - wy),  # R · (1, 0, 0)
            2.0 * (xz + wy), 2.0 * (yz - wx), 1.0 - 2.0 * (xx + yy),  # R · (0, 0, 1)
        ),
        dim=-1,
    )  # fmt: skip


def angular_velocity(q_from: Tensor, q_to: Tensor, dt: Union[float, Tensor]) -> Tensor:
    """World-frame angular velocity (rad/s) that turns ``q_from`` into ``q_to`` in ``dt`` seconds.

    The axis·angle of ``q_to ⊗ q_from⁻¹`` divided by ``dt`` (a float or a tensor broadcasting
    against (..., 1)); shapes (..., 4) → (..., 3).
    """
    return quat_to_rotvec(quat_mul(q_to, quat_conjugate(q_from))) / dt
