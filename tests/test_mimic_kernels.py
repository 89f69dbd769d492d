"""Mimic reward and observation kernels against hand computations."""

from __future__ import annotations

import math

import pytest
import torch

from motion.rotations import quat_from_rotvec, quat_mul, quat_normalize, quat_rotate, quat_to_tan_norm
from robots.dof_conversion import (
    angular_velocity_to_hinge_rates,
    exp_map_to_hinge_angles,
    hinge_angles_to_exp_map,
    hinge_rates_to_angular_velocity,
)
from training.config import RewardConfig
from training.envs.observations import (
    heading_quat_inv,
    humanoid_observation,
    into_heading_frame,
    target_pose_observation,
)
from training.envs.rewards import Actuation, ContactMatch, combine_rewards, mimic_reward_terms, smooth_contacts
from training.simulator.base import BodyState

B, D = 24, 69


def _random_state(n=3, seed=0) -> BodyState:
    gen = torch.Generator().manual_seed(seed)
    pos = torch.randn(n, B, 3, generator=gen)
    rot = quat_from_rotvec(torch.randn(n, B, 3, generator=gen))
    vel = torch.randn(n, B, 3, generator=gen)
    ang = torch.randn(n, B, 3, generator=gen)
    return BodyState(pos, rot, vel, ang)


def _terms(**changes):
    pos, rot, vel, ang = _random_state(n=2)
    base = dict(
        body_pos=pos, body_rot=rot, body_vel=vel, body_ang_vel=ang,
        ref_pos=pos.clone(), ref_rot=rot.clone(), ref_vel=vel.clone(), ref_ang_vel=ang.clone(),
        pd_targets=torch.zeros(2, D), prev_pd_targets=torch.zeros(2, D),
        torques=torch.zeros(2, D), dof_vel=torch.zeros(2, D),
        contacts=torch.zeros(2, 4, dtype=torch.bool), ref_contacts=torch.zeros(2, 4),
        in_grace_period=torch.zeros(2, dtype=torch.bool), config=RewardConfig(),
    )  # fmt: skip
    base.update(changes)
    terms = mimic_reward_terms(
        BodyState(base["body_pos"], base["body_rot"], base["body_vel"], base["body_ang_vel"]),
        BodyState(base["ref_pos"], base["ref_rot"], base["ref_vel"], base["ref_ang_vel"]),
        Actuation(base["pd_targets"], base["prev_pd_targets"], base["torques"], base["dof_vel"]),
        ContactMatch(base["contacts"], base["ref_contacts"], base["in_grace_period"]),
        base["config"],
    )
    return terms, base


def test_perfect_tracking_gives_the_maximum_reward_of_1_3():
    terms, _ = _terms()
    for name in ("gt_rew", "gr_rew", "gv_rew", "gav_rew", "rh_rew"):
        assert torch.allclose(terms[name], torch.ones(2)), name
    total = combine_rewards(terms, RewardConfig())["total"]
    assert torch.allclose(total, torch.full((2,), 0.5 + 0.3 + 0.1 + 0.2 + 0.2))


def test_tracking_kernels_by_hand():
    pos, rot, vel, ang = _random_state(n=2)
    yaw = quat_from_rotvec(torch.tensor([0.0, 0.0, 0.2])).expand(2, B, 4)
    shifted = pos + torch.tensor([0.1, 0.0, 0.0])
    shifted[:, 0, 2] = pos[:, 0, 2] + 0.1  # pelvis also 0.1 m higher
    terms, _ = _terms(
        body_pos=shifted, ref_pos=pos, body_rot=rot, ref_rot=quat_mul(yaw, rot),
        body_vel=vel + 1.0, ref_vel=vel, body_ang_vel=ang + torch.tensor([0.0, 0.0, 3.0]), ref_ang_vel=ang,
    )  # fmt: skip
    # gt: every body off by 0.1 m in x (pelvis: also 0.1 in z) → mean over xyz then bodies.
    mean_sq = (23 * (0.01 / 3) + (0.02 / 3)) / 24
    assert terms["gt_rew"] == pytest.approx(torch.full((2,), math.exp(-25 * mean_sq)), rel=1e-5)
    assert terms["gr_rew"] == pytest.approx(torch.full((2,), math.exp(-5 * 0.04)), rel=1e-5)
    assert terms["gv_rew"] == pytest.approx(torch.full((2,), math.exp(-0.5 * 1.0)), rel=1e-5)
    assert terms["gav_rew"] == pytest.approx(torch.full((2,), math.exp(-0.1 * 3.0)), rel=1e-5)
    assert terms["rh_rew"] == pytest.approx(torch.full((2,), math.exp(-100 * 0.01)), rel=1e-4)


def test_regularisers_and_contacts_by_hand():
    targets = torch.zeros(2, D)
    targets[:, 0], targets[:, 1] = 3.0, 4.0
    torques, dof_vel = torch.zeros(2, D), torch.zeros(2, D)
    torques[:, :2] = torch.tensor([2.0, -3.0])
    dof_vel[:, :2] = torch.tensor([1.0, 1.0])
    contacts = torch.tensor([[1, 0, 1, 0], [1, 0, 1, 0]], dtype=torch.bool)
    ref_contacts = torch.tensor([[0.5, 0.0, 1.0, 1.0]] * 2)
    terms, _ = _terms(
        pd_targets=targets, torques=torques, dof_vel=dof_vel, contacts=contacts, ref_contacts=ref_contacts,
        in_grace_period=torch.tensor([False, True]),
    )  # fmt: skip
    assert terms["action_smoothness"].tolist() == pytest.approx([5.0, 5.0])  # L2 norm, not squared
    assert terms["pow_rew"].tolist() == pytest.approx([5.0, 5.0])
    assert terms["contact_match_rew"].tolist() == pytest.approx([1.5, 0.0])  # zero in the grace period
    weighted = combine_rewards(terms, RewardConfig())
    assert weighted["action_smoothness"].tolist() == pytest.approx([-0.1, -0.1])
    assert weighted["contact_match_rew"].tolist() == pytest.approx([-0.15, 0.0])
    torques[:, :2] = torch.tensor([1e5, 0.0])  # −1e-5 · 1e5 = −1 → clamped at −0.5
    terms, _ = _terms(torques=torques, dof_vel=dof_vel)
    assert combine_rewards(terms, RewardConfig())["pow_rew"].tolist() == pytest.approx([-0.5, -0.5])


def test_contact_smoothing_is_a_replicate_padded_moving_average():
    contacts = torch.tensor([0, 0, 0, 1, 1, 1, 1, 0, 0, 0], dtype=torch.bool)[:, None]
    smoothed = smooth_contacts(contacts, 3)[:, 0]
    expected = [0, 0, 1 / 3, 2 / 3, 1, 1, 2 / 3, 1 / 3, 0, 0]
    assert smoothed.tolist() == pytest.approx(expected)
    assert smooth_contacts(torch.ones(4, 2, dtype=torch.bool), 7).tolist() == [[1.0, 1.0]] * 4


def test_observation_sizes_and_yaw_invariance():
    pos, rot, vel, ang = _random_state()
    obs = humanoid_observation(BodyState(pos, rot, vel, ang), torch.zeros(3))
    assert obs.shape == (3, 358)
    ref = _random_state(seed=1)
    target = target_pose_observation(BodyState(pos, rot, vel, ang), ref)
    assert target.shape == (3, 576)
    # Turning and moving the whole world leaves every observation unchanged.
    yaw = quat_from_rotvec(torch.tensor([0.0, 0.0, 1.3])).expand(3, B, 4)
    shift = torch.tensor([4.0, -2.0, 0.0])

    def turn(p, r, v, a):
        return BodyState(quat_rotate(yaw, p) + shift, quat_mul(yaw, r), quat_rotate(yaw, v), quat_rotate(yaw, a))

    assert torch.allclose(humanoid_observation(turn(pos, rot, vel, ang), torch.zeros(3)), obs, atol=1e-5)
    assert torch.allclose(target_pose_observation(turn(pos, rot, vel, ang), turn(*ref)), target, atol=1e-5)


def test_observation_contents_by_hand():
    pos, rot, vel, ang = _random_state()
    ground = torch.tensor([0.0, 0.5, -1.0])
    obs = humanoid_observation(BodyState(pos, rot, vel, ang), ground)
    assert torch.allclose(obs[:, 0], pos[:, 0, 2] - ground)
    # Perfect tracking: position differences to the same body, rotation and velocity differences vanish.
    target = target_pose_observation(BodyState(pos, rot, vel, ang), BodyState(pos, rot, vel, ang)).reshape(3, B, 24)
    assert target[..., 3:6].abs().max() < 1e-6 and target[..., 18:24].abs().max() < 1e-6
    identity_tan_norm = torch.tensor([1.0, 0.0, 0.0, 0.0, 0.0, 1.0])
    assert torch.allclose(target[..., 12:18], identity_tan_norm.expand(3, B, 6), atol=1e-6)
    # The heading frame removes yaw only: the heading-frame root x axis has no y component.
    forward = quat_rotate(quat_mul(heading_quat_inv(rot[:, 0]), rot[:, 0]), torch.tensor([1.0, 0.0, 0.0]))
    assert forward[:, 1].abs().max() < 1e-6 and bool((forward[:, 0] >= 0).all())


def test_heading_frame_rotation_equals_the_quaternion_rotation():
    generator = torch.Generator().manual_seed(3)
    rot = quat_normalize(torch.randn(64, 4, generator=generator, dtype=torch.float64))
    vectors = torch.randn(64, 5, 3, generator=generator, dtype=torch.float64)
    # The yaw of a rotation: the angle of its x axis on the ground plane.
    forward = quat_rotate(rot, torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64).expand(64, 3))
    yaw = torch.atan2(forward[:, 1], forward[:, 0])
    expected = quat_rotate(heading_quat_inv(rot)[:, None, :].expand(64, 5, 4), vectors)
    assert torch.allclose(into_heading_frame(vectors, yaw), expected, atol=1e-12)
    # The 6-D rotation features are the rotated x and z axes.
    axes = torch.eye(3, dtype=torch.float64)
    tan_norm = torch.cat((quat_rotate(rot, axes[0].expand(64, 3)), quat_rotate(rot, axes[2].expand(64, 3))), dim=-1)
    assert torch.allclose(quat_to_tan_norm(rot), tan_norm, atol=1e-12)
    # A rotation about z by 90°: world x becomes heading-frame −y.
    yaw = torch.tensor([math.pi / 2], dtype=torch.float64)
    assert torch.allclose(
        into_heading_frame(torch.tensor([[[1.0, 0.0, 0.5]]], dtype=torch.float64), yaw),
        torch.tensor([[[0.0, -1.0, 0.5]]], dtype=torch.float64),
        atol=1e-12,
    )


def test_exp_map_and_hinge_conversions_round_trip():
    gen = torch.Generator().manual_seed(0)
    hinge = (torch.rand(50, D, generator=gen, dtype=torch.float64) - 0.5) * 2.8
    assert torch.allclose(exp_map_to_hinge_angles(hinge_angles_to_exp_map(hinge)), hinge, atol=1e-9)
    rates = torch.randn(50, D, generator=gen, dtype=torch.float64)
    omega = hinge_rates_to_angular_velocity(hinge, rates)
    assert torch.allclose(angular_velocity_to_hinge_rates(hinge, omega), rates, atol=1e-9)
