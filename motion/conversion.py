"""AMASS clip → per-clip ``.motion`` dict of SMPL-humanoid rigid-body states.

Reproduces ProtoMotions' AMASS conversion (so files are interchangeable), batched over frames:

1. downsample by ``motion.amass.downsample_step`` (120 → 30 fps, 100 → 50 fps, 59 → 59 fps);
2. body pose only (SMPL joints 0–21; both hand joints zero), reordered to the humanoid's body order;
3. local rotations re-expressed in the humanoid's z-up body frames (SMPL's frames are y-up), so
   every global rotation equals SMPL's global rotation right-multiplied by
   ``SMPL_TO_HUMANOID_ROT`` = (x, y, z, w) (−0.5, −0.5, −0.5, 0.5);
4. forward kinematics with the humanoid's rest offsets, root at AMASS ``trans``;
5. velocities by the smallest-magnitude forward difference over horizons 1–3 frames
   (filters mocap jitter), dof velocities by one-frame local differences;
6. height fix (lowest body origin over the clip at ``height_offset``), then foot/body contacts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from motion.kinematics import forward_kinematics
from motion.rotations import (
    angular_velocity,
    quat_conjugate,
    quat_from_rotvec,
    quat_mul,
    quat_standardize,
    quat_to_rotvec,
)
from motion.skeleton import NEUTRAL_OFFSETS, NUM_BODIES, PARENTS, SMPL_INDEX_OF_BODY

#: Bumped whenever converted numbers would change; stored in every ``.motion`` file.
CONVERTER_VERSION = "2"  # 2: computed in float64 (CPU-independent bytes)

#: float64, rounded to the stored float32 at the end: the same input gives the same bytes on every
#: CPU. In float32, SIMD kernels (AVX-512, AVX2, none) round differently, so a clip converted on
#: one machine differed from the same clip converted on another in the last bits, and lineage
#: (md5 of every .motion file) could not be checked across machines. Results match the float32
#: pass, and ProtoMotions' float32 output, to rounding (below 1e-6); the conversion costs a
#: little more (benchmarks/bench_conversion.py).
COMPUTE_DTYPE = torch.float64


def _as_stored(values: torch.Tensor) -> torch.Tensor:
    """``values`` rounded to the stored float32, kept in the compute dtype."""
    return values.to(torch.float32).to(COMPUTE_DTYPE)


#: Right-multiplied onto SMPL's global rotations to give the humanoid's body rotations.
SMPL_TO_HUMANOID_ROT = (-0.5, -0.5, -0.5, 0.5)


@dataclass(frozen=True)
class ConversionParams:
    """Every knob of the conversion; recorded in each ``.motion`` and MotionLib."""

    output_fps: int = 30
    humanoid_type: str = "smpl"
    height_offset: float = 0.015  # m: lowest body origin after the height fix (0.017 for SMPL-X)
    contact_speed_threshold: float = 0.15  # m/s
    contact_height_threshold: float = 0.10  # m
    velocity_max_horizon: int = 3  # frames

    def as_dict(self) -> Dict[str, Any]:
        return asdict(self)


def _segment_layout(lengths: Sequence[int]) -> Tuple[List[int], Tensor, Tensor, Tensor]:
    """Layout of clips concatenated along frames.

    Returns the first frame of each clip (list), and per concatenated frame (N,) int64 tensors:
    its clip's index, and the indices of its clip's first and last frame.
    """
    counts = torch.tensor(list(lengths), dtype=torch.long)
    starts = torch.cumsum(counts, 0) - counts
    clip_of_frame = torch.repeat_interleave(torch.arange(len(counts)), counts)
    return starts.tolist(), clip_of_frame, starts[clip_of_frame], (starts + counts - 1)[clip_of_frame]


def min_horizon_difference(
    values: Tensor,
    first: Tensor,
    last: Tensor,
    max_horizon: int,
    dt: Tensor,
    rotations: bool = False,
) -> Tensor:
    """Per frame and body, the forward-difference velocity of smallest magnitude over horizons.

    For horizon h the velocity at frame t is (x[t+h] − x[t]) / (h·dt) (for rotations the
    axis·angle of q[t+h]·q[t]⁻¹ over h·dt); the last h frames of a clip repeat its last valid
    value. Mocap jitter inflates short-horizon differences, so the smallest one is the most
    faithful. Several clips may be concatenated along frames; no difference crosses a clip.

    Args:
        values: (N, B, 3) positions in metres, or (N, B, 4) xyzw rotations when ``rotations``.
        first, last: (N,) index of the first/last frame of each frame's clip.
        dt: (N,) frame period of each frame's clip, seconds.
    Returns:
        (N, B, 3) velocities, m/s or rad/s.
    """
    num_frames = values.shape[0]
    frame = torch.arange(num_frames)
    best = best_norm = None
    for horizon in range(1, max_horizon + 1):
        # Frames within h of their clip's end take the clip's last valid difference.
        source = torch.minimum(frame, last - horizon)
        valid = source >= first  # clip longer than h frames
        source = source.clamp_min(0)
        ahead = (source + horizon).clamp_max(num_frames - 1)
        step_dt = (horizon * dt)[:, None]
        if rotations:
            velocity = angular_velocity(values[source], values[ahead], step_dt[..., None])
        else:
            velocity = (values[ahead] - values[source]) / step_dt[..., None]
        norm = velocity.norm(dim=-1, keepdim=True)
        norm = torch.where(valid[:, None, None], norm, torch.full_like(norm, float("inf")))
        if best is None:
            best, best_norm = velocity, norm
            continue
        # Keep the first smallest (ties → shorter horizon).
        smaller = norm < best_norm
        best = torch.where(smaller, velocity, best)
        best_norm = torch.where(smaller, norm, best_norm)
    assert best is not None
    # One-frame clips have no difference at all: zero velocity.
    return torch.where(torch.isinf(best_norm), torch.zeros_like(best), best)


def convert_body_poses(
    poses: np.ndarray,
    trans: np.ndarray,
    fps: float,
    params: ConversionParams = ConversionParams(),
    offsets: Optional[Sequence[Sequence[float]]] = None,
) -> Dict[str, Any]:
    """Convert one already-downsampled pose sequence; see :func:`convert_body_pose_batch`."""
    return convert_body_pose_batch([poses], [trans], [fps], params, offsets)[0]


def convert_body_pose_batch(
    poses: Sequence[np.ndarray],
    trans: Sequence[np.ndarray],
    fps: Sequence[float],
    params: ConversionParams = ConversionParams(),
    offsets: Optional[Sequence[Sequence[float]]] = None,
) -> List[Dict[str, Any]]:
    """Convert several already-downsampled clips in one batched pass.

    Clips are concatenated along frames so every tensor operation runs once for the whole
    batch (small clips are otherwise dominated by per-operation overhead).

    Args:
        poses: per clip (T_i, 72) SMPL axis-angle, SMPL joint order (global orient first), rad.
        trans: per clip (T_i, 3) AMASS root translation (z-up world), metres.
        fps: per clip frame rate of ``poses`` (the output fps).
        offsets: (24, 3) rest offsets of a shape-specific humanoid; default the neutral shape.

    Returns:
        Per clip the ``.motion`` dict: fps, rigid_body_pos (T,24,3) m, rigid_body_rot (T,24,4)
        xyzw, rigid_body_vel (T,24,3) m/s, rigid_body_ang_vel (T,24,3) rad/s, dof_pos (T,69)
        exp-map rad, dof_vel (T,69) rad/s, rigid_body_contacts (T,24) bool,
        local_rigid_body_rot (T,24,4) — float32 tensors.
    """
    lengths = [int(p.shape[0]) for p in poses]
    num_frames = sum(lengths)
    clip_starts, clip_of_frame, first, last = _segment_layout(lengths)
    dt = (1.0 / torch.tensor([float(f) for f in fps], dtype=COMPUTE_DTYPE))[clip_of_frame]

    axis_angle = torch.from_numpy(np.concatenate([np.asarray(p, dtype=np.float64) for p in poses]))
    axis_angle = axis_angle.reshape(num_frames, 24, 3)
    smpl_local = quat_from_rotvec(axis_angle[:, list(SMPL_INDEX_OF_BODY)])

    # Humanoid-frame locals: G'_i = G_i·R for all i ⇒ L'_0 = L_0·R and L'_i = R⁻¹·L_i·R.
    fix = torch.tensor(SMPL_TO_HUMANOID_ROT, dtype=COMPUTE_DTYPE)
    local_rot = quat_mul(quat_mul(quat_conjugate(fix), smpl_local), fix)
    local_rot[:, 0] = quat_mul(smpl_local[:, 0], fix)
    local_rot = quat_standardize(local_rot)

    body_offsets = torch.tensor(NEUTRAL_OFFSETS if offsets is None else offsets, dtype=COMPUTE_DTYPE)
    root_pos = torch.from_numpy(np.concatenate([np.asarray(t, dtype=np.float64) for t in trans]))
    global_rot, global_pos = forward_kinematics(local_rot, root_pos, body_offsets, PARENTS)
    global_rot = quat_standardize(global_rot)

    # Height fix per clip, before contacts: contact heights are measured from the fixed floor.
    frame_min_z = global_pos[..., 2].amin(dim=1)
    clip_min_z = torch.full((len(lengths),), float("inf"), dtype=COMPUTE_DTYPE)
    clip_min_z = clip_min_z.scatter_reduce(0, clip_of_frame, frame_min_z, reduce="amin")
    global_pos[..., 2] += (params.height_offset - clip_min_z)[clip_of_frame][:, None]

    # Velocities are differences of the positions and rotations as they will be stored (rounded
    # to float32), so a reader recomputing them from the file gets the stored values.
    global_pos, global_rot, local_rot = (_as_stored(x) for x in (global_pos, global_rot, local_rot))
    horizon = params.velocity_max_horizon
    body_vel = min_horizon_difference(global_pos, first, last, horizon, dt)
    body_ang_vel = min_horizon_difference(global_rot, first, last, horizon, dt, rotations=True)
    joint_rot = local_rot[:, 1:]
    dof_vel = min_horizon_difference(joint_rot, first, last, 1, dt, rotations=True)

    contacts = (body_vel.norm(dim=-1) < params.contact_speed_threshold) & (
        global_pos[..., 2] < params.contact_height_threshold
    )
    num_dofs = 3 * (NUM_BODIES - 1)
    fields = {
        "rigid_body_pos": global_pos.float(),
        "rigid_body_rot": global_rot.float(),
        "rigid_body_vel": body_vel.float(),
        "rigid_body_ang_vel": body_ang_vel.float(),
        "dof_pos": quat_to_rotvec(joint_rot).reshape(num_frames, num_dofs).float(),
        "dof_vel": dof_vel.reshape(num_frames, num_dofs).float(),
        "rigid_body_contacts": contacts,
        "local_rigid_body_rot": local_rot.float(),
    }
    motions: List[Dict[str, Any]] = []
    for index, (start, count) in enumerate(zip(clip_starts, lengths)):
        motion: Dict[str, Any] = {"fps": int(round(float(fps[index])))}
        # Slices share the batch's storage; save_motion compacts them so a file holds only its clip.
        motion.update({key: value[start : start + count] for key, value in fields.items()})
        motions.append(motion)
    return motions
