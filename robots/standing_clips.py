"""Kinematic reference clips built straight from a robot model (no retargeting): e.g. a standing
G1 for oracle checks, training smoke runs and the visualizer.

The clip is a packaged MotionLib dict (what ``MotionLib(data)`` loads, see
:func:`motion.motion_lib.check_motion_lib_dict`): body states from MuJoCo forward kinematics,
``dps`` the robot's hinge angles (robots whose ``dof_format`` is ``"joint_angles"``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional

import torch

from robots.g1 import G1_STAND_POSE

if TYPE_CHECKING:  # pragma: no cover
    from robots.spec import RobotSpec


def standing_clip(
    robot: RobotSpec,
    pose: Optional[Mapping[str, float]] = None,
    seconds: float = 3.0,
    fps: float = 30.0,
    name: str = "standing",
) -> Dict[str, Any]:
    """A MotionLib dict of ``robot`` standing still in ``pose`` (hinge name → rad; default
    :data:`robots.g1.G1_STAND_POSE` for the G1, else all zeros) for ``seconds`` at ``fps``.

    The root is placed so the lowest point of the contact bodies' collision geoms touches z = 0;
    velocities are zero and the contact bodies are in contact in every frame.
    Shapes: ``gts`` (F, B, 3) m, ``grs`` (F, B, 4) xyzw, ``dps`` (F, D) rad, ``contacts`` (F, B) bool.
    """
    import mujoco
    import numpy as np

    from motion.motion_file import METADATA_KEY

    if robot.dof_format != "joint_angles":
        raise ValueError(f"standing_clip builds joint-angle clips; robot {robot.name!r} has {robot.dof_format!r}")
    if pose is None:
        pose = G1_STAND_POSE if robot.name == "g1" else {}
    unknown = sorted(set(pose) - set(robot.dof_names))
    if unknown:
        raise ValueError(f"standing_clip: robot {robot.name!r} has no joints {unknown}")
    model = mujoco.MjModel.from_xml_string(robot.mjcf_xml)
    data = mujoco.MjData(model)
    dof_pos = np.array([float(pose.get(name, 0.0)) for name in robot.dof_names])
    joint_ids = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name) for name in robot.dof_names]
    body_ids = np.array([mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, name) for name in robot.body_names])
    data.qpos[model.jnt_qposadr[joint_ids]] = dof_pos
    mujoco.mj_kinematics(model, data)
    # Lowest point of the contact bodies' colliding geoms (spheres/boxes: centre z minus extent).
    contact_ids = {int(mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, name)) for name in robot.contact_bodies}
    feet = [g for g in range(model.ngeom) if int(model.geom_bodyid[g]) in contact_ids and model.geom_contype[g]]
    if not feet:
        raise ValueError(f"standing_clip: robot {robot.name!r} has no colliding geoms on {robot.contact_bodies}")
    lowest = min(float(data.geom_xpos[g, 2]) - float(model.geom_rbound[g]) for g in feet)
    root_qpos = int(model.jnt_qposadr[model.body_jntadr[body_ids[0]]])
    data.qpos[root_qpos + 2] -= lowest
    mujoco.mj_kinematics(model, data)

    frames = int(round(seconds * fps)) + 1
    num_bodies, num_dofs = len(body_ids), len(joint_ids)
    pos = torch.from_numpy(data.xpos[body_ids].copy()).float()
    rot = torch.from_numpy(data.xquat[body_ids][:, [1, 2, 3, 0]].copy()).float()  # wxyz → xyzw
    contacts = torch.zeros(frames, num_bodies, dtype=torch.bool)
    contacts[:, [robot.body_names.index(name) for name in robot.contact_bodies]] = True
    return {
        "gts": pos.expand(frames, -1, -1).clone(),
        "grs": rot.expand(frames, -1, -1).clone(),
        "gvs": torch.zeros(frames, num_bodies, 3),
        "gavs": torch.zeros(frames, num_bodies, 3),
        "dps": torch.from_numpy(dof_pos).float().expand(frames, -1).clone(),
        "dvs": torch.zeros(frames, num_dofs),
        "contacts": contacts,
        "length_starts": torch.tensor([0], dtype=torch.long),
        "motion_num_frames": torch.tensor([frames], dtype=torch.long),
        "motion_lengths": torch.tensor([(frames - 1) / fps], dtype=torch.float32),
        "motion_dt": torch.tensor([1.0 / fps], dtype=torch.float32),
        "motion_weights": torch.ones(1),
        "motion_files": (f"{robot.name}_{name}",),
        METADATA_KEY: {"robot": robot.name, "fps": fps, "source": "standing_clip", "pose": dict(pose)},
    }
