"""Retargeted G1 qpos → G1 ``.motion`` dicts (MuJoCo FK states) and a packaged G1 MotionLib.

The per-frame keys are those of ``motion.motion_file`` with the G1's sizes: ``B`` = 30 bodies (the
MuJoCo body order minus the world body) and ``D`` = 29 hinge angles (not exp-maps). Velocities
follow ``motion.conversion``: bodies by the smallest-magnitude forward difference over 1–3
frames, dofs by one-frame differences.

``motion.motion_file.save_motion`` and ``motion.motion_lib_packaging`` check the SMPL humanoid's
24 bodies / 69 dofs, so G1 files are validated here with the shape-agnostic value checks of
``motion.motion_file`` plus the G1 shapes, and packaged with the same keys and per-motion tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple, Union

import numpy as np
import torch

from motion.conversion import min_horizon_difference
from motion.errors import MotionDataError
from motion.io_utils import atomic_torch_save
from motion.motion_file import METADATA_KEY, MOTION_FIELDS, check_motion_values
from motion.motion_lib_packaging import LIB_FIELDS
from motion.rotations import quat_conjugate, quat_mul, quat_standardize
from retarget.g1_model import FEET, G1Model
from retarget.ik import RetargetResult, lowest_sole_point

PathLike = Union[str, Path]

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


def check_g1_motion(motion: Dict[str, Any], g1: G1Model, path: PathLike) -> int:
    """Check a G1 motion's keys, shapes, dtypes and values; return ``T``."""
    num_frames = int(motion["rigid_body_pos"].shape[0]) if "rigid_body_pos" in motion else 0
    for key, (smpl_shape, dtype) in MOTION_FIELDS.items():
        if key not in motion:
            raise MotionDataError(path, key, "present", "missing")
        shape = (num_frames, g1.num_dofs) if len(smpl_shape) == 1 and key.startswith("dof") else None
        if shape is None:
            shape = (num_frames, g1.num_bodies) + tuple(smpl_shape[1:])
        value = motion[key]
        if tuple(value.shape) != shape or value.dtype != dtype or num_frames < 1:
            raise MotionDataError(path, key, f"{dtype} of shape {shape}", f"{value.dtype} {tuple(value.shape)}")
    check_motion_values(motion, path)
    return num_frames


def save_g1_motion(motion: Dict[str, Any], g1: G1Model, path: PathLike) -> None:
    """Validate (:func:`check_g1_motion`) and write one G1 ``.motion`` atomically."""
    check_g1_motion(motion, g1, path)
    atomic_torch_save({k: (v.contiguous() if isinstance(v, torch.Tensor) else v) for k, v in motion.items()}, path)


def package_g1_motions(motions: Sequence[Tuple[Path, Dict[str, Any]]], output_file: PathLike) -> Dict[str, Any]:
    """Package (path, G1 motion) pairs into a MotionLib ``.pt`` at ``output_file`` (atomic); return the dict."""
    from motion.motion_lib import check_motion_lib_dict

    if not motions:
        raise MotionDataError(output_file, "motions", "at least one retargeted motion", "none")
    out: Dict[str, Any] = {lib: torch.cat([m[key] for _p, m in motions]) for lib, key in LIB_FIELDS.items()}
    num_frames = torch.tensor([int(m["rigid_body_pos"].shape[0]) for _p, m in motions], dtype=torch.int64)
    fps = [int(m["fps"]) for _p, m in motions]
    out.update(
        {
            "length_starts": torch.cumsum(num_frames, 0) - num_frames,
            "motion_num_frames": num_frames,
            "motion_lengths": torch.tensor(
                [(n - 1) / f for n, f in zip(num_frames.tolist(), fps)], dtype=torch.float64
            ).float(),
            "motion_dt": torch.tensor([1.0 / f for f in fps], dtype=torch.float64).float(),
            "motion_weights": torch.ones(len(motions), dtype=torch.float32),
            "motion_files": tuple(str(p) for p, _m in motions),
            METADATA_KEY: _lib_metadata(motions, fps),
        }
    )
    check_motion_lib_dict(out, output_file)
    atomic_torch_save(out, output_file)
    return out


def _lib_metadata(motions: Sequence[Tuple[Path, Dict[str, Any]]], fps: List[int]) -> Dict[str, Any]:
    first = motions[0][1].get(METADATA_KEY, {})
    return {
        "robot": "g1",
        "created_by": "mimicflow retarget.output",
        "fps": fps,
        "body_names": first.get("body_names"),
        "joint_names": first.get("joint_names"),
        "retarget": first.get("retarget"),
        "source_path": [m.get(METADATA_KEY, {}).get("source_path") for _p, m in motions],
    }
