"""`mimic train` as a user runs it: run directory, resume, overrides errors, 2 ranks, baselines."""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest
import torch

MLP = "training/experiments/mimic/mlp.py"
SMALL = ["agent.actor_units=[64,64]", "agent.critic_units=[64,64]", "agent.num_steps=8"]


@pytest.fixture(scope="module")
def motion_file(synthetic_motion_lib):
    return synthetic_motion_lib


def _train(repo_root, results, motion_file, *extra, name="run", overrides=SMALL, timeout=300):
    command = [sys.executable, "-m", "mimic.cli", "train", "--robot-name", "smpl", "--simulator", "mujoco"]
    command += ["--experiment-path", "training/experiments/mimic/mlp.py", "--experiment-name", name]
    command += ["--motion-file", str(motion_file), "--num-envs", "4", "--batch-size", "16", "--num-threads", "1"]
    command += ["--results-dir", str(results), *extra, "--overrides", *overrides]
    return subprocess.run(command, cwd=repo_root, capture_output=True, text=True, timeout=timeout)


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_run_directory_and_resume(repo_root, motion_file, tmp_path):
    first = _train(repo_root, tmp_path, motion_file, "--max-epochs", "2")
    assert first.returncode == 0, first.stderr
    run = tmp_path / "run"
    assert {"last.ckpt", "metrics.csv", "resolved_config.yaml", "experiment_config.py"} <= {
        p.name for p in run.iterdir()
    }
    rows = _rows(run / "metrics.csv")
    assert [row["epoch"] for row in rows] == ["1", "2"]
    for name in (
        "Train/episode_reward", "Train/clip_frac", "Train/actor_grad_norm", "Train/critic_grad_norm",
        "Train/approx_kl", "Train/actor_loss", "Train/critic_loss", "Train/explained_variance", "Train/fps",
        "env/raw_r/gt_rew", "env/scaled_r/contact_match_rew",
    ):  # fmt: skip
        assert name in rows[0], name
    checkpoint = torch.load(run / "last.ckpt", weights_only=True)
    assert checkpoint["epoch"] == 2 and checkpoint["env_steps"] == 2 * 4 * 8
    assert checkpoint["lineage"]["motion_file_md5"] and checkpoint["config"]["agent"]["actor_units"] == [64, 64]
    assert "epoch   " in first.stdout and "env-steps/s" in first.stdout
    assert first.stdout.count("| ETA ") == 2  # to max_epochs, on every epoch line

    # The same command again, with a later bound, resumes and keeps counting.
    second = _train(repo_root, tmp_path, motion_file, "--max-epochs", "3")
    assert second.returncode == 0, second.stderr
    assert "resuming from" in second.stdout
    assert "on the CPU it continues bit for bit as if it had never stopped" in second.stdout  # what resume promises
    resumed = torch.load(run / "last.ckpt", weights_only=True)
    assert resumed["epoch"] == 3 and resumed["env_steps"] == 3 * 4 * 8
    assert [row["epoch"] for row in _rows(run / "metrics.csv")] == ["1", "2", "3"]
    # Weights moved on from the checkpoint it resumed from (training really continued).
    before, after = checkpoint["model"]["agent"]["actor"], resumed["model"]["agent"]["actor"]
    assert any(not torch.equal(before[key], after[key]) for key in before if key.endswith("weight"))


def test_unknown_override_lists_closest_keys(repo_root, motion_file, tmp_path):
    result = _train(repo_root, tmp_path, motion_file, overrides=["agent.num_mini_epoch=4"])
    assert result.returncode == 2
    assert "agent.num_mini_epochs" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "extra, overrides, line",
    [
        # was: ZeroDivisionError traceback
        (
            ["--num-envs", "0"],
            SMALL,
            "field 'num_envs (--num-envs)': expected a positive number of environments per rank, found 0",
        ),  # fmt: skip
        # was: RuntimeError "negative dimensions are not allowed"
        (["--num-envs", "-3"], SMALL, "field 'num_envs (--num-envs)': expected a positive number"),
        # was: a run without an epoch limit
        (["--max-epochs", "-1"], SMALL, "field 'agent.max_epochs (--max-epochs)': expected a non-negative number"),
        ([], [*SMALL, "agent.num_steps=0"], "field 'agent.num_steps': expected a positive number of rollout steps"),
        (["--nodes", "0"], SMALL, "command line: field '--nodes': expected a positive number of nodes, found 0"),
    ],
)
def test_a_count_out_of_range_is_one_line(repo_root, motion_file, tmp_path, extra, overrides, line):
    result = _train(repo_root, tmp_path, motion_file, *extra, overrides=overrides, timeout=120)
    assert result.returncode == 2, result.stderr
    (printed,) = result.stderr.strip().splitlines()
    assert line in printed and "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_two_ranks_train_together(repo_root, motion_file, tmp_path):
    result = _train(repo_root, tmp_path, motion_file, "--ngpu", "2", "--max-epochs", "2", name="ranks")
    assert result.returncode == 0, result.stderr
    checkpoint = torch.load(tmp_path / "ranks" / "last.ckpt", weights_only=True)
    # Both ranks' environment steps are counted, and both ranks' RNG states are kept.
    assert checkpoint["env_steps"] == 2 * 2 * 4 * 8
    assert len(checkpoint["rank_states"]) == 2


def test_oracle_agent_from_the_command_line(repo_root, motion_file, tmp_path):
    result = _train(repo_root, tmp_path, motion_file, "--agent", "oracle", "--baseline-seconds", "3")
    assert result.returncode == 0, result.stderr
    standing = [line for line in result.stdout.splitlines() if "standing" in line]
    assert standing and "completed" in standing[0]


def test_ctrl_c_saves_the_last_checkpoint_and_summarises(repo_root, motion_file, tmp_path):
    import signal
    import time

    command = [
        sys.executable,
        "-u",
        "-m",
        "mimic.cli",
        "train",
        "--experiment-path",
        "training/experiments/mimic/mlp.py",
    ]
    command += ["--experiment-name", "interrupted", "--motion-file", str(motion_file), "--num-envs", "4"]
    command += ["--batch-size", "16", "--num-threads", "1", "--results-dir", str(tmp_path), "--overrides", *SMALL]
    process = subprocess.Popen(command, cwd=repo_root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    lines = []
    while time.time() < deadline:
        line = process.stdout.readline()
        lines.append(line)
        if line.startswith("epoch") and "env-steps/s" in line:
            break
    process.send_signal(signal.SIGINT)
    out, _err = process.communicate(timeout=120)
    assert process.returncode == 130
    assert "interrupted at epoch" in out and "files in" in out
    checkpoint = torch.load(tmp_path / "interrupted" / "last.ckpt", weights_only=True)
    assert checkpoint["epoch"] >= 1


def test_use_wandb_logs_metrics_and_config_offline(repo_root, motion_file, tmp_path, monkeypatch):
    """No API key: the run is written offline under the run directory, nothing goes out."""
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DISABLE_GIT", "true")
    result = _train(repo_root, tmp_path, motion_file, "--max-epochs", "2", "--use-wandb", name="wb")
    assert result.returncode == 0, result.stderr
    runs = list((tmp_path / "wb" / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(runs) == 1
    record = runs[0].read_bytes()
    for key in (b"Train/clip_frac", b"Train/episode_reward", b"env/raw_r/gt_rew", b"actor_units", b"motion_file"):
        assert key in record, key


def test_resumed_run_equals_an_uninterrupted_one(repo_root, motion_file, tmp_path):
    """2 epochs + resume to 3 gives bit-identical weights and metrics to 3 epochs in one go:
    weights, optimisers, normalisers, RNGs, episodes in flight and the physics all come back."""
    straight = _train(repo_root, tmp_path, motion_file, "--max-epochs", "3", name="straight")
    assert straight.returncode == 0, straight.stderr
    for epochs in ("2", "3"):
        resumed = _train(repo_root, tmp_path, motion_file, "--max-epochs", epochs, name="resumed")
        assert resumed.returncode == 0, resumed.stderr
    a = torch.load(tmp_path / "straight" / "last.ckpt", weights_only=True)["model"]["agent"]
    b = torch.load(tmp_path / "resumed" / "last.ckpt", weights_only=True)["model"]["agent"]
    for part in ("actor", "critic", "actor_optimizer", "critic_optimizer", "reward_normalizer"):
        flat_a, flat_b = _tensors(a[part]), _tensors(b[part])
        assert flat_a.keys() == flat_b.keys()
        for key in flat_a:
            assert torch.equal(flat_a[key], flat_b[key]), (part, key)
    rows_a = _rows(tmp_path / "straight" / "metrics.csv")
    rows_b = _rows(tmp_path / "resumed" / "metrics.csv")
    timing = {"Train/fps", "wall_seconds"}
    assert [{k: v for k, v in r.items() if k not in timing} for r in rows_a] == [
        {k: v for k, v in r.items() if k not in timing} for r in rows_b
    ]
    # wall time carries on across the resume (epoch 3 was trained by a second process)
    wall = [float(r["wall_seconds"]) for r in rows_b]
    assert len(wall) == 3 and 0 < wall[0] < wall[1] < wall[2]


def _tensors(tree, prefix=""):
    """Every tensor in a nested state dict, by dotted path."""
    found = {}
    if isinstance(tree, torch.Tensor):
        found[prefix] = tree
    elif isinstance(tree, dict):
        for key, value in tree.items():
            found.update(_tensors(value, f"{prefix}.{key}"))
    elif isinstance(tree, (list, tuple)):
        for index, value in enumerate(tree):
            found.update(_tensors(value, f"{prefix}.{index}"))
    return found


@pytest.mark.parametrize(
    "mistake, line",
    [
        ("num_mini_epochs=1,", "field 'agent.num_mini_epoch': expected a known field (did you mean: agent.num_mini_"),
        ("actor_lr=2e-5,", "field 'agent.actor_lr': expected float, found '2e-5'"),
    ],
)
def test_experiment_file_mistakes_are_one_line(repo_root, motion_file, tmp_path, mistake, line):
    """The same mistakes --overrides reports in one line, made in an experiment file."""
    text = (repo_root / "training/experiments/mimic/mlp.py").read_text()
    wrong = {"num_mini_epochs=1,": "num_mini_epoch=1,", "actor_lr=2e-5,": 'actor_lr="2e-5",'}[mistake]
    assert text.count(mistake) == 1
    experiment = tmp_path / "my_mlp.py"
    experiment.write_text(text.replace(mistake, wrong))
    command = [sys.executable, "-m", "mimic.cli", "train", "--experiment-path", str(experiment)]
    command += ["--experiment-name", "x", "--motion-file", str(motion_file), "--results-dir", str(tmp_path)]
    result = subprocess.run(command, cwd=repo_root, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"{experiment}: {line}" in result.stderr
    assert not (tmp_path / "x").exists()


def test_a_second_ctrl_c_during_the_save_waits_for_it(repo_root, motion_file, tmp_path):
    """Two Ctrl-C a moment apart, the second while last.ckpt is being written (ProtoMotions-size
    networks: a 126 MB checkpoint): the save finishes, the checkpoint is whole, no traceback."""
    import signal
    import time

    command = [sys.executable, "-u", "-m", "mimic.cli", "train", "--experiment-path", MLP]
    command += ["--experiment-name", "twice", "--motion-file", str(motion_file), "--num-envs", "4"]
    command += ["--batch-size", "64", "--num-threads", "1", "--results-dir", str(tmp_path)]
    command += ["--overrides", "agent.num_steps=16"]  # mlp.py's 6x1024 actor and 4x1024 critic
    process = subprocess.Popen(command, cwd=repo_root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run = tmp_path / "twice"
    deadline = time.time() + 240
    while time.time() < deadline:  # the first epoch line: training is under way
        line = process.stdout.readline()
        if line.startswith("epoch") or not line:
            break
    process.send_signal(signal.SIGINT)
    saving_seen = False
    started = time.time()
    while time.time() < started + 60 and process.poll() is None:
        if list(run.glob(".last.ckpt.*.tmp")):  # atomic_output's temp file: the save is under way
            saving_seen = True
            break
        time.sleep(0.002)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=240)
    assert saving_seen, "the second SIGINT did not land during the save"
    assert process.returncode == 130, err
    assert "Traceback" not in err and "inline_container" not in err, err
    assert "Ctrl-C: interrupted at epoch 1;" in out and "every finished epoch is kept" in out
    assert "Ctrl-C 2 times: the checkpoint was saved whole first" in out
    checkpoint = torch.load(run / "last.ckpt", weights_only=True)
    assert checkpoint["epoch"] == 1 and len(checkpoint["rank_states"]) == 1
    assert not list(run.glob("*.tmp"))


def test_a_ctrl_c_during_a_rollout_stops_at_the_next_env_step_and_resumes(repo_root, motion_file, tmp_path):
    """A Ctrl-C while the envs step: training stops after that step (not inside it, while the
    simulator's threads run), keeps the finished epochs and the episodes in flight, and a rerun
    resumes from there."""
    import signal
    import time

    steps = ["agent.actor_units=[64,64]", "agent.critic_units=[64,64]", "agent.num_steps=256"]
    command = [sys.executable, "-u", "-m", "mimic.cli", "train", "--experiment-path", MLP]
    command += ["--experiment-name", "mid", "--motion-file", str(motion_file), "--num-envs", "4", "--batch-size", "64"]
    command += ["--num-threads", "1", "--results-dir", str(tmp_path), "--overrides", *steps]
    process = subprocess.Popen(command, cwd=repo_root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while time.time() < deadline:
        line = process.stdout.readline()
        if line.startswith("epoch") or not line:
            break
    time.sleep(0.3)  # into epoch 2's 256 steps
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=240)
    assert process.returncode == 130 and "Traceback" not in err, err
    checkpoint = torch.load(tmp_path / "mid" / "last.ckpt", weights_only=True)
    assert checkpoint["epoch"] == 1
    partial = checkpoint["env_steps"] - 4 * 256
    assert 0 < partial < 4 * 256 and partial % 4 == 0  # whole env steps of epoch 2
    assert f"the {partial:,} env steps of epoch 2 were not trained on" in out
    assert checkpoint["rank_states"][0]["rollout"] is not None  # the episodes in flight
    again = _train(repo_root, tmp_path, motion_file, "--max-epochs", "2", name="mid", overrides=steps)
    assert again.returncode == 0, again.stderr
    resumed = torch.load(tmp_path / "mid" / "last.ckpt", weights_only=True)
    assert resumed["epoch"] == 2 and resumed["env_steps"] == checkpoint["env_steps"] + 4 * 256
    assert [row["epoch"] for row in _rows(tmp_path / "mid" / "metrics.csv")] == ["1", "2"]


def test_two_ctrl_c_stop_two_ranks_together(repo_root, motion_file, tmp_path):
    """Ctrl-C at a terminal signals every process of the run (the parent and both ranks): the
    ranks agree on the step to stop at, save one whole checkpoint, and a late second Ctrl-C kills
    no rank on its way out."""
    import os
    import signal
    import time

    steps = ["agent.actor_units=[64,64]", "agent.critic_units=[64,64]", "agent.num_steps=256"]
    command = [sys.executable, "-u", "-m", "mimic.cli", "train", "--experiment-path", MLP]
    command += ["--experiment-name", "r2", "--motion-file", str(motion_file), "--num-envs", "4", "--batch-size", "64"]
    command += ["--num-threads", "1", "--ngpu", "2", "--results-dir", str(tmp_path), "--overrides", *steps]
    process = subprocess.Popen(
        command, cwd=repo_root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    deadline = time.time() + 240
    while time.time() < deadline:
        line = process.stdout.readline()
        if line.startswith("epoch") or not line:
            break
    for _ in range(2):
        time.sleep(0.3)
        os.killpg(process.pid, signal.SIGINT)  # the whole process group, as a terminal does
    out, err = process.communicate(timeout=240)
    assert process.returncode == 130, err
    assert "Traceback" not in err, err
    assert "Ctrl-C: interrupted at epoch 1;" in out
    checkpoint = torch.load(tmp_path / "r2" / "last.ckpt", weights_only=True)
    assert checkpoint["epoch"] == 1 and len(checkpoint["rank_states"]) == 2
    # part of epoch 2 (ranks stopping at different steps would hang in their next collective)
    assert 2 * 4 * 256 < checkpoint["env_steps"] < 2 * 2 * 4 * 256


def test_a_resume_with_nothing_to_train_rewrites_nothing(repo_root, motion_file, tmp_path):
    """The demo reruns `mimic train --max-epochs 4` on a run at epoch 4: last.ckpt (its bytes, its
    recorded lineage and time) and the run's files stay exactly as they were."""
    import hashlib

    first = _train(repo_root, tmp_path, motion_file, "--max-epochs", "2")
    assert first.returncode == 0, first.stderr
    run = tmp_path / "run"
    names = ("last.ckpt", "resolved_config.yaml", "experiment_config.py", "metrics.csv")

    def state():
        return {name: (hashlib.md5((run / name).read_bytes()).hexdigest(), (run / name).stat().st_mtime_ns)
                for name in names}  # fmt: skip

    before = state()
    again = _train(repo_root, tmp_path, motion_file, "--max-epochs", "2")
    assert again.returncode == 0, again.stderr
    assert state() == before
    assert f"{run / 'last.ckpt'} is already at epoch 2 (64 env steps; max_epochs 2): nothing to train" in again.stdout
