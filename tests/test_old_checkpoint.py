"""A checkpoint written before the checkpoint record changed (format 1, main at ab52331) still loads,
resumes training and evaluates through the CLI, as a user with an old run would use it.

The fixture (tests/fixtures/checkpoint_ab52331/, made by tests/fixtures/make_old_checkpoint.sh)
is copied to tmp_path first: the commands below write beside the checkpoint they read.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from broken_checkpoints import assert_each_is_named

from training.checkpoint import CHECKPOINT_FORMAT_VERSION, load_checkpoint
from training.rank_state import PROCESS_RNG_KEYS

REPO = Path(__file__).resolve().parent.parent
FIXTURE = REPO / "tests" / "fixtures" / "checkpoint_ab52331"
#: Where make_old_checkpoint.sh put the MotionLib, relative to the folder it ran in: the
#: checkpoint's resolved config names it so, and a resumed run reads that config.
RECORDED_MOTION_FILE = Path("tests/fixtures/checkpoint_ab52331/walk.pt")
OLD_EPOCHS, OLD_STEPS = 2, 64  # what the fixture's checkpoint recorded (step_count)
STEPS_PER_EPOCH = 4 * 8  # --num-envs 4, agent.num_steps=8
# The flags of make_old_checkpoint.sh (results dir and epochs aside).
TRAIN_FLAGS = [
    "--robot-name", "smpl", "--simulator", "mujoco",
    "--experiment-path", str(REPO / "training/experiments/mimic/mlp_cpu.py"), "--experiment-name", "old",
    "--motion-file", str(RECORDED_MOTION_FILE), "--num-envs", "4", "--batch-size", "16", "--num-threads", "1",
    "--seed", "7",
]  # fmt: skip
OVERRIDES = ["--overrides", "agent.actor_units=[32,32]", "agent.critic_units=[32,32]", "agent.num_steps=8"]


def _mimic(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    # cwd is a scratch folder: the code under test is this checkout's, whatever is installed.
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    command = [sys.executable, "-m", "mimic.cli", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def old_run(tmp_path: Path) -> Path:
    """``tmp_path`` laid out as the folder the fixture was made in: the MotionLib where the saved
    config names it, and the run directory ``results/old/`` with the checkpoint and its config."""
    motion_file = tmp_path / RECORDED_MOTION_FILE
    motion_file.parent.mkdir(parents=True)
    shutil.copyfile(FIXTURE / "walk.pt", motion_file)
    run = tmp_path / "results" / "old"
    run.mkdir(parents=True)
    for name in ("last.ckpt", "resolved_config.yaml"):
        shutil.copyfile(FIXTURE / name, run / name)
    return run


def test_the_old_checkpoint_loads_as_the_current_record(old_run: Path) -> None:
    raw = torch.load(FIXTURE / "last.ckpt", weights_only=True)
    assert raw["format_version"] == 1 and {"step_count", "rng_states", "optimizers"} <= set(raw)
    payload = load_checkpoint(old_run / "last.ckpt")
    assert payload["format_version"] == CHECKPOINT_FORMAT_VERSION
    assert not {"step_count", "rng_states", "optimizers"} & set(payload)
    assert (payload["epoch"], payload["env_steps"]) == (OLD_EPOCHS, OLD_STEPS)
    (state,) = payload["rank_states"]
    assert set(state) == {"rng", "agent_generator", "env_generator", "env", "rollout"}
    assert set(state["rng"]) == set(PROCESS_RNG_KEYS)
    old_state = raw["rng_states"][0]
    assert torch.equal(state["rng"]["torch"], old_state["torch"])
    assert torch.equal(state["env_generator"], old_state["env_generator"])
    assert torch.equal(state["env"]["physics"], old_state["env"]["physics"])
    assert torch.equal(state["rollout"]["obs"], old_state["rollout"]["obs"])
    assert payload["model"]["agent"]["env_steps"] == OLD_STEPS


def test_a_broken_old_checkpoint_names_its_old_field(tmp_path: Path) -> None:
    raw = torch.load(FIXTURE / "last.ckpt", weights_only=True)
    cases = [
        (dict(raw, rng_states={"not": "a list"}), "rng_states", "dict"),
        (dict(raw, rng_states=[3]), "rng_states[0]", "int"),
        (dict(raw, step_count="64"), "step_count", "str"),
        (dict(raw, step_count=-1), "env_steps", "-1"),
    ]
    assert_each_is_named(cases, tmp_path, "broken")


def test_training_resumes_from_the_old_checkpoint(old_run: Path) -> None:
    folder = old_run.parent.parent
    checkpoint = old_run / "last.ckpt"
    results = ["--results-dir", str(old_run.parent), "--checkpoint", str(checkpoint), "--max-epochs", "3"]
    result = _mimic(folder, "train", *TRAIN_FLAGS, *results, *OVERRIDES)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"resuming from {checkpoint}" in result.stdout
    resumed = load_checkpoint(checkpoint)
    assert resumed["format_version"] == CHECKPOINT_FORMAT_VERSION
    # One more epoch, counted on from the old checkpoint's epoch and steps.
    assert (resumed["epoch"], resumed["env_steps"]) == (OLD_EPOCHS + 1, OLD_STEPS + STEPS_PER_EPOCH)
    assert len(resumed["rank_states"]) == 1 and resumed["rank_states"][0]["env"] is not None
    with open(old_run / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(row["epoch"], row["env_steps"]) for row in rows] == [("3", str(OLD_STEPS + STEPS_PER_EPOCH))]
    parent = resumed["lineage"]["parent_checkpoint"]
    assert parent["start_mode"] == "resume" and parent["md5"] == _md5(FIXTURE / "last.ckpt")


def test_the_old_checkpoint_evaluates(old_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    result = _mimic(
        tmp_path, "inference", "--checkpoint", str(old_run / "last.ckpt"), "--full-eval",
        "--motion-file", str(tmp_path / RECORDED_MOTION_FILE), "--num-envs", "1", "--num-threads", "1",
        "--headless", "--output-dir", str(out), "--quiet",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["num_motions"] == 1 and summary["epoch"] == OLD_EPOCHS
