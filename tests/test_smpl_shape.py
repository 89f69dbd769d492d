"""Shape-specific humanoids through the real smplx loader, on a tiny synthetic SMPL model file.

The licensed SMPL files cannot be shipped, so the test writes a file in SMPL's pickle format
whose mesh has four vertices around each joint (the joint regressor averages them), whose rest
joints reproduce the neutral humanoid, and whose made-up shape directions move known joints.
"""

from __future__ import annotations

import argparse
import pickle

import numpy as np
import pytest

pytest.importorskip("smplx")
mujoco = pytest.importorskip("mujoco")

from mimic.commands import humanoid as humanoid_command  # noqa: E402
from motion.errors import MotionDataError  # noqa: E402
from motion.skeleton import BODY_NAMES, NEUTRAL_OFFSETS, PARENTS, SMPL_INDEX_OF_BODY  # noqa: E402
from robots.smpl_humanoid import NEUTRAL_GEOMS, load_smpl_humanoid_model  # noqa: E402
from robots.smpl_shape import (  # noqa: E402
    SMPL_PARENTS,
    offsets_from_smpl_joints,
    smpl_shaped_humanoid,
)

NEUTRAL = np.array(NEUTRAL_OFFSETS)
NEUTRAL_MASS = 63.3139487  # kg, the neutral humanoid
GROW = 0.1  # shape direction 0 scales every joint about the pelvis by 1 + GROW·β0
ANKLE_DROP = 0.05  # m; direction 1 lowers the left ankle and toe (SMPL −y)
HIP_WIDEN = 0.02  # m; direction 2 moves the left hip to the left (SMPL +x)
SMPL_L_HIP, SMPL_L_ANKLE, SMPL_L_TOE = 1, 7, 10
TOL = 1e-6  # m; smplx keeps the model arrays in float32


def _to_smpl_frame(offset):
    # Independent of the library's quaternion: SMPL x = humanoid y (left), y = z (up), z = x.
    return np.array([offset[1], offset[2], offset[0]])


def _neutral_smpl_joints() -> np.ndarray:
    """(24, 3) rest joints, SMPL order and frame, whose bones are NEUTRAL_OFFSETS."""
    by_body = np.zeros((24, 3))
    by_body[0] = NEUTRAL[0]  # the root entry is the SMPL-frame pelvis joint itself
    for body in range(1, 24):
        by_body[body] = by_body[PARENTS[body]] + _to_smpl_frame(NEUTRAL[body])
    joints = np.zeros((24, 3))
    joints[list(SMPL_INDEX_OF_BODY)] = by_body
    return joints


def _write_synthetic_smpl(path, parents=SMPL_PARENTS) -> None:
    joints = _neutral_smpl_joints()
    tetra = 0.01 * np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=np.float64)
    v_template = (joints[:, None, :] + tetra[None]).reshape(96, 3)  # four vertices per joint
    j_regressor = np.kron(np.eye(24), np.full((1, 4), 0.25))  # (24, 96): mean of a joint's vertices
    shapedirs = np.zeros((96, 3, 10))
    shapedirs[:, :, 0] = GROW * np.repeat(joints - joints[0], 4, axis=0)
    for joint in (SMPL_L_ANKLE, SMPL_L_TOE):
        shapedirs[4 * joint : 4 * joint + 4, 1, 1] = -ANKLE_DROP
    shapedirs[4 * SMPL_L_HIP : 4 * SMPL_L_HIP + 4, 0, 2] = HIP_WIDEN
    kintree = np.array([[2**32 - 1] + list(parents[1:]), list(range(24))], dtype=np.int64)
    model = {
        "v_template": v_template,
        "shapedirs": shapedirs,
        "posedirs": np.zeros((96, 3, 207)),
        "J_regressor": j_regressor,
        "weights": np.repeat(np.eye(24), 4, axis=0),
        "kintree_table": kintree,
        "f": np.arange(96, dtype=np.int64).reshape(32, 3),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        pickle.dump(model, handle, protocol=2)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("smpl_models")
    _write_synthetic_smpl(directory / "SMPL_NEUTRAL.pkl")
    return directory


def test_zero_betas_give_the_neutral_humanoid(model_dir):
    shaped = smpl_shaped_humanoid(model_dir, "neutral", [0.0] * 10)
    np.testing.assert_allclose(shaped.offsets, NEUTRAL, atol=TOL)
    for geom, neutral in zip(shaped.geoms, NEUTRAL_GEOMS):
        np.testing.assert_allclose(geom.size, neutral.size, atol=TOL)
        np.testing.assert_allclose(geom.fromto or geom.pos, neutral.fromto or neutral.pos, atol=TOL)


def test_a_taller_shape_scales_bones_geometry_and_mass(model_dir):
    beta = 0.5
    scale = 1.0 + GROW * beta
    shaped = smpl_shaped_humanoid(model_dir, "neutral", [beta])
    np.testing.assert_allclose(shaped.offsets[1:], scale * NEUTRAL[1:], atol=TOL)
    np.testing.assert_allclose(shaped.offsets[0], NEUTRAL[0], atol=TOL)  # pelvis joint stays put
    for geom, neutral in zip(shaped.geoms, NEUTRAL_GEOMS):
        assert geom.density == neutral.density and geom.contype == neutral.contype
        np.testing.assert_allclose(geom.size, scale * np.array(neutral.size), atol=TOL)
        np.testing.assert_allclose(geom.fromto or geom.pos, scale * np.array(neutral.fromto or neutral.pos),
                                   atol=TOL)  # fmt: skip
    compiled = load_smpl_humanoid_model(shaped.offsets, shaped.geoms)
    assert compiled.body_mass.sum() == pytest.approx(NEUTRAL_MASS * scale**3, rel=1e-4)
    np.testing.assert_allclose(compiled.body_pos[1:], shaped.offsets, atol=1e-10)


def test_a_longer_left_shin_moves_only_the_ankle_and_stretches_the_shin_capsule(model_dir):
    shaped = smpl_shaped_humanoid(model_dir, "neutral", [0.0, 1.0])
    expected = NEUTRAL.copy()
    knee, ankle = BODY_NAMES.index("L_Knee"), BODY_NAMES.index("L_Ankle")
    expected[ankle] += (0.0, 0.0, -ANKLE_DROP)  # SMPL −y is the humanoid's −z
    np.testing.assert_allclose(shaped.offsets, expected, atol=TOL)

    def moved(geom, neutral) -> bool:
        a = np.array(geom.size + (geom.fromto or geom.pos))
        b = np.array(neutral.size + (neutral.fromto or neutral.pos))
        return bool(np.abs(a - b).max() > 10 * TOL)

    changed = [body for body in range(24) if moved(shaped.geoms[body], NEUTRAL_GEOMS[body])]
    assert [BODY_NAMES[body] for body in changed] == ["L_Knee"]
    old_bone, new_bone = NEUTRAL[ankle], expected[ankle]
    ratio = np.linalg.norm(new_bone) / np.linalg.norm(old_bone)
    old_ends = np.reshape(NEUTRAL_GEOMS[knee].fromto, (2, 3))
    new_ends = np.reshape(shaped.geoms[knee].fromto, (2, 3))
    for old, new in zip(old_ends, new_ends):
        # Same fraction along the bone; the distance off the bone line scales with the bone.
        t_old = old @ old_bone / (old_bone @ old_bone)
        t_new = new @ new_bone / (new_bone @ new_bone)
        assert t_new == pytest.approx(t_old, abs=TOL)
        off_old = np.linalg.norm(old - t_old * old_bone)
        off_new = np.linalg.norm(new - t_new * new_bone)
        assert off_new == pytest.approx(ratio * off_old, abs=TOL)
    assert ratio > 1.1  # the shin really is longer (0.448 m vs 0.398 m down)
    assert shaped.geoms[knee].size[0] == pytest.approx(ratio * NEUTRAL_GEOMS[knee].size[0], abs=TOL)


def test_smpl_left_is_humanoid_y(model_dir):
    shaped = smpl_shaped_humanoid(model_dir, "neutral", [0.0, 0.0, 1.0])
    delta = shaped.offsets - NEUTRAL
    hip, knee = BODY_NAMES.index("L_Hip"), BODY_NAMES.index("L_Knee")
    np.testing.assert_allclose(delta[hip], [0.0, HIP_WIDEN, 0.0], atol=TOL)
    np.testing.assert_allclose(delta[knee], [0.0, -HIP_WIDEN, 0.0], atol=TOL)
    assert np.abs(np.delete(delta, [hip, knee], axis=0)).max() < TOL


def test_offsets_from_joints_documented_example():
    joints = np.zeros((24, 3))
    joints[0] = (-0.0018, -0.2233, 0.0282)
    joints[SMPL_L_HIP] = joints[0] + (0.0695, -0.0914, -0.0068)
    offsets = offsets_from_smpl_joints(joints)
    np.testing.assert_allclose(offsets[BODY_NAMES.index("L_Hip")], (-0.0068, 0.0695, -0.0914), atol=1e-15)
    np.testing.assert_allclose(offsets[0], joints[0])


def test_smplx_folder_layout_and_genders(tmp_path):
    _write_synthetic_smpl(tmp_path / "smpl" / "SMPL_FEMALE.pkl")
    shaped = smpl_shaped_humanoid(tmp_path, "FEMALE", [])
    assert shaped.gender == "female" and shaped.model_file.parent.name == "smpl"
    np.testing.assert_allclose(shaped.offsets, NEUTRAL, atol=TOL)
    with pytest.raises(MotionDataError, match="SMPL_MALE.pkl"):
        smpl_shaped_humanoid(tmp_path, "male")
    with pytest.raises(MotionDataError, match="gender"):
        smpl_shaped_humanoid(tmp_path, "robot")


def test_bad_model_files_and_betas_are_reported(model_dir, tmp_path):
    with pytest.raises(MotionDataError, match="betas.*at most 10"):
        smpl_shaped_humanoid(model_dir, "neutral", [0.1] * 11)
    wrong_tree = list(SMPL_PARENTS)
    wrong_tree[4] = 2  # left knee hung under the right hip
    _write_synthetic_smpl(tmp_path / "tree" / "SMPL_NEUTRAL.pkl", parents=wrong_tree)
    with pytest.raises(MotionDataError, match="kintree_table"):
        smpl_shaped_humanoid(tmp_path / "tree")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "SMPL_NEUTRAL.pkl").write_bytes(b"not a pickle")
    with pytest.raises(MotionDataError, match="SMPL model"):
        smpl_shaped_humanoid(tmp_path / "junk")


def test_cli_exports_the_shaped_humanoid(model_dir, tmp_path):
    parser = argparse.ArgumentParser(prog="mimic humanoid")
    humanoid_command.register(parser.add_subparsers(dest="command", required=True))
    out = tmp_path / "shaped.xml"
    argv = ["export", "--output", str(out), "--smpl-model-dir", str(model_dir), "--betas", "0.5", "1.0"]
    args = parser.parse_args(argv)
    assert args.handler(args) == 0
    exported = mujoco.MjModel.from_xml_path(str(out))
    expected = smpl_shaped_humanoid(model_dir, "neutral", [0.5, 1.0]).offsets
    np.testing.assert_allclose(exported.body_pos[1:], expected, atol=1e-10)
    assert exported.body_mass.sum() > NEUTRAL_MASS * 1.05**3
