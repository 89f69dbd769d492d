"""Issue [5/6]: the oracle on a *retargeted* G1 standing clip, next to the kinematic one.

The synthetic SMPL standing clip (zero body pose, i.e. a T-pose with the arms out, pelvis still)
goes through the retarget library to the G1, then the oracle (reference PD targets, no feedback)
plays it in the mimic env. Measured (3 s clips, default env settings, 5 cm respawn drop):
kinematic G1 stand 0.90 s, retargeted stand (arms out) 1.30 s, both ending by termination (before
the IK's first frame was solved to convergence, the retargeted clip started with a 20 rad/s
transient and lasted 0.37 s). Open-loop PD cannot hold either up for long (the G1's ankles are
far softer than m·g·h; see tests/test_g1.py), so no ≥ 2 s claim is made here.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from motion.motion_lib import MotionLib
from retarget.batch import retarget_motion_lib
from retarget.ik import RetargetParams
from robots.registry import robot_by_name
from robots.standing_clips import standing_clip
from training.config import ExperimentConfig
from training.overrides import apply_overrides

FEET = ("left_ankle_roll_link", "right_ankle_roll_link")


@pytest.fixture(scope="module")
def retargeted_standing(synthetic_motion_lib, g1_xml, tmp_path_factory):
    """The synthetic standing clip alone, retargeted to the G1: (report, G1 MotionLib path)."""
    smpl = MotionLib.from_file(synthetic_motion_lib)
    standing = [path for path in smpl.motion_files if "standing" in Path(path).name]
    assert len(standing) == 1, smpl.motion_files
    out = tmp_path_factory.mktemp("g1_retargeted_standing")
    MotionLib.from_motion_files(standing).save(out / "smpl_standing.pt")
    report = retarget_motion_lib(
        out / "smpl_standing.pt", out / "g1_standing.pt", robot_xml=g1_xml, params=RetargetParams()
    )
    assert report.ok, report.failures
    return report, out / "g1_standing.pt"


def _env(motion_file, overrides=()):
    from training.envs.factory import make_env

    items = [f"motion_file={motion_file}", "num_envs=1", "robot_name=g1", *overrides]
    env, _ = make_env(apply_overrides(ExperimentConfig(), items), threads=1)
    return env


def test_retargeted_standing_clip_stands_on_both_feet(retargeted_standing, g1_xml):
    report, path = retargeted_standing
    g1 = robot_by_name("g1", robot_xml=str(g1_xml))
    lib = MotionLib.from_file(path)
    # 3 s at 120 fps resampled to 30 fps: 90 frames (2.967 s).
    assert lib.num_motions == 1 and lib.num_frames == 90
    root_height = lib.gts[:, 0, 2]
    # The pelvis stays put: measured 0.7920-0.7937 m (a 0.8 mm frame-to-frame IK jitter).
    assert float(root_height.max() - root_height.min()) < 0.02
    assert float(root_height.min()) > 0.70 and float(root_height.max()) < 0.82
    horizontal = (lib.gts[:, 0, :2] - lib.gts[0, 0, :2]).norm(dim=-1)
    assert float(horizontal.max()) < 0.02
    (row,) = report.quality
    assert row["min_foot_height_mm"] >= -5.0 and row["joint_limit_violations"] == 0
    feet = [g1.body_names.index(name) for name in FEET]
    assert bool(lib.contacts[:, feet].all())  # both feet down in every frame


def test_env_resets_onto_the_retargeted_clip(retargeted_standing, g1_xml, monkeypatch):
    monkeypatch.setenv("MIMIC_G1_XML", str(g1_xml))
    env = _env(retargeted_standing[1], overrides=["env.ref_respawn_offset=0.0"])
    try:
        for start in (0.0, 1.5):
            times = torch.tensor([start])
            env.reset_envs(torch.tensor([0]), motion_ids=torch.tensor([0]), times=times)
            ref = env.motion_lib.get_motion_state(torch.tensor([0]), times)
            error = (env.sim.body_state().pos - ref.rigid_body_pos).norm(dim=-1)
            assert float(error.max()) < 0.01  # measured 1e-7 m: the hinge angles reproduce the bodies
    finally:
        env.sim.close()


def test_oracle_on_retargeted_vs_kinematic_standing(retargeted_standing, g1_xml, monkeypatch, tmp_path):
    from training.baseline_run import run_baseline

    monkeypatch.setenv("MIMIC_G1_XML", str(g1_xml))
    kinematic = tmp_path / "g1_kinematic_standing.pt"
    torch.save(standing_clip(robot_by_name("g1", robot_xml=str(g1_xml))), kinematic)
    lasted = {}
    for name, path in (("kinematic", kinematic), ("retargeted", retargeted_standing[1])):
        env = _env(path, overrides=["env.init_start_prob=1.0"])
        try:
            result = run_baseline(env, "oracle", seconds=3.0, motion_ids=torch.tensor([0]))
        finally:
            env.sim.close()
        lasted[name] = (result.seconds[0], result.terminated[0])
    print("G1 oracle, standing clips (seconds, terminated):", lasted)
    # Measured: kinematic 0.90 s, retargeted 1.30 s, both terminated (module docstring). The
    # check: the oracle holds each well past the first steps (a bad reset or a clip below the
    # floor ends it within 0.1 s), and the retargeted clip at least as long as the kinematic one
    # less a margin.
    assert lasted["kinematic"][0] >= 0.8
    assert lasted["retargeted"][0] >= lasted["kinematic"][0] - 0.2
