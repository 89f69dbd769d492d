"""Rollout storage, generalised advantage estimation and the shuffled minibatch iterator."""

from __future__ import annotations

from typing import Iterator, Optional, Tuple

import torch
from torch import Tensor


class RolloutStorage:
    """``num_steps × num_envs`` transitions, time-major: every field is (T, N, ...).

    ``values`` and ``next_values`` are what the critic output (normalised-return units when
    rewards are normalised); ``next_values[t]`` is V of the observation that followed step t,
    i.e. of ``info["final_obs"]`` for envs whose episode ended there, stored *without* the
    ``1 − terminated`` factor (GAE applies it). ``rewards`` are raw (unnormalised).
    """

    def __init__(self, num_steps: int, num_envs: int, obs_size: int, action_size: int, device: torch.device) -> None:
        self.num_steps = num_steps
        self.num_envs = num_envs
        shape = (num_steps, num_envs)
        self.obs = torch.zeros(shape + (obs_size,), device=device)
        self.actions = torch.zeros(shape + (action_size,), device=device)
        self.log_probs = torch.zeros(shape, device=device)
        self.values = torch.zeros(shape, device=device)
        self.rewards = torch.zeros(shape, device=device)
        self.terminated = torch.zeros(shape, dtype=torch.bool, device=device)
        self.truncated = torch.zeros(shape, dtype=torch.bool, device=device)
        self.next_values = torch.zeros(shape, device=device)

    def store(
        self,
        step: int,
        obs: Tensor,
        actions: Tensor,
        log_probs: Tensor,
        values: Tensor,
        rewards: Tensor,
        terminated: Tensor,
        truncated: Tensor,
        next_values: Tensor,
    ) -> None:
        self.obs[step] = obs
        self.actions[step] = actions
        self.log_probs[step] = log_probs
        self.values[step] = values
        self.rewards[step] = rewards
        self.terminated[step] = terminated
        self.truncated[step] = truncated
        self.next_values[step] = next_values

    @property
    def dones(self) -> Tensor:
        return self.terminated | self.truncated


def compute_gae(
    rewards: Tensor,
    values: Tensor,
    next_values: Tensor,
    terminated: Tensor,
    dones: Tensor,
    gamma: float,
    lam: float,
) -> Tuple[Tensor, Tensor]:
    """Generalised advantage estimates and returns, all (T, N), time-major.

    δ_t = r_t + γ·V(s'_t)·(1 − terminated_t) − V(s_t), where s'_t is the observation that
    followed step t (the pre-reset one when the episode ended there): a failure has no future
    value, while a time-out or clip end still bootstraps from V(s'_t).
    A_t = δ_t + γλ·(1 − done_t)·A_{t+1} with done = terminated ∨ truncated: no advantage flows
    back across an episode boundary (A_{t+1} belongs to the next episode). A_T = 0: the end of
    the rollout is bootstrapped through V(s'_{T−1}) like a time-out.
    Returns ``(advantages, returns)`` with returns = A + V (the critic's targets).
    """
    not_terminated = 1.0 - terminated.to(values.dtype)
    not_done = 1.0 - dones.to(values.dtype)
    deltas = rewards + gamma * next_values * not_terminated - values
    advantages = torch.zeros_like(values)
    next_advantage = torch.zeros_like(values[0])
    for t in range(values.shape[0] - 1, -1, -1):
        next_advantage = deltas[t] + gamma * lam * not_done[t] * next_advantage
        advantages[t] = next_advantage
    return advantages, advantages + values


def check_batch_size(num_samples: int, batch_size: int) -> None:
    """Raise ValueError unless ``batch_size`` divides the per-rank samples of one rollout."""
    if batch_size <= 0 or num_samples % batch_size != 0:
        raise ValueError(
            f"agent.batch_size must divide num_envs × num_steps = {num_samples} (the samples one rank "
            f"collects per epoch); got batch_size {batch_size}. Choose a divisor of {num_samples}, "
            f"e.g. {num_samples} or {max(1, num_samples // 4)}."
        )


def minibatch_indices(
    num_samples: int, batch_size: int, generator: Optional[torch.Generator] = None
) -> Iterator[Tensor]:
    """A random permutation of ``range(num_samples)`` cut into ``num_samples / batch_size`` index
    tensors (batch_size,) int64; every sample is used exactly once per pass."""
    check_batch_size(num_samples, batch_size)
    device = generator.device if generator is not None else torch.device("cpu")
    order = torch.randperm(num_samples, generator=generator, device=device)
    for start in range(0, num_samples, batch_size):
        yield order[start : start + batch_size]
