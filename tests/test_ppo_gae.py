"""GAE and returns against a small example worked by hand, bootstrapping at time-outs, the
minibatch iterator, and what ``collect`` stores at episode ends."""

from __future__ import annotations

import pytest
import torch

from training.ppo.agent import PPOAgent
from training.ppo.config import PPOConfig
from training.ppo.rollout import compute_gae, minibatch_indices
from training.tasks.pendulum import PendulumEnv

# γ = λ = 0.5 keep every intermediate value a short binary fraction, so float64 results are exact.
GAMMA = 0.5
LAM = 0.5  # γλ = 0.25

# Two envs, three steps (time-major: row t, column env).
# env 0: the episode times out at t = 1 (truncated; V(final_obs) = 4.0 bootstraps it), a new
#        episode starts at t = 2.
# env 1: the episode fails at t = 0 (terminated; its V(final_obs) = 8.0 must be ignored).
REWARDS = [[1.0, -1.0], [2.0, 0.5], [3.0, 1.0]]
VALUES = [[0.5, 2.0], [1.0, 1.0], [2.0, 0.5]]
NEXT_VALUES = [[1.0, 8.0], [4.0, 0.5], [2.5, 1.0]]
TERMINATED = [[False, True], [False, False], [False, False]]
TRUNCATED = [[False, False], [True, False], [False, False]]

# By hand, δ_t = r_t + γ·V(s'_t)·(1 − term_t) − V(s_t), A_t = δ_t + γλ·(1 − done_t)·A_{t+1}, A_3 = 0:
# env 0
#   t=2: δ = 3 + 0.5·2.5 − 2   = 2.25   A = 2.25
#   t=1: δ = 2 + 0.5·4.0 − 1   = 3.0    A = 3.0            (time-out: bootstrapped, chain cut)
#   t=0: δ = 1 + 0.5·1.0 − 0.5 = 1.0    A = 1.0 + 0.25·3.0 = 1.75
#   returns = A + V = 2.25, 4.0, 4.25
# env 1
#   t=2: δ = 1 + 0.5·1.0 − 0.5  = 1.0   A = 1.0
#   t=1: δ = 0.5 + 0.5·0.5 − 1  = −0.25 A = −0.25 + 0.25·1.0 = 0.0
#   t=0: δ = −1 + 0 − 2         = −3.0  A = −3.0            (failure: no bootstrap, chain cut)
#   returns = −1.0, 1.0, 1.5
EXPECTED_ADVANTAGES = [[1.75, -3.0], [3.0, 0.0], [2.25, 1.0]]
EXPECTED_RETURNS = [[2.25, -1.0], [4.0, 1.0], [4.25, 1.5]]


def _t(rows, dtype=torch.float64):
    return torch.tensor(rows, dtype=dtype)


def _hand_example(terminated=TERMINATED, truncated=TRUNCATED):
    term = _t(terminated, torch.bool)
    trunc = _t(truncated, torch.bool)
    return compute_gae(_t(REWARDS), _t(VALUES), _t(NEXT_VALUES), term, term | trunc, GAMMA, LAM)


def test_gae_matches_hand_worked_example():
    advantages, returns = _hand_example()
    assert torch.equal(advantages, _t(EXPECTED_ADVANTAGES))
    assert torch.equal(returns, _t(EXPECTED_RETURNS))


def test_termination_drops_the_bootstrap_that_a_timeout_keeps():
    # The same step of env 0 as a failure instead of a time-out: δ_1 loses γ·V(final_obs) = 2.0,
    # so A_1 = 1.0 and A_0 = 1.0 + 0.25·1.0 = 1.25; t = 2 is a new episode and does not change.
    as_failure = [[False, True], [True, False], [False, False]]
    advantages, _ = _hand_example(terminated=as_failure, truncated=[[False] * 2] * 3)
    assert advantages[:, 0].tolist() == [1.25, 1.0, 2.25]
    assert advantages[:, 1].tolist() == [-3.0, 0.0, 1.0]


def test_without_episode_ends_lambda_one_gives_discounted_monte_carlo_returns():
    # λ = 1 and no dones: A_t + V_t = Σ_k γ^k r_{t+k} + γ^{T−t}·V(s'_{T−1}), whatever V is.
    gen = torch.Generator().manual_seed(0)
    steps, envs, gamma = 7, 3, 0.9
    rewards = torch.randn(steps, envs, generator=gen, dtype=torch.float64)
    values = torch.randn(steps, envs, generator=gen, dtype=torch.float64)
    next_values = torch.cat([values[1:], torch.randn(1, envs, generator=gen, dtype=torch.float64)])
    no_end = torch.zeros(steps, envs, dtype=torch.bool)
    _, returns = compute_gae(rewards, values, next_values, no_end, no_end, gamma, 1.0)
    for t in range(steps):
        expected = sum(gamma**k * rewards[t + k] for k in range(steps - t)) + gamma ** (steps - t) * next_values[-1]
        assert torch.allclose(returns[t], expected, atol=1e-12)


def test_minibatches_cover_every_sample_once_and_reject_indivisible_sizes():
    gen = torch.Generator().manual_seed(1)
    batches = list(minibatch_indices(96, 32, gen))
    assert [len(b) for b in batches] == [32, 32, 32]
    assert sorted(torch.cat(batches).tolist()) == list(range(96))
    assert torch.cat(batches).tolist() != list(range(96))  # shuffled
    with pytest.raises(ValueError, match=r"batch_size must divide num_envs × num_steps = 96.*got batch_size 40"):
        list(minibatch_indices(96, 40, gen))


def test_collect_bootstraps_timeouts_from_the_pre_reset_observation():
    # 3-step episodes in a 4-step rollout: step 2 ends every episode by time-out.
    config = PPOConfig(actor_units=[16], critic_units=[16], num_steps=4, batch_size=8)
    env = PendulumEnv(num_envs=2, seed=3, max_episode_steps=3)
    agent = PPOAgent(config, env.obs_size, env.action_size, seed=0)
    agent.collect(env)
    s = agent.storage
    assert s.truncated[:, 0].tolist() == [False, False, True, False]
    assert not s.terminated.any()
    with torch.no_grad():
        # Where the episode goes on, the bootstrap value is V of the next stored observation.
        assert torch.allclose(s.next_values[1], agent.critic(s.obs[2]), atol=1e-6)
        # At the time-out it is V of the final (pre-reset) pendulum state, not of the reset one.
        assert not torch.allclose(s.next_values[2], agent.critic(s.obs[3]), atol=1e-3)
        theta = s.obs[2, :, 1].atan2(s.obs[2, :, 0])
        theta_dot = s.obs[2, :, 2]
        actions = s.actions[2, :, 0].clamp(-2.0, 2.0)
        # One step of the pendulum equations from the stored observation and action.
        new_theta_dot = (theta_dot + (15.0 * torch.sin(theta) + 3.0 * actions) * 0.05).clamp(-8.0, 8.0)
        new_theta = theta + new_theta_dot * 0.05
        final_obs = torch.stack([torch.cos(new_theta), torch.sin(new_theta), new_theta_dot], dim=-1)
        assert torch.allclose(s.next_values[2], agent.critic(final_obs), atol=1e-5)
