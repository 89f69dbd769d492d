"""A checkpoint and a MotionLib of different robots (G1 and SMPL, both ways), in `mimic inference
--full-eval` and `mimic train --checkpoint`: one line naming the file, the field, the expected
robot and what was found. They used to end in ``RuntimeError: The size of tensor a (24) must
match the size of tensor b (30)`` (inference) or a page of ``size mismatch for mlp.2.bias`` (a
warm start)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mimic.cli import main as mimic_main

REPO = Path(__file__).resolve().parent.parent
SMPL_CHECKPOINT = REPO / "data" / "pretrained" / "smpl_walk_jump" / "last.ckpt"  # the shipped SMPL policy
SMALL = ["agent.actor_units=[64,64]", "agent.critic_units=[64,64]", "agent.num_steps=8"]


def _train(
    g1_xml: Path, results: Path, name: str, robot: str, motion: Path, *extra: str
) -> subprocess.CompletedProcess:
    """`mimic train` of 1 tiny epoch (the G1's model file from the shared fixtures)."""
    command = [sys.executable, "-m", "mimic.cli", "train", "--robot-name", robot, "--simulator", "mujoco"]
    command += ["--experiment-path", "training/experiments/mimic/mlp.py", "--experiment-name", name]
    command += ["--motion-file", str(motion), "--num-envs", "4", "--batch-size", "16", "--num-threads", "1"]
    command += ["--results-dir", str(results), "--max-epochs", "1", *extra, "--overrides", *SMALL]
    environment = dict(os.environ, MIMIC_G1_XML=str(g1_xml))
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300, env=environment)


@pytest.fixture(scope="module")
def g1_checkpoint(g1_clip, g1_xml, tmp_path_factory) -> Path:
    """One epoch of the G1 on its standing clip, trained by `mimic train`."""
    results = tmp_path_factory.mktemp("g1_run")
    done = _train(g1_xml, results, "g1", "g1", g1_clip)
    assert done.returncode == 0, done.stderr
    return results / "g1" / "last.ckpt"


def _one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr and "size of tensor" not in stderr, stderr[-3000:]
    lines = [line for line in stderr.strip().splitlines() if "error:" in line]
    assert len(lines) == 1, stderr
    return lines[0]


def test_full_eval_of_a_g1_checkpoint_on_an_smpl_motion_lib(g1_checkpoint, synthetic_motion_lib, tmp_path, capsys):
    argv = ["inference", "--checkpoint", str(g1_checkpoint), "--full-eval", "--headless"]
    assert mimic_main([*argv, "--motion-file", str(synthetic_motion_lib), "--output-dir", str(tmp_path / "o")]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert (
        f"{synthetic_motion_lib}: field 'gts': expected 30 bodies with 29 DoFs per frame, the g1 robot's "
        f"(the checkpoint {g1_checkpoint} has robot_name 'g1'), found 24 bodies with 69 DoFs: "
        "a MotionLib of the smpl robot"
    ) in line
    assert not (tmp_path / "o").exists()


def test_full_eval_of_an_smpl_checkpoint_on_a_g1_motion_lib(g1_clip, g1_checkpoint, tmp_path, capsys):
    argv = ["inference", "--checkpoint", str(SMPL_CHECKPOINT), "--full-eval", "--headless"]
    assert mimic_main([*argv, "--motion-file", str(g1_clip), "--output-dir", str(tmp_path / "o")]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert (
        f"{g1_clip}: field 'gts': expected 24 bodies with 69 DoFs per frame, the smpl robot's "
        f"(the checkpoint {SMPL_CHECKPOINT} has robot_name 'smpl'), found 30 bodies with 29 DoFs: "
        "a MotionLib of the g1 robot"
    ) in line


def test_warm_start_from_a_checkpoint_of_the_other_robot(
    g1_xml, g1_clip, g1_checkpoint, synthetic_motion_lib, tmp_path
):
    smpl_run = _train(g1_xml, tmp_path, "smpl", "smpl", synthetic_motion_lib, "--checkpoint", str(g1_checkpoint))
    assert smpl_run.returncode == 2
    expected = "field 'config.robot_name': expected 'smpl' (the robot this run drives), found 'g1'"
    assert f"{g1_checkpoint}: {expected}" in _one_error_line(smpl_run.stderr)
    g1_run = _train(g1_xml, tmp_path, "g1", "g1", g1_clip, "--checkpoint", str(SMPL_CHECKPOINT))
    assert g1_run.returncode == 2
    expected = "field 'config.robot_name': expected 'g1' (the robot this run drives), found 'smpl'"
    assert f"{SMPL_CHECKPOINT}: {expected}" in _one_error_line(g1_run.stderr)
    assert not (tmp_path / "smpl").exists() and not (tmp_path / "g1").exists()


def test_warm_start_with_other_layer_sizes_names_the_first_tensor(g1_xml, synthetic_motion_lib, tmp_path):
    # The shipped policy's actor is 512-256-128 (mlp_cpu.py); this run asks for 64-64.
    run = _train(g1_xml, tmp_path, "smpl", "smpl", synthetic_motion_lib, "--checkpoint", str(SMPL_CHECKPOINT))
    assert run.returncode == 2
    line = _one_error_line(run.stderr)
    assert (
        f"{SMPL_CHECKPOINT}: field 'model.agent.actor.mlp.0.weight': expected shape (64, 1003) (this run's network: "
        "its observations, actions and layer sizes), found shape (512, 1003)"
    ) in line


def test_training_the_g1_on_an_smpl_motion_lib(synthetic_motion_lib, g1_xml, tmp_path):
    run = _train(g1_xml, tmp_path, "g1", "g1", synthetic_motion_lib)
    assert run.returncode == 2
    line = _one_error_line(run.stderr)
    assert f"{synthetic_motion_lib}: field 'gts': expected 30 bodies with 29 DoFs per frame, the g1 robot's (" in line
    assert "mlp.py with the command line has robot_name 'g1'), found 24 bodies with 69 DoFs" in line
