"""PHC-style tracking metrics: the numbers PHC / SMPLSim's ``smpl_eval.compute_metrics_lite`` reports.

The project's own summary (:func:`evaluation.metrics.summarize_motions`, ``summary["all"]`` /
``["success"]``) averages one number per motion, so every motion counts the same. PHC instead
concatenates the per-frame values of all motions and averages those, so a long motion counts
more. Papers quoting PHC numbers (PHC, PULSE, MaskedMimic) use the latter, so to compare with
them this module computes that variant beside ours (``summary["phc"]``), leaving ours as it is.

Definitions, for one motion evaluated for ``n`` frames: PHC records one frame fewer than it
plays (its last recorded frame belongs to the reset), so only the first ``T = n - 1`` frames of
the simulated (``pred``) and reference (``gt``) body positions enter, each (T, J, 3) in metres,
joint 0 the root (pelvis):

* ``mpjpe_g`` (mm): ``‖pred − gt‖`` per frame and joint (global positions);
* ``mpjpe_l`` (mm): the same after subtracting each frame's root position from both skeletons;
* ``mpjpe_pa`` (mm): per frame, the root-relative ``pred`` aligned onto the root-relative ``gt``
  by the best similarity transform (rotation, uniform scale, translation, no reflection:
  :func:`evaluation.pose_alignment.procrustes_align`), then the mean over joints of the distance;
* ``vel_dist`` (mm/frame): per frame t in [0, T−2], the mean over joints of
  ``‖(pred[t+1] − pred[t]) − (gt[t+1] − gt[t])‖`` (global positions, no division by the frame time);
* ``accel_dist`` (mm/frame²): per frame t in [0, T−3], the mean over joints of
  ``‖(pred[t] − 2·pred[t+1] + pred[t+2]) − (gt[t] − 2·gt[t+1] + gt[t+2])‖``.

Each metric's values (per frame and joint for ``mpjpe_g``/``mpjpe_l``, per frame otherwise) are
concatenated over the motions of a group and averaged, over all motions and over the successful
ones (success as :func:`evaluation.metrics.motion_metrics` decides it).

So that a summary never needs every frame of every motion in memory, and so that rows gathered
from several ranks still summarise exactly, each motion is reduced to a sum and a count per
metric (float64), carried in its evaluator row under :func:`phc_sum_key` / :func:`phc_count_key`
(not columns of per_motion.parquet, which drops them); the mean of the concatenation is then
``Σ sums / Σ counts``. Values that are not finite (a diverged simulation) are left out of both,
as the project's other summaries skip them; PHC's numpy code would give ``nan`` instead.
"""

from __future__ import annotations

import math
from typing import Any, Dict, Mapping, Sequence

import torch
from torch import Tensor

from evaluation.pose_alignment import procrustes_align

#: The PHC metrics, in the order PHC prints them.
PHC_METRIC_NAMES = ("mpjpe_g", "mpjpe_l", "mpjpe_pa", "accel_dist", "vel_dist")
PHC_METRIC_UNITS = {
    "mpjpe_g": "mm",
    "mpjpe_l": "mm",
    "mpjpe_pa": "mm",
    "accel_dist": "mm/frame²",
    "vel_dist": "mm/frame",
}
#: Row key: frames of the motion that entered the PHC metrics (``n - 1``).
PHC_FRAMES_KEY = "phc_frames"

_MM_PER_M = 1000.0


def phc_sum_key(name: str) -> str:
    """Row key of a motion's sum of ``name`` values (float, metres-based: m, m/frame, m/frame²)."""
    return f"phc_{name}_sum"


def phc_count_key(name: str) -> str:
    """Row key of how many ``name`` values a motion contributed (int)."""
    return f"phc_{name}_count"


#: Every row key :func:`phc_motion_sums` adds.
PHC_ROW_KEYS = (PHC_FRAMES_KEY,) + tuple(
    key for name in PHC_METRIC_NAMES for key in (phc_sum_key(name), phc_count_key(name))
)


def phc_frame_values(pred: Tensor, gt: Tensor) -> Dict[str, Tensor]:
    """PHC's per-frame values of one motion, before any frame is dropped.

    Args:
        pred, gt: (T, J, 3) simulated and reference body positions in metres; joint 0 is the root.
    Returns:
        float64 tensors in metres (m/frame, m/frame² for the differences): ``mpjpe_g`` and
        ``mpjpe_l`` (T, J); ``mpjpe_pa`` (T,); ``vel_dist`` (max(T−1, 0),); ``accel_dist``
        (max(T−2, 0),). A ``mpjpe_pa`` frame with a non-finite position is ``nan`` (the SVD
        refuses non-finite input, so such frames are not aligned at all).
    Raises:
        ValueError: shapes that are not the same (T, J, 3) with J >= 1.
    """
    if pred.dim() != 3 or pred.shape[-1] != 3 or pred.shape[1] < 1 or tuple(gt.shape) != tuple(pred.shape):
        raise ValueError(
            f"phc_frame_values: expected pred and gt of one shape (T, J, 3) with J >= 1, "
            f"found {tuple(pred.shape)} and {tuple(gt.shape)}"
        )
    pred = pred.double()
    gt = gt.double()
    # Velocity and acceleration use the global positions, as PHC does (it subtracts the root
    # only afterwards), so root drift counts there.
    vel = (pred[1:] - pred[:-1]) - (gt[1:] - gt[:-1])  # (T-1, J, 3)
    accel = (pred[:-2] - 2.0 * pred[1:-1] + pred[2:]) - (gt[:-2] - 2.0 * gt[1:-1] + gt[2:])  # (T-2, J, 3)
    pred_rel = pred - pred[:, :1]
    gt_rel = gt - gt[:, :1]
    # An explicit device: evaluation must not depend on torch's default device (it may be "meta").
    mpjpe_pa = torch.full((pred.shape[0],), math.nan, dtype=torch.float64, device=pred.device)
    finite = torch.isfinite(pred_rel).all(dim=2).all(dim=1) & torch.isfinite(gt_rel).all(dim=2).all(dim=1)
    if bool(finite.any()):
        aligned = procrustes_align(pred_rel[finite], gt_rel[finite])
        mpjpe_pa[finite] = (aligned - gt_rel[finite]).norm(dim=-1).mean(dim=1)
    return {
        "mpjpe_g": (pred - gt).norm(dim=-1),
        "mpjpe_l": (pred_rel - gt_rel).norm(dim=-1),
        "mpjpe_pa": mpjpe_pa,
        "accel_dist": accel.norm(dim=-1).mean(dim=1),
        "vel_dist": vel.norm(dim=-1).mean(dim=1),
    }


def phc_motion_sums(sim_pos: Tensor, ref_pos: Tensor) -> Dict[str, Any]:
    """One motion reduced to what the PHC summary needs: the row keys :data:`PHC_ROW_KEYS`.

    Args:
        sim_pos, ref_pos: (n, J, 3) body positions in metres over the ``n`` frames the motion was
            evaluated for; as in PHC, only the first ``n - 1`` enter.
    Returns:
        ``phc_frames`` (int, ``n - 1``) and, per metric, the float64 sum of its finite values
        (metres-based, not mm) and their number (int).
    """
    values = phc_frame_values(sim_pos[:-1], ref_pos[:-1])
    sums: Dict[str, Any] = {PHC_FRAMES_KEY: max(int(sim_pos.shape[0]) - 1, 0)}
    for name in PHC_METRIC_NAMES:
        kept = values[name][torch.isfinite(values[name])]
        sums[phc_sum_key(name)] = float(kept.sum())
        sums[phc_count_key(name)] = int(kept.numel())
    return sums


def rows_have_phc_sums(rows: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the rows carry the PHC sums: True when all do, False when none does (rows read
    back from per_motion.parquet, or made by hand).

    Raises:
        ValueError: only some rows carry them (a mix would silently summarise a subset).
    """
    carrying = [all(key in row for key in PHC_ROW_KEYS) for row in rows]
    if all(carrying):
        return True
    if not any(carrying):
        return False
    missing = [index for index, has in enumerate(carrying) if not has]
    raise ValueError(
        f"summarize_motions: rows {missing[:10]} lack the PHC sums ({PHC_FRAMES_KEY}, ...) that other rows have"
    )


def summarize_phc(rows: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    """``summary["phc"]``: the PHC metrics over all motions and over the successful ones.

    Args:
        rows: evaluator rows, each with ``success`` and every :data:`PHC_ROW_KEYS` key.
    Returns:
        ``{"all": group, "success": group}``, each group holding every :data:`PHC_METRIC_NAMES`
        metric in mm (mm/frame, mm/frame²; units in :data:`PHC_METRIC_UNITS`), frame-weighted,
        ``None`` when the group has no value of it (no motion, or motions too short), plus
        ``num_motions`` and ``num_frames`` (Σ ``n - 1``). JSON-safe: no nan or inf.
    """
    successful = [row for row in rows if bool(row["success"])]
    return {"all": _phc_group(rows), "success": _phc_group(successful)}


def _phc_group(rows: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    group: Dict[str, Any] = {}
    for name in PHC_METRIC_NAMES:
        count = sum(int(row[phc_count_key(name)]) for row in rows)
        # fsum: the exact float64 sum of the per-motion sums, so neither the order of the rows
        # nor how they were batched changes the result.
        total = math.fsum(float(row[phc_sum_key(name)]) for row in rows)
        group[name] = total / count * _MM_PER_M if count > 0 else None
    group["num_motions"] = len(rows)
    group["num_frames"] = sum(int(row[PHC_FRAMES_KEY]) for row in rows)
    return group
