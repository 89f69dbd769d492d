"""PHC-style (frame-weighted) tracking metrics, against numbers worked out by hand."""

from __future__ import annotations

import json
import math
import re

import pytest
import torch

from evaluation.metrics import METRIC_NAMES, summarize_motions
from evaluation.phc_metrics import (
    PHC_METRIC_NAMES,
    PHC_ROW_KEYS,
    phc_frame_values,
    phc_motion_sums,
    summarize_phc,
)

F64 = torch.float64


def _reference(frames: int) -> torch.Tensor:
    """(frames, 2, 3): a pelvis walking 0.1 m/frame along x at 1 m height, a head 0.5 m above it."""
    ref = torch.zeros(frames, 2, 3, dtype=F64)
    ref[:, 0, 0] = 0.1 * torch.arange(frames, dtype=F64)
    ref[:, 0, 2] = 1.0
    ref[:, 1] = ref[:, 0] + torch.tensor([0.0, 0.0, 0.5], dtype=F64)
    return ref


def _motion_a() -> tuple:
    """4 frames evaluated, so 3 enter: every body 10 mm off along x; the dropped last frame 1 m off."""
    ref = _reference(4)
    sim = ref + torch.tensor([0.01, 0.0, 0.0], dtype=F64)
    sim[3] = ref[3] + torch.tensor([1.0, 0.0, 0.0], dtype=F64)
    return sim, ref


def _motion_b() -> tuple:
    """3 frames evaluated, so 2 enter: the pelvis exact, the head 30 mm off along y; the last frame 2 m off."""
    ref = _reference(3)
    sim = ref.clone()
    sim[:, 1, 1] += 0.03
    sim[2] = ref[2] + torch.tensor([2.0, 0.0, 0.0], dtype=F64)
    return sim, ref


def _row(success: bool, sim: torch.Tensor, ref: torch.Tensor) -> dict:
    return {"success": success, **phc_motion_sums(sim, ref)}


def test_motions_are_weighted_by_frames_and_the_last_frame_is_dropped():
    a = _row(True, *_motion_a())
    b = _row(False, *_motion_b())
    assert set(a) == set(PHC_ROW_KEYS) | {"success"}
    # By hand, metres: A has 3 frames x 2 bodies of 0.01 m; B 2 frames x (0, 0.03 m).
    assert a["phc_frames"] == 3 and b["phc_frames"] == 2
    assert a["phc_mpjpe_g_sum"] == pytest.approx(0.06) and a["phc_mpjpe_g_count"] == 6
    assert b["phc_mpjpe_g_sum"] == pytest.approx(0.06) and b["phc_mpjpe_g_count"] == 4
    assert a["phc_mpjpe_l_sum"] == pytest.approx(0.0, abs=1e-15)  # a common offset is no local error
    assert b["phc_mpjpe_l_sum"] == pytest.approx(0.06) and b["phc_mpjpe_l_count"] == 4
    assert (a["phc_vel_dist_count"], a["phc_accel_dist_count"]) == (2, 1)  # T-1, T-2 with T = 3
    assert (b["phc_vel_dist_count"], b["phc_accel_dist_count"]) == (1, 0)
    assert (a["phc_mpjpe_pa_count"], b["phc_mpjpe_pa_count"]) == (3, 2)

    phc = summarize_phc([a, b])
    everything = phc["all"]
    # Frame-weighted: (6 x 10 + 2 x 0 + 2 x 30) / 10 = 12 mm; motion-weighted it would be 12.5.
    assert everything["mpjpe_g"] == pytest.approx(12.0)
    assert everything["mpjpe_g"] != pytest.approx((10.0 + 15.0) / 2)
    # Local: A contributes 6 zeros, B (0 + 30 + 0 + 30) → 60 / 10 = 6 mm (motion-weighted: 7.5).
    assert everything["mpjpe_l"] == pytest.approx(6.0)
    # Two bodies can always be aligned exactly by a similarity transform.
    assert everything["mpjpe_pa"] == pytest.approx(0.0, abs=1e-9)
    # Constant offsets: no velocity or acceleration error; had the last frame entered, A's 1 m
    # jump and B's 2 m jump would dominate both.
    assert everything["vel_dist"] == pytest.approx(0.0, abs=1e-9)
    assert everything["accel_dist"] == pytest.approx(0.0, abs=1e-9)
    assert (everything["num_motions"], everything["num_frames"]) == (2, 5)

    # Successful motions only: A alone.
    success = phc["success"]
    assert success["mpjpe_g"] == pytest.approx(10.0)
    assert success["mpjpe_l"] == pytest.approx(0.0, abs=1e-9)
    assert (success["num_motions"], success["num_frames"]) == (1, 3)
    assert set(everything) == set(success) == set(PHC_METRIC_NAMES) | {"num_motions", "num_frames"}

    assert summarize_phc([b, a]) == phc  # the order of the motions does not matter


def test_rotation_and_scale_of_the_local_pose_is_no_pa_error():
    # One frame enters (2 evaluated). Reference: pelvis at (2, 3, 1), bodies 0.1 m along x and
    # 0.2 m along y from it. Simulation: pelvis 0.5 m further along x, the local pose turned 90°
    # about z and doubled: (0.1, 0, 0) → (0, 0.2, 0), (0, 0.2, 0) → (-0.4, 0, 0).
    ref = torch.zeros(2, 3, 3, dtype=F64)
    ref[:, 0] = torch.tensor([2.0, 3.0, 1.0], dtype=F64)
    ref[:, 1] = ref[:, 0] + torch.tensor([0.1, 0.0, 0.0], dtype=F64)
    ref[:, 2] = ref[:, 0] + torch.tensor([0.0, 0.2, 0.0], dtype=F64)
    sim = torch.zeros(2, 3, 3, dtype=F64)
    sim[:, 0] = torch.tensor([2.5, 3.0, 1.0], dtype=F64)
    sim[:, 1] = sim[:, 0] + torch.tensor([0.0, 0.2, 0.0], dtype=F64)
    sim[:, 2] = sim[:, 0] + torch.tensor([-0.4, 0.0, 0.0], dtype=F64)
    sim[1] += 7.0  # the dropped frame

    phc = summarize_phc([_row(True, sim, ref)])["all"]
    # Local errors: 0, |(-0.1, 0.2, 0)| = √0.05, |(-0.4, -0.2, 0)| = √0.2 = 2√0.05 → mean √0.05 m.
    assert phc["mpjpe_l"] == pytest.approx(1000.0 * math.sqrt(0.05))  # 223.607 mm
    # Global: 0.5, |(0.4, 0.2, 0)| = 2√0.05, |(0.1, -0.2, 0)| = √0.05 → mean 0.5/3 + √0.05 m.
    assert phc["mpjpe_g"] == pytest.approx(1000.0 * (0.5 / 3.0 + math.sqrt(0.05)))  # 390.274 mm
    assert phc["mpjpe_pa"] == pytest.approx(0.0, abs=1e-9)
    # One frame has no velocity or acceleration.
    assert phc["vel_dist"] is None and phc["accel_dist"] is None
    assert phc["num_frames"] == 1


def test_velocity_and_acceleration_of_a_parabolic_drift():
    # 5 frames evaluated, 4 enter. Reference pelvis at constant velocity 5 mm/frame, head fixed;
    # the simulated pelvis drifts by 1 mm·t², so its extra velocity is 1, 3, 5 mm/frame and its
    # extra acceleration 2 mm/frame²; the head is exact.
    t = torch.arange(5, dtype=F64)
    ref = torch.zeros(5, 2, 3, dtype=F64)
    ref[:, 0, 0] = 0.005 * t
    ref[:, 1, 2] = 1.0
    sim = ref.clone()
    sim[:, 0, 0] += 0.001 * t**2
    sim[4] += 5.0  # the dropped frame

    values = phc_frame_values(sim[:4], ref[:4])
    # Per frame, the mean over the two bodies: (1, 3, 5) / 2 mm/frame and (2, 2) / 2 mm/frame².
    assert values["vel_dist"].tolist() == pytest.approx([0.0005, 0.0015, 0.0025])
    assert values["accel_dist"].tolist() == pytest.approx([0.001, 0.001])
    assert values["mpjpe_g"].shape == (4, 2) and values["mpjpe_pa"].shape == (4,)

    phc = summarize_phc([_row(True, sim, ref)])["all"]
    assert phc["vel_dist"] == pytest.approx(1.5)  # (0.5 + 1.5 + 2.5) / 3 mm/frame
    assert phc["accel_dist"] == pytest.approx(1.0)  # mm/frame²
    # Position error of the pelvis 0, 1, 4, 9 mm, the head 0: 14 / 8 mm, globally and locally
    # (relative to the pelvis it is the head that is off).
    assert phc["mpjpe_g"] == pytest.approx(1.75)
    assert phc["mpjpe_l"] == pytest.approx(1.75)


def test_velocity_error_counts_root_drift_as_phc_does():
    # Every body drifts 2 mm/frame along y: no local error, but PHC's velocity uses global positions.
    t = torch.arange(4, dtype=F64)
    ref = _reference(4)
    sim = ref.clone()
    sim[..., 1] += 0.002 * t[:, None]
    phc = summarize_phc([_row(True, sim, ref)])["all"]
    assert phc["mpjpe_l"] == pytest.approx(0.0, abs=1e-9)
    assert phc["vel_dist"] == pytest.approx(2.0)
    assert phc["accel_dist"] == pytest.approx(0.0, abs=1e-9)
    assert phc["mpjpe_g"] == pytest.approx((0.0 + 2.0 + 4.0) / 3)  # frames 0..2 enter


def test_no_successful_motion_gives_null_values():
    rows = [_row(False, *_motion_a()), _row(False, *_motion_b())]
    phc = summarize_phc(rows)
    assert phc["success"] == {
        **{name: None for name in PHC_METRIC_NAMES},
        "num_motions": 0,
        "num_frames": 0,
    }
    assert phc["all"]["mpjpe_g"] == pytest.approx(12.0)
    assert json.loads(json.dumps(phc, allow_nan=False)) == phc


def test_non_finite_values_are_left_out():
    # 3 frames evaluated, 2 enter: the head's frame 0 diverged (inf), its frame 1 is 30 mm off.
    ref = _reference(3)
    sim = ref.clone()
    sim[0, 1, 0] = math.inf
    sim[1, 1, 1] += 0.03
    row = _row(True, sim, ref)
    assert row["phc_mpjpe_g_count"] == 3 and row["phc_mpjpe_pa_count"] == 1  # frame 0 is not aligned
    phc = summarize_phc([row])["all"]
    assert phc["mpjpe_g"] == pytest.approx(10.0)  # (0 + 0 + 30) / 3
    assert phc["mpjpe_l"] == pytest.approx(10.0)
    assert phc["mpjpe_pa"] == pytest.approx(0.0, abs=1e-9)
    assert phc["vel_dist"] is None  # its only frame involves the inf
    json.dumps(phc, allow_nan=False)


def test_a_one_frame_motion_contributes_nothing():
    row = _row(True, _reference(1), _reference(1))
    assert row["phc_frames"] == 0
    assert all(row[key] == 0 for key in PHC_ROW_KEYS)
    phc = summarize_phc([row])
    assert phc["all"]["num_motions"] == 1 and phc["all"]["mpjpe_g"] is None


def _full_row(success: bool, base: float, sim: torch.Tensor, ref: torch.Tensor) -> dict:
    row = {"motion_id": 0, "file": "", "subset": "CMU", "frames": int(sim.shape[0]), "failure_frame": -1}
    row.update({name: base for name in METRIC_NAMES})
    row.update(_row(success, sim, ref))
    return row


def test_summary_adds_the_phc_block_beside_the_unchanged_project_metrics():
    rows = [_full_row(True, 1.0, *_motion_a()), _full_row(False, 3.0, *_motion_b())]
    summary = summarize_motions(rows)
    assert list(summary)[-1] == "phc"
    assert summary["phc"] == summarize_phc(rows)
    assert summary["phc"]["all"]["mpjpe_g"] == pytest.approx(12.0)
    # The motion-weighted project metrics are what they are without the PHC sums.
    plain = [{key: value for key, value in row.items() if key not in PHC_ROW_KEYS} for row in rows]
    without = summarize_motions(plain)
    assert "phc" not in without
    assert {key: value for key, value in summary.items() if key != "phc"} == without
    assert summary["Eval/gt_err"] == pytest.approx(2.0) and summary["success"]["e_mpjpe"] == pytest.approx(1.0)

    with pytest.raises(ValueError, match=r"rows \[1\] lack the PHC sums"):
        summarize_motions([rows[0], plain[1]])


def test_logged_eval_metrics_do_not_gain_columns():
    from evaluation.training_evaluation import eval_log_metrics

    rows = [_full_row(True, 1.0, *_motion_a()), _full_row(False, 3.0, *_motion_b())]
    logged = eval_log_metrics(summarize_motions(rows))
    expected = {"Eval/success_rate", "Eval/gt_err", "Eval/num_motions"}
    expected |= {f"Eval/{name}" for name in METRIC_NAMES if name != "gt_err"}
    assert set(logged) == expected  # metrics.csv columns: adding any would break resuming old runs


def test_printed_summary_has_a_phc_line_per_group():
    from evaluation.inference import format_summary

    rows = [_full_row(True, 1.0, *_motion_a()), _full_row(False, 3.0, *_motion_b())]
    lines = format_summary(summarize_motions(rows)).splitlines()
    phc_lines = [line for line in lines if line.startswith("PHC ")]
    assert len(phc_lines) == 2
    # (mpjpe_pa, accel_dist and vel_dist are 0 up to rounding, so only their places are checked.)
    assert re.fullmatch(
        r"PHC all \(2 motions, 5 frames, frame-weighted\): mpjpe_g 12 mm, mpjpe_l 6 mm, "
        r"mpjpe_pa \S+ mm, accel_dist \S+ mm/frame², vel_dist \S+ mm/frame",
        phc_lines[0],
    )
    assert phc_lines[1].startswith("PHC successful (1 motions, 3 frames, frame-weighted): mpjpe_g 10 mm, ")
    # Without the block (a summary from parquet rows) there is no PHC line.
    plain = [{key: value for key, value in row.items() if key not in PHC_ROW_KEYS} for row in rows]
    assert not [line for line in format_summary(summarize_motions(plain)).splitlines() if line.startswith("PHC")]


def test_sums_give_the_mean_of_the_concatenated_values():
    # What PHC does literally (concatenate every motion's values, then average) equals Σ sums / Σ counts.
    generator = torch.Generator().manual_seed(3)
    motions = []
    for frames in (8, 3, 13):
        ref = torch.randn(frames, 5, 3, generator=generator, dtype=F64)
        motions.append((ref + 0.05 * torch.randn(frames, 5, 3, generator=generator, dtype=F64), ref))
    phc = summarize_phc([_row(True, sim, ref) for sim, ref in motions])["all"]
    per_motion = [phc_frame_values(sim[:-1], ref[:-1]) for sim, ref in motions]
    for name in PHC_METRIC_NAMES:
        concatenated = torch.cat([values[name].flatten() for values in per_motion])
        assert phc[name] == pytest.approx(1000.0 * float(concatenated.mean()), rel=1e-12), name
    assert phc["num_frames"] == 7 + 2 + 12
