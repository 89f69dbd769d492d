"""The learning-quality levers a corpus needs, on the real MuJoCo backend and real clips: starts
near recent failures, reset root velocities from one-frame differences, and a decaying action std."""

from __future__ import annotations

import io

import pytest
import torch

from motion.rotations import angular_velocity
from training.config import ExperimentConfig
from training.envs.factory import make_env
from training.envs.start_states import FailureStarts
from training.overrides import apply_overrides
from training.ppo.agent import PPOAgent
from training.ppo.config import PPOConfig
from training.tasks.pendulum import PendulumEnv


@pytest.fixture(scope="module")
def real_lib(sample_motion_lib):
    return sample_motion_lib


def _env(motion_file, num_envs, overrides=()):
    config = apply_overrides(ExperimentConfig(), [f"motion_file={motion_file}", f"num_envs={num_envs}", *overrides])
    env, _ = make_env(config, threads=2)
    return env


def test_failure_starts_draw_times_a_lead_before_where_episodes_failed():
    lengths = torch.tensor([4.0, 10.0])
    starts = FailureStarts(lengths, bin_seconds=0.5, lead=1.0, memory=0.5)
    assert starts.counts.shape == (2, 21)
    starts.record(torch.tensor([1, 1, 1]), torch.tensor([6.2, 6.4, 6.3]))  # all in the bin [6.0, 6.5)
    generator = torch.Generator().manual_seed(0)
    times, known = starts.sample(torch.tensor([0, 1, 1, 1]), generator)
    assert known.tolist() == [False, True, True, True]
    assert times[0] == 0.0
    assert bool(((times[1:] >= 5.0) & (times[1:] < 5.5)).all()), times  # 1 s before the bin
    starts.forget()
    assert starts.counts[1, 12].item() == pytest.approx(1.5)  # three failures, halved once
    saved = starts.state_dict()
    other = FailureStarts(lengths, 0.5, 1.0, 0.5)
    assert other.load_state_dict(saved) and torch.equal(other.counts, starts.counts)
    assert not FailureStarts(torch.tensor([3.0]), 0.5, 1.0, 0.5).load_state_dict(saved)  # another MotionLib


def test_training_env_starts_near_recorded_failures(real_lib):
    """Envs that fail on a real clip make later resets of that clip start before the failure."""
    env = _env(real_lib, 64, ["env.failure_start_prob=1.0", "env.init_start_prob=0.0"])
    try:
        walk = next(i for i, name in enumerate(env.motion_lib.motion_files) if "walk" in name)
        env.failure_starts.record(torch.full((5,), walk), torch.full((5,), 3.1))
        ids = torch.arange(64)
        env.reset_envs(ids, motion_ids=torch.full((64,), walk))
        times = env.motion_times
        assert bool(((times >= 2.0) & (times < 2.5)).all()), times  # 3.0-3.5 s bin, 1 s lead
        # Termination feeds the memory: a humanoid thrown off its reference fails and is recorded.
        expected = env.failure_starts.counts.sum().item()
        for _ in range(30):
            _, _, terminated, _, _ = env.step(torch.full((64, env.num_actions), 8.0))  # joints 0.5 rad off
            expected = expected * env.env_config.failure_memory + int(terminated.sum())
            if bool(terminated.any()):
                break
        assert bool(terminated.any())
        assert env.failure_starts.counts.sum().item() == pytest.approx(expected, rel=1e-4)
    finally:
        env.sim.close()


def test_finite_difference_reset_gives_the_root_the_references_own_velocity(real_lib):
    env = _env(real_lib, 8, ["env.reset_root_velocity=finite_difference"])
    try:
        lib = env.motion_lib
        ids = torch.arange(8) % lib.num_motions
        frames = torch.tensor([3, 10, 20, 30, 5, 15, 25, 40]) % (lib.motion_num_frames[ids] - 1)
        times = frames.float() * lib.motion_dt[ids]
        env.reset_envs(torch.arange(8), motion_ids=ids, times=times)
        s0 = lib.get_motion_state(ids, times)
        s1 = lib.get_motion_state(ids, times + lib.motion_dt[ids])
        expected_v = (s1.rigid_body_pos[:, 0] - s0.rigid_body_pos[:, 0]) / lib.motion_dt[ids, None]
        expected_w = angular_velocity(s0.rigid_body_rot[:, 0], s1.rigid_body_rot[:, 0], lib.motion_dt[ids, None])
        root = env.sim.body_state()
        assert torch.allclose(root.vel[:, 0], expected_v, atol=1e-4)
        assert torch.allclose(root.ang_vel[:, 0], expected_w, atol=1e-3)
        # ... and it is not what ProtoMotions' reset gives (the MotionLib's smallest difference).
        assert (s0.rigid_body_vel[:, 0] - expected_v).norm(dim=-1).max() > 0.05
    finally:
        env.sim.close()
    with pytest.raises(ValueError, match="reset_root_velocity.*motion_lib, finite_difference.*'fd'"):
        _env(real_lib, 1, ["env.reset_root_velocity=fd"])


def test_fixed_std_decays_linearly_with_env_steps_and_survives_a_resume():
    config = PPOConfig(actor_units=[16], critic_units=[16], actor_logstd=-1.0, actor_logstd_final=-2.0,
                       logstd_decay_env_steps=256, num_steps=8, batch_size=64)  # fmt: skip
    agent = PPOAgent(config, PendulumEnv.obs_size, PendulumEnv.action_size, seed=0)
    env = PendulumEnv(8, seed=1)
    seen = []
    for _ in range(5):  # 64 env steps per epoch
        agent.collect(env)
        seen.append(agent.actor.logstd.item())
        agent.update()
    assert seen == pytest.approx([-1.0, -1.25, -1.5, -1.75, -2.0])
    buffer = io.BytesIO()
    torch.save(agent.state_dict(), buffer)
    buffer.seek(0)
    resumed = PPOAgent(config, PendulumEnv.obs_size, PendulumEnv.action_size, seed=3)
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    assert resumed.actor.logstd.item() == pytest.approx(-2.0)  # the schedule's value, not actor_logstd
    learnable = PPOAgent(PPOConfig(actor_units=[16], critic_units=[16], learnable_std=True, logstd_decay_env_steps=10),
                         PendulumEnv.obs_size, PendulumEnv.action_size)  # fmt: skip
    assert learnable.scheduled_logstd() is None  # a learnable std is the optimiser's
