"""PPO update rules with real numbers: value clipping, clip fraction and the skip rule, bad and
clipped gradients, the three normalisers, exact resume from a state_dict, and metric names.

The tests on the pendulum task run on ``MIMIC_TEST_DEVICE`` (tests/device_under_test.py; the
``device`` marker): agent, env and expectations on that device. PPO alone is bit-for-bit
repeatable there too (no atomics in the ops it uses), so the exact-resume test asserts identity
on CUDA as well.
"""

from __future__ import annotations

import copy
import io
import math

import pytest
import torch
from device_under_test import BIT_IDENTICAL_PPO, TEST_DEVICE

from training.ppo.agent import PPOAgent, value_loss
from training.ppo.config import PPOConfig
from training.ppo.normalizers import AdvantageNormalizer, RewardNormalizer, RunningMeanStd
from training.tasks.pendulum import PendulumEnv

REQUIRED_METRICS = {
    "Train/episode_reward",
    "Train/episode_length",
    "Train/clip_frac",
    "Train/approx_kl",
    "Train/actor_grad_norm",
    "Train/critic_grad_norm",
    "Train/actor_loss",
    "Train/critic_loss",
    "Train/explained_variance",
    "Train/fps",
    "Train/bad_grads",
    "Train/update_skipped",
}


def small_config(**overrides) -> PPOConfig:
    base = dict(
        actor_units=[32, 32],
        critic_units=[32, 32],
        actor_lr=1e-3,
        critic_lr=1e-3,
        actor_logstd=-0.5,
        num_steps=16,
        batch_size=64,
        num_mini_epochs=2,
    )
    base.update(overrides)
    return PPOConfig(**base)


def make_agent(config: PPOConfig, seed: int = 0) -> PPOAgent:
    return PPOAgent(config, PendulumEnv.obs_size, PendulumEnv.action_size, device=str(TEST_DEVICE), seed=seed)


def pendulum(num_envs: int, seed: int = 0, max_episode_steps: int = 200) -> PendulumEnv:
    return PendulumEnv(num_envs, device=str(TEST_DEVICE), seed=seed, max_episode_steps=max_episode_steps)


def parameters_of(agent: PPOAgent):
    return [p.detach().clone() for p in list(agent.actor.parameters()) + list(agent.critic.parameters())]


# ---------------------------------------------------------------- losses
def test_value_loss_is_the_max_of_clipped_and_unclipped_squared_errors():
    values = torch.tensor([1.5, 2.5, 1.1])
    old_values = torch.tensor([1.0, 2.0, 1.0])
    returns = torch.tensor([2.0, 1.0, 2.0])
    # sample 0: V moved +0.5, clipped to +0.2 → V_c = 1.2; max((1.5−2)², (1.2−2)²) = max(0.25, 0.64) = 0.64
    # sample 1: V_c = 2.2;  max((2.5−1)², (2.2−1)²) = max(2.25, 1.44) = 2.25
    # sample 2: inside the clip range, both are (1.1−2)² = 0.81
    expected = (0.64 + 2.25 + 0.81) / 3
    assert value_loss(values, old_values, returns, 0.2).item() == pytest.approx(expected, rel=1e-6)
    assert value_loss(values, old_values, returns, 0.2, clipped=False).item() == pytest.approx(
        (0.25 + 2.25 + 0.81) / 3, rel=1e-6
    )


def _expected_clip_fraction(agent: PPOAgent) -> float:
    """Clip fraction of a first minibatch holding the whole rollout, computed independently
    with torch.distributions."""
    s = agent.storage
    actor = copy.deepcopy(agent.actor).eval()
    with torch.no_grad():
        mean = actor(s.obs.reshape(-1, 3))  # normaliser frozen during the update, as in the agent
        dist = torch.distributions.Normal(mean, torch.exp(actor.logstd))
        new_log_prob = dist.log_prob(s.actions.reshape(-1, 1)).sum(-1)
        ratio = torch.exp(new_log_prob - s.log_probs.reshape(-1))
    return float(((ratio - 1.0).abs() > 0.2).float().mean())


@pytest.mark.device
def test_clip_fraction_above_threshold_skips_the_rest_of_the_epoch_critic_included():
    config = small_config(batch_size=16 * 8, num_mini_epochs=3)  # one minibatch per pass
    agent = make_agent(config)
    agent.collect(pendulum(8, seed=1))
    with torch.no_grad():
        agent.actor.mlp[-1].bias += 1.0  # a policy far from the one that collected the data
    expected_clip_frac = _expected_clip_fraction(agent)
    assert expected_clip_frac > 0.6
    before = parameters_of(agent)
    metrics = agent.update()
    assert metrics["Train/clip_frac"] == pytest.approx(expected_clip_frac, abs=1e-6)
    assert metrics["Train/update_skipped"] == 1.0  # all 3 planned minibatches skipped
    assert math.isnan(metrics["Train/actor_loss"]) and math.isnan(metrics["Train/critic_loss"])
    # The normalisers learn from the whole rollout once, after the (skipped) passes.
    assert agent.actor.obs_norm.count.item() == 16 * 8
    assert agent.critic.obs_norm.count.item() == 16 * 8
    for old, new in zip(before, parameters_of(agent)):
        assert torch.equal(old, new)  # neither actor nor critic moved


@pytest.mark.device
def test_update_below_threshold_trains_both_networks_and_reports_its_clip_fraction():
    config = small_config(batch_size=16 * 8, num_mini_epochs=1)
    agent = make_agent(config)
    agent.collect(pendulum(8, seed=1))
    expected_clip_frac = _expected_clip_fraction(agent)
    before = parameters_of(agent)
    metrics = agent.update()
    assert metrics["Train/update_skipped"] == 0.0
    assert metrics["Train/clip_frac"] == pytest.approx(expected_clip_frac, abs=1e-6)
    assert metrics["Train/clip_frac"] < 0.6
    changed = [not torch.equal(old, new) for old, new in zip(before, parameters_of(agent))]
    assert all(changed)


@pytest.mark.device
def test_first_update_starts_from_the_collecting_policy_even_with_young_statistics():
    """Normalisers are frozen during the update: the first minibatch's ratio is exactly 1, so a
    fresh agent (whose statistics would jump on their first batch) is not skipped."""
    config = small_config(batch_size=16 * 2, num_mini_epochs=1)
    agent = make_agent(config)
    agent.collect(pendulum(8, seed=3))
    assert _expected_clip_fraction(agent) == 0.0
    metrics = agent.update()
    assert metrics["Train/update_skipped"] == 0.0
    # A second epoch still trains: the statistics changed between epochs, not within one.
    agent.collect(pendulum(8, seed=4))
    assert agent.update()["Train/update_skipped"] == 0.0


# ------------------------------------------------------------- gradients
@pytest.mark.device
def test_bad_gradients_are_zeroed_counted_and_not_applied():
    config = small_config(bad_grad_threshold=1e-9)  # every real gradient counts as bad here
    agent = make_agent(config)
    agent.collect(pendulum(8, seed=2))
    before = parameters_of(agent)
    metrics = agent.update()
    minibatches = 2 * (16 * 8 // 64)
    assert metrics["Train/bad_grads"] == 2 * minibatches  # actor and critic, every minibatch
    assert agent.bad_grad_count == 2 * minibatches
    for old, new in zip(before, parameters_of(agent)):
        assert torch.equal(old, new)
    assert all(p.grad is None or not p.grad.any() for p in agent.actor.parameters())
    assert not agent.actor_optimizer.state  # Adam never stepped: its moments stay clean


@pytest.mark.device
def test_non_finite_gradient_is_zeroed_and_large_gradient_clipped_to_50():
    agent = make_agent(small_config())
    dev = agent.device
    params = [torch.nn.Parameter(torch.zeros(3, device=dev)), torch.nn.Parameter(torch.zeros(4, device=dev))]
    params[0].grad = torch.tensor([float("nan"), 1.0, 2.0], device=dev)
    params[1].grad = torch.ones(4, device=dev)
    norm, bad = agent._clip_or_zero_gradients(params)
    assert bad and math.isnan(norm)
    assert not params[0].grad.any() and not params[1].grad.any()

    params[0].grad = torch.tensor([60.0, 0.0, 0.0], device=dev)
    params[1].grad = torch.tensor([80.0, 0.0, 0.0, 0.0], device=dev)  # global norm 100
    norm, bad = agent._clip_or_zero_gradients(params)
    assert not bad and norm == pytest.approx(100.0)
    clipped = torch.linalg.vector_norm(torch.cat([params[0].grad, params[1].grad]))
    assert clipped.item() == pytest.approx(50.0, rel=1e-6)
    assert params[0].grad[0].item() == pytest.approx(30.0, rel=1e-6)  # direction kept

    params[0].grad = torch.tensor([3.0, 0.0, 0.0], device=dev)
    params[1].grad = torch.tensor([4.0, 0.0, 0.0, 0.0], device=dev)  # norm 5: below the clip, untouched
    norm, bad = agent._clip_or_zero_gradients(params)
    assert norm == pytest.approx(5.0) and params[1].grad[0].item() == 4.0


# ------------------------------------------------------------ normalisers
def test_observation_normaliser_pools_then_follows_an_ema_and_clamps():
    norm = RunningMeanStd(2, decay=0.999, clamp=5.0)
    first = torch.tensor([[1.0, 10.0], [3.0, 10.0]])
    second = torch.tensor([[5.0, 20.0], [7.0, 20.0]])
    norm.eval()
    norm(first)
    assert norm.count.item() == 0  # eval mode (rollouts) never updates
    norm.train()
    norm(first)  # the first batch replaces the 0/1 initial values
    assert norm.mean.tolist() == [2.0, 10.0] and norm.var.tolist() == [1.0, 0.0]
    norm(second)  # weight 1/2: exact pooled moments of all four rows
    assert norm.mean.tolist() == [4.0, 15.0]
    assert norm.var.tolist() == pytest.approx([5.0, 25.0])
    # Past ~1/(1 − decay) samples the weight is 1 − decay = 0.001:
    # mean 4 + 0.001·(104 − 4) = 4.1; var 0.999·5 + 0.001·0 + 0.001·0.999·100² = 14.985
    norm.count.fill_(1e6)
    norm(torch.tensor([[104.0, 15.0], [104.0, 15.0]]))
    assert norm.mean[0].item() == pytest.approx(4.1, rel=1e-12)
    assert norm.var[0].item() == pytest.approx(0.999 * 5.0 + 0.001 * 0.999 * 100.0**2, rel=1e-12)
    norm.eval()
    out = norm(torch.tensor([[4.1 + 2.0 * math.sqrt(14.985), 1e6], [-1e6, 15.0]]))
    assert out[0, 0].item() == pytest.approx(2.0, rel=1e-5)
    assert out[0, 1].item() == 5.0 and out[1, 0].item() == -5.0  # clamped to ±obs_clamp


def test_reward_normaliser_tracks_the_std_of_discounted_returns_per_episode():
    norm = RewardNormalizer(gamma=0.5, clamp=5.0)
    rewards = [torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0]), torch.tensor([4.0, 2.0])]
    dones = [torch.tensor([False, True]), torch.tensor([False, False]), torch.tensor([False, False])]
    for reward, done in zip(rewards, dones):
        norm.record(reward, done)
    # env 0: G = 1, 1.5, 4.75; env 1 ends at step 0, restarts: G = 2, 2, 3.
    returns = torch.tensor([1.0, 2.0, 1.5, 2.0, 4.75, 3.0], dtype=torch.float64)
    # Pooled with the initial pseudo-sample (mean 0, variance 1, count 1):
    mean = returns.sum() / 7
    var = (1.0 + (returns**2).sum()) / 7 - mean**2
    assert norm.count.item() == 7
    assert norm.mean.item() == pytest.approx(mean.item(), rel=1e-12)
    assert norm.var.item() == pytest.approx(var.item(), rel=1e-12)
    scale = math.sqrt(var.item() + 1e-5)
    x = torch.tensor([scale, 10.0 * scale, -10.0 * scale])
    assert norm.normalize(x).tolist() == pytest.approx([1.0, 5.0, -5.0], rel=1e-6)
    assert norm.denormalize(torch.tensor([1.0, 7.0])).tolist() == pytest.approx([scale, 5.0 * scale], rel=1e-6)


def test_advantage_normaliser_uses_lagged_ema_with_floor_and_clamp():
    norm = AdvantageNormalizer(alpha=0.05, min_std=0.02, clamp=4.0)
    adv = torch.tensor([-10.0, 0.0, 2.0, 10.0])
    z, stats = norm(adv)
    # First call: EMA mean 0, std 1 → z = adv, clamped to ±4.
    assert z.tolist() == [-4.0, 0.0, 2.0, 4.0]
    assert stats["clamp_frac"] == 0.5
    used = torch.tensor([-4.0, 0.0, 2.0, 4.0])  # clamped z mapped back: ·1 + 0
    assert norm.mean_ema.item() == pytest.approx(0.05 * used.mean().item(), rel=1e-6)
    assert norm.std_ema.item() == pytest.approx(0.95 + 0.05 * used.std().item(), rel=1e-6)
    # Second call normalises with the updated (lagged) statistics.
    mean_ema, std_ema = norm.mean_ema.item(), norm.std_ema.item()
    z2, _ = norm(torch.tensor([1.0, 3.0]))
    assert z2.tolist() == pytest.approx([(1.0 - mean_ema) / std_ema, (3.0 - mean_ema) / std_ema], rel=1e-6)
    # A collapsed std is floored at min_std.
    norm.mean_ema.fill_(0.0)
    norm.std_ema.fill_(1e-6)
    z3, _ = norm(torch.tensor([0.01, -0.2]))
    assert z3.tolist() == pytest.approx([0.5, -4.0], rel=1e-6)


# ----------------------------------------------------------- checkpoints
def _run_epoch(agent: PPOAgent, env: PendulumEnv):
    agent.collect(env)
    return agent.update()


@pytest.mark.device
def test_state_dict_round_trip_gives_a_bit_identical_next_update():
    assert BIT_IDENTICAL_PPO  # on every device (module docstring)
    config = small_config(learnable_std=True, actor_logstd=0.0)
    original = make_agent(config, seed=0)
    train_env = pendulum(8, seed=4)
    for _ in range(3):
        _run_epoch(original, train_env)
    buffer = io.BytesIO()
    torch.save(original.state_dict(), buffer)
    buffer.seek(0)
    restored = make_agent(config, seed=99)  # different seed: everything must come from the file
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    assert restored.epoch == 3 and restored.env_steps == 3 * 16 * 8

    # A resumed run starts from a fresh env; so does the original here (another env object).
    metrics_a = _run_epoch(original, pendulum(8, seed=5))
    metrics_b = _run_epoch(restored, pendulum(8, seed=5))
    metrics_a.pop("Train/fps")
    metrics_b.pop("Train/fps")
    assert metrics_a.keys() == metrics_b.keys()
    for name in metrics_a:
        assert metrics_a[name] == metrics_b[name] or (math.isnan(metrics_a[name]) and math.isnan(metrics_b[name])), name
    state_a, state_b = original.state_dict(), restored.state_dict()
    for part in ("actor", "critic", "reward_normalizer", "advantage_normalizer"):
        for key in state_a[part]:
            assert torch.equal(state_a[part][key], state_b[part][key]), (part, key)
    for part in ("actor_optimizer", "critic_optimizer"):
        for index, moments in state_a[part]["state"].items():
            for key, value in moments.items():
                assert torch.equal(value, state_b[part]["state"][index][key]), (part, index, key)
    assert torch.equal(state_a["rng_state"], state_b["rng_state"])


@pytest.mark.device
def test_configured_fixed_logstd_overrides_the_checkpoint():
    saved = make_agent(small_config(actor_logstd=-1.0)).state_dict()
    agent = make_agent(small_config(actor_logstd=-2.9))
    agent.load_state_dict(saved)
    assert agent.actor.logstd.tolist() == pytest.approx([-2.9])


@pytest.mark.device
def test_metrics_have_the_documented_names_and_real_values():
    agent = make_agent(small_config(num_steps=50, batch_size=50))
    env = pendulum(4, seed=6, max_episode_steps=40)  # episodes end inside the first rollout
    metrics = _run_epoch(agent, env)
    assert metrics.keys() >= REQUIRED_METRICS
    assert "Pendulum/angle_cost" in metrics  # the env's info["metrics"], averaged over the rollout
    for name in REQUIRED_METRICS:
        assert math.isfinite(metrics[name]), name
    assert metrics["Train/episode_length"] == 40.0
    assert metrics["Train/episode_reward"] < 0.0
    assert metrics["Train/fps"] > 0.0
    assert metrics["Train/bad_grads"] == 0.0


@pytest.mark.device
def test_indivisible_batch_size_is_a_clear_error():
    agent = make_agent(small_config(batch_size=48))
    agent.collect(pendulum(8, seed=0))
    with pytest.raises(ValueError, match="batch_size must divide num_envs × num_steps = 128"):
        agent.update()


@pytest.mark.device
def test_adaptive_learning_rates_follow_the_kl_rule_per_applied_minibatch():
    """KL above 2·desired_kl divides both rates by lr_factor after every applied minibatch, KL
    below desired_kl / 2 multiplies them; both stay within [lr_min, lr_max]."""
    planned = 2 * (16 * 8 // 32)  # num_mini_epochs × minibatches per pass
    # desired_kl tiny: every minibatch after the first has KL far above it (the first one's
    # policy is the collecting policy, KL 0 < desired / 2, so its step raises the rates once).
    agent = make_agent(small_config(batch_size=32, adaptive_lr=True, desired_kl=1e-12, lr_min=1e-6))
    agent.collect(pendulum(8, seed=1))
    metrics = agent.update()
    assert metrics["Train/update_skipped"] == 0.0
    expected = 1e-3 * 1.5 / 1.5 ** (planned - 1)
    assert agent.learning_rates() == pytest.approx((expected, expected), rel=1e-9)
    assert metrics["Train/actor_lr"] == pytest.approx(expected, rel=1e-9)
    # desired_kl huge: every minibatch raises both rates, up to lr_max.
    agent = make_agent(small_config(batch_size=32, adaptive_lr=True, desired_kl=1e3, lr_max=4e-3))
    agent.collect(pendulum(8, seed=1))
    agent.update()
    assert agent.learning_rates() == pytest.approx((4e-3, 4e-3), rel=1e-9)  # 1e-3·1.5⁸ clamped
    # Off (the ProtoMotions default): the rates never move.
    agent = make_agent(small_config(batch_size=32))
    agent.collect(pendulum(8, seed=1))
    agent.update()
    assert agent.learning_rates() == (1e-3, 1e-3)


@pytest.mark.device
def test_adaptive_learning_rates_survive_a_checkpoint():
    agent = make_agent(small_config(batch_size=32, adaptive_lr=True, desired_kl=1e3))
    agent.collect(pendulum(8, seed=1))
    agent.update()
    buffer = io.BytesIO()
    torch.save(agent.state_dict(), buffer)
    buffer.seek(0)
    restored = make_agent(small_config(batch_size=32, adaptive_lr=True, desired_kl=1e3))
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    assert restored.learning_rates() == agent.learning_rates() != (1e-3, 1e-3)
