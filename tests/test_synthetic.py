"""SYNTHETIC AMASS-format clips: deterministic, labelled, one per format, readable by the reader."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest

from mimic.commands import amass_data
from motion.amass import amass_subset_of, find_amass_files, read_amass_clip
from motion.synthetic import SYNTHETIC_NOTE, synthesize_amass_clips

SMPLH_WALK = "SYNTHETIC_smplh_walk_120fps_poses.npz"
SMPLX_WALK = "SYNTHETIC_smplx_walk_60fps_stageii.npz"
SMPL_WALK = "SYNTHETIC_smpl_walk_100fps_poses.npz"
STANDING = "SYNTHETIC_smplh_standing_120fps_poses.npz"


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    paths = synthesize_amass_clips(tmp_path_factory.mktemp("amass"))
    return {path.name: path for path in paths}


def test_every_format_present_and_labelled(clips: Dict[str, Path]) -> None:
    assert sorted(clips) == sorted([SMPLH_WALK, SMPLX_WALK, SMPL_WALK, STANDING])
    for path in clips.values():
        assert path.parent.name == "SYNTHETIC" and path.name.startswith("SYNTHETIC_")
        with np.load(path) as data:
            note = str(data["synthetic_note"])
            assert "SYNTHETIC" in note and "not motion capture" in note
        assert note == SYNTHETIC_NOTE
    with np.load(clips[SMPLH_WALK]) as data:
        assert data["poses"].shape == (240, 156) and float(data["mocap_framerate"]) == 120.0
    with np.load(clips[SMPLX_WALK]) as data:
        assert "poses" not in data.files and "mocap_framerate" not in data.files
        assert data["root_orient"].shape == (120, 3) and data["pose_body"].shape == (120, 63)
        assert data["pose_hand"].shape == (120, 90) and float(data["mocap_frame_rate"]) == 60.0
        assert str(data["surface_model_type"]) == "smplx"
    with np.load(clips[SMPL_WALK]) as data:
        assert data["poses"].shape == (200, 72) and float(data["mocap_framerate"]) == 100.0


def test_deterministic_bytes_and_seed_dependence(clips: Dict[str, Path], tmp_path: Path) -> None:
    again = {p.name: p for p in synthesize_amass_clips(tmp_path / "again")}
    for name, path in clips.items():
        assert again[name].read_bytes() == path.read_bytes(), name
    other_seed = {p.name: p for p in synthesize_amass_clips(tmp_path / "seed1", seed=1)}
    assert other_seed[SMPLH_WALK].read_bytes() != clips[SMPLH_WALK].read_bytes()
    # The standing clip does not depend on the seed.
    assert other_seed[STANDING].read_bytes() == clips[STANDING].read_bytes()


def test_readable_with_expected_layout(clips: Dict[str, Path]) -> None:
    expected = {
        SMPLH_WALK: ("smplh", 240, 120.0),
        SMPLX_WALK: ("smplx", 120, 60.0),
        SMPL_WALK: ("smpl", 200, 100.0),
        STANDING: ("smplh", 360, 120.0),
    }
    root = clips[STANDING].parent.parent
    assert sorted(find_amass_files(root)) == sorted(clips.values())
    for name, (model_type, frames, fps) in expected.items():
        clip = read_amass_clip(clips[name])
        assert (clip.model_type, clip.num_frames, clip.fps) == (model_type, frames, fps), name
        assert clip.gender == "neutral" and np.all(clip.betas == 0.0)
        assert amass_subset_of(clips[name], root) == "SYNTHETIC"


def test_walks_are_one_motion_in_three_formats(clips: Dict[str, Path]) -> None:
    smplh, smplx, smpl = (read_amass_clip(clips[n]) for n in (SMPLH_WALK, SMPLX_WALK, SMPL_WALK))
    # t = 0, 1/60, 2/60 ... s: every 2nd frame at 120 fps is a 60 fps frame.
    np.testing.assert_allclose(smplh.poses[::2], smplx.poses, atol=1e-12)
    np.testing.assert_allclose(smplh.trans[::2], smplx.trans, atol=1e-12)
    # t = k/20 s: every 6th frame at 120 fps, every 5th at 100 fps.
    np.testing.assert_allclose(smplh.poses[::6], smpl.poses[::5], atol=1e-12)
    # Plausible poses: body joints within ±0.5 rad, smooth (small change per 1/120 s frame).
    assert np.abs(smplh.poses[:, 3:66]).max() <= 0.5
    assert np.abs(smplh.poses[:, 3:66]).max() > 0.2
    assert np.abs(np.diff(smplh.poses[:, 3:66], axis=0)).max() < 0.05


def test_walk_root_moves_forward_upright(clips: Dict[str, Path]) -> None:
    import torch

    from motion.rotations import quat_from_rotvec, quat_rotate

    clip = read_amass_clip(clips[SMPLH_WALK])
    duration = (clip.num_frames - 1) / clip.fps
    speed = (clip.trans[-1, 0] - clip.trans[0, 0]) / duration
    assert speed == pytest.approx(1.0, abs=1e-9)
    assert np.abs(clip.trans[:, 2] - 0.92).max() <= 0.02 + 1e-12
    quat = quat_from_rotvec(torch.from_numpy(clip.poses[:, :3]))
    count = clip.num_frames
    # SMPL's body frame: +y up, +z forward. In the world both must point up (+z) and along +x.
    up = quat_rotate(quat, torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64).expand(count, 3))
    forward = quat_rotate(quat, torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64).expand(count, 3))
    assert up[:, 2].min().item() > math.cos(0.3)
    assert forward[:, 0].min().item() > math.cos(0.3)


def test_standing_clip_is_upright_and_still(clips: Dict[str, Path]) -> None:
    clip = read_amass_clip(clips[STANDING])
    assert clip.num_frames == 360 and clip.fps == 120.0
    np.testing.assert_array_equal(clip.poses[:, :3], np.tile([math.pi / 2, 0.0, 0.0], (360, 1)))
    np.testing.assert_array_equal(clip.poses[:, 3:], 0.0)
    np.testing.assert_array_equal(clip.trans, np.tile([0.0, 0.0, 0.92], (360, 1)))


def test_synthesize_command(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    parser = argparse.ArgumentParser()
    amass_data.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["synthesize", str(tmp_path)])
    assert args.handler(args) == 0
    printed: List[str] = capsys.readouterr().out.splitlines()
    assert len(printed) == 4 and all("SYNTHETIC" in line for line in printed)
    assert len(find_amass_files(tmp_path)) == 4
