"""``mimic checkpoint compact``: a resumable checkpoint without the episodes in flight, and an
inference-only one that full-evaluates exactly like the full checkpoint."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import torch

SMALL = ["agent.actor_units=[64,64]", "agent.critic_units=[64,64]", "agent.num_steps=8"]


def _mimic(repo_root, *args, timeout=300):
    return subprocess.run([sys.executable, "-m", "mimic.cli", *args], cwd=repo_root, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


def _train(repo_root, results, motion_file, epochs, name="run"):
    return _mimic(
        repo_root, "train", "--robot-name", "smpl", "--simulator", "mujoco", "--experiment-path",
        "training/experiments/mimic/mlp_corpus_cpu.py", "--experiment-name", name, "--motion-file", str(motion_file),
        "--num-envs", "4", "--batch-size", "16", "--num-threads", "1", "--results-dir", str(results),
        "--max-epochs", str(epochs), "--overrides", *SMALL,
    )  # fmt: skip


@pytest.fixture(scope="module")
def trained(repo_root, synthetic_motion_lib, tmp_path_factory):
    results = tmp_path_factory.mktemp("compact")
    run = _train(repo_root, results, synthetic_motion_lib, 2)
    assert run.returncode == 0, run.stderr
    return results


def test_compact_checkpoint_resumes_with_the_learning_state(repo_root, synthetic_motion_lib, trained, tmp_path):
    full = trained / "run" / "last.ckpt"
    shutil.copytree(trained / "run", tmp_path / "run")
    result = _mimic(repo_root, "checkpoint", "compact", str(tmp_path / "run" / "last.ckpt"))
    assert result.returncode == 0, result.stderr
    assert "dropped rank_states[0].env, rank_states[0].rollout" in result.stdout
    compact = torch.load(tmp_path / "run" / "last.ckpt", weights_only=True)
    original = torch.load(full, weights_only=True)
    assert (tmp_path / "run" / "last.ckpt").stat().st_size < full.stat().st_size
    for part in ("actor", "critic", "actor_optimizer", "critic_optimizer"):
        assert str(compact["model"]["agent"][part]) == str(original["model"]["agent"][part])
    assert torch.equal(compact["extra"]["failure_counts"], original["extra"]["failure_counts"])
    assert compact["lineage"]["compacted"][0]["inference_only"] is False
    resumed = _train(repo_root, tmp_path, synthetic_motion_lib, 3)
    assert resumed.returncode == 0, resumed.stderr
    assert torch.load(tmp_path / "run" / "last.ckpt", weights_only=True)["epoch"] == 3


def test_inference_only_checkpoint_evaluates_identically_and_refuses_to_resume(
    repo_root, synthetic_motion_lib, trained, tmp_path
):
    full = trained / "run" / "last.ckpt"
    small = tmp_path / "policy.ckpt"
    result = _mimic(repo_root, "checkpoint", "compact", str(full), "--output", str(small), "--inference-only")
    assert result.returncode == 0, result.stderr
    payload = torch.load(small, weights_only=True)
    assert set(payload["model"]["agent"]) == {"actor", "epoch", "env_steps", "bad_grad_count", "rng_state"}
    assert payload["rank_states"] == [] and small.stat().st_size < full.stat().st_size / 3
    summaries = []
    for checkpoint, out in ((full, tmp_path / "eval_full"), (small, tmp_path / "eval_small")):
        run = _mimic(
            repo_root, "inference", "--checkpoint", str(checkpoint), "--full-eval", "--headless", "--num-envs", "4",
            "--motion-file", str(synthetic_motion_lib), "--output-dir", str(out),
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        summaries.append(json.loads((out / "summary.json").read_text()))
    assert summaries[0]["all"] == summaries[1]["all"]
    # Resuming from it is refused in one line; the run folder is left as it was.
    run_dir = tmp_path / "refused" / "run"
    shutil.copytree(trained / "run", run_dir)
    shutil.copy(small, run_dir / "last.ckpt")
    refused = _train(repo_root, tmp_path / "refused", synthetic_motion_lib, 3)
    assert refused.returncode != 0
    assert "inference-only checkpoint" in refused.stderr and "Traceback" not in refused.stderr
