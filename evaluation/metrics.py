"""Per-motion tracking metrics and their summary over an evaluation set.

One evaluated motion gives one row (see ``ROW_COLUMNS``); ``motion_metrics`` computes its float
columns from the simulated and reference body states, ``summarize_motions`` averages rows into
the ``summary.json`` structure. The definitions follow the motion-imitation literature (PHC,
ProtoMotions) and the human-pose-estimation conventions it borrows:

* global MPJPE (``e_g_mpjpe``): mean Euclidean distance between simulated and reference body
  positions in world coordinates; ``gt_err`` is the same number in metres.
* MPJPE (``e_mpjpe``): the same distance after both skeletons are expressed relative to their own
  root (pelvis) position in each frame, so drift of the whole body does not count.
* PA-MPJPE (``e_pa_mpjpe``): the distance after the simulated pose is optimally rotated,
  translated and uniformly scaled onto the reference pose, frame by frame (Procrustes analysis);
  only the shape of the pose counts.
* acceleration error (``e_acc``): mean distance between the second finite differences of the
  simulated and reference positions, in mm per frame² (no division by the frame time, as in the
  human-mesh-recovery papers that introduced it); velocity error (``e_vel``) likewise with first
  differences, in mm per frame.
* rotation error (``gr_err``): mean geodesic angle between simulated and reference body rotations.

These summaries weight every motion equally; PHC's own numbers (frame-weighted, over the first
``n - 1`` frames of each motion) are added beside them as ``summary["phc"]`` by
:mod:`evaluation.phc_metrics`.

All arithmetic is done in float64 so that sub-millimetre errors survive the averaging.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Sequence

import torch
from torch import Tensor

from evaluation.phc_metrics import rows_have_phc_sums, summarize_phc
from evaluation.pose_alignment import procrustes_align
from evaluation.smoothness import high_jerk_window_fraction, windowed_normalized_jerk
from motion.rotations import quat_angle, quat_conjugate, quat_mul, quat_normalize

SUCCESS_THRESHOLD = 0.5  # m: a frame fails when the mean body position error exceeds this
SKIP_FRAMES = 2  # the first frames never fail (the simulation starts from the reference state)

#: Float columns of a per-motion row, in contract order.
METRIC_NAMES = (
    "gt_err",
    "e_g_mpjpe",
    "e_mpjpe",
    "e_pa_mpjpe",
    "e_acc",
    "e_vel",
    "gr_err",
    "max_joint_error",
    "normalized_jerk",
    "high_jerk_pct",
)
#: Unit of every metric ("" for the dimensionless normalised jerk), for tables and axis labels.
METRIC_UNITS = {
    "gt_err": "m",
    "e_g_mpjpe": "mm",
    "e_mpjpe": "mm",
    "e_pa_mpjpe": "mm",
    "e_acc": "mm/frame²",
    "e_vel": "mm/frame",
    "gr_err": "rad",
    "max_joint_error": "m",
    "normalized_jerk": "",
    "high_jerk_pct": "%",
}
#: All columns of per_motion.parquet, in order.
ROW_COLUMNS = ("motion_id", "file", "subset", "frames", "success", "failure_frame") + METRIC_NAMES

_MM_PER_M = 1000.0


def body_position_error(sim_pos: Tensor, ref_pos: Tensor) -> Tensor:
    """Euclidean distance between simulated and reference body positions.

    Args:
        sim_pos, ref_pos: (T, B, 3) positions in metres.
    Returns:
        (T, B) float64 distances in metres.
    """
    return (sim_pos.double() - ref_pos.double()).norm(dim=-1)


def rotation_angle_error(sim_rot: Tensor, ref_rot: Tensor) -> Tensor:
    """Geodesic angle of the rotation that takes each simulated body rotation to the reference one.

    Args:
        sim_rot, ref_rot: (T, B, 4) quaternions, xyzw (normalised here, so slightly off-unit
            inputs are fine).
    Returns:
        (T, B) float64 angles in radians, in [0, π]. ``q`` and ``−q`` give the same angle; the
        angle comes from ``atan2`` of the relative quaternion's vector and scalar parts, which
        stays accurate near 0 and π where ``acos`` of a dot product loses precision.
    """
    relative = quat_mul(quat_conjugate(quat_normalize(sim_rot.double())), quat_normalize(ref_rot.double()))
    return quat_angle(relative)


def failure_frame(mean_body_error: Tensor, threshold: float = SUCCESS_THRESHOLD, skip_frames: int = SKIP_FRAMES) -> int:
    """First frame ``t >= skip_frames`` whose error strictly exceeds ``threshold``, or -1 when none.

    Args:
        mean_body_error: (T,) per-frame mean over bodies of the body position error, metres.
    """
    exceeded = mean_body_error[skip_frames:] > threshold
    hits = torch.nonzero(exceeded).flatten()
    if hits.numel() == 0:
        return -1
    return int(hits[0]) + skip_frames


def motion_metrics(sim_pos: Tensor, ref_pos: Tensor, sim_rot: Tensor, ref_rot: Tensor, dt: float) -> Dict[str, Any]:
    """All per-motion metrics of one simulated motion against its reference.

    Args:
        sim_pos, ref_pos: (T, B, 3) body positions in metres; body 0 is the root (pelvis).
        sim_rot, ref_rot: (T, B, 4) body rotations, xyzw quaternions.
        dt: s between frames (used only by the jerk metrics; ``e_acc``/``e_vel`` are per frame).
    Returns:
        Every ``METRIC_NAMES`` key as a float (units in ``METRIC_UNITS``), plus ``success`` (bool)
        and ``failure_frame`` (int, -1 when none). Metrics undefined for a short motion are
        ``nan``: ``e_vel`` needs T >= 2, ``e_acc`` T >= 3, and ``normalized_jerk`` and
        ``high_jerk_pct`` at least one 0.4 s window of frames.
    Raises:
        ValueError: shapes that do not match (T, B, 3)/(T, B, 4) with T, B >= 1, or dt <= 0.
    """
    _check_shapes(sim_pos, ref_pos, sim_rot, ref_rot)
    if not dt > 0:
        raise ValueError(f"motion_metrics: dt must be > 0 seconds, found {dt}")
    sim = sim_pos.double()
    ref = ref_pos.double()
    num_frames = sim.shape[0]

    position_error = body_position_error(sim, ref)  # (T, B) m
    root_relative_error = body_position_error(sim - sim[:, :1], ref - ref[:, :1])
    aligned_error = body_position_error(procrustes_align(sim, ref), ref)
    gt_err = float(position_error.mean())

    e_vel = e_acc = math.nan
    if num_frames >= 2:
        velocity_diff = (sim[1:] - sim[:-1]) - (ref[1:] - ref[:-1])  # (T-1, B, 3) m/frame
        e_vel = float(velocity_diff.norm(dim=-1).mean()) * _MM_PER_M
    if num_frames >= 3:
        accel_diff = (sim[:-2] - 2.0 * sim[1:-1] + sim[2:]) - (ref[:-2] - 2.0 * ref[1:-1] + ref[2:])
        e_acc = float(accel_diff.norm(dim=-1).mean()) * _MM_PER_M

    jerk_windows = windowed_normalized_jerk(sim, dt)  # (W, B)
    if jerk_windows.shape[0] > 0:
        normalized_jerk = float(jerk_windows.mean())
        high_jerk_pct = 100.0 * high_jerk_window_fraction(jerk_windows)
    else:
        # No window: a jitter percentage of zero windows is undefined, not 0 % (nan-aware means skip it).
        normalized_jerk = high_jerk_pct = math.nan

    first_failure = failure_frame(position_error.mean(dim=1))
    return {
        "success": first_failure == -1,
        "failure_frame": first_failure,
        "gt_err": gt_err,
        "e_g_mpjpe": gt_err * _MM_PER_M,
        "e_mpjpe": float(root_relative_error.mean()) * _MM_PER_M,
        "e_pa_mpjpe": float(aligned_error.mean()) * _MM_PER_M,
        "e_acc": e_acc,
        "e_vel": e_vel,
        "gr_err": float(rotation_angle_error(sim_rot, ref_rot).mean()),
        "max_joint_error": float(position_error.max()),
        "normalized_jerk": normalized_jerk,
        "high_jerk_pct": high_jerk_pct,
    }


def summarize_motions(rows: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    """The summary.json structure of per-motion rows (each with ``subset``, ``success`` and every
    ``METRIC_NAMES`` key).

    Means ignore ``nan``, ``±inf`` and ``None`` values; a mean over no value is ``None``, so the result is
    JSON-safe (``json.dumps(..., allow_nan=False)`` works). ``success`` blocks hold the means over
    successful motions, every metric ``None`` when there are none. ``by_subset`` is keyed by
    subset name in sorted order ("" for unknown). When the rows carry the PHC sums (the
    evaluator's rows do; rows read back from per_motion.parquet do not), ``phc`` holds the
    frame-weighted PHC metrics (:func:`evaluation.phc_metrics.summarize_phc`) beside the
    motion-weighted ones, which it leaves unchanged.

    Raises:
        ValueError: no rows, a row lacking a required key, or PHC sums in only some rows.
    """
    if len(rows) == 0:
        raise ValueError("summarize_motions: no per-motion rows to summarise (the evaluation produced 0 motions)")
    for index, row in enumerate(rows):
        missing = [key for key in ("subset", "success") + METRIC_NAMES if key not in row]
        if missing:
            raise ValueError(f"summarize_motions: row {index}: missing keys {missing}, found keys {sorted(row)}")

    summary = _group_summary(rows)
    by_subset: Dict[str, Any] = {}
    for subset in sorted({str(row["subset"]) for row in rows}):
        group = _group_summary([row for row in rows if str(row["subset"]) == subset])
        by_subset[subset] = {
            "num_motions": group["num_motions"],
            "num_success": group["num_success"],
            "success_rate": group["success_rate"],
            "all": group["all"],
            "success": group["success"],
        }
    result = {
        "num_motions": summary["num_motions"],
        "num_success": summary["num_success"],
        "Eval/success_rate": summary["success_rate"],
        "Eval/gt_err": summary["all"]["gt_err"],
        "all": summary["all"],
        "success": summary["success"],
        "by_subset": by_subset,
    }

    if rows_have_phc_sums(rows):
        result["phc"] = summarize_phc(rows)
    return result


def _group_summary(rows: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    successful = [row for row in rows if bool(row["success"])]
    return {
        "num_motions": len(rows),
        "num_success": len(successful),
        "success_rate": len(successful) / len(rows),
        "all": {name: _nan_mean([row[name] for row in rows]) for name in METRIC_NAMES},
        "success": {name: _nan_mean([row[name] for row in successful]) for name in METRIC_NAMES},
    }


def _nan_mean(values: Sequence[Any]) -> Any:
    """Mean of the finite numbers among ``values``; ``None`` when there are none.

    ``None``, ``nan`` (metric undefined, e.g. a motion too short for a jerk window) and ``±inf``
    (a diverged simulation; JSON cannot hold it) are skipped.
    """
    kept: List[float] = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not kept:
        return None
    return math.fsum(kept) / len(kept)


def _check_shapes(sim_pos: Tensor, ref_pos: Tensor, sim_rot: Tensor, ref_rot: Tensor) -> None:
    if sim_pos.dim() != 3 or sim_pos.shape[-1] != 3 or sim_pos.shape[0] < 1 or sim_pos.shape[1] < 1:
        raise ValueError(
            f"motion_metrics: sim_pos: expected shape (T, B, 3) with T, B >= 1, found {tuple(sim_pos.shape)}"
        )
    frames, bodies = sim_pos.shape[0], sim_pos.shape[1]
    expected = {
        "ref_pos": (ref_pos, (frames, bodies, 3)),
        "sim_rot": (sim_rot, (frames, bodies, 4)),
        "ref_rot": (ref_rot, (frames, bodies, 4)),
    }
    for name, (tensor, shape) in expected.items():
        if tuple(tensor.shape) != shape:
            raise ValueError(
                f"motion_metrics: {name}: expected shape {shape} (from sim_pos), found {tuple(tensor.shape)}"
            )
