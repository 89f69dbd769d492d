"""The Unitree G1 through the same pipeline as the SMPL humanoid: robot spec, simulator basics,
oracle on a kinematic standing clip, training smoke run, full evaluation and the visualizer."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch

from mimic.cli import main as mimic_main
from motion.motion_lib import MotionLib
from robots.g1 import G1_STAND_POSE
from robots.registry import robot_by_name
from training.config import ExperimentConfig
from training.overrides import apply_overrides

SMALL = ["agent.actor_units=[64,64]", "agent.critic_units=[64,64]", "agent.num_steps=8"]
G1_MASS = 35.112142  # kg: the sum of the MJCF's <inertial> masses


@pytest.fixture(scope="module")
def g1(g1_xml):
    return robot_by_name("g1", robot_xml=str(g1_xml))


@pytest.fixture()
def g1_env_var(g1_xml, monkeypatch):
    monkeypatch.setenv("MIMIC_G1_XML", str(g1_xml))


def _env(motion_file, num_envs=1, overrides=()):
    from training.envs.factory import make_env

    items = [f"motion_file={motion_file}", f"num_envs={num_envs}", "robot_name=g1", *overrides]
    env, _ = make_env(apply_overrides(ExperimentConfig(), items), threads=1)
    return env


def test_robot_spec_gains_and_pd_actuators(g1, g1_xml):
    assert len(g1.dof_names) == 29 and len(g1.body_names) == 30 and g1.body_names[0] == "pelvis"
    assert g1.dof_format == "joint_angles" and g1.model_path == str(g1_xml.resolve())
    assert g1.contact_bodies == ("left_ankle_roll_link", "right_ankle_roll_link")
    knee, wrist = g1.dof_names.index("left_knee_joint"), g1.dof_names.index("left_wrist_pitch_joint")
    # BeyondMimic's rule kp = I·ω², kd = 2ζ·I·ω, ω = 20π rad/s, ζ = 2; knee motor 7520-22 I = 0.025101925.
    omega = 20 * math.pi
    assert g1.kp[knee] == pytest.approx(0.025101925 * omega**2) == pytest.approx(99.10, abs=0.01)
    assert g1.kd[knee] == pytest.approx(4 * 0.025101925 * omega) == pytest.approx(6.309, abs=0.001)
    assert g1.kp[wrist] == pytest.approx(0.00425 * omega**2) and g1.effort_limit[wrist] == 5.0
    assert g1.effort_limit[knee] == 139.0
    # Action mapping: mid-range offset, half-range scale (knee range -0.087267..2.8798 rad).
    assert g1.action_offset[knee] == pytest.approx((2.8798 - 0.087267) / 2)
    assert g1.action_scale[knee] == pytest.approx((2.8798 + 0.087267) / 2)

    import mujoco

    model = mujoco.MjModel.from_xml_string(g1.mjcf_xml)  # compiles from any directory: absolute meshdir
    assert model.nu == 29 and model.opt.integrator == mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    assert sum(model.body_mass) == pytest.approx(G1_MASS)
    for index, name in enumerate(g1.dof_names):
        actuator, joint = model.actuator(name), model.joint(name)
        assert model.actuator_trnid[actuator.id, 0] == joint.id
        assert actuator.gainprm[0] == pytest.approx(g1.kp[index]) and actuator.biasprm[1] == -actuator.gainprm[0]
        assert tuple(actuator.forcerange) == (-g1.effort_limit[index], g1.effort_limit[index])
        assert joint.damping[0] == pytest.approx(g1.kd[index])
        assert tuple(joint.range) == pytest.approx((g1.dof_lower[index], g1.dof_upper[index]))
    assert ET.fromstring(g1.mjcf_xml).find("compiler").get("meshdir") == str(g1_xml.parent / "meshes")


def test_model_resolution_order_and_error(g1_xml, tmp_path, monkeypatch):
    monkeypatch.setenv("MIMIC_G1_XML", str(g1_xml))
    assert robot_by_name("g1").model_path == str(g1_xml.resolve())
    with pytest.raises(FileNotFoundError, match="explicit path"):  # an explicit path wins over the variable
        robot_by_name("g1", robot_xml=str(tmp_path / "missing.xml"))
    monkeypatch.delenv("MIMIC_G1_XML")
    with pytest.raises(FileNotFoundError, match="robot_xml.*MIMIC_G1_XML.*mujoco-menagerie"):
        robot_by_name("g1")
    with pytest.raises(ValueError, match="builds its own model"):
        robot_by_name("smpl", robot_xml=str(g1_xml))


def test_standing_clip_is_a_motion_lib_on_the_ground(g1, g1_clip):
    lib = MotionLib.from_file(g1_clip)
    assert lib.num_motions == 1 and lib.num_frames == 91 and lib.motion_lengths.tolist() == [3.0]
    state = lib.get_motion_state(torch.tensor([0]), torch.tensor([1.5]))
    assert state.rigid_body_pos.shape == (1, 30, 3) and state.dof_pos.shape == (1, 29)
    knee = g1.dof_names.index("left_knee_joint")
    assert state.dof_pos[0, knee] == pytest.approx(G1_STAND_POSE["left_knee_joint"])
    # Bent-knee stand: the pelvis below its 0.793 m straight-leg height in the MJCF.
    assert 0.70 < float(state.rigid_body_pos[0, 0, 2]) < 0.793
    assert lib.contacts[:, [6, 12]].all() and not lib.contacts[:, :6].any()


def test_pd_reaches_a_target_and_standing_weighs_m_g(g1, g1_clip, g1_env_var):
    env = _env(g1_clip, overrides=["env.ref_respawn_offset=0.0"])
    try:
        env.reset_envs(torch.tensor([0]), motion_ids=torch.tensor([0]), times=torch.zeros(1))
        targets = env.reference_pd_targets(torch.zeros(1)).clone()
        elbow = g1.dof_names.index("left_elbow_joint")
        targets[0, elbow] = 1.0
        for _ in range(12):  # 0.4 s: the robot still stands (see the oracle test)
            env.sim.step(targets)
        # Gravity on the forearm (~0.5 N·m at 1 rad) against kp = 14.25 N·m/rad leaves ~0.04 rad.
        assert float(env.sim.dof_state().pos[0, elbow]) == pytest.approx(1.0, abs=0.06)
        feet = [g1.body_names.index(name) for name in g1.contact_bodies]
        vertical = float(env.sim.contact_forces()[0, feet, 2].sum())
        assert vertical == pytest.approx(G1_MASS * 9.81, rel=0.05)  # 344 N
    finally:
        env.sim.close()


def test_oracle_on_the_standing_clip(g1_clip, g1_env_var):
    from training.baseline_run import run_baseline

    env = _env(g1_clip, overrides=["env.init_start_prob=1.0"])
    try:
        assert env.num_obs == 1197  # 1 + 3·29 + 12·30 self, 24·30 one future frame, 29 previous actions
        result = run_baseline(env, "oracle", seconds=3.0)
        print("G1 oracle on the standing clip:", result.seconds, result.terminated)
        # Measured 0.9 s: open-loop PD cannot hold the G1 up. Its ankles (kp 2 × 28.5 N·m/rad)
        # are far softer than the body's inverted-pendulum stiffness m·g·h ≈ 35·9.81·0.7 ≈ 240 N·m/rad,
        # so without balance feedback (what the policy learns) it tips over within about a second.
        assert result.seconds[0] >= 0.8
    finally:
        env.sim.close()


def test_train_cli_smoke(repo_root, g1_clip, g1_xml, tmp_path):
    command = [sys.executable, "-m", "mimic.cli", "train", "--robot-name", "g1", "--simulator", "mujoco"]
    command += ["--experiment-path", "training/experiments/mimic/mlp.py", "--experiment-name", "g1"]
    command += ["--motion-file", str(g1_clip), "--num-envs", "4", "--batch-size", "16", "--num-threads", "1"]
    command += ["--results-dir", str(tmp_path), "--max-epochs", "1", "--overrides", *SMALL]
    environment = dict(os.environ, MIMIC_G1_XML=str(g1_xml))
    done = subprocess.run(command, cwd=repo_root, capture_output=True, text=True, timeout=300, env=environment)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "g1" / "last.ckpt").is_file()


def test_full_eval_with_the_oracle(g1_clip, g1_env_var, tmp_path, capsys):
    out = tmp_path / "g1_eval"
    argv = ["inference", "--agent", "oracle", "--motion-file", str(g1_clip), "--full-eval", "--num-envs", "1"]
    argv += ["--num-threads", "1", "--headless", "--output-dir", str(out), "--overrides", "robot_name=g1"]
    assert mimic_main(argv) == 0
    assert "Eval/success_rate" in capsys.readouterr().out
    names = {p.name for p in out.iterdir()}
    assert {"summary.json", "per_motion.parquet", "failed_motions.txt", "predicted_motionlib.pt", "plots"} <= names
    predicted = MotionLib.from_file(out / "predicted_motionlib.pt")
    assert predicted.gts.shape[1:] == (30, 3) and predicted.dps.shape[1] == 29
    assert predicted.lrs is None  # joint-angle robots carry their hinge angles in dps


def test_visualizer_renders_the_g1(g1_clip, g1_env_var, tmp_path, capsys):
    from evaluation.video import read_video_frames

    out = tmp_path / "g1.mp4"
    argv = ["visualize", "--motion-files", str(g1_clip), "--robot", "g1", "--headless"]
    argv += ["--output", str(out), "--max-frames", "10", "--width", "160", "--height", "120", "--json"]
    assert mimic_main(argv) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["frames"] == 10
    frames = read_video_frames(out).astype(np.int64)
    assert frames.shape == (10, 120, 160, 3)
    assert all(frame.std() > 20 for frame in frames)  # a lit scene, not a blank frame
    # The G1 keeps its MJCF's grey (R ≈ B, bright); the floor is blue-grey and dark.
    below_text = frames[:, 50:]
    grey = (np.abs(below_text[..., 0] - below_text[..., 2]) < 15) & (below_text.mean(axis=-1) > 100)
    assert (grey.sum(axis=(1, 2)) > 40).all()  # measured 59 px at 160×120
