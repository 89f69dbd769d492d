"""The mimic environment on the real MuJoCo backend, with synthetic and real AMASS clips.

Runs on ``MIMIC_TEST_DEVICE`` (tests/device_under_test.py): on CUDA the env steps ``mjwarp`` there,
and every input and expectation is built on the env's device.
"""

from __future__ import annotations

import pytest
import torch
from device_under_test import BIT_IDENTICAL_SIMULATION, REPEAT_HORIZON_STEPS, assert_repeatable, env_overrides

from training.baseline_run import run_baseline
from training.config import ExperimentConfig
from training.envs.factory import make_env
from training.overrides import apply_overrides

pytestmark = pytest.mark.device


@pytest.fixture(scope="module")
def synthetic_lib(synthetic_motion_lib):
    return synthetic_motion_lib


@pytest.fixture(scope="module")
def real_lib(sample_motion_lib):
    return sample_motion_lib


def _env(motion_file, num_envs=4, overrides=()):
    given = [f"motion_file={motion_file}", f"num_envs={num_envs}", *env_overrides(), *overrides]
    config = apply_overrides(ExperimentConfig(), given)
    env, _ = make_env(config, threads=2)
    return env


def _motion_index(env, fragment):
    return next(i for i, name in enumerate(env.motion_lib.motion_files) if fragment in name)


def test_observation_sizes(synthetic_lib):
    env = _env(synthetic_lib, num_envs=2)
    try:
        assert env.num_obs == 1003 and env.num_actions == 69
        obs = env.reset()
        assert obs.shape == (2, 1003) and bool(torch.isfinite(obs).all())
    finally:
        env.sim.close()
    small_terrain = [
        "env.terrain.kind=complex", "env.observations.terrain_obs=true", "env.terrain.num_levels=2",
        "env.terrain.num_terrains=2", "env.terrain.map_length=4.0", "env.terrain.map_width=4.0",
        "env.terrain.border_size=2.0",
    ]  # fmt: skip
    env = _env(synthetic_lib, num_envs=2, overrides=small_terrain)
    try:
        assert env.num_obs == 1259
    finally:
        env.sim.close()


def test_reset_reproduces_the_reference_pose(real_lib):
    """Reset converts exp-map DoFs to hinge angles; the simulated bodies must land on the reference."""
    env = _env(real_lib, num_envs=3)
    try:
        ids = torch.arange(3, device=env.device)
        times = torch.tensor([0.5, 1.0, 1.5], device=env.device)
        env.reset_envs(ids, motion_ids=ids, times=times)
        ref = env.reference_state(times)
        bodies = env.sim.body_state()
        raise_z = torch.tensor([0.0, 0.0, env.env_config.ref_respawn_offset], device=env.device)
        error = (bodies.pos - (ref.rigid_body_pos + raise_z)).norm(dim=-1).max().item()
        assert error < 1e-4, f"max body position error after reset: {error * 1000:.3f} mm"
        dof_error = (env.sim.dof_state().pos - env.reference_pd_targets(times)).abs().max().item()
        assert dof_error < 1e-5
    finally:
        env.sim.close()


def test_oracle_tracks_a_standing_clip_and_falls_on_real_ones(synthetic_lib, real_lib):
    env = _env(synthetic_lib, num_envs=1, overrides=["env.init_start_prob=1.0"])
    try:
        standing = _motion_index(env, "standing")
        env.motion_lib.motion_weights = torch.nn.functional.one_hot(
            torch.tensor(standing, device=env.device), env.motion_lib.num_motions
        ).float()
        result = run_baseline(env, "oracle", seconds=3.0)
        # The whole 3 s standing clip (truncated at its end), never terminated.
        assert result.motion_ids == [standing]
        assert not result.terminated[0] and result.seconds[0] >= 2.0
    finally:
        env.sim.close()

    env = _env(real_lib, num_envs=3, overrides=["env.init_start_prob=1.0"])
    try:
        result = run_baseline(env, "oracle", seconds=6.0, motion_ids=torch.arange(3, device=env.device))
        assert result.motion_ids == [0, 1, 2]
        seated = _motion_index(env, "amass_sample_male")
        # No balance feedback and no chair: the seated clip fails; the others are recorded.
        assert result.terminated[seated] and result.seconds[seated] < 2.0
        print({env.motion_lib.motion_files[m]: s for m, s in zip(result.motion_ids, result.seconds)})
    finally:
        env.sim.close()


def test_clip_end_truncates_and_distance_terminates(synthetic_lib):
    no_termination = ["env.enable_termination=false", "env.init_start_prob=1.0"]
    env = _env(synthetic_lib, num_envs=2, overrides=no_termination)
    try:
        walk = _motion_index(env, "smplh_walk")
        dev = env.device
        env.reset_envs(torch.arange(2, device=dev), motion_ids=torch.tensor([walk, walk], device=dev),
                       times=torch.zeros(2, device=dev))  # fmt: skip
        length = env.motion_lib.motion_lengths[walk].item()
        steps_to_end = round((length - env.dt) / env.dt)  # the next target would pass the end
        zeros = torch.zeros(2, env.num_actions, device=dev)
        for step in range(1, steps_to_end + 1):
            _obs, _reward, terminated, truncated, info = env.step(zeros)
            assert not terminated.any()
            if step < steps_to_end:
                assert not truncated.any(), f"truncated early at step {step}"
        assert truncated.all() and "final_obs" in info
        assert bool((env.progress == 0).all())  # both were reset
    finally:
        env.sim.close()

    env = _env(synthetic_lib, num_envs=1, overrides=["env.init_start_prob=1.0"])
    try:
        walk = _motion_index(env, "smplh_walk")
        dev = env.device
        env.reset_envs(torch.arange(1, device=dev), motion_ids=torch.tensor([walk], device=dev),
                       times=torch.zeros(1, device=dev))  # fmt: skip
        terminated_at = None
        for step in range(1, 60):
            _obs, _reward, terminated, _truncated, _info = env.step(torch.zeros(1, env.num_actions, device=dev))
            if terminated.any():
                terminated_at = step
                break
        # Zero PD targets while the reference walks away: a body strays past 0.5 m and ends it.
        assert terminated_at is not None
    finally:
        env.sim.close()


def test_reusing_the_observed_reference_changes_nothing(synthetic_lib):
    """The reward reuses the reference the last observation sampled; recomputing gives the same:
    identical over 40 steps (with terminations and resets) on the CPU; on CUDA, where two runs of
    mjwarp are not bit-identical, within tolerance over the first 1/3 s."""
    runs = []
    for reuse in (True, False):
        env = _env(synthetic_lib, num_envs=3)
        try:
            if not reuse:
                env._reference_now = lambda env=env: env.reference_state(env.motion_times)
            obs = env.reset()
            generator = torch.Generator().manual_seed(5)
            rewards, observations = [], []
            for _ in range(40):  # long enough for terminations and resets
                actions = (0.3 * torch.randn(3, env.num_actions, generator=generator)).to(env.device)
                obs, reward, _terminated, _truncated, _info = env.step(actions)
                rewards.append(reward.clone())
                observations.append(obs.clone())
            runs.append((torch.stack(rewards), torch.stack(observations)))
        finally:
            env.sim.close()
    steps = slice(None) if BIT_IDENTICAL_SIMULATION else slice(0, REPEAT_HORIZON_STEPS)
    one, two = ({"reward": [rewards[steps]], "obs": [observations[steps]]} for rewards, observations in runs)
    assert_repeatable(one, two, bit_identical=BIT_IDENTICAL_SIMULATION)


def test_observing_a_subset_gives_those_rows_of_the_full_observation(synthetic_lib):
    env = _env(synthetic_lib, num_envs=4)
    try:
        env.reset()
        for _ in range(5):
            env.step(0.2 * torch.ones(4, env.num_actions, device=env.device))
        full = env.observe()
        ids = torch.tensor([3, 1], device=env.device)
        # the same state observed twice: only the rows' arithmetic differs (batch sizes)
        assert_repeatable({"obs": [env.observe(ids)]}, {"obs": [full[ids]]}, bit_identical=BIT_IDENTICAL_SIMULATION)
    finally:
        env.sim.close()


def test_residual_actions_are_corrections_around_the_next_reference_pose(real_lib):
    """``env.action_mode=residual``: a zero action puts the PD targets on the reference's joint
    angles at t + dt; a correction adds residual_action_scale·tanh(a); the inverse map agrees."""
    env = _env(real_lib, num_envs=3, overrides=["env.action_mode=residual", "env.residual_action_scale=0.4"])
    try:
        dev = env.device
        ids = torch.arange(3, device=dev)
        env.reset_envs(ids, motion_ids=ids, times=torch.tensor([0.2, 0.5, 0.9], device=dev))
        env.observe()
        next_pose = env.reference_pd_targets(env.motion_times + env.dt)
        assert torch.allclose(env.pd_targets(torch.zeros(3, 69, device=dev)), next_pose, atol=1e-6)
        actions = torch.linspace(-2.0, 2.0, 69, device=dev).repeat(3, 1)
        targets = env.pd_targets(actions)
        assert torch.allclose(targets - next_pose, 0.4 * torch.tanh(actions), atol=1e-6)
        assert torch.allclose(env.actions_for_targets(targets), actions, atol=1e-4)
    finally:
        env.sim.close()
    with pytest.raises(ValueError, match="env.action_mode: expected one of absolute, residual, got 'relative'"):
        _env(real_lib, num_envs=1, overrides=["env.action_mode=relative"])


def test_velocity_feedforward_leads_the_reference_and_cuts_the_pd_lag(real_lib):
    """The PD's damping pulls against the joint's absolute rate, so targets placed on a moving
    reference are followed (kd / kp)·rate behind. Leading them by that much (the feed-forward)
    must shrink the joint tracking error of the untrained (zero-residual) policy on both
    dynamic clips; measured: 0.053 → 0.041 rad (jumps), 0.067 → 0.051 rad (walk)."""
    errors = {}
    for feedforward in ("false", "true"):
        overrides = [
            "env.action_mode=residual", f"env.residual_velocity_feedforward={feedforward}",
            "env.enable_termination=false",
        ]  # fmt: skip
        env = _env(real_lib, num_envs=2, overrides=overrides)
        try:
            jumps, walk = _motion_index(env, "dmpl"), _motion_index(env, "walk")
            env.auto_reset = False
            dev = env.device
            env.reset_envs(torch.arange(2, device=dev), motion_ids=torch.tensor([jumps, walk], device=dev),
                           times=torch.zeros(2, device=dev))  # fmt: skip
            env.observe()
            if feedforward == "true":
                kd_over_kp = torch.tensor(env.sim.robot.kd, device=dev) / torch.tensor(env.sim.robot.kp, device=dev)
                assert torch.allclose(env.target_lead, kd_over_kp) and float(kd_over_kp.max()) == pytest.approx(0.1)
            per_step = []
            for _ in range(8):
                env.step(torch.zeros(2, 69, device=dev))
                lag = env.sim.dof_state().pos - env.reference_pd_targets(env.motion_times)
                per_step.append(lag.abs().mean(dim=1))
            errors[feedforward] = torch.stack(per_step).mean(dim=0)
        finally:
            env.sim.close()
    assert bool((errors["true"] < 0.85 * errors["false"]).all()), errors
