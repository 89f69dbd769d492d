"""SMPL motion → G1 joint trajectory: frame-by-frame differential IK with mink.

Per frame, the scaled SMPL keypoints (positions) and the pelvis, chest and ankle rotations are
tracked by mink ``FrameTask``s, with a ``PostureTask`` pulling towards the rest pose, hard joint
limits (``ConfigurationLimit``) and joint velocity limits (``VelocityLimit``). Each frame starts
from the previous frame's solution (temporal smoothness) and runs a few QP iterations (``daqp``).
After each frame the joints are clamped into their limits and the root is raised until the lowest
sole point is at or above the ground; during reference foot contacts the foot targets are held at
their position at contact start (less foot skating). Everything is deterministic.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

from motion.skeleton import BODY_NAMES
from robots.g1_kinematics import FEET, KEYPOINT_FRAMES, LOWER_BODY_KEYPOINTS, ORIENTATION_FRAMES, G1Model


@dataclass(frozen=True)
class RetargetParams:
    """Every knob of the retargeting; recorded in each output motion's metadata."""

    lower_body_scale: Tuple[float, float, float] = (0.9, 0.9, 0.85)  # root and legs, per axis (x, y, z)
    upper_body_scale: Tuple[float, float, float] = (0.9, 0.9, 0.8)  # trunk and arms, relative to the root
    iterations_per_frame: int = 3
    first_frame_iterations: int = 300  # at most, from the rest pose to the first frame (no velocity limit) ...
    first_frame_tolerance: float = 1e-5  # rad: ... until no hinge moves more than this in one iteration
    max_joint_velocity: float = 20.0  # rad/s, every hinge
    position_cost: float = 1.0
    orientation_cost: float = 0.5  # pelvis, torso and feet rotation targets
    posture_cost: float = 0.02  # rest-pose regularisation of every hinge ...
    stiff_posture_cost: float = 1.0  # ... except these, held near rest
    stiff_posture_joints: Tuple[str, ...] = ("waist_roll_joint", "left_wrist_pitch_joint", "right_wrist_pitch_joint")
    # Levenberg-Marquardt damping of the IK QP. Out-of-reach wrist targets put the arms near a singular
    # pose; with 1e-3 the Gauss-Newton step there overshoots and alternates sign every iteration (a
    # two-frame jitter at the velocity limit even for a still source), 0.03 keeps the steps bounded.
    damping: float = 0.03
    contact_hold: float = 1.0  # 0..1: how far a foot target is pulled to its contact-start position
    max_frames: int = 0  # retarget only the first N frames (0: all); for tests and quick looks
    solver: str = "daqp"
    avoid_self_collision: bool = True  # keep arms out of the trunk and the legs apart (mink collision limit)
    collision_margin: float = 0.005  # m, minimum distance kept between those geoms

    def as_dict(self) -> Dict[str, Any]:
        out = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


@dataclass
class RetargetResult:
    """One retargeted motion (``T`` frames)."""

    qpos: np.ndarray  # (T, 36) G1 qpos: root xyz (m), root wxyz, 29 hinge angles (rad)
    keypoint_targets: np.ndarray  # (T, K, 3) scaled SMPL keypoints (before contact holding), m
    foot_contacts: np.ndarray  # (T, 2, 2) bool reference contacts: (left, right) × (ankle, toe)
    fps: int


def scale_keypoints(body_pos: np.ndarray, params: RetargetParams) -> np.ndarray:
    """Scale SMPL keypoints to the G1's size.

    Args:
        body_pos: (T, 24, 3) SMPL humanoid body positions (metres, z up).
    Returns:
        (T, K, 3) targets in :data:`KEYPOINT_FRAMES` order: the root scaled per axis by the
        lower-body factors, every other keypoint's offset from the root by its group's factors.
    """
    root_index = BODY_NAMES.index("Pelvis")
    root = body_pos[:, root_index]
    lower = np.asarray(params.lower_body_scale, dtype=np.float64)
    upper = np.asarray(params.upper_body_scale, dtype=np.float64)
    scaled_root = root * lower
    targets = []
    for smpl_name, _frame, _kind in KEYPOINT_FRAMES:
        scale = lower if smpl_name in LOWER_BODY_KEYPOINTS else upper
        targets.append(scaled_root + (body_pos[:, BODY_NAMES.index(smpl_name)] - root) * scale)
    return np.stack(targets, axis=1)


def hold_contacts(targets: np.ndarray, foot_contacts: np.ndarray, hold: float) -> np.ndarray:
    """Pull foot targets towards their position at contact start while the reference foot is down.

    Args:
        targets: (T, K, 3) keypoint targets (m); not modified.
        foot_contacts: (T, 2, 2) bool: (left, right) × (ankle, toe) reference contacts.
        hold: 0 (targets unchanged) .. 1 (horizontal position frozen during the contact).
    Returns:
        (T, K, 3) targets; heights are never changed.
    """
    out = targets.copy()
    names = [smpl for smpl, _frame, _kind in KEYPOINT_FRAMES]
    for side_index, (_side, _body, ankle, toe) in enumerate(FEET):
        for part_index, smpl_name in enumerate((ankle, toe)):
            k = names.index(smpl_name)
            anchor = None
            for t in range(targets.shape[0]):
                if not foot_contacts[t, side_index, part_index]:
                    anchor = None
                    continue
                if anchor is None:
                    anchor = targets[t, k, :2].copy()
                out[t, k, :2] = (1.0 - hold) * targets[t, k, :2] + hold * anchor
    return out


def reference_foot_contacts(contacts: np.ndarray) -> np.ndarray:
    """(T, 24) SMPL body contacts → (T, 2, 2) bool (left, right) × (ankle, toe)."""
    return np.stack(
        [
            np.stack([contacts[:, BODY_NAMES.index(a)], contacts[:, BODY_NAMES.index(t)]], axis=-1)
            for _s, _b, a, t in FEET
        ],
        axis=1,
    ).astype(bool)


def lowest_sole_point(g1: G1Model, data: Any) -> float:
    """Lowest point (m, world z) of the sole collision spheres of both feet in ``data``."""
    geoms = [g for side in g1.foot_geoms.values() for g in side]
    return float(np.min(data.geom_xpos[geoms, 2] - g1.model.geom_size[geoms, 0]))


def self_collision_pairs(g1: G1Model) -> List[Tuple[List[int], List[int]]]:
    """Geom groups kept apart: each arm (below the shoulder roll) vs the trunk, and left vs right shank."""
    model = g1.model

    def geoms(bodies: Sequence[str]) -> List[int]:
        ids = {model.body(name).id for name in bodies}
        return [
            g
            for g in range(model.ngeom)
            if model.geom_bodyid[g] in ids and (model.geom_contype[g] or model.geom_conaffinity[g])
        ]

    trunk = geoms(("pelvis", "torso_link"))
    pairs = []
    for side in ("left", "right"):
        arm = geoms(
            [f"{side}_{part}_link" for part in ("shoulder_yaw", "elbow", "wrist_roll", "wrist_pitch", "wrist_yaw")]
        )
        pairs.append((arm, trunk))
    shank = [
        geoms([f"{side}_{part}_link" for part in ("knee", "ankle_pitch", "ankle_roll")]) for side in ("left", "right")
    ]
    pairs.append((shank[0], shank[1]))
    return pairs


class G1Retargeter:
    """Holds the mink tasks and limits for one G1 model; :meth:`retarget` solves one motion."""

    def __init__(self, g1: G1Model, params: RetargetParams = RetargetParams()) -> None:
        import mink

        self.g1, self.params = g1, params
        model = g1.model
        self.configuration = mink.Configuration(model)
        self.keypoint_tasks = []
        oriented = {body for _smpl, body in ORIENTATION_FRAMES}
        for _smpl, frame, kind in KEYPOINT_FRAMES:
            ori = params.orientation_cost if frame in oriented else 0.0
            self.keypoint_tasks.append(
                mink.FrameTask(frame, kind, position_cost=params.position_cost, orientation_cost=ori)
            )
        # Orientation-only targets for frames that are not keypoints (the torso).
        keypoint_frames = {frame for _smpl, frame, _kind in KEYPOINT_FRAMES}
        self.orientation_tasks = [
            (
                BODY_NAMES.index(smpl),
                mink.FrameTask(body, "body", position_cost=0.0, orientation_cost=params.orientation_cost),
            )
            for smpl, body in ORIENTATION_FRAMES
            if body not in keypoint_frames
        ]
        smpl_of_oriented = {body: smpl for smpl, body in ORIENTATION_FRAMES}
        # Per keypoint task: the SMPL body whose rotation it also tracks (-1: position only).
        self.keypoint_orientation = [
            BODY_NAMES.index(smpl_of_oriented[frame]) if frame in smpl_of_oriented else -1
            for _smpl, frame, _kind in KEYPOINT_FRAMES
        ]
        cost = np.zeros(model.nv)
        for name in g1.joint_names:
            stiff = name in params.stiff_posture_joints
            cost[model.jnt_dofadr[model.joint(name).id]] = params.stiff_posture_cost if stiff else params.posture_cost
        self.posture_task = mink.PostureTask(model, cost=cost)
        self.posture_task.set_target(model.qpos0)
        self.tasks = [*self.keypoint_tasks, *(task for _i, task in self.orientation_tasks), self.posture_task]
        self.configuration_limit = mink.ConfigurationLimit(model)
        self.velocity_limit = mink.VelocityLimit(model, {name: params.max_joint_velocity for name in g1.joint_names})
        self.frame_limits = [self.configuration_limit, self.velocity_limit]
        if params.avoid_self_collision:
            self.frame_limits.append(
                mink.CollisionAvoidanceLimit(
                    model,
                    self_collision_pairs(g1),
                    minimum_distance_from_collisions=params.collision_margin,
                    collision_detection_distance=params.collision_margin + 0.02,
                )
            )
        self._hinge_qpos = np.array([model.jnt_qposadr[model.joint(n).id] for n in g1.joint_names])

    def retarget(self, body_pos: np.ndarray, body_rot: np.ndarray, contacts: np.ndarray, fps: int) -> RetargetResult:
        """Solve one motion.

        Args:
            body_pos: (T, 24, 3) SMPL humanoid body positions, m.
            body_rot: (T, 24, 4) SMPL humanoid body rotations, xyzw.
            contacts: (T, 24) bool SMPL body-ground contacts.
            fps: frame rate (the velocity limit's time step is 1 / fps).
        """
        import mink

        params = self.params
        if params.max_frames > 0:
            body_pos, body_rot, contacts = (x[: params.max_frames] for x in (body_pos, body_rot, contacts))
        body_pos = np.asarray(body_pos, dtype=np.float64)
        quat_wxyz = np.asarray(body_rot, dtype=np.float64)[..., [3, 0, 1, 2]]
        targets = scale_keypoints(body_pos, params)
        foot_contacts = reference_foot_contacts(np.asarray(contacts))
        held = hold_contacts(targets, foot_contacts, params.contact_hold)

        model = self.g1.model
        q = model.qpos0.copy()
        q[:3] = targets[0, 0]
        q[3:7] = quat_wxyz[0, BODY_NAMES.index("Pelvis")]
        self.configuration.update(q)
        num_frames = targets.shape[0]
        qpos = np.zeros((num_frames, model.nq))
        dt = 1.0 / float(fps)
        lower, upper = self.g1.joint_limits[:, 0], self.g1.joint_limits[:, 1]
        for t in range(num_frames):
            for k, task in enumerate(self.keypoint_tasks):
                smpl_rot = self.keypoint_orientation[k]
                rotation = mink.SO3(quat_wxyz[t, smpl_rot]) if smpl_rot >= 0 else mink.SO3.identity()
                task.set_target(mink.SE3.from_rotation_and_translation(rotation, held[t, k]))
            for smpl_index, task in self.orientation_tasks:
                task.set_target(mink.SE3.from_rotation_and_translation(mink.SO3(quat_wxyz[t, smpl_index]), np.zeros(3)))
            first = t == 0
            iterations = params.first_frame_iterations if first else params.iterations_per_frame
            # The velocity limit bounds each iteration's step; splitting the frame's dt over the
            # iterations bounds the whole frame's change by max_joint_velocity · dt.
            step = dt if first else dt / iterations
            limits = (
                [lim for lim in self.frame_limits if lim is not self.velocity_limit] if first else self.frame_limits
            )
            for _ in range(iterations):
                velocity = mink.solve_ik(
                    self.configuration, self.tasks, step, params.solver, damping=params.damping, limits=limits
                )
                self.configuration.integrate_inplace(velocity, step)
                # The first frame is solved to convergence, so that tracking starts from a solved pose
                # instead of spending its velocity budget on the remainder (a start transient).
                if first and float(np.max(np.abs(velocity[6:]))) * step < params.first_frame_tolerance:
                    break
            q = self.configuration.q.copy()
            q[self._hinge_qpos] = np.clip(q[self._hinge_qpos], lower, upper)
            self.configuration.update(q)
            lowest = lowest_sole_point(self.g1, self.configuration.data)
            if lowest < 0.0:
                q[2] -= lowest
                self.configuration.update(q)
            qpos[t] = q
        return RetargetResult(qpos=qpos, keypoint_targets=targets, foot_contacts=foot_contacts, fps=int(fps))
