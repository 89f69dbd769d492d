"""Retargeted G1 qpos → G1 ``.motion`` dicts (MuJoCo FK states).

The per-frame keys are those of ``motion.motion_file`` with the G1's sizes: ``B`` = 30 bodies (the
MuJoCo body order minus the world body) and ``D`` = 29 hinge angles (not exp-maps). Velocities
follow ``motion.conversion``: bodies by the smallest-magnitude forward difference over 1–3
frames, dofs by one-frame differences. They are written with ``motion.motion_file.save_motion``
(``expected=`` :func:`g1_sizes`) and packaged with ``motion.motion_lib_packaging``.
"""

from __future__ import annotations

from typing import Any, Dict

import numpy as np
import torch

from motion.conversion import min_horizon_difference
from motion.motion_file import METADATA_KEY, MotionSizes
from motion.rotations import quat_conjugate, quat_mul, quat_standardize
from retarget.ik import RetargetResult, lowest_sole_point
from robots.g1_kinematics import FEET, G1Model

#: Reference foot contacts are smoothed over this many frames before thresholding.
CONTACT_SMOOTHING_FRAMES = 5
#: Body velocities: smallest forward difference over 1..this many frames (as motion.conversion).
VELOCITY_MAX_HORIZON = 3


def fix_height(g1: G1Model, qpos: np.ndarray) -> np.ndarray:
    """Shift the root so the lowest sole point over the whole clip is at z = 0 (a copy)."""
    import mujoco

    data = mujoco.MjData(g1.model)
    lowest = np.inf
    for frame in qpos:
        data.qpos[:] = frame
        mujoco.mj_kinematics(g1.model, data)
        lowest = min(lowest, lowest_sole_point(g1, data))
    out = qpos.copy()
    out[:, 2] -= lowest
    return out


def smoothed_foot_contacts(foot_contacts: np.ndarray) -> np.ndarray:
    """(T, 2, 2) bool (side × ankle/toe) → (T, 2) bool: mean over ankle and toe, 5-frame mean, > 0.5."""
    mean = foot_contacts.astype(np.float64).mean(axis=2)
    half = CONTACT_SMOOTHING_FRAMES // 2
    padded = np.pad(mean, ((half, half), (0, 0)), mode="edge")
    kernel = np.ones(CONTACT_SMOOTHING_FRAMES) / CONTACT_SMOOTHING_FRAMES
    smooth = np.stack([np.convolve(padded[:, s], kernel, mode="valid") for s in range(mean.shape[1])], axis=1)
    return smooth > 0.5


def g1_motion(g1: G1Model, qpos: np.ndarray, result: RetargetResult, metadata: Dict[str, Any]) -> Dict[str, Any]:
    """The G1 ``.motion`` dict of one retargeted clip: ``qpos`` (T, 36) is ``result.qpos`` after :func:`fix_height`.

    Returns fps and float32 tensors: rigid_body_pos (T, B, 3) m, rigid_body_rot (T, B, 4) xyzw,
    rigid_body_vel (T, B, 3) m/s, rigid_body_ang_vel (T, B, 3) rad/s, dof_pos (T, 29) rad,
    dof_vel (T, 29) rad/s, rigid_body_contacts (T, B) bool (ankle-roll links only),
    local_rigid_body_rot (T, B, 4) xyzw (root: its global rotation); plus ``metadata``.
    """
    import mujoco

    model = g1.model
    num_frames = qpos.shape[0]
    data = mujoco.MjData(model)
    pos = np.zeros((num_frames, g1.num_bodies, 3))
    rot = np.zeros((num_frames, g1.num_bodies, 4))
    for t in range(num_frames):
        data.qpos[:] = qpos[t]
        mujoco.mj_kinematics(model, data)
        pos[t] = data.xpos[1:]
        rot[t] = data.xquat[1:, [1, 2, 3, 0]]  # wxyz → xyzw
    body_pos = torch.from_numpy(pos).float()
    body_rot = quat_standardize(torch.from_numpy(rot).float())
    dof_pos = torch.from_numpy(qpos[:, 7:]).float()

    first = torch.zeros(num_frames, dtype=torch.long)
    last = torch.full((num_frames,), num_frames - 1, dtype=torch.long)
    dt = torch.full((num_frames,), 1.0 / result.fps)
    body_vel = min_horizon_difference(body_pos, first, last, VELOCITY_MAX_HORIZON, dt)
    body_ang_vel = min_horizon_difference(body_rot, first, last, VELOCITY_MAX_HORIZON, dt, rotations=True)
    dof_vel = min_horizon_difference(dof_pos[..., None], first, last, 1, dt)[..., 0]

    parents = torch.tensor([max(p, 0) for p in g1.parents])
    local_rot = quat_standardize(quat_mul(quat_conjugate(body_rot[:, parents]), body_rot))
    local_rot[:, 0] = body_rot[:, 0]

    contacts = torch.zeros((num_frames, g1.num_bodies), dtype=torch.bool)
    feet = torch.from_numpy(smoothed_foot_contacts(result.foot_contacts))
    for side_index, (_side, body, _ankle, _toe) in enumerate(FEET):
        contacts[:, g1.body_names.index(body)] = feet[:, side_index]
    return {
        "fps": int(result.fps),
        "rigid_body_pos": body_pos,
        "rigid_body_rot": body_rot,
        "rigid_body_vel": body_vel.float(),
        "rigid_body_ang_vel": body_ang_vel.float(),
        "dof_pos": dof_pos,
        "dof_vel": dof_vel.float(),
        "rigid_body_contacts": contacts,
        "local_rigid_body_rot": local_rot.float(),
        METADATA_KEY: metadata,
    }


def g1_sizes(g1: G1Model) -> MotionSizes:
    """The G1's body and dof counts, as its ``.motion`` files and MotionLib must have them."""
    return MotionSizes(g1.num_bodies, g1.num_dofs)
