"""Per-motion tracking metrics and their summary, against hand-computed numbers."""

from __future__ import annotations

import json
import math

import pytest
import torch

from evaluation.metrics import (
    METRIC_NAMES,
    METRIC_UNITS,
    ROW_COLUMNS,
    body_position_error,
    failure_frame,
    motion_metrics,
    rotation_angle_error,
    summarize_motions,
)
from evaluation.pose_alignment import procrustes_align
from evaluation.smoothness import DEFAULT_JERK_THRESHOLD, windowed_normalized_jerk
from motion.rotations import quat_from_rotvec, quat_mul, quat_to_matrix

F64 = torch.float64


def _identity_quats(frames: int, bodies: int) -> torch.Tensor:
    q = torch.zeros(frames, bodies, 4, dtype=F64)
    q[..., 3] = 1.0
    return q


def _metrics(sim_pos: torch.Tensor, ref_pos: torch.Tensor, dt: float = 1.0 / 30.0) -> dict:
    frames, bodies = ref_pos.shape[:2]
    quats = _identity_quats(frames, bodies)
    return motion_metrics(sim_pos, ref_pos, quats, quats, dt)


def _rotation_matrix(axis, angle: float) -> torch.Tensor:
    axis = torch.tensor(axis, dtype=F64)
    return quat_to_matrix(quat_from_rotvec(axis / axis.norm() * angle))


def test_columns_follow_the_contract():
    from evaluation.eval_outputs import PER_MOTION_COLUMNS

    # What the evaluator's rows hold is what per_motion.parquet stores, in the same order.
    assert tuple(PER_MOTION_COLUMNS) == ROW_COLUMNS
    assert len(set(METRIC_NAMES)) == len(METRIC_NAMES) == 10
    assert ROW_COLUMNS[:6] == ("motion_id", "file", "subset", "frames", "success", "failure_frame")
    assert ROW_COLUMNS[6:] == METRIC_NAMES
    assert set(METRIC_UNITS) == set(METRIC_NAMES)
    assert METRIC_UNITS["e_acc"] == "mm/frame²" and METRIC_UNITS["gt_err"] == "m"


def test_position_error_of_a_known_offset():
    ref = torch.randn(5, 4, 3, generator=torch.Generator().manual_seed(0), dtype=F64)
    sim = ref + torch.tensor([0.3, -0.4, 0.0], dtype=F64)  # a 3-4-5 triangle: 0.5 m
    error = body_position_error(sim, ref)
    assert error.shape == (5, 4)
    torch.testing.assert_close(error, torch.full((5, 4), 0.5, dtype=F64), rtol=0, atol=1e-15)

    metrics = _metrics(sim, ref)
    assert metrics["gt_err"] == pytest.approx(0.5, abs=1e-15)
    assert metrics["e_g_mpjpe"] == pytest.approx(500.0, abs=1e-12)
    assert metrics["max_joint_error"] == pytest.approx(0.5, abs=1e-15)
    # The same offset on every body: root-relative and aligned errors vanish, velocities agree.
    assert metrics["e_mpjpe"] == pytest.approx(0.0, abs=1e-9)
    assert metrics["e_pa_mpjpe"] == pytest.approx(0.0, abs=1e-9)
    assert metrics["e_vel"] == pytest.approx(0.0, abs=1e-9)
    assert metrics["e_acc"] == pytest.approx(0.0, abs=1e-9)


def test_rotation_angle_of_known_rotations_and_sign_invariance():
    axis = torch.tensor([1.0, -2.0, 0.5], dtype=F64)
    axis = axis / axis.norm()
    angles = torch.tensor([0.7, 1e-8, 3.0, math.pi - 1e-7], dtype=F64)
    base = quat_from_rotvec(torch.tensor([0.2, 0.1, -0.4], dtype=F64)).expand(4, 4)
    delta = quat_from_rotvec(axis * angles[:, None])  # (4, 4): one rotation per frame
    sim = base.reshape(4, 1, 4)
    ref = quat_mul(base, delta).reshape(4, 1, 4)  # ref = sim ⊗ delta: the angle between is |delta|
    error = rotation_angle_error(sim, ref)
    assert error.shape == (4, 1)
    torch.testing.assert_close(error[:, 0], angles, rtol=1e-6, atol=1e-12)
    torch.testing.assert_close(rotation_angle_error(-sim, ref), error, rtol=0, atol=1e-12)
    torch.testing.assert_close(rotation_angle_error(sim, -ref), error, rtol=0, atol=1e-12)
    assert float(rotation_angle_error(sim, sim).max()) == pytest.approx(0.0, abs=1e-12)


def test_procrustes_recovers_a_similarity_transform():
    generator = torch.Generator().manual_seed(1)
    pred = torch.randn(3, 12, 3, generator=generator, dtype=F64)
    rotation = _rotation_matrix([0.3, -1.0, 0.6], math.radians(30.0))
    translation = torch.tensor([1.5, -0.2, 0.9], dtype=F64)
    target = 2.5 * pred @ rotation.T + translation

    aligned = procrustes_align(pred, target)
    torch.testing.assert_close(aligned, target, rtol=0, atol=1e-10)

    metrics = _metrics(pred, target)
    assert metrics["e_pa_mpjpe"] == pytest.approx(0.0, abs=1e-9)
    assert metrics["e_mpjpe"] > 500.0  # mm: scale 2.5 and a 30° turn keep the root-relative error large


def test_procrustes_never_returns_a_reflection():
    generator = torch.Generator().manual_seed(2)
    pred = torch.randn(2, 10, 3, generator=generator, dtype=F64)
    target = pred * torch.tensor([-1.0, 1.0, 1.0], dtype=F64)  # mirror image: no rotation reaches it

    aligned = procrustes_align(pred, target)
    # Recover the linear part of pred → aligned per frame by least squares: s·R with det(R) = +1.
    centred_pred = pred - pred.mean(dim=1, keepdim=True)
    centred_aligned = aligned - aligned.mean(dim=1, keepdim=True)
    for frame in range(2):
        linear = torch.linalg.lstsq(centred_pred[frame], centred_aligned[frame]).solution.T  # s·R
        scale = torch.linalg.det(linear).abs() ** (1.0 / 3.0)
        rotation = linear / scale
        torch.testing.assert_close(rotation @ rotation.T, torch.eye(3, dtype=F64), rtol=0, atol=1e-9)
        assert float(torch.linalg.det(linear)) > 0.0
    # A reflection would have matched exactly; the best proper rotation cannot.
    assert float(body_position_error(aligned, target).mean()) > 0.05


def test_acceleration_and_velocity_error_of_a_parabolic_drift():
    frames, a = 10, 0.001  # m per frame²
    ref = torch.randn(frames, 3, 3, generator=torch.Generator().manual_seed(3), dtype=F64)
    t = torch.arange(frames, dtype=F64)
    sim = ref.clone()
    sim[..., 0] += a * t[:, None] ** 2

    metrics = _metrics(sim, ref)
    # Second difference of a·t² is 2a on every frame and body.
    assert metrics["e_acc"] == pytest.approx(2.0 * a * 1000.0, abs=1e-9)
    # First differences a·(2t + 1), t = 0..T−2, average to a·(T − 1).
    assert metrics["e_vel"] == pytest.approx(a * (frames - 1) * 1000.0, abs=1e-9)
    # Mean of a·t² over t = 0..T−1 is a·(T − 1)(2T − 1)/6; the largest is a·(T − 1)².
    assert metrics["gt_err"] == pytest.approx(a * (frames - 1) * (2 * frames - 1) / 6.0, abs=1e-12)
    assert metrics["max_joint_error"] == pytest.approx(a * (frames - 1) ** 2, abs=1e-12)


def test_short_motions_give_nan_for_undefined_metrics():
    ref = torch.zeros(2, 2, 3, dtype=F64)
    sim = ref + torch.tensor([0.0, 0.0, 0.1], dtype=F64)
    sim[1, :, 0] += 0.02
    two = _metrics(sim, ref)
    assert two["e_vel"] == pytest.approx(20.0, abs=1e-9)  # mm/frame
    assert math.isnan(two["e_acc"])
    assert math.isnan(two["normalized_jerk"]) and math.isnan(two["high_jerk_pct"])  # no 0.4 s window
    one = _metrics(sim[:1], ref[:1])
    assert math.isnan(one["e_vel"]) and math.isnan(one["e_acc"])
    assert one["gt_err"] == pytest.approx(0.1, abs=1e-15)


def test_root_relative_mpjpe_ignores_global_translation():
    ref = torch.zeros(4, 2, 3, dtype=F64)
    ref[:, 1, 0] = 1.0
    sim = ref.clone()
    sim[:, 1, 1] = 0.03  # the second body 30 mm off, relative to the root
    base = _metrics(sim, ref)
    assert base["e_mpjpe"] == pytest.approx(15.0, abs=1e-9)  # mean of 0 mm (root) and 30 mm

    moved = _metrics(sim + torch.tensor([5.0, -3.0, 2.0], dtype=F64), ref)
    assert moved["e_mpjpe"] == pytest.approx(base["e_mpjpe"], abs=1e-9)
    assert moved["e_g_mpjpe"] > 6000.0  # the global error sees the √38 m shift


def _single_body_errors(errors):
    """Positions (T, 1, 3) whose body position error per frame is ``errors`` (m)."""
    ref = torch.zeros(len(errors), 1, 3, dtype=F64)
    sim = ref.clone()
    sim[:, 0, 0] = torch.tensor(errors, dtype=F64)
    return sim, ref


@pytest.mark.parametrize(
    "errors, expected_failure",
    [
        ([0.0, 0.0, 0.1, 0.2, 0.3, 0.5, 0.1, 0.0], -1),  # exactly 0.5 m does not exceed
        ([0.0, 0.0, 0.1, 0.2, 0.3, 0.5 + 1e-9, 0.1, 0.0], 5),
        ([0.9, 2.0, 0.1, 0.2, 0.3, 0.4, 0.1, 0.0], -1),  # frames 0 and 1 never fail
        ([0.9, 2.0, 0.6, 0.2, 0.7, 0.4, 0.1, 0.0], 2),  # the first failing frame counts
    ],
)
def test_success_rule_at_the_boundary(errors, expected_failure):
    sim, ref = _single_body_errors(errors)
    assert failure_frame(body_position_error(sim, ref).mean(dim=1)) == expected_failure
    metrics = _metrics(sim, ref)
    assert metrics["failure_frame"] == expected_failure
    assert metrics["success"] is (expected_failure == -1)


def test_success_uses_the_mean_over_bodies():
    ref = torch.zeros(4, 2, 3, dtype=F64)
    sim = ref.clone()
    sim[3, 0, 0] = 0.9  # one body 0.9 m off, the other on target: mean 0.45 m, no failure
    assert _metrics(sim, ref)["success"] is True
    sim[3, 1, 0] = 0.2  # mean 0.55 m
    assert _metrics(sim, ref)["failure_frame"] == 3


def test_motion_metrics_rejects_mismatched_shapes():
    ref = torch.zeros(4, 2, 3, dtype=F64)
    with pytest.raises(ValueError, match=r"ref_pos: expected shape \(4, 3, 3\)"):
        motion_metrics(torch.zeros(4, 3, 3), ref, _identity_quats(4, 3), _identity_quats(4, 3), 0.1)
    with pytest.raises(ValueError, match="sim_rot"):
        motion_metrics(ref, ref, _identity_quats(4, 1), _identity_quats(4, 2), 0.1)


def _row(subset: str, success: bool, base: float, jerk: float) -> dict:
    row = {"motion_id": 0, "file": "", "subset": subset, "frames": 10, "success": success, "failure_frame": -1}
    row.update({name: base for name in METRIC_NAMES})
    row["normalized_jerk"] = jerk
    return row


def test_summarize_motions_number_by_number():
    rows = [
        _row("CMU", True, 1.0, 100.0),
        _row("CMU", False, 3.0, float("nan")),
        _row("ACCAD", True, 8.0, 700.0),
    ]
    summary = summarize_motions(rows)
    assert list(summary) == [
        "num_motions",
        "num_success",
        "Eval/success_rate",
        "Eval/gt_err",
        "all",
        "success",
        "by_subset",
    ]
    assert summary["num_motions"] == 3 and summary["num_success"] == 2
    assert summary["Eval/success_rate"] == pytest.approx(2.0 / 3.0)
    assert summary["Eval/gt_err"] == pytest.approx(4.0)  # (1 + 3 + 8) / 3
    assert summary["all"]["e_mpjpe"] == pytest.approx(4.0)
    assert summary["all"]["normalized_jerk"] == pytest.approx(400.0)  # nan skipped: (100 + 700) / 2
    assert summary["success"]["gt_err"] == pytest.approx(4.5)  # (1 + 8) / 2
    assert summary["success"]["normalized_jerk"] == pytest.approx(400.0)
    assert set(summary["all"]) == set(METRIC_NAMES) == set(summary["success"])

    assert list(summary["by_subset"]) == ["ACCAD", "CMU"]
    cmu = summary["by_subset"]["CMU"]
    assert (cmu["num_motions"], cmu["num_success"], cmu["success_rate"]) == (2, 1, 0.5)
    assert cmu["all"]["gt_err"] == pytest.approx(2.0)
    assert cmu["all"]["normalized_jerk"] == pytest.approx(100.0)
    assert cmu["success"]["e_acc"] == pytest.approx(1.0)
    accad = summary["by_subset"]["ACCAD"]
    assert (accad["num_motions"], accad["num_success"], accad["success_rate"]) == (1, 1, 1.0)
    assert accad["all"]["high_jerk_pct"] == pytest.approx(8.0)
    assert accad["success"]["normalized_jerk"] == pytest.approx(700.0)

    round_trip = json.loads(json.dumps(summary, allow_nan=False))
    assert round_trip == summary


def test_summarize_motions_without_values_gives_null():
    rows = [_row("", False, float("nan"), float("nan")), _row("", False, 2.0, float("inf"))]
    rows[0]["e_acc"] = None
    summary = summarize_motions(rows)
    assert summary["num_success"] == 0 and summary["Eval/success_rate"] == 0.0
    assert summary["Eval/gt_err"] == pytest.approx(2.0)
    assert summary["all"]["normalized_jerk"] is None  # nan and inf only
    assert summary["all"]["e_acc"] == pytest.approx(2.0)  # None skipped
    assert all(value is None for value in summary["success"].values())
    assert list(summary["by_subset"]) == [""]
    json.dumps(summary, allow_nan=False)  # raises on any nan/inf left


def test_summarize_motions_rejects_empty_and_incomplete_rows():
    with pytest.raises(ValueError, match="no per-motion rows"):
        summarize_motions([])
    row = _row("CMU", True, 1.0, 1.0)
    del row["e_vel"]
    with pytest.raises(ValueError, match=r"row 0: missing keys \['e_vel'\]"):
        summarize_motions([row])


def test_minimum_jerk_reach_scores_about_720_whatever_its_length():
    dt = 1.0 / 300.0
    tau = torch.linspace(0.0, 1.0, 121, dtype=F64)  # 0.4 s: exactly one window
    scores = []
    for length in (0.05, 0.4, 1.5):
        positions = torch.zeros(121, 1, 3, dtype=F64)
        positions[:, 0, 1] = length * (10 * tau**3 - 15 * tau**4 + 6 * tau**5)
        windows = windowed_normalized_jerk(positions, dt)
        assert windows.shape == (1, 1)
        scores.append(float(windows[0, 0]))
    assert scores[0] == pytest.approx(720.0, rel=0.10)
    assert scores[1] == pytest.approx(scores[0], rel=1e-9)
    assert scores[2] == pytest.approx(scores[0], rel=1e-9)


def _walk_with_jitter(jitter_axes):
    dt = 1.0 / 30.0
    frames = 60
    positions = torch.zeros(frames, 1, 3, dtype=F64)
    positions[:, 0, 0] = torch.arange(frames, dtype=F64) * dt  # 1 m/s along x
    alternating = 0.002 * (1.0 - 2.0 * (torch.arange(frames) % 2)).to(F64)  # +2, −2, +2, ... mm
    for axis in jitter_axes:
        positions[:, 0, axis] += alternating
    return motion_metrics(positions, positions, _identity_quats(frames, 1), _identity_quats(frames, 1), dt)


def test_jitter_on_a_walk_is_flagged_as_high_jerk():
    clean = _walk_with_jitter([])
    assert clean["normalized_jerk"] == pytest.approx(0.0, abs=1e-6)
    assert clean["high_jerk_pct"] == 0.0

    # ±2 mm along the walk: third difference 16 mm → jerk 0.016·30³ = 432 m/s³ on the 10 samples of a
    # 13-frame window; path 0.4 m (the jitter cancels over 12 segments);
    # NJ = 0.4⁵ · 10 · 432² / 30 / 0.4² = 3981.312 — below the threshold on one axis alone.
    along = _walk_with_jitter([0])
    assert along["normalized_jerk"] == pytest.approx(3981.312, rel=1e-9)
    assert along["high_jerk_pct"] == 0.0

    # The same jitter on x and y doubles the squared jerk (path ≈ 0.403 m): every window is high-jerk.
    both = _walk_with_jitter([0, 1])
    assert both["normalized_jerk"] > DEFAULT_JERK_THRESHOLD
    assert both["high_jerk_pct"] == pytest.approx(100.0)
