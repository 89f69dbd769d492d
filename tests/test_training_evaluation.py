"""Training-time evaluation: Eval/* metrics in metrics.csv, score_based.ckpt, and prioritised
motion weights (the update rule, and its round trip through last.ckpt on resume).

The training and inference run follows ``MIMIC_TEST_DEVICE`` (tests/device_under_test.py:
``mjwarp`` on CUDA); the viewer and video runs stay on the ``mujoco`` backend.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest
import torch
from device_under_test import cli_device_flags

from evaluation.eval_outputs import read_per_motion_table
from evaluation.prioritized_sampling import SUCCESS_DECAY, update_motion_weights
from training.periodic_evaluation import evaluation_due

SMALL = ["agent.actor_units=[64,64]", "agent.critic_units=[64,64]", "agent.num_steps=8"]
EVAL_EVERY_EPOCH = ["agent.eval_metrics_every=1", "agent.max_eval_steps=10"]


def test_update_rule_by_hand():
    assert abs(SUCCESS_DECAY - 0.81864) < 1e-5
    weights = torch.tensor([1.0, 0.5, 0.01, 0.7])
    new = update_motion_weights(weights, {0: True, 1: False, 2: True})
    # success: ×0.999^200; failure: back to 1; not evaluated: unchanged; all ≥ 1/4.
    assert new.tolist() == pytest.approx([0.999**200, 1.0, 0.25, 0.7])
    assert weights.tolist() == pytest.approx([1.0, 0.5, 0.01, 0.7])  # input untouched
    # A motion that keeps succeeding decays to the floor 1/M and stays there.
    w = torch.ones(10)
    for _ in range(30):
        w = update_motion_weights(w, {3: True})
    assert float(w[3]) == pytest.approx(0.1) and float(w[0]) == 1.0
    with pytest.raises(IndexError):
        update_motion_weights(torch.ones(3), {3: True})


def test_evaluation_cadence():
    assert [e for e in range(1, 801) if evaluation_due(e, 200)] == [200, 400, 600, 800]
    assert not any(evaluation_due(e, 0) for e in range(1, 50))


def test_a_run_with_evaluations_due_needs_the_evaluation_hook(repo_root, synthetic_motion_lib, tmp_path):
    from training.trainer import TrainOptions, train

    options = TrainOptions(
        str(repo_root / "training/experiments/mimic/mlp.py"),
        "no_hook",
        flags={"motion_file": str(synthetic_motion_lib)},
        overrides=["agent.eval_metrics_every=5"],
        results_dir=str(tmp_path),
    )
    with pytest.raises(ValueError, match="agent.eval_metrics_every=5 but no periodic evaluation was given"):
        train(options)
    assert not (tmp_path / "no_hook").exists()  # refused before anything was written


def _train(repo_root, results, motion_file, max_epochs):
    command = [sys.executable, "-m", "mimic.cli", "train", "--robot-name", "smpl", *cli_device_flags()]
    command += ["--experiment-path", "training/experiments/mimic/mlp.py", "--experiment-name", "run"]
    command += ["--motion-file", str(motion_file), "--num-envs", "4", "--batch-size", "16", "--num-threads", "1"]
    command += ["--results-dir", str(results), "--max-epochs", str(max_epochs), "--quiet"]
    command += ["--overrides", *SMALL, *EVAL_EVERY_EPOCH]
    return subprocess.run(command, cwd=repo_root, capture_output=True, text=True, timeout=300)


def _expected_weights(start, eval_dirs):
    weights = start
    for eval_dir in eval_dirs:
        rows = read_per_motion_table(eval_dir / "per_motion.parquet")
        weights = update_motion_weights(weights, {r["motion_id"]: r["success"] for r in rows})
    return weights


@pytest.mark.device
def test_training_evaluates_updates_weights_and_resumes_them(repo_root, synthetic_motion_lib, tmp_path):
    first = _train(repo_root, tmp_path, synthetic_motion_lib, 2)
    assert first.returncode == 0, first.stderr
    run = tmp_path / "run"
    with open(run / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["epoch"] for row in rows] == ["1", "2"]
    for row in rows:
        assert 0.0 <= float(row["Eval/success_rate"]) <= 1.0 and float(row["Eval/gt_err"]) > 0.0
        assert row["Eval/e_pa_mpjpe"] != ""
    eval_dirs = sorted((run / "eval").iterdir())
    assert len(eval_dirs) == 2 and all((d / "summary.json").exists() for d in eval_dirs)
    assert (run / "score_based.ckpt").exists()

    checkpoint = torch.load(run / "last.ckpt", weights_only=True)
    assert checkpoint["counters"]["eval_count"] == 2
    num_motions = checkpoint["motion_weights"].numel()
    expected = _expected_weights(torch.ones(num_motions), eval_dirs)
    assert torch.allclose(checkpoint["motion_weights"], expected)
    # Each evaluation's summary.json records the weights its update left (prioritised sampling's trace).
    recorded = json.loads((eval_dirs[-1] / "summary.json").read_text())["motion_weights"]
    assert recorded == pytest.approx(expected.tolist(), abs=1e-5)
    best = max(float(row["Eval/success_rate"]) for row in rows)
    assert checkpoint["counters"]["best_evaluated_score"] == pytest.approx(best)

    # Resuming restores the weights from last.ckpt: the third evaluation updates those.
    second = _train(repo_root, tmp_path, synthetic_motion_lib, 3)
    assert second.returncode == 0, second.stderr
    resumed = torch.load(run / "last.ckpt", weights_only=True)
    eval_dirs = sorted((run / "eval").iterdir())
    assert len(eval_dirs) == 3 and resumed["counters"]["eval_count"] == 3
    assert torch.allclose(resumed["motion_weights"], _expected_weights(checkpoint["motion_weights"], eval_dirs[2:]))

    # The trained policy evaluates from its checkpoint as a user runs it; results land in the run.
    before = set((run / "eval").iterdir())
    command = [sys.executable, "-m", "mimic.cli", "inference", "--checkpoint", str(run / "last.ckpt"), "--full-eval"]
    command += ["--num-envs", "4", "--num-threads", "1", "--max-frames", "10", "--headless", *cli_device_flags()]
    # ProtoMotions' scripts name the robot: accepted when it is the checkpoint's, one line when not.
    wrong = subprocess.run([*command, "--robot-name", "g1"], cwd=repo_root, capture_output=True, text=True, timeout=300)
    assert wrong.returncode == 2 and wrong.stderr.count("\n") == 1, wrong.stderr
    assert wrong.stderr == (
        f"mimic inference: error: {run / 'last.ckpt'}: field 'config.robot_name': expected the robot given with "
        "--robot-name (g1), found smpl (the robot this policy was trained for)\n"
    )
    assert set((run / "eval").iterdir()) == before
    inference = subprocess.run(
        [*command, "--robot-name", "smpl"], cwd=repo_root, capture_output=True, text=True, timeout=300
    )
    assert inference.returncode == 0, inference.stderr
    (new_dir,) = set((run / "eval").iterdir()) - before
    summary = json.loads((new_dir / "summary.json").read_text())
    assert summary["epoch"] == 3 and summary["agent"] == "policy" and summary["num_motions"] == num_motions
    assert "Eval/success_rate" in inference.stdout


def test_a_run_keeps_its_newest_evaluations_the_best_and_an_inference_only_best_policy(
    repo_root, synthetic_motion_lib, tmp_path, monkeypatch
):
    """Five evaluations with MIMIC_KEEP_EVAL_DIRS=2: the newest two folders and the best one stay.
    score_based.ckpt holds the best policy for evaluation, not for resuming: inference-only."""
    monkeypatch.setenv("MIMIC_KEEP_EVAL_DIRS", "2")
    done = _train(repo_root, tmp_path, synthetic_motion_lib, 5)
    assert done.returncode == 0, done.stderr
    run = tmp_path / "run"
    with open(run / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    scores = {int(r["epoch"]): (float(r["Eval/success_rate"]), -float(r["Eval/gt_err"]), int(r["epoch"])) for r in rows}
    best_epoch = max(scores, key=lambda epoch: scores[epoch])
    kept = sorted(json.loads((d / "summary.json").read_text())["epoch"] for d in (run / "eval").iterdir())
    assert kept == sorted({4, 5, best_epoch})

    best = torch.load(run / "score_based.ckpt", weights_only=True)
    last = torch.load(run / "last.ckpt", weights_only=True)
    assert best["extra"]["inference_only"] is True and best["rank_states"] == []
    assert set(best["model"]["agent"]) == {"actor", "epoch", "env_steps", "bad_grad_count", "rng_state"}
    assert "critic" in last["model"]["agent"] and len(last["rank_states"]) == 1  # last.ckpt: everything
    assert (run / "score_based.ckpt").stat().st_size < (run / "last.ckpt").stat().st_size / 2
    command = [sys.executable, "-m", "mimic.cli", "inference", "--checkpoint", str(run / "score_based.ckpt")]
    command += ["--full-eval", "--num-envs", "4", "--num-threads", "1", "--max-frames", "5", "--headless"]
    command += ["--output-dir", str(tmp_path / "best_eval")]
    evaluated = subprocess.run(command, cwd=repo_root, capture_output=True, text=True, timeout=300)
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads((tmp_path / "best_eval" / "summary.json").read_text())["epoch"] == best["epoch"]


def test_inference_runs_continuously_headless(repo_root, synthetic_motion_lib):
    command = [sys.executable, "-m", "mimic.cli", "inference", "--agent", "random", "--motion-file"]
    command += [str(synthetic_motion_lib), "--num-envs", "3", "--num-threads", "1", "--headless", "--steps", "40"]
    result = subprocess.run(command, cwd=repo_root, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    # Random actions knock the humanoids over: episodes end (and restart) within 40 steps.
    assert "ran 40 steps x 3 envs" in result.stdout
    ended = int(result.stdout.split("; ")[1].split(" episodes")[0])
    assert ended >= 3


def test_inference_records_a_video(repo_root, synthetic_motion_lib, tmp_path):
    from evaluation.video import read_video_frames

    video = tmp_path / "run.mp4"
    command = [sys.executable, "-m", "mimic.cli", "inference", "--agent", "oracle", "--motion-file"]
    command += [str(synthetic_motion_lib), "--num-envs", "1", "--num-threads", "1", "--headless", "--steps", "15"]
    result = subprocess.run([*command, "--record", str(video)], cwd=repo_root, capture_output=True, text=True,
                            timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr
    frames = read_video_frames(video)
    assert frames.shape == (15, 480, 640, 3)  # one frame per control step
    # Not blank: the lit humanoid stands out from the dark floor in every frame.
    assert all(int((frame[120:].max(axis=-1) > 60).sum()) > 2000 for frame in frames)
    # The humanoid moves: frames differ over time (outside the text box, top-left).
    assert float(abs(frames[-1, 120:].astype(float) - frames[0, 120:].astype(float)).mean()) > 0.1
