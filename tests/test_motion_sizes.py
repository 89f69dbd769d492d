"""``.motion`` files and MotionLib packaging of any body tree: sizes from the file, optional expected sizes."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

import pytest
import torch

from motion.errors import MotionDataError
from motion.motion_file import SMPL_SIZES, MotionSizes, check_motion_shape, load_motion, save_motion
from motion.motion_lib import MotionLib
from motion.motion_lib_packaging import MotionPackagingError, build_motion_lib, find_motion_sources
from motion.rotations import quat_normalize
from motion.synthetic import random_motion

G1_SIZES = MotionSizes(30, 29)


def robot_motion(frames: int, bodies: int = 30, dofs: int = 29, seed: int = 0, **metadata: Any) -> Dict[str, Any]:
    """Random but valid motion of a body tree with ``bodies`` bodies and ``dofs`` hinge angles."""
    gen = torch.Generator().manual_seed(seed)
    return {
        "fps": 30,
        "rigid_body_pos": torch.randn(frames, bodies, 3, generator=gen),
        "rigid_body_rot": quat_normalize(torch.randn(frames, bodies, 4, generator=gen)),
        "rigid_body_vel": torch.randn(frames, bodies, 3, generator=gen),
        "rigid_body_ang_vel": torch.randn(frames, bodies, 3, generator=gen),
        "dof_pos": torch.randn(frames, dofs, generator=gen),
        "dof_vel": torch.randn(frames, dofs, generator=gen),
        "rigid_body_contacts": torch.rand(frames, bodies, generator=gen) < 0.5,
        "local_rigid_body_rot": quat_normalize(torch.randn(frames, bodies, 4, generator=gen)),
        "mimicflow": {"robot": "g1", "body_names": [f"b{i}" for i in range(bodies)], **metadata},
    }


def test_sizes_come_from_the_file_and_expected_sizes_are_enforced(tmp_path: Path) -> None:
    path = tmp_path / "g1.motion"
    save_motion(robot_motion(7), path)
    assert check_motion_shape(load_motion(path), path) == (7, 30, 29)
    assert load_motion(path, G1_SIZES)["dof_pos"].shape == (7, 29)
    # An SMPL caller refuses it, naming the first field of the wrong size and both shapes.
    with pytest.raises(MotionDataError) as caught:
        load_motion(path, SMPL_SIZES)
    assert caught.value.field == "rigid_body_pos"
    assert caught.value.expected == "shape (7, 24, 3) (B = 24 expected)" and caught.value.found == "shape (7, 30, 3)"
    # Bodies right, dofs wrong: named at dof_pos, the first D field.
    with pytest.raises(MotionDataError) as caught:
        save_motion(robot_motion(7), tmp_path / "refused.motion", MotionSizes(30, 23))
    assert caught.value.field == "dof_pos" and "D = 23 expected" in caught.value.expected
    assert not (tmp_path / "refused.motion").exists()


def test_fields_must_agree_on_body_and_dof_counts(tmp_path: Path) -> None:
    motion = robot_motion(5)
    motion["rigid_body_contacts"] = torch.zeros(5, 24, dtype=torch.bool)  # the 5 other B fields say 30
    with pytest.raises(MotionDataError) as caught:
        save_motion(motion, tmp_path / "a.motion")
    assert caught.value.field == "rigid_body_contacts" and caught.value.found == "shape (5, 24)"
    assert caught.value.expected == "shape (5, 30) (B = 30 as in rigid_body_pos and 4 other fields)"
    motion = robot_motion(5)
    motion["dof_vel"] = torch.zeros(5, 28)  # one against one: the later field's size is the reference
    with pytest.raises(MotionDataError) as caught:
        save_motion(motion, tmp_path / "b.motion")
    assert caught.value.field == "dof_pos"
    assert caught.value.expected == "shape (5, 28) (D = 28 as in dof_vel)"


def test_packaging_takes_sizes_from_the_first_motion(tmp_path: Path) -> None:
    for name, frames in (("a", 4), ("b", 6)):
        save_motion(robot_motion(frames, seed=frames), tmp_path / f"{name}.motion")
    smpl = tmp_path / "c_smpl.motion"
    save_motion(random_motion(3, 0, 30), smpl, SMPL_SIZES)
    with pytest.raises(MotionPackagingError) as caught:
        build_motion_lib(find_motion_sources(tmp_path))
    [failure] = caught.value.failures
    assert failure.path == str(smpl) and failure.field == "rigid_body_pos"
    assert failure.expected == f"shape (3, 30, 3) (B = 30 expected as in {tmp_path / 'a.motion'})"
    data, failures = build_motion_lib(find_motion_sources(tmp_path), skip_bad=True)
    assert [f.path for f in failures] == [str(smpl)]
    assert tuple(data["gts"].shape) == (10, 30, 3) and tuple(data["dps"].shape) == (10, 29)
    assert data["contacts"].dtype == torch.bool and data["motion_num_frames"].tolist() == [4, 6]
    assert data["mimicflow"]["robot"] == "g1" and len(data["mimicflow"]["body_names"]) == 30
    lib = MotionLib(data)
    state = lib.get_motion_state(torch.tensor([1]), torch.tensor([0.0]))
    torch.testing.assert_close(state.dof_pos[0], data["dps"][4])  # hinge angles: lerped, not from lrs
    # Expected sizes from the caller: here the SMPL file is the only good one.
    data, failures = build_motion_lib(find_motion_sources(tmp_path), skip_bad=True, expected=SMPL_SIZES)
    assert len(failures) == 2 and tuple(data["gts"].shape) == (3, 24, 3)


def test_packaged_motions_must_share_their_body_tree(tmp_path: Path) -> None:
    save_motion(robot_motion(4), tmp_path / "a.motion")
    other = robot_motion(4)
    other["mimicflow"]["body_names"] = ["renamed"] + other["mimicflow"]["body_names"][1:]
    save_motion(other, tmp_path / "b.motion")
    with pytest.raises(MotionPackagingError) as caught:
        build_motion_lib(find_motion_sources(tmp_path))
    [failure] = caught.value.failures
    assert failure.path == str(tmp_path / "b.motion") and failure.field == "mimicflow.body_names"
    assert "renamed" in failure.found and "(as in the first motion)" in failure.expected
