"""AMASS → .motion conversion on the real fixture clips, and against ProtoMotions' own output."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from motion.amass import downsample_step, read_amass_clip
from motion.conversion import ConversionParams, convert_body_pose_batch, convert_body_poses
from motion.kinematics import forward_kinematics
from motion.motion_file import load_motion
from motion.rotations import quat_angle, quat_conjugate, quat_from_rotvec, quat_mul
from motion.skeleton import NEUTRAL_OFFSETS, PARENTS

CLIPS = {
    "amass_sample_male_120fps_poses.npz": 601,  # seated
    "hbp_sample_walk_female_120fps_poses.npz": 500,  # walk + high kick
    "dmpl_sample_female_120fps_poses.npz": 235,  # jumps
}


def _convert_file(path, output_fps=30):
    clip = read_amass_clip(path)
    step, fps = downsample_step(clip.fps, output_fps)
    return clip, convert_body_poses(clip.poses[::step], clip.trans[::step], fps)


@pytest.fixture(scope="module")
def converted(amass_dir):
    return {name: _convert_file(amass_dir / name)[1] for name in CLIPS}


@pytest.mark.parametrize("name,source_frames,expected", [(n, f, e) for (n, f), e in zip(CLIPS.items(), (151, 125, 59))])
def test_downsampled_frame_counts(converted, name, source_frames, expected):
    assert converted[name]["rigid_body_pos"].shape == (expected, 24, 3)
    assert converted[name]["fps"] == 30


def test_reproduces_protomotions_conversion(protomotions_dir):
    """The synthetic clip converted by ProtoMotions itself must come out the same from us."""
    source = np.load(protomotions_dir / "synthetic_input_poses.npz")
    reference = load_motion(protomotions_dir / "synthetic_input_poses.motion")
    poses = source["poses"][:, :72].copy()
    poses[:, 66:] = 0.0  # hands zeroed, as the reader does
    ours = convert_body_poses(poses[::4], source["trans"][::4], 30.0)
    assert ours["fps"] == reference["fps"] == 30
    # Positions/rotations to float32 rounding; velocities are differences of float32 data
    # on their side, hence the looser bound (still < 0.1 mm/s).
    tolerances = {
        "rigid_body_pos": 2e-6,
        "rigid_body_rot": 2e-6,
        "local_rigid_body_rot": 2e-6,
        "dof_pos": 5e-6,
        "rigid_body_vel": 1e-4,
        "rigid_body_ang_vel": 1e-4,
        "dof_vel": 1e-4,
    }
    for key, tolerance in tolerances.items():
        error = (ours[key] - reference[key]).abs().max().item()
        assert error < tolerance, f"{key}: max abs error {error}"
    assert torch.equal(ours["rigid_body_contacts"], reference["rigid_body_contacts"])


@pytest.mark.parametrize("name", list(CLIPS))
def test_bone_lengths_constant_and_equal_model_offsets(converted, name):
    pos = converted[name]["rigid_body_pos"].double()
    offsets = torch.tensor(NEUTRAL_OFFSETS, dtype=torch.float64)
    for body, parent in enumerate(PARENTS):
        if parent < 0:
            continue
        length = (pos[:, body] - pos[:, parent]).norm(dim=-1)
        expected = offsets[body].norm().item()
        assert (length - expected).abs().max().item() < 1e-5, f"body {body}"


@pytest.mark.parametrize("name", list(CLIPS))
def test_rotations_and_dofs_agree_with_positions(converted, name):
    """Global rotations, local rotations, dof_pos and positions are one consistent FK state."""
    motion = converted[name]
    local = motion["local_rigid_body_rot"].double()
    root = motion["rigid_body_pos"][:, 0].double()
    rot, pos = forward_kinematics(local, root, torch.tensor(NEUTRAL_OFFSETS, dtype=torch.float64), PARENTS)
    assert (pos - motion["rigid_body_pos"].double()).abs().max() < 1e-5
    assert quat_angle(quat_mul(quat_conjugate(rot), motion["rigid_body_rot"].double())).max() < 1e-5
    from_dofs = quat_from_rotvec(motion["dof_pos"].double().reshape(-1, 23, 3))
    assert quat_angle(quat_mul(quat_conjugate(from_dofs), local[:, 1:])).max() < 1e-5


@pytest.mark.parametrize("name", list(CLIPS))
def test_velocities_are_forward_differences_of_positions(converted, name):
    """Each stored velocity is one of the 1-, 2- or 3-frame forward differences, the smallest."""
    motion = converted[name]
    pos, vel = motion["rigid_body_pos"].double(), motion["rigid_body_vel"].double()
    dt = 1.0 / motion["fps"]
    interior = pos.shape[0] - 3
    candidates = torch.stack([(pos[h : h + interior] - pos[:interior]) / (h * dt) for h in (1, 2, 3)])
    norms = candidates.norm(dim=-1)
    chosen = candidates.gather(0, norms.argmin(0)[None, ..., None].expand(1, interior, 24, 3))[0]
    assert (chosen - vel[:interior]).abs().max() < 1e-4
    # Displacement over the clip is bounded by the speed we report (min-horizon ≤ any horizon).
    one_step = (pos[1:] - pos[:-1]).norm(dim=-1) / dt
    assert bool((vel[:-1].norm(dim=-1) <= one_step + 1e-3).all())


@pytest.mark.parametrize("name", list(CLIPS))
def test_height_fix_puts_lowest_body_at_15mm(converted, name):
    z = converted[name]["rigid_body_pos"][..., 2]
    assert z.min().item() == pytest.approx(0.015, abs=1e-6)


def test_walking_clip_feet_alternate(converted):
    contacts = converted["hbp_sample_walk_female_120fps_poses.npz"]["rigid_body_contacts"]
    left = contacts[:, 3] | contacts[:, 4]  # L_Ankle, L_Toe
    right = contacts[:, 7] | contacts[:, 8]
    # Support phases: single-foot stance on each side, and the feet are not glued down.
    left_only = (left & ~right).sum().item()
    right_only = (right & ~left).sum().item()
    assert left_only >= 10 and right_only >= 10
    changes = (left[1:] != left[:-1]).sum().item() + (right[1:] != right[:-1]).sum().item()
    assert changes >= 6
    # Only feet touch the ground while walking.
    assert not contacts[:, 9:].any()


def test_seated_clip_has_no_foot_sliding_contacts(converted):
    """Contacts require low speed: no contact frame may move faster than the threshold."""
    for motion in converted.values():
        speed = motion["rigid_body_vel"].norm(dim=-1)
        assert bool((speed[motion["rigid_body_contacts"]] < 0.15).all())
        assert bool((motion["rigid_body_pos"][..., 2][motion["rigid_body_contacts"]] < 0.10).all())


def test_batched_conversion_equals_clip_by_clip(amass_dir):
    inputs = []
    for name in CLIPS:
        clip = read_amass_clip(amass_dir / name)
        inputs.append((clip.poses[::4], clip.trans[::4], 30.0))
    # Mixed rates in one batch: velocities must use each clip's own dt, never cross clips.
    clip = read_amass_clip(amass_dir / "dmpl_sample_female_120fps_poses.npz")
    inputs.append((clip.poses[::2], clip.trans[::2], 60.0))
    batch = convert_body_pose_batch([i[0] for i in inputs], [i[1] for i in inputs], [i[2] for i in inputs])
    for (poses, trans, fps), batched in zip(inputs, batch):
        single = convert_body_poses(poses, trans, fps)
        assert single["fps"] == batched["fps"]
        for key, value in single.items():
            if key == "fps":
                continue
            if value.dtype == torch.bool:
                assert torch.equal(value, batched[key]), key
            else:
                # Equal to float32 rounding: vectorised and scalar atan2 differ by an ulp, and an
                # element's position in the batch decides which path it takes.
                torch.testing.assert_close(value, batched[key], rtol=1e-5, atol=1e-5, msg=key)


def test_other_rates_and_params(amass_dir):
    clip, motion = _convert_file(amass_dir / "dmpl_sample_female_120fps_poses.npz", output_fps=50)
    assert motion["fps"] == 60 and motion["rigid_body_pos"].shape[0] == 118  # 120 → 60 (smallest divisor ≥ 50)
    params = ConversionParams(height_offset=0.03)
    custom = convert_body_poses(clip.poses[::4], clip.trans[::4], 30.0, params)
    assert custom["rigid_body_pos"][..., 2].min().item() == pytest.approx(0.03, abs=1e-6)
