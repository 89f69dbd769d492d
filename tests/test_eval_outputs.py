"""The files of one evaluation (summary.json, per_motion.parquet, failed_motions.txt, plots) and `mimic report`."""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import pytest
import torch

from evaluation.eval_outputs import (
    PER_MOTION_COLUMNS,
    latest_eval_dir,
    new_eval_dir,
    prune_eval_dirs,
    read_per_motion_table,
    write_eval_outputs,
)
from evaluation.plots import (
    FAILED_COLOUR,
    SUCCESS_COLOUR,
    metric_series,
    plot_training_curves,
    read_metrics_csv,
    success_by_subset,
)
from mimic.cli import main
from motion.errors import ResultsFileError
from training.metrics_csv import MetricsCSV

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# motion_id, file, subset, frames, success, failure_frame, gt_err (m)
MOTIONS = [
    (0, "CMU/01/01_01_poses.npz", "CMU", 120, True, -1, 0.031),
    (1, "CMU/02/02_03_poses.npz", "CMU", 240, True, -1, 0.045),
    (2, "CMU/07/07_05_poses.npz", "CMU", 300, False, 57, 0.612),
    (3, "ACCAD/Male1/walk_poses.npz", "ACCAD", 90, True, -1, 0.052),
    (4, "ACCAD/Female1/run_poses.npz", "ACCAD", 150, False, 12, 0.480),
    (5, "", "", 60, True, -1, 0.028),
]


def make_rows() -> List[Dict[str, Any]]:
    rows = []
    for motion_id, file, subset, frames, success, failure_frame, gt_err in MOTIONS:
        rows.append(
            {
                "motion_id": motion_id,
                "file": file,
                "subset": subset,
                "frames": frames,
                "success": success,
                "failure_frame": failure_frame,
                "gt_err": gt_err,
                "e_g_mpjpe": gt_err * 1000.0,
                "e_mpjpe": gt_err * 800.0,
                "e_pa_mpjpe": gt_err * 500.0,
                "e_acc": 2.5 + motion_id,
                "e_vel": 4.0 + motion_id,
                "gr_err": 0.1 * (motion_id + 1),
                "max_joint_error": gt_err * 3.0,
                "normalized_jerk": 900.0 + 10.0 * motion_id,
                "high_jerk_pct": 12.5 if not success else 0.0,
            }
        )
    return rows


def make_summary(rows: List[Dict[str, Any]]) -> Dict[str, Any]:
    # By hand: 4 of 6 succeed; mean gt_err = (0.031+0.045+0.612+0.052+0.480+0.028)/6 = 1.248/6 = 0.208.
    return {
        "num_motions": 6,
        "num_success": 4,
        "Eval/success_rate": 4 / 6,
        "Eval/gt_err": 0.208,
        "all": {"gt_err": 0.208},
        "success": {"gt_err": (0.031 + 0.045 + 0.052 + 0.028) / 4},
        "by_subset": {"CMU": {"num_motions": 3, "num_success": 2, "success_rate": 2 / 3}},
        "checkpoint": "results/run/last.ckpt",
        "epoch": np.int64(40),  # numpy scalars are written as plain numbers
        "timestamp": "20240506-070809",
    }


def read_png(path: Path) -> np.ndarray:
    """(H, W, C) floats in [0, 1], after checking the file starts with the PNG signature."""
    import matplotlib.image

    assert path.read_bytes()[:8] == PNG_SIGNATURE, path
    return matplotlib.image.imread(str(path))


def assert_valid_png(path: Path, width: int, height: int) -> np.ndarray:
    image = read_png(path)
    assert image.shape[:2] == (height, width)
    assert float(image[..., :3].std()) > 0.01  # not a blank canvas
    return image


def pixels_near(image: np.ndarray, colour: str, tolerance: float = 0.02) -> int:
    from matplotlib.colors import to_rgb

    distance = np.abs(image[..., :3] - np.asarray(to_rgb(colour))).max(axis=-1)
    return int((distance < tolerance).sum())


# --- directories ------------------------------------------------------------------------------


def test_new_eval_dir_is_timestamped_and_never_reused(tmp_path: Path) -> None:
    now = datetime(2024, 5, 6, 7, 8, 9)
    first = new_eval_dir(tmp_path, now=now)
    second = new_eval_dir(tmp_path, now=now)
    third = new_eval_dir(tmp_path, now=now)
    assert [first.name, second.name, third.name] == ["20240506-070809", "20240506-070809-1", "20240506-070809-2"]
    assert first.parent == tmp_path / "eval" and all(path.is_dir() for path in (first, second, third))


def test_latest_eval_dir_is_the_newest_complete_one(tmp_path: Path) -> None:
    assert latest_eval_dir(tmp_path) is None
    rows, summary = make_rows(), make_summary(make_rows())
    same_second = datetime(2024, 5, 6, 7, 8, 9)
    for _ in range(11):  # ..., -9, -10: the suffix sorts as a number, not as text
        newest = new_eval_dir(tmp_path, now=same_second)
        (newest / "summary.json").write_text("{}")
        (newest / "per_motion.parquet").write_bytes(b"")
    write_eval_outputs(newest, rows, summary)
    write_eval_outputs(new_eval_dir(tmp_path, now=datetime(2024, 5, 6, 7, 8, 8)), rows, summary)  # older
    new_eval_dir(tmp_path, now=datetime(2024, 5, 6, 7, 8, 10))  # newer but empty: crashed
    (tmp_path / "eval" / "notes").mkdir()
    assert newest.name == "20240506-070809-10"
    assert latest_eval_dir(tmp_path) == newest


def test_retention_keeps_the_newest_evaluations_and_the_best(tmp_path: Path) -> None:
    """Eight evaluations, the best (5 of 6 tracked) third oldest: keeping 3 leaves the newest 3
    and the best; the folder being written (no summary.json yet) and other folders stay."""
    rows = make_rows()
    rates = [4 / 6, 4 / 6, 5 / 6, 3 / 6, 4 / 6, 4 / 6, 4 / 6, 4 / 6]
    errors = [0.208, 0.2, 0.19, 0.25, 0.21, 0.205, 0.207, 0.209]
    folders = []
    for second, (rate, error) in enumerate(zip(rates, errors)):
        folder = new_eval_dir(tmp_path, now=datetime(2024, 5, 6, 7, 8, second))
        write_eval_outputs(folder, rows, dict(make_summary(rows), **{"Eval/success_rate": rate, "Eval/gt_err": error}))
        folders.append(folder)
    writing = new_eval_dir(tmp_path, now=datetime(2024, 5, 6, 7, 7, 0))  # oldest name, still being written
    (tmp_path / "eval" / "notes").mkdir()
    assert prune_eval_dirs(tmp_path, keep=0) == []  # 0 keeps everything
    removed = prune_eval_dirs(tmp_path, keep=3)
    assert removed == [folders[i] for i in (0, 1, 3, 4)]
    assert sorted(p.name for p in (tmp_path / "eval").iterdir()) == sorted(
        [writing.name, "notes"] + [folders[i].name for i in (2, 5, 6, 7)]
    )
    assert latest_eval_dir(tmp_path) == folders[7]
    assert prune_eval_dirs(tmp_path, keep=3) == []  # nothing more to remove


def test_a_tie_on_success_rate_goes_to_the_lower_error(tmp_path: Path) -> None:
    rows = make_rows()
    folders = []
    for second, error in enumerate([0.3, 0.1, 0.2, 0.25]):
        folder = new_eval_dir(tmp_path, now=datetime(2024, 5, 6, 7, 8, second))
        write_eval_outputs(folder, rows, dict(make_summary(rows), **{"Eval/gt_err": error}))
        folders.append(folder)
    assert prune_eval_dirs(tmp_path, keep=1) == [folders[0], folders[2]]


# --- the files --------------------------------------------------------------------------------


def test_write_eval_outputs_writes_every_file(tmp_path: Path) -> None:
    rows = make_rows()
    summary = make_summary(rows)
    motion_lib = {"motion_lengths": torch.tensor([1.0, 2.0]), "motion_files": ["a", "b"]}
    paths = write_eval_outputs(tmp_path, rows, summary, predicted_motion_lib=motion_lib)

    assert paths == {
        "summary": tmp_path / "summary.json",
        "per_motion": tmp_path / "per_motion.parquet",
        "failed_motions": tmp_path / "failed_motions.txt",
        "predicted_motionlib": tmp_path / "predicted_motionlib.pt",
        "error_histogram": tmp_path / "plots" / "error_histogram.png",
        "success_by_subset": tmp_path / "plots" / "success_by_subset.png",
    }
    assert all(path.is_file() for path in paths.values())
    assert not [path for path in tmp_path.rglob("*") if path.name.endswith(".tmp")]

    text = paths["summary"].read_text()
    loaded = json.loads(text)
    assert loaded == {**summary, "epoch": 40}
    assert text.startswith('{\n  "Eval/gt_err": 0.208,\n  "Eval/success_rate": 0.6666666666666666,\n')
    assert list(loaded) == sorted(loaded)

    # motion 2 fails at frame 57, motion 4 at frame 12, in row order
    expected_failed = "2\t57\tCMU/07/07_05_poses.npz\n4\t12\tACCAD/Female1/run_poses.npz\n"
    assert paths["failed_motions"].read_text() == expected_failed

    saved = torch.load(paths["predicted_motionlib"], weights_only=True)
    assert torch.equal(saved["motion_lengths"], motion_lib["motion_lengths"])
    assert saved["motion_files"] == ["a", "b"]


def test_summary_json_holds_the_phc_block_and_the_table_does_not(tmp_path: Path) -> None:
    from evaluation.metrics import summarize_motions
    from evaluation.phc_metrics import phc_motion_sums

    rows = make_rows()
    for row in rows:  # every body off by gt_err along x in each of the motion's frames
        ref = torch.zeros(row["frames"], 2, 3, dtype=torch.float64)
        row.update(phc_motion_sums(ref + torch.tensor([row["gt_err"], 0.0, 0.0], dtype=torch.float64), ref))
    paths = write_eval_outputs(tmp_path, rows, summarize_motions(rows))

    phc = json.loads(paths["summary"].read_text())["phc"]
    # Frames entering (n - 1): 119, 239, 299, 89, 149, 59 → 954; successful (0, 1, 3, 5) → 506.
    assert (phc["all"]["num_motions"], phc["all"]["num_frames"]) == (6, 954)
    assert (phc["success"]["num_motions"], phc["success"]["num_frames"]) == (4, 506)
    # Frame-weighted mpjpe_g, Σ (n - 1)·gt_err / Σ (n - 1): (3.689 + 10.755 + 182.988 + 4.628 +
    # 71.52 + 1.652) / 954 m; over the successful ones (3.689 + 10.755 + 4.628 + 1.652) / 506 m.
    assert phc["all"]["mpjpe_g"] == pytest.approx(275.232 / 954 * 1000.0)
    assert phc["success"]["mpjpe_g"] == pytest.approx(20.724 / 506 * 1000.0)
    assert phc["all"]["mpjpe_l"] == pytest.approx(0.0, abs=1e-9) and phc["all"]["vel_dist"] == pytest.approx(0.0)
    assert all(math.isfinite(value) for group in phc.values() for value in group.values())
    # per_motion.parquet keeps exactly the contract's columns.
    assert list(read_per_motion_table(paths["per_motion"])[0]) == list(PER_MOTION_COLUMNS)

    for row in rows:  # no successful motion: the success block is written as nulls
        row["success"] = False
    paths = write_eval_outputs(tmp_path / "none", rows, summarize_motions(rows))
    success = json.loads(paths["summary"].read_text())["phc"]["success"]
    assert success["mpjpe_g"] is None and success["num_motions"] == 0


def test_per_motion_parquet_round_trips_with_the_contract_schema(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = make_rows()
    rows[0]["gt_err"] = np.float32(0.5)  # numpy scalars become the column's Python type
    rows[0]["frames"] = np.int64(120)
    rows[1]["extra_key"] = "dropped"
    paths = write_eval_outputs(tmp_path, rows, make_summary(rows))

    schema = pq.read_schema(paths["per_motion"])
    assert schema.names == list(PER_MOTION_COLUMNS)
    kinds = {pa.int64(): int, pa.string(): str, pa.bool_(): bool, pa.float64(): float}
    assert [kinds[schema.field(name).type] for name in schema.names] == list(PER_MOTION_COLUMNS.values())

    back = read_per_motion_table(paths["per_motion"])
    expected = make_rows()
    expected[0]["gt_err"] = float(np.float32(0.5))
    assert back == expected
    for row in back:
        assert list(row) == list(PER_MOTION_COLUMNS)
        assert {column: type(value) for column, value in row.items()} == PER_MOTION_COLUMNS


def test_all_successful_gives_an_empty_failed_motions_file(tmp_path: Path) -> None:
    rows = [dict(row, success=True, failure_frame=-1) for row in make_rows()]
    paths = write_eval_outputs(tmp_path, rows, make_summary(rows))
    assert paths["failed_motions"].read_bytes() == b""
    assert "predicted_motionlib" not in paths and not (tmp_path / "predicted_motionlib.pt").exists()


def test_a_row_without_a_column_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    rows = make_rows()
    del rows[3]["e_pa_mpjpe"]
    with pytest.raises(ResultsFileError) as caught:
        write_eval_outputs(tmp_path, rows, make_summary(rows))
    message = str(caught.value)
    assert caught.value.field == "e_pa_mpjpe"
    assert "motion_id=3" in message and "ACCAD/Male1/walk_poses.npz" in message
    assert str(tmp_path / "per_motion.parquet") in message
    assert list(tmp_path.iterdir()) == []


def test_a_value_of_the_wrong_type_names_column_and_motion(tmp_path: Path) -> None:
    rows = make_rows()
    rows[4]["success"] = 1  # an int is not a bool
    with pytest.raises(ResultsFileError, match=r"'success': expected a bool, found int 1 in motion_id=4"):
        write_eval_outputs(tmp_path, rows, make_summary(rows))


def test_a_non_finite_summary_value_names_its_key(tmp_path: Path) -> None:
    rows = make_rows()
    summary = make_summary(rows)
    summary["success"]["gt_err"] = float("nan")
    with pytest.raises(ResultsFileError, match=r"'success\.gt_err': expected a finite number or null"):
        write_eval_outputs(tmp_path, rows, summary)
    assert list(tmp_path.iterdir()) == []


def test_reading_a_table_with_a_missing_column_names_it(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = make_rows()
    columns = [column for column in PER_MOTION_COLUMNS if column != "gr_err"]
    table = pa.table({column: [row[column] for row in rows] for column in columns})
    path = tmp_path / "per_motion.parquet"
    pq.write_table(table, path)
    with pytest.raises(ResultsFileError) as caught:
        read_per_motion_table(path)
    assert caught.value.field == "columns"
    assert caught.value.path == str(path)
    assert "missing: gr_err" in caught.value.found
    assert caught.value.expected == ", ".join(PER_MOTION_COLUMNS)


# --- plots --------------------------------------------------------------------------------------


def test_per_motion_plots_are_valid_pngs_with_both_outcomes_coloured(tmp_path: Path) -> None:
    paths = write_eval_outputs(tmp_path, make_rows(), make_summary(make_rows()))
    histogram = assert_valid_png(paths["error_histogram"], width=700, height=450)
    assert pixels_near(histogram, SUCCESS_COLOUR) > 100  # 4 successful motions
    assert pixels_near(histogram, FAILED_COLOUR) > 100  # 2 failed motions
    # three subsets: 1.5 in + 0.5 in per bar = 3 in at 100 dpi
    bars = assert_valid_png(paths["success_by_subset"], width=700, height=300)
    assert pixels_near(bars, SUCCESS_COLOUR) > 100


def test_success_by_subset_counts_with_unknown_last() -> None:
    assert success_by_subset(make_rows()) == [("ACCAD", 1, 2), ("CMU", 2, 3), ("(unknown)", 1, 1)]


def write_metrics(path: Path, epochs: int = 10, eval_every: int = 5) -> None:
    metrics = MetricsCSV(path)
    for epoch in range(1, epochs + 1):
        row: Dict[str, Any] = {
            "epoch": epoch,
            "env_steps": epoch * 4096,
            "Train/episode_reward": 10.0 + 2.0 * epoch,
            "Train/clip_frac": 0.2 - 0.01 * epoch,
        }
        if epoch % eval_every == 0:
            row["Eval/success_rate"] = epoch / 20.0
            row["Eval/gt_err"] = 0.5 / epoch
        metrics.append(row)


def test_sparse_eval_columns_give_only_their_logged_points(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    write_metrics(path)
    columns, rows = read_metrics_csv(path)
    assert columns[:2] == ["epoch", "env_steps"] and len(rows) == 10
    assert rows[0]["Eval/gt_err"] == ""  # written before the column existed: an empty cell
    assert metric_series(rows, "Eval/success_rate") == ([5.0, 10.0], [0.25, 0.5])
    assert metric_series(rows, "Eval/gt_err") == ([5.0, 10.0], [0.1, 0.05])
    assert metric_series(rows, "Train/episode_reward")[1][:3] == [12.0, 14.0, 16.0]
    assert metric_series(rows, "Train/never_logged") == ([], [])


def test_training_curves_with_columns_not_logged_yet(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    MetricsCSV(path).append({"epoch": 1, "env_steps": 4096, "Train/episode_reward": 3.0})
    assert_valid_png(plot_training_curves(path, tmp_path / "curves.png"), width=1000, height=700)


def test_training_curves_refuse_a_bad_cell(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,Train/clip_frac\n1,0.1\n2,lots\n")
    with pytest.raises(ResultsFileError, match=r"'Train/clip_frac'.*'lots' on line 3"):
        plot_training_curves(path, tmp_path / "curves.png")


# --- mimic report -------------------------------------------------------------------------------


def test_mimic_report_draws_training_curves_and_redraws_the_eval_plots(tmp_path: Path, capsys) -> None:
    run_dir = tmp_path / "run"
    write_metrics(run_dir / "metrics.csv")
    eval_dir = new_eval_dir(run_dir)
    paths = write_eval_outputs(eval_dir, make_rows(), make_summary(make_rows()))
    paths["error_histogram"].unlink()
    paths["success_by_subset"].unlink()

    assert main(["report", str(run_dir)]) == 0

    curves = run_dir / "plots" / "training_curves.png"
    assert capsys.readouterr().out.splitlines() == [
        str(curves),
        str(paths["error_histogram"]),
        str(paths["success_by_subset"]),
    ]
    assert_valid_png(curves, width=1000, height=700)
    assert_valid_png(paths["error_histogram"], width=700, height=450)
    assert_valid_png(paths["success_by_subset"], width=700, height=300)


def test_mimic_report_on_an_empty_directory_fails_naming_it(tmp_path: Path, capsys) -> None:
    run_dir = tmp_path / "empty_run"
    run_dir.mkdir()
    assert main(["report", str(run_dir)]) != 0
    error = capsys.readouterr().err
    assert str(run_dir) in error and "metrics.csv" in error and "an empty directory" in error
    assert list(run_dir.iterdir()) == []
