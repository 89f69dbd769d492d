"""Quality of retargeted G1 motions: per-motion metrics, aggregate, parquet + summary.json.

Per motion (``T`` frames):

=============================  ======  =======================================================
column                         unit    meaning
=============================  ======  =======================================================
keypoint_error_mean_mm         mm      mean distance G1 keypoint ↔ scaled SMPL keypoint
keypoint_error_max_mm          mm      worst keypoint over all frames
lower_body_error_mean_mm       mm      the same over pelvis, hips, knees, ankles and toes
joint_limit_violations         count   (frame, joint) pairs outside the model's range (must be 0)
max_joint_velocity             rad/s   largest one-frame joint speed
foot_skating_mm_per_frame      mm      horizontal ankle-roll-link travel per foot contact frame
min_foot_height_mm             mm      lowest sole point over the clip (≥ 0: no penetration)
ground_penetration_mm          mm      max(0, −min_foot_height_mm)
self_collision_frames          count   frames where two robot bodies touch (``mj_collision``
                                       with the model's collision geoms; MuJoCo already skips
                                       parent-child pairs)
=============================  ======  =======================================================
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Sequence

import numpy as np

from motion.io_utils import PathLike, atomic_output, atomic_write_text
from retarget.ik import lowest_sole_point
from robots.g1_kinematics import FEET, KEYPOINT_FRAMES, LOWER_BODY_KEYPOINTS, G1Model

#: A joint this far outside its range (rad) counts as a violation (float rounding is not one).
LIMIT_TOLERANCE = 1e-6
METRIC_COLUMNS = (
    "keypoint_error_mean_mm",
    "keypoint_error_max_mm",
    "lower_body_error_mean_mm",
    "joint_limit_violations",
    "max_joint_velocity",
    "foot_skating_mm_per_frame",
    "min_foot_height_mm",
    "ground_penetration_mm",
    "self_collision_frames",
)


def motion_quality(
    g1: G1Model, qpos: np.ndarray, keypoint_targets: np.ndarray, foot_contacts: np.ndarray, fps: int
) -> Dict[str, float]:
    """Metrics of one retargeted motion (see the module table).

    Args:
        qpos: (T, 36) G1 qpos as written (after the height fix).
        keypoint_targets: (T, K, 3) scaled SMPL keypoints, m.
        foot_contacts: (T, 2) bool G1 foot contacts (left, right).
        fps: frames per second.
    """
    import mujoco

    model = g1.model
    data = mujoco.MjData(model)
    num_frames = qpos.shape[0]
    keypoints = np.zeros_like(keypoint_targets)
    feet = np.zeros((num_frames, len(FEET), 3))
    lowest = np.inf
    collision_frames = 0
    foot_bodies = [model.body(body).id for _side, body, _a, _t in FEET]
    for t in range(num_frames):
        data.qpos[:] = qpos[t]
        mujoco.mj_kinematics(model, data)
        for k, (_smpl, frame, kind) in enumerate(KEYPOINT_FRAMES):
            keypoints[t, k] = data.site(frame).xpos if kind == "site" else data.body(frame).xpos
        feet[t] = data.xpos[foot_bodies]
        lowest = min(lowest, lowest_sole_point(g1, data))
        mujoco.mj_collision(model, data)
        bodies = [(model.geom_bodyid[c.geom1], model.geom_bodyid[c.geom2]) for c in data.contact[: data.ncon]]
        collision_frames += int(any(a != 0 and b != 0 and a != b for a, b in bodies))
    error = np.linalg.norm(keypoints - keypoint_targets, axis=-1) * 1000.0
    lower = [k for k, (smpl, _f, _kind) in enumerate(KEYPOINT_FRAMES) if smpl in LOWER_BODY_KEYPOINTS]
    joints = qpos[:, 7:]
    limits = g1.joint_limits
    violations = (joints < limits[:, 0] - LIMIT_TOLERANCE) | (joints > limits[:, 1] + LIMIT_TOLERANCE)
    speed = np.abs(np.diff(joints, axis=0)) * fps if num_frames > 1 else np.zeros(1)
    # A foot skates when it moves horizontally between two frames in which it is in contact.
    held = foot_contacts[1:] & foot_contacts[:-1]
    travel = np.linalg.norm(np.diff(feet[..., :2], axis=0), axis=-1) * 1000.0
    contact_frames = int(held.sum())
    return {
        "num_frames": int(num_frames),
        "keypoint_error_mean_mm": float(error.mean()),
        "keypoint_error_max_mm": float(error.max()),
        "lower_body_error_mean_mm": float(error[:, lower].mean()),
        "joint_limit_violations": int(violations.sum()),
        "max_joint_velocity": float(speed.max()),
        "foot_skating_mm_per_frame": float(travel[held].sum() / contact_frames) if contact_frames else 0.0,
        "min_foot_height_mm": float(lowest * 1000.0),
        "ground_penetration_mm": float(max(0.0, -lowest * 1000.0)),
        "self_collision_frames": int(collision_frames),
    }


def aggregate_quality(rows: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """Across motions: frame-weighted means, worst values and totals of the per-motion metrics."""
    if not rows:
        return {"num_motions": 0, "num_frames": 0}
    frames = np.array([row["num_frames"] for row in rows], dtype=np.float64)

    def weighted(key: str) -> float:
        return float(np.dot([row[key] for row in rows], frames) / frames.sum())

    return {
        "num_motions": len(rows),
        "num_frames": int(frames.sum()),
        "keypoint_error_mean_mm": weighted("keypoint_error_mean_mm"),
        "keypoint_error_max_mm": max(row["keypoint_error_max_mm"] for row in rows),
        "lower_body_error_mean_mm": weighted("lower_body_error_mean_mm"),
        "joint_limit_violations": sum(row["joint_limit_violations"] for row in rows),
        "max_joint_velocity": max(row["max_joint_velocity"] for row in rows),
        "foot_skating_mm_per_frame": weighted("foot_skating_mm_per_frame"),
        "min_foot_height_mm": min(row["min_foot_height_mm"] for row in rows),
        "ground_penetration_mm": max(row["ground_penetration_mm"] for row in rows),
        "self_collision_frames": sum(row["self_collision_frames"] for row in rows),
    }


def write_quality_report(
    rows: List[Dict[str, Any]], out_dir: PathLike, stem: str, extra: Dict[str, Any]
) -> Dict[str, Path]:
    """Write ``<stem>.quality.parquet`` (one row per motion) and ``<stem>.quality_summary.json`` atomically.

    ``rows`` carry ``motion`` (name) and ``source`` besides the metrics; ``extra`` (failures,
    parameters) goes into the summary. Returns the two paths.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    columns = ("motion", "source", "num_frames") + METRIC_COLUMNS
    table = pa.table({name: [row.get(name) for row in rows] for name in columns})
    parquet = out / f"{stem}.quality.parquet"
    with atomic_output(parquet) as handle:
        pq.write_table(table, handle)
    summary = out / f"{stem}.quality_summary.json"
    atomic_write_text(json.dumps({"aggregate": aggregate_quality(rows), **extra}, indent=2) + "\n", summary)
    return {"parquet": parquet, "summary": summary}


@dataclass(frozen=True)
class QualityThresholds:
    """What a retargeted set must meet: no joint-limit violation and no failed motion always; the
    lowest sole point over all motions at least ``min_foot_height_mm`` (mm; a little below 0
    tolerates the IK's sub-centimetre ground contact)."""

    min_foot_height_mm: float = -5.0


def quality_problems(summary: Mapping[str, Any], thresholds: QualityThresholds = QualityThresholds()) -> List[str]:
    """The problems of a quality summary (the ``<stem>.quality_summary.json`` document); empty: it passes."""
    aggregate = summary["aggregate"]
    problems = []
    if aggregate["joint_limit_violations"] != 0:
        problems.append(f"{aggregate['joint_limit_violations']} joint-limit violations")
    if not aggregate["min_foot_height_mm"] >= thresholds.min_foot_height_mm:
        limit = thresholds.min_foot_height_mm
        problems.append(f"a foot at {aggregate['min_foot_height_mm']:.1f} mm (limit {limit} mm)")
    if summary["failures"]:
        problems.append(f"{len(summary['failures'])} motions failed to retarget")
    return problems
