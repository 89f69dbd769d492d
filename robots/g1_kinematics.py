"""The Unitree G1 (29 DoF) as keypoint IK sees it: compiled model, keypoint frames, body order, joints.

The model file is the one :func:`robots.g1.resolve_g1_xml` finds (the simulator's too).
Keypoint sites (toe points) are added to the loaded model with ``MjSpec``, so the file on disk
stays untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from motion.errors import MotionDataError
from motion.io_utils import PathLike
from robots.g1 import G1_NUM_DOFS, resolve_g1_xml

#: Toe point in the ankle-roll link frame (m): midway between the two front contact spheres of
#: the sole (x = 0.12, y = ±0.03, z = −0.03 in the 29-DoF model).
TOE_POINT_IN_ANKLE_ROLL = (0.12, 0.0, -0.03)

#: SMPL humanoid body → G1 frame tracked for its position: (frame name, frame type).
#: Toe frames are sites added at load time (:data:`TOE_POINT_IN_ANKLE_ROLL`).
KEYPOINT_FRAMES: Tuple[Tuple[str, str, str], ...] = (
    ("Pelvis", "pelvis", "body"),
    ("L_Hip", "left_hip_pitch_link", "body"),
    ("L_Knee", "left_knee_link", "body"),
    ("L_Ankle", "left_ankle_roll_link", "body"),
    ("L_Toe", "left_toe", "site"),
    ("R_Hip", "right_hip_pitch_link", "body"),
    ("R_Knee", "right_knee_link", "body"),
    ("R_Ankle", "right_ankle_roll_link", "body"),
    ("R_Toe", "right_toe", "site"),
    ("L_Shoulder", "left_shoulder_pitch_link", "body"),
    ("L_Elbow", "left_elbow_link", "body"),
    ("L_Wrist", "left_wrist_yaw_link", "body"),
    ("R_Shoulder", "right_shoulder_pitch_link", "body"),
    ("R_Elbow", "right_elbow_link", "body"),
    ("R_Wrist", "right_wrist_yaw_link", "body"),
)
#: SMPL humanoid body whose global rotation is the orientation target of a G1 body.
ORIENTATION_FRAMES: Tuple[Tuple[str, str], ...] = (
    ("Pelvis", "pelvis"),
    ("Chest", "torso_link"),
    ("L_Ankle", "left_ankle_roll_link"),
    ("R_Ankle", "right_ankle_roll_link"),
)
#: SMPL bodies scaled with the lower-body factors (the rest, and the root, use their own).
LOWER_BODY_KEYPOINTS: Tuple[str, ...] = (
    "Pelvis",
    "L_Hip",
    "L_Knee",
    "L_Ankle",
    "L_Toe",
    "R_Hip",
    "R_Knee",
    "R_Ankle",
    "R_Toe",
)
#: Feet: (side, ankle-roll body, SMPL ankle body, SMPL toe body).
FEET: Tuple[Tuple[str, str, str, str], ...] = (
    ("left", "left_ankle_roll_link", "L_Ankle", "L_Toe"),
    ("right", "right_ankle_roll_link", "R_Ankle", "R_Toe"),
)


@dataclass
class G1Model:
    """The compiled G1 model (with toe sites) and the names and indices retargeting needs."""

    xml_path: Path
    model: Any  # mujoco.MjModel
    body_names: Tuple[str, ...]  # output body order: MuJoCo body order minus the world body
    joint_names: Tuple[str, ...]  # the 29 hinges, qpos order
    joint_limits: Any  # (29, 2) float64 numpy array, rad
    parents: Tuple[int, ...]  # parent of each output body, in output indices (-1 for the pelvis)
    foot_geoms: Dict[str, Tuple[int, ...]]  # side → collision sphere geom ids of that sole

    @property
    def num_bodies(self) -> int:
        return len(self.body_names)

    @property
    def num_dofs(self) -> int:
        return len(self.joint_names)


def load_g1_model(robot_xml: Optional[PathLike] = None) -> G1Model:
    """Compile the G1 MJCF (resolved by :func:`resolve_g1_xml`) with toe keypoint sites added."""
    import mujoco

    path = resolve_g1_xml(robot_xml)
    try:
        spec = mujoco.MjSpec.from_file(str(path))
        for side in ("left", "right"):
            body = spec.body(f"{side}_ankle_roll_link")
            if body is None:
                raise ValueError(f"no body {side}_ankle_roll_link")
            body.add_site(name=f"{side}_toe", pos=list(TOE_POINT_IN_ANKLE_ROLL))
        model = spec.compile()
    except Exception as error:  # mujoco raises ValueError for parse and compile errors
        raise MotionDataError(path, "<file>", "a loadable G1 MJCF", f"{type(error).__name__}: {error}"[:300]) from None
    joints = [j for j in range(model.njnt) if model.jnt_type[j] == mujoco.mjtJoint.mjJNT_HINGE]
    if model.jnt_type[0] != mujoco.mjtJoint.mjJNT_FREE or len(joints) != G1_NUM_DOFS:
        found = f"{len(joints)} hinges, first joint type {int(model.jnt_type[0])}"
        raise MotionDataError(path, "joints", f"a free root joint and {G1_NUM_DOFS} hinges", found)
    for _smpl, frame, kind in KEYPOINT_FRAMES:
        obj = mujoco.mjtObj.mjOBJ_SITE if kind == "site" else mujoco.mjtObj.mjOBJ_BODY
        if mujoco.mj_name2id(model, obj, frame) < 0:
            raise MotionDataError(path, "bodies", f"a {kind} named {frame}", "missing")
    body_names = tuple(model.body(b).name for b in range(1, model.nbody))
    foot_geoms = {}
    for side, body, _ankle, _toe in FEET:
        body_id = model.body(body).id
        spheres = tuple(
            g
            for g in range(model.ngeom)
            if model.geom_bodyid[g] == body_id
            and model.geom_type[g] == mujoco.mjtGeom.mjGEOM_SPHERE
            and (model.geom_contype[g] or model.geom_conaffinity[g])
        )
        if not spheres:
            raise MotionDataError(path, body, "collision spheres on the sole", "none")
        foot_geoms[side] = spheres
    return G1Model(
        xml_path=path,
        model=model,
        body_names=body_names,
        joint_names=tuple(model.joint(j).name for j in joints),
        joint_limits=model.jnt_range[joints].copy(),
        parents=tuple(int(model.body_parentid[b]) - 1 for b in range(1, model.nbody)),
        foot_geoms=foot_geoms,
    )
