"""The generated SMPL humanoid MJCF: structure, masses vs the reference model, PD actuators, stability."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pytest

mujoco = pytest.importorskip("mujoco")

from mimic.commands import humanoid as humanoid_command  # noqa: E402
from motion.errors import MotionDataError  # noqa: E402
from motion.skeleton import BODY_NAMES, NEUTRAL_OFFSETS, PARENTS, body_gains, dof_names  # noqa: E402
from robots.smpl_humanoid import (  # noqa: E402
    NEUTRAL_GEOMS,
    GeomSpec,
    build_smpl_humanoid_xml,
    humanoid_spec,
    load_smpl_humanoid_model,
    write_smpl_humanoid_xml,
)


@pytest.fixture(scope="module")
def model():
    return load_smpl_humanoid_model()


@pytest.fixture(scope="module")
def reference(fixtures_dir: Path):
    """The reference SMPL humanoid, in the ``reference/`` folder beside the fixtures."""
    path = fixtures_dir.parent / "reference" / "smpl_humanoid_reference.xml"
    if not path.is_file():
        pytest.skip(f"reference humanoid not found at {path}")
    return mujoco.MjModel.from_xml_path(str(path))


def test_dimensions_and_tree(model):
    assert (model.nq, model.nv, model.nu, model.nbody) == (76, 75, 69, 25)
    assert [model.body(i).name for i in range(1, model.nbody)] == list(BODY_NAMES)
    assert list(model.body_parentid[1:] - 1) == list(PARENTS)
    assert model.jnt_type[0] == mujoco.mjtJoint.mjJNT_FREE and model.jnt_bodyid[0] == 1
    hinge_names = [model.joint(i).name for i in range(1, model.njnt)]
    assert hinge_names == dof_names()
    assert np.array_equal(model.jnt_axis[1:], np.tile(np.eye(3), (23, 1)))
    np.testing.assert_allclose(model.jnt_range[1:], [[-math.pi, math.pi]] * 69, atol=1e-9)
    assert model.jnt_limited[1:].all()
    np.testing.assert_allclose(model.dof_armature[6:], 0.02)
    np.testing.assert_allclose(model.body_pos[1:], NEUTRAL_OFFSETS, atol=1e-12)


def test_total_mass_is_that_of_the_smpl_neutral_humanoid(model):
    assert model.body_mass.sum() == pytest.approx(63.31, rel=0.01)


def test_masses_positions_and_geoms_match_the_reference(model, reference):
    names = [reference.body(i).name for i in range(reference.nbody)]
    assert names[1:] == list(BODY_NAMES)
    np.testing.assert_allclose(model.body_mass, reference.body_mass, rtol=0.01)
    np.testing.assert_allclose(model.body_mass, reference.body_mass, rtol=1e-6)  # same numbers in fact
    np.testing.assert_allclose(model.body_pos, reference.body_pos, atol=1e-12)
    np.testing.assert_allclose(model.body_inertia, reference.body_inertia, rtol=1e-5)
    assert list(model.geom_type) == list(reference.geom_type)
    np.testing.assert_allclose(model.geom_size, reference.geom_size, atol=1e-12)
    np.testing.assert_allclose(model.geom_pos, reference.geom_pos, atol=1e-9)
    assert list(model.geom_contype) == list(reference.geom_contype)
    assert list(model.geom_conaffinity) == list(reference.geom_conaffinity)
    np.testing.assert_allclose(model.geom_friction, reference.geom_friction)
    np.testing.assert_allclose(model.geom_margin, 0.001)
    assert set(model.exclude_signature) == set(reference.exclude_signature)


def test_actuators_are_pd_controllers_with_the_gain_table(model):
    spec = humanoid_spec()
    for index, dof in enumerate(dof_names()):
        actuator = model.actuator(index)
        assert actuator.name == dof
        assert model.actuator_trnid[index, 0] == model.joint(dof).id
        kp, kd = body_gains(dof[:-2])
        assert (spec.kp[index], spec.kd[index]) == (kp, kd)
        assert model.actuator_gainprm[index, 0] == kp
        np.testing.assert_array_equal(model.actuator_biasprm[index, :3], [0.0, -kp, 0.0])
        # kd is the hinge's damping (implicit under implicitfast even while the force clips)
        assert model.dof_damping[model.joint(dof).dofadr[0]] == kd
        assert model.actuator_biastype[index] == mujoco.mjtBias.mjBIAS_AFFINE
        np.testing.assert_array_equal(model.actuator_forcerange[index], [-500.0, 500.0])
        np.testing.assert_allclose(model.actuator_ctrlrange[index], [-math.pi, math.pi], atol=1e-9)
    assert model.actuator_forcelimited.all() and model.actuator_ctrllimited.all()

    # The engine computes kp·(target − q) clipped to ±500 N·m, plus the damping −kd·q̇.
    data = mujoco.MjData(model)
    rng = np.random.default_rng(3)
    data.qpos[7:] = rng.uniform(-0.5, 0.5, 69)
    data.qvel[6:] = rng.uniform(-2.0, 2.0, 69)
    data.ctrl[:] = rng.uniform(-0.5, 0.5, 69)
    mujoco.mj_forward(model, data)
    expected = np.clip(spec.kp * (data.ctrl - data.qpos[7:]), -500.0, 500.0)
    np.testing.assert_allclose(data.actuator_force, expected, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(data.qfrc_damper[6:], -spec.kd * data.qvel[6:], rtol=1e-9, atol=1e-9)


def test_no_passive_spring_and_implicitfast_at_120_hz(model):
    assert not model.jnt_stiffness.any()  # the spring term is the actuator's alone
    assert model.opt.integrator == mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    assert model.opt.timestep == pytest.approx(1.0 / 120.0, rel=1e-15)


@pytest.mark.parametrize("hinge,target", [("L_Knee_y", 0.6), ("R_Elbow_z", -1.0), ("L_Wrist_x", 0.4)])
def test_pd_drives_a_hinge_to_its_target(hinge, target):
    model = load_smpl_humanoid_model()
    model.opt.gravity[:] = 0.0
    data = mujoco.MjData(model)
    data.ctrl[model.actuator(hinge).id] = target
    for _ in range(240):  # 2 s
        mujoco.mj_step(model, data)
    address = model.joint(hinge).qposadr[0]
    assert data.qpos[address] == pytest.approx(target, abs=2e-3)
    assert abs(data.qvel[model.joint(hinge).dofadr[0]]) < 1e-2
    others = np.delete(data.qpos[7:], address - 7)
    assert np.abs(others).max() < 2e-2  # the rest of the body keeps its zero targets


def _drop_model_and_data(integrator: int):
    model = load_smpl_humanoid_model(with_floor=True)
    model.opt.integrator = integrator
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    humanoid_geoms = model.geom_bodyid > 0
    lowest = (data.geom_xpos[humanoid_geoms, 2] - model.geom_rbound[humanoid_geoms]).min()
    data.qpos[2] += 1.0 - lowest  # every geom's bounding sphere starts at least 1 m above the floor
    return model, data


def test_drop_from_one_metre_lands_and_stays_finite():
    model, data = _drop_model_and_data(mujoco.mjtIntegrator.mjINT_IMPLICITFAST)
    start_z = data.qpos[2]
    for _ in range(120):  # 1 s: 0.45 s of free fall, then the landing
        mujoco.mj_step(model, data)
    assert np.isfinite(data.qpos).all() and np.isfinite(data.qvel).all()
    assert data.warning[mujoco.mjtWarning.mjWARN_BADQACC].number == 0
    assert data.ncon > 0  # on the floor
    assert 0.5 < data.qpos[2] < start_z - 0.9
    assert np.abs(data.qvel).max() < 20.0


def test_hinge_damping_keeps_even_semi_implicit_euler_stable():
    # kd is joint damping, which MuJoCo integrates implicitly under Euler as well as
    # implicitfast (with kd inside the actuators, this drop blew up under Euler at 120 Hz).
    model, data = _drop_model_and_data(mujoco.mjtIntegrator.mjINT_EULER)
    data.ctrl[:] = np.random.default_rng(0).uniform(-0.3, 0.3, model.nu)
    for _ in range(120):
        mujoco.mj_step(model, data)
    assert data.warning[mujoco.mjtWarning.mjWARN_BADQACC].number == 0
    assert np.isfinite(data.qpos).all() and np.abs(data.qvel).max() < 100.0


def test_spec_has_gains_in_dof_order_without_mujoco_types():
    spec = humanoid_spec()
    assert spec.dof_names == tuple(dof_names()) and spec.body_names == BODY_NAMES
    assert spec.kp.shape == spec.kd.shape == (69,)
    assert spec.kp[dof_names().index("Spine_y")] == 1000.0 and spec.kd[dof_names().index("L_Toe_z")] == 50.0
    np.testing.assert_allclose(spec.kd, spec.kp / 10.0)
    assert spec.effort_limit == 500.0
    assert spec.offsets.shape == (24, 3)


def test_custom_offsets_move_bodies_and_bad_ones_are_rejected():
    offsets = np.array(NEUTRAL_OFFSETS)
    offsets[2, 2] = -0.45  # a longer left thigh
    custom = load_smpl_humanoid_model(offsets)
    assert custom.body_pos[custom.body("L_Knee").id, 2] == pytest.approx(-0.45)
    with pytest.raises(MotionDataError, match="offsets"):
        build_smpl_humanoid_xml(offsets[:10])
    with pytest.raises(MotionDataError, match="geoms"):
        build_smpl_humanoid_xml(geoms=NEUTRAL_GEOMS[:5])
    with pytest.raises(MotionDataError, match="capsule"):
        GeomSpec("sphere", (0.1,), 1000.0, contype=1, pos=(0.0, 0.0, 0.0))
    with pytest.raises(MotionDataError, match="capsule"):
        GeomSpec("capsule", (0.1, 0.2), 1000.0, contype=1, fromto=(0.0,) * 6)  # two radii


def test_write_is_the_built_text(tmp_path):
    path = write_smpl_humanoid_xml(tmp_path / "h" / "humanoid.xml", with_floor=True)
    assert path.read_text() == build_smpl_humanoid_xml(with_floor=True)
    assert [p.name for p in path.parent.iterdir()] == ["humanoid.xml"]  # no temp files left
    floored = mujoco.MjModel.from_xml_path(str(path))
    assert floored.geom("floor").type == mujoco.mjtGeom.mjGEOM_PLANE


def _cli(argv):
    parser = argparse.ArgumentParser(prog="mimic humanoid")
    humanoid_command.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.handler(args)


def test_cli_export_writes_a_loadable_model(tmp_path, capsys):
    out = tmp_path / "smpl_humanoid.xml"
    assert _cli(["export", "--output", str(out), "--with-floor"]) == 0
    exported = mujoco.MjModel.from_xml_path(str(out))
    assert (exported.nu, exported.nbody) == (69, 25)
    assert "63.31 kg" in capsys.readouterr().out
    assert _cli(["export", "--output", str(tmp_path / "x.xml"), "--betas", "1.0"]) == 2
    assert not (tmp_path / "x.xml").exists()
