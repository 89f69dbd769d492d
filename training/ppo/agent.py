"""PPO with a clipped surrogate, a clipped value loss and ProtoMotions' normalisation scheme.

One epoch is ``collect(env)`` (``num_steps`` steps of every env, networks in eval mode) and
``update()`` (GAE, then ``num_mini_epochs`` shuffled passes of ``batch_size`` minibatches,
observation normalisers frozen, then updated once from the whole rollout).

Units, the one subtle part. With ``normalize_rewards`` the critic predicts returns divided by
the running std σ of the discounted return (:class:`RewardNormalizer`). GAE needs values in
the units of the raw rewards, so the stored critic outputs are multiplied back by σ, GAE runs
on raw rewards and raw values, and the resulting returns are divided by σ again to become the
critic's targets. Advantages stay in raw units and are then standardised by
:class:`AdvantageNormalizer`. Value clipping (±e_clip around the old prediction) acts in the
critic's normalised units.

Environment contract (vectorised over N envs, torch tensors): ``obs = env.reset()`` (N, O);
``obs, reward, terminated, truncated, info = env.step(actions)`` with reward (N,), terminated
(N,) bool (failure: no bootstrap), truncated (N,) bool (time-out / clip end: bootstrapped),
ended envs already reset in ``obs`` and their pre-reset observation in ``info["final_obs"]``
(N, O); optional ``info["metrics"]``: dict of scalar tensors, averaged over the rollout.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
from torch import Tensor

from training.ppo import distributed
from training.ppo.config import PPOConfig
from training.ppo.networks import Actor, Critic, gaussian_entropy, gaussian_log_prob
from training.ppo.normalizers import AdvantageNormalizer, RewardNormalizer
from training.ppo.rollout import RolloutStorage, check_batch_size, compute_gae, minibatch_indices

EPISODE_WINDOW = 100  # finished episodes averaged into Train/episode_reward and _length


class PPOAgent:
    """Actor, critic, optimisers and normalisers; ``collect`` + ``update`` is one training epoch.

    ``seed`` seeds this rank's action noise and minibatch shuffling (pass ``seed + rank``); the
    initial weights come from it too but are then broadcast from rank 0, so all ranks agree.
    """

    def __init__(self, config: PPOConfig, obs_size: int, action_size: int, device: str = "cpu", seed: int = 0) -> None:
        self.config = config
        self.obs_size = obs_size
        self.action_size = action_size
        self.device = torch.device(device)
        with torch.random.fork_rng(devices=[]):  # leave the caller's global RNG alone
            torch.manual_seed(seed)
            self.actor = Actor(
                obs_size,
                action_size,
                config.actor_units,
                config.actor_logstd,
                config.learnable_std,
                config.norm_ema_decay,
                config.obs_clamp,
            ).to(self.device)
            self.critic = Critic(obs_size, config.critic_units, config.norm_ema_decay, config.obs_clamp).to(self.device)
        distributed.broadcast_parameters(self.actor)
        distributed.broadcast_parameters(self.critic)
        adam = {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0}
        self.actor_optimizer = torch.optim.Adam(self.actor.parameters(), lr=config.actor_lr, **adam)
        self.critic_optimizer = torch.optim.Adam(self.critic.parameters(), lr=config.critic_lr, **adam)
        self.reward_normalizer = RewardNormalizer(config.gamma, config.reward_clamp).to(self.device)
        self.advantage_normalizer = AdvantageNormalizer(
            config.advantage_ema_alpha, config.advantage_min_std, config.advantage_clamp
        ).to(self.device)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(seed)

        self.epoch = 0
        self.env_steps = 0  # over all ranks
        self.bad_grad_count = 0  # over the whole run
        self.storage: Optional[RolloutStorage] = None
        self._collected = False
        self._env: Any = None
        self._obs: Optional[Tensor] = None
        self._episode_return = torch.zeros(0, device=self.device)
        self._episode_length = torch.zeros(0, device=self.device)
        self._recent_returns = torch.zeros(0, device=self.device)
        self._recent_lengths = torch.zeros(0, device=self.device)
        self._rollout_metrics: Dict[str, float] = {}
        self._collect_seconds = 0.0
        self._set_train_mode(False)

    # ----------------------------------------------------------------- acting
    def _set_train_mode(self, train: bool) -> None:
        self.actor.train(train)
        self.critic.train(train)

    def _sample(self, obs: Tensor, deterministic: bool) -> Tuple[Tensor, Tensor]:
        mean = self.actor(obs)
        logstd = self.actor.logstd
        if deterministic:
            actions = mean
        else:
            noise = torch.randn(mean.shape, generator=self.generator, device=self.device)
            actions = mean + torch.exp(logstd) * noise
        return actions, gaussian_log_prob(actions, mean, logstd)

    @torch.no_grad()
    def act(self, obs: Tensor, deterministic: bool = False) -> Tuple[Tensor, Tensor, Tensor]:
        """obs (N, O) → actions (N, A) raw (pre-squashing), log-probs (N,), values (N,).

        Eval mode: the normalisers do not learn. ``deterministic`` returns the mean action.
        Values are the critic's output (normalised-return units when rewards are normalised).
        """
        self._set_train_mode(False)
        actions, log_probs = self._sample(obs, deterministic)
        return actions, log_probs, self.critic(obs)

    @torch.no_grad()
    def collect(
        self, env: Any, num_steps: Optional[int] = None, stop: Optional[Callable[[], bool]] = None
    ) -> Optional[Dict[str, float]]:
        """Step ``env`` ``num_steps`` times (default ``config.num_steps``) into the rollout storage.

        The first call, or a call with a different env object, resets the env (and the per-env
        return accumulators); later calls continue from the last observation.
        Returns rollout metrics (episode statistics and the env's ``info["metrics"]``).

        ``stop`` is asked after every env step; when it says True collection ends there and
        returns None: the partial rollout is dropped (no update may follow), while the agent's
        episode state matches the env's, so a checkpoint taken now resumes from this step.
        """
        start = time.perf_counter()
        num_steps = self.config.num_steps if num_steps is None else num_steps
        self.apply_logstd_schedule()
        if self._obs is None or env is not self._env:
            self._obs = env.reset().to(self.device)
            self._env = env
            num_envs = self._obs.shape[0]
            self._episode_return = torch.zeros(num_envs, device=self.device)
            self._episode_length = torch.zeros(num_envs, device=self.device)
            self.reward_normalizer.reset_returns()
        obs = self._obs
        num_envs = obs.shape[0]
        if self.storage is None or (self.storage.num_steps, self.storage.num_envs) != (num_steps, num_envs):
            self.storage = RolloutStorage(num_steps, num_envs, self.obs_size, self.action_size, self.device)
        self._set_train_mode(False)
        metric_sums: Dict[str, Tensor] = {}  # summed as tensors: no device sync per step
        value = self.critic(obs)
        for step in range(num_steps):
            actions, log_probs = self._sample(obs, deterministic=False)
            next_obs, reward, terminated, truncated, info = env.step(actions)
            done = terminated | truncated
            # V(next_obs) serves twice: as this step's bootstrap value where the episode goes on
            # (there final_obs == next_obs) and as the next step's value.
            next_value = self.critic(next_obs)
            bootstrap = next_value
            if bool(done.any()):
                bootstrap = next_value.clone()
                bootstrap[done] = self.critic(info["final_obs"][done])
            self.storage.store(step, obs, actions, log_probs, value, reward, terminated, truncated, bootstrap)
            if self.config.normalize_rewards:
                self.reward_normalizer.record(reward, done)
            self._track_episodes(reward, done)
            for name, scalar in info.get("metrics", {}).items():
                scalar = torch.as_tensor(scalar, dtype=torch.float64, device=self.device).detach()
                metric_sums[name] = metric_sums[name] + scalar if name in metric_sums else scalar
            obs, value = next_obs, next_value
            if stop is not None and step + 1 < num_steps and stop():
                self._obs = obs
                self.env_steps += num_envs * (step + 1) * distributed.world_size()
                self._collected = False
                return None
        self._obs = obs
        self.env_steps += num_envs * num_steps * distributed.world_size()
        self._rollout_metrics = {name: float(total) / num_steps for name, total in sorted(metric_sums.items())}
        self._collected = True
        self._collect_seconds = time.perf_counter() - start
        return dict(self._rollout_metrics)

    def scheduled_logstd(self) -> Optional[float]:
        """The fixed log-std the schedule gives at the current env steps, or None (learnable std,
        or no schedule: the configured ``actor_logstd`` holds)."""
        cfg = self.config
        if cfg.learnable_std or cfg.logstd_decay_env_steps <= 0:
            return None
        fraction = min(1.0, self.env_steps / cfg.logstd_decay_env_steps)
        return cfg.actor_logstd + fraction * (cfg.actor_logstd_final - cfg.actor_logstd)

    def apply_logstd_schedule(self) -> None:
        """Set the fixed log-std to :meth:`scheduled_logstd` (no-op without a schedule)."""
        logstd = self.scheduled_logstd()
        if logstd is not None:
            self.actor.logstd.fill_(logstd)

    def _track_episodes(self, reward: Tensor, done: Tensor) -> None:
        self._episode_return += reward
        self._episode_length += 1
        if bool(done.any()):
            self._recent_returns = torch.cat([self._recent_returns, self._episode_return[done]])[-EPISODE_WINDOW:]
            self._recent_lengths = torch.cat([self._recent_lengths, self._episode_length[done]])[-EPISODE_WINDOW:]
            self._episode_return[done] = 0.0
            self._episode_length[done] = 0.0

    # --------------------------------------------------------------- updating
    @torch.no_grad()
    def _prepare_batch(self, s: RolloutStorage) -> Tuple[Dict[str, Tensor], Dict[str, float]]:
        """GAE over the rollout; returns flat (T·N, ...) training tensors and statistics."""
        cfg = self.config
        if cfg.normalize_rewards:
            # GAE in raw reward units: undo the critic's return scaling (with the scale reached at
            # the end of the rollout, as ProtoMotions), then scale the returns back as targets.
            values_raw = self.reward_normalizer.denormalize(s.values)
            next_values_raw = self.reward_normalizer.denormalize(s.next_values)
        else:
            values_raw, next_values_raw = s.values, s.next_values
        advantages, returns_raw = compute_gae(
            s.rewards, values_raw, next_values_raw, s.terminated, s.dones, cfg.gamma, cfg.tau
        )
        returns = self.reward_normalizer.normalize(returns_raw) if cfg.normalize_rewards else returns_raw
        stats: Dict[str, float] = {}
        if cfg.normalize_advantages:
            advantages, adv_stats = self.advantage_normalizer(advantages)
            stats.update({f"Train/advantage_{name}": value for name, value in adv_stats.items()})
        residual_var = float((returns - s.values).var().item())
        returns_var = float(returns.var().item())
        stats["Train/explained_variance"] = 1.0 - residual_var / returns_var if returns_var > 0 else float("nan")
        stats["Train/return_scale"] = self.reward_normalizer.scale if cfg.normalize_rewards else 1.0
        batch = {
            "obs": s.obs.reshape(-1, self.obs_size),
            "actions": s.actions.reshape(-1, self.action_size),
            "log_probs": s.log_probs.reshape(-1),
            "values": s.values.reshape(-1),
            "returns": returns.reshape(-1),
            "advantages": advantages.reshape(-1),
        }
        return batch, stats

    def _clip_or_zero_gradients(self, params: List[Tensor]) -> Tuple[float, bool]:
        """Global gradient norm before clipping, and whether it was bad (non-finite or above
        ``bad_grad_threshold``): bad gradients are zeroed and the caller skips the step;
        good ones are scaled down to ``gradient_clip_val`` when above it (0 disables)."""
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return 0.0, False
        norm = float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])).item())
        if not math.isfinite(norm) or norm > self.config.bad_grad_threshold:
            for g in grads:
                g.zero_()
            return norm, True
        clip = self.config.gradient_clip_val
        if clip > 0 and norm > clip:
            for g in grads:
                g.mul_(clip / (norm + 1e-6))
        return norm, False

    def _apply_gradients(self, loss: Tensor, module: torch.nn.Module, optimizer: torch.optim.Optimizer) -> float:
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        distributed.sync_gradients(module)  # before the norm: every rank decides identically
        params = [p for p in module.parameters() if p.requires_grad]
        norm, bad = self._clip_or_zero_gradients(params)
        if bad:
            # Skipping the step (not just stepping with zeros) also keeps Adam's moments clean.
            self.bad_grad_count += 1
            self._bad_grads_this_update += 1
            return float("nan")
        optimizer.step()
        return norm

    def update(self, rollout: Optional[RolloutStorage] = None) -> Dict[str, float]:
        """One PPO update on the last collected rollout (or on ``rollout``, e.g. recorded data);
        returns the epoch's metrics (``Train/...``), averaged over ranks."""
        if rollout is None:
            if not self._collected or self.storage is None:
                raise RuntimeError("PPOAgent.update() needs a rollout: call collect(env) first")
            rollout = self.storage
            collect_seconds, rollout_metrics = self._collect_seconds, self._rollout_metrics
        else:
            collect_seconds, rollout_metrics = 0.0, {}
        start = time.perf_counter()
        cfg = self.config
        batch, stats = self._prepare_batch(rollout)
        num_samples = batch["obs"].shape[0]
        check_batch_size(num_samples, cfg.batch_size)
        planned = cfg.num_mini_epochs * (num_samples // cfg.batch_size)
        logs: Dict[str, List[float]] = {
            name: [] for name in ("clip_frac", "approx_kl", "actor_loss", "critic_loss", "actor_grad", "critic_grad")
        }
        self._bad_grads_this_update = 0
        applied = 0
        stopped = False  # the skip rule fired: the rest of this epoch's update is dropped
        # Observation normalisers stay frozen during the minibatch passes and learn from the whole
        # rollout afterwards. Folding minibatches in as they come (ProtoMotions' order) changes the
        # policy before its first ratio is taken: while the statistics are young that alone pushes
        # the clip fraction past the 0.6 skip threshold and whole epochs are lost. Frozen, the
        # first ratio is exactly 1 and the data-collecting policy is the one being improved.
        self._set_train_mode(False)
        for _ in range(cfg.num_mini_epochs):
            for idx in minibatch_indices(num_samples, cfg.batch_size, self.generator):
                if not self._train_minibatch({key: value[idx] for key, value in batch.items()}, logs):
                    stopped = True
                    break
                applied += 1
            if stopped:
                break
        self.actor.obs_norm.update(batch["obs"])
        self.critic.obs_norm.update(batch["obs"])
        self._collected = False
        self.epoch += 1

        metrics = {
            "Train/clip_frac": _finite_mean(logs["clip_frac"]),
            "Train/approx_kl": _finite_mean(logs["approx_kl"]),
            "Train/actor_grad_norm": _finite_mean(logs["actor_grad"]),  # before clipping
            "Train/critic_grad_norm": _finite_mean(logs["critic_grad"]),
            "Train/actor_loss": _finite_mean(logs["actor_loss"]),
            "Train/critic_loss": _finite_mean(logs["critic_loss"]),
            "Train/bad_grads": float(self._bad_grads_this_update),
            "Train/update_skipped": 1.0 - applied / planned,  # fraction of planned minibatches not applied
            "Train/action_std": float(torch.exp(self.actor.logstd.detach()).mean()),
            "Train/actor_lr": self.learning_rates()[0],
            "Train/critic_lr": self.learning_rates()[1],
        }
        metrics.update(stats)
        metrics.update(rollout_metrics)
        seconds = collect_seconds + time.perf_counter() - start
        metrics["Train/fps"] = num_samples * distributed.world_size() / max(seconds, 1e-9)  # env steps, all ranks
        metrics = _mean_over_ranks(metrics, self.device)
        metrics.update(self._episode_metrics())
        return metrics

    def _train_minibatch(self, mb: Dict[str, Tensor], logs: Dict[str, List[float]]) -> bool:
        """One actor step and one critic step on minibatch ``mb``; False (nothing applied) when
        the clip fraction, averaged over ranks, exceeds ``actor_clip_frac_threshold``."""
        cfg = self.config
        mean = self.actor(mb["obs"])
        log_ratio = gaussian_log_prob(mb["actions"], mean, self.actor.logstd) - mb["log_probs"]
        ratio = torch.exp(log_ratio)
        advantages = mb["advantages"]
        surrogate = torch.max(-advantages * ratio, -advantages * ratio.clamp(1.0 - cfg.e_clip, 1.0 + cfg.e_clip))
        with torch.no_grad():
            clip_kl = torch.stack(
                [((ratio - 1.0).abs() > cfg.e_clip).float().mean(), ((ratio - 1.0) - log_ratio).mean()]
            )
            distributed.all_reduce_mean_(clip_kl)  # every rank takes the same skip decision
        clip_frac, approx_kl = float(clip_kl[0]), float(clip_kl[1])
        logs["clip_frac"].append(clip_frac)
        logs["approx_kl"].append(approx_kl)
        if clip_frac > cfg.actor_clip_frac_threshold:
            # The policy already moved too far from the one that collected the data: stop this
            # epoch's update here, critic included (ProtoMotions' early return).
            return False
        actor_loss = surrogate.mean()
        if cfg.learnable_std:
            actor_loss = actor_loss - cfg.entropy_coef * gaussian_entropy(self.actor.logstd)
        logs["actor_grad"].append(self._apply_gradients(actor_loss, self.actor, self.actor_optimizer))
        logs["actor_loss"].append(float(actor_loss.detach()))
        if cfg.adaptive_lr:
            self._adapt_learning_rates(approx_kl)

        values = self.critic(mb["obs"])
        critic_loss = value_loss(values, mb["values"], mb["returns"], cfg.e_clip, cfg.clip_critic_loss)
        logs["critic_grad"].append(self._apply_gradients(critic_loss, self.critic, self.critic_optimizer))
        logs["critic_loss"].append(float(critic_loss.detach()))
        return True

    def _adapt_learning_rates(self, approx_kl: float) -> None:
        """Scale both optimisers' rates by the KL rule of ``adaptive_lr`` (same on every rank:
        ``approx_kl`` is already averaged over ranks). The rates live in the optimisers'
        param groups, so checkpoints carry them."""
        cfg = self.config
        if approx_kl > 2.0 * cfg.desired_kl:
            factor = 1.0 / cfg.lr_factor
        elif approx_kl < 0.5 * cfg.desired_kl:
            factor = cfg.lr_factor
        else:
            return
        for optimizer in (self.actor_optimizer, self.critic_optimizer):
            for group in optimizer.param_groups:
                group["lr"] = min(max(group["lr"] * factor, cfg.lr_min), cfg.lr_max)

    def learning_rates(self) -> Tuple[float, float]:
        """Current (actor, critic) learning rates."""
        return self.actor_optimizer.param_groups[0]["lr"], self.critic_optimizer.param_groups[0]["lr"]

    def _episode_metrics(self) -> Dict[str, float]:
        """Means over the last finished episodes of every rank (NaN before the first one ends)."""
        sums = torch.tensor(
            [float(self._recent_returns.sum()), float(self._recent_lengths.sum()), float(self._recent_returns.numel())],
            dtype=torch.float64,
            device=self.device,
        )
        distributed.all_reduce_sum_(sums)
        count = float(sums[2])
        if count == 0:
            return {"Train/episode_reward": float("nan"), "Train/episode_length": float("nan")}
        return {"Train/episode_reward": float(sums[0]) / count, "Train/episode_length": float(sums[1]) / count}

    # ------------------------------------------------------------ checkpoints
    def state_dict(self) -> Dict[str, Any]:
        """Everything an exact resume needs: weights, normalisers, optimisers, counters, RNG.

        ``rng_state`` is this rank's action-noise/shuffling generator. The rollout itself is
        not saved: after loading, the next ``collect`` resets its env.
        """
        return {
            "actor": self.actor.state_dict(),
            "critic": self.critic.state_dict(),
            "actor_optimizer": self.actor_optimizer.state_dict(),
            "critic_optimizer": self.critic_optimizer.state_dict(),
            "reward_normalizer": self.reward_normalizer.state_dict(),
            "advantage_normalizer": self.advantage_normalizer.state_dict(),
            "epoch": self.epoch,
            "env_steps": self.env_steps,
            "bad_grad_count": self.bad_grad_count,
            "rng_state": self.generator.get_state(),
            "recent_episode_returns": self._recent_returns.clone(),
            "recent_episode_lengths": self._recent_lengths.clone(),
        }

    def rollout_state(self) -> Optional[Dict[str, Tensor]]:
        """Where collection stands (last observation, per-env accumulators), or None before the
        first collect. With the env's own state it lets a resumed run continue its episodes."""
        if self._obs is None:
            return None
        state = {
            "obs": self._obs.clone(),
            "episode_return": self._episode_return.clone(),
            "episode_length": self._episode_length.clone(),
        }
        returns = self.reward_normalizer.running_returns()
        if returns is not None:
            state["reward_returns"] = returns
        return state

    def resume_rollout(self, env: Any, state: Dict[str, Tensor]) -> None:
        """Continue collecting from ``env`` (already restored) where :meth:`rollout_state` left off."""
        self._env = env
        self._obs = state["obs"].to(self.device)
        self._episode_return = state["episode_return"].to(self.device)
        self._episode_length = state["episode_length"].to(self.device)
        self.reward_normalizer.set_running_returns(state.get("reward_returns"))

    def restart_episodes(self) -> None:
        """Forget the rollout in progress: the next ``collect`` resets its env (used when the
        env was used for something else and could not be restored, e.g. an evaluation)."""
        self._obs = None

    def policy(self, obs: Tensor) -> Tensor:
        """Deterministic raw actions (N, A) for obs (N, O): the evaluator's policy."""
        return self.act(obs, deterministic=True)[0]

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Restore :meth:`state_dict`. A fixed (non-learnable) log-std keeps the configured value,
        so ``agent.actor_logstd`` overrides what a checkpoint saved (as in ProtoMotions). A state
        without a critic (an inference-only checkpoint) restores the actor and counters only."""
        self.actor.load_state_dict(state["actor"])
        if not self.config.learnable_std:
            self.actor.logstd.fill_(self.config.actor_logstd)
        self.epoch = int(state["epoch"])
        if "critic" not in state:  # an inference-only checkpoint (training.checkpoint_compact): the actor alone
            self.env_steps = int(state["env_steps"])
            return
        self.critic.load_state_dict(state["critic"])
        self.actor_optimizer.load_state_dict(state["actor_optimizer"])
        self.critic_optimizer.load_state_dict(state["critic_optimizer"])
        self.reward_normalizer.load_state_dict(state["reward_normalizer"])
        self.advantage_normalizer.load_state_dict(state["advantage_normalizer"])
        self.env_steps = int(state["env_steps"])
        self.bad_grad_count = int(state["bad_grad_count"])
        self.apply_logstd_schedule()  # the schedule's value at the loaded env steps
        self.generator.set_state(state["rng_state"].cpu())
        if distributed.rank() > 0:
            # A checkpoint holds one rank's generator; other ranks derive their own stream from
            # it so their action noise stays independent (deterministic, but not the stream an
            # uninterrupted run would have drawn; pass each rank's ``generator`` state for that).
            draw = int(torch.randint(0, 2**62, (1,), generator=self.generator, device=self.device))
            self.generator.manual_seed(draw + distributed.rank())
        self._recent_returns = state["recent_episode_returns"].to(self.device)
        self._recent_lengths = state["recent_episode_lengths"].to(self.device)
        self._obs = None  # the next collect starts from a reset env
        self._collected = False


def value_loss(values: Tensor, old_values: Tensor, returns: Tensor, clip: float, clipped: bool = True) -> Tensor:
    """Critic loss on (B,) tensors: ``max((V − R)², (V_old + clip(V − V_old, ±clip) − R)²).mean()``;
    plain ``((V − R)²).mean()`` when ``clipped`` is False. No 0.5 factor and no coefficient: the
    critic has its own optimiser."""
    unclipped = (values - returns).pow(2)
    if not clipped:
        return unclipped.mean()
    values_clipped = old_values + (values - old_values).clamp(-clip, clip)
    return torch.max(unclipped, (values_clipped - returns).pow(2)).mean()


def _finite_mean(values: List[float]) -> float:
    """Mean of the finite values (bad-gradient steps log NaN); NaN when there are none."""
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else float("nan")


def _mean_over_ranks(metrics: Dict[str, float], device: torch.device) -> Dict[str, float]:
    if distributed.world_size() == 1:
        return metrics
    names = sorted(metrics)
    values = torch.tensor([metrics[name] for name in names], dtype=torch.float64, device=device)
    distributed.all_reduce_mean_(values)
    return {name: float(value) for name, value in zip(names, values.tolist())}
