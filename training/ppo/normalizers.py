"""The three running normalisers of PPO: observations, rewards (return scale) and advantages.

All statistics are pooled over ranks when torch.distributed is initialised, so every rank
normalises with the same numbers and the ranks' weights stay identical. Statistics live in
module buffers, so they travel with ``state_dict()``.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple

import torch
from torch import Tensor, nn

from training.ppo import distributed


def pooled_moments(x: Tensor, shift: Optional[Tensor] = None) -> Tuple[Tensor, Tensor, float]:
    """Mean and population variance over dim 0 of ``x`` (B, ...) pooled over all ranks.

    Returns ``(mean, var, count)`` in float64; ``count`` is the total number of rows over ranks.
    ``shift`` (a value identical on every rank, e.g. the current running mean) is subtracted
    before summing squares so the one-pass variance does not cancel catastrophically.
    """
    x = x.detach().to(torch.float64)
    if distributed.world_size() == 1:
        var, mean = torch.var_mean(x, dim=0, unbiased=False)
        return mean, var, float(x.shape[0])
    centred = x if shift is None else x - shift.to(torch.float64)
    n = torch.tensor(float(x.shape[0]), dtype=torch.float64, device=x.device)
    sums = torch.stack([centred.sum(0), (centred * centred).sum(0)])  # (2, ...)
    sums = torch.cat([n.reshape(1), sums.reshape(-1)])
    distributed.all_reduce_sum_(sums)
    total = sums[0]
    first, second = sums[1:].reshape((2,) + tuple(x.shape[1:])) / total
    mean = first if shift is None else first + shift.to(torch.float64)
    return mean, (second - first * first).clamp_min(0.0), float(total.item())


class RunningMeanStd(nn.Module):
    """Per-feature running mean/variance with an exponential moving average, then clamping.

    ``forward(x)`` first folds the batch into the statistics when the module is in train mode
    (PPO calls it on optimisation minibatches; rollouts run in eval mode and do not update),
    then returns ``clamp((x − mean) / sqrt(var + eps), ±clamp)``.

    The update weight of a new batch is ``max(1 − decay, n_batch / (n_seen + n_batch))``: an
    exact pooled mean/variance while fewer than ~1/(1 − decay) batches have been seen (the
    first batch replaces the 0/1 initial values instead of being averaged with them), then an
    EMA with ``decay`` that follows slow drifts of the observation distribution.
    """

    def __init__(self, size: int, decay: float = 0.999, clamp: float = 5.0, epsilon: float = 1e-5) -> None:
        super().__init__()
        self.size = size
        self.decay = decay
        self.clamp = clamp
        self.epsilon = epsilon
        # float64: thousands of small EMA steps would drift in float32.
        self.register_buffer("mean", torch.zeros(size, dtype=torch.float64))
        self.register_buffer("var", torch.ones(size, dtype=torch.float64))
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))  # samples folded in

    @torch.no_grad()
    def update(self, x: Tensor) -> None:
        """Fold a batch ``x`` (B, size) (pooled over ranks) into the statistics."""
        batch_mean, batch_var, n = pooled_moments(x.reshape(-1, self.size), shift=self.mean)
        weight = max(1.0 - self.decay, n / (float(self.count.item()) + n))
        delta = batch_mean - self.mean
        # Moments of the mixture (1 − w)·old + w·batch: exact pooled variance in the counting regime.
        self.var.mul_(1.0 - weight).add_(weight * batch_var + weight * (1.0 - weight) * delta * delta)
        self.mean.add_(weight * delta)
        self.count.add_(n)

    def normalize(self, x: Tensor) -> Tensor:
        """(..., size) → (..., size) z-scores clamped to ±clamp, in ``x``'s dtype."""
        mean = self.mean.to(x.dtype)
        std = torch.sqrt(self.var + self.epsilon).to(x.dtype)
        return ((x - mean) / std).clamp(-self.clamp, self.clamp)

    def forward(self, x: Tensor) -> Tensor:
        if self.training:
            self.update(x)
        return self.normalize(x)


class RewardNormalizer(nn.Module):
    """Scale of the discounted return, for reward and value normalisation (as Gym's NormalizeReward).

    Each env accumulates ``G ← γ·G + r``, restarting from 0 after its episode ends; the running
    variance of G over all envs, steps and ranks (exact pooled moments, started from one pseudo
    sample of variance 1) gives ``scale = sqrt(var + eps)``. Only the magnitude is normalised,
    not the offset: ``normalize(x) = clamp(x / scale, ±clamp)``. The accumulator is rollout
    state, not training state: it restarts (:meth:`reset_returns`) whenever the envs are reset.
    """

    def __init__(self, gamma: float, clamp: float = 5.0, epsilon: float = 1e-5) -> None:
        super().__init__()
        self.gamma = gamma
        self.clamp = clamp
        self.epsilon = epsilon
        self.register_buffer("mean", torch.zeros((), dtype=torch.float64))
        self.register_buffer("var", torch.ones((), dtype=torch.float64))
        self.register_buffer("count", torch.ones((), dtype=torch.float64))
        self._returns: Optional[Tensor] = None  # (N,) per-env discounted return so far

    def reset_returns(self) -> None:
        self._returns = None

    def running_returns(self) -> Optional[Tensor]:
        """(N,) the per-env discounted returns being accumulated (None before the first record)."""
        return None if self._returns is None else self._returns.clone()

    def set_running_returns(self, returns: Optional[Tensor]) -> None:
        self._returns = None if returns is None else returns.clone()

    @torch.no_grad()
    def record(self, reward: Tensor, done: Tensor) -> None:
        """Accumulate one step's raw ``reward`` (N,) and fold the returns into the statistics.

        ``done`` (N,) bool marks envs whose episode ended with this step (terminated or
        truncated); their accumulator restarts at the next step. (Gym multiplies by
        ``1 − terminated`` *before* adding the step's reward, which drops the return of the
        episode at its last step and keeps accumulating across time-outs.)
        """
        if self._returns is None or self._returns.shape != reward.shape:
            self._returns = torch.zeros_like(reward, dtype=torch.float32)
        self._returns = self._returns * self.gamma + reward.float()
        batch_mean, batch_var, n = pooled_moments(self._returns.reshape(-1, 1), shift=self.mean.reshape(1))
        count = float(self.count.item())
        total = count + n
        delta = batch_mean[0] - self.mean
        self.var.copy_((self.var * count + batch_var[0] * n + delta * delta * count * n / total) / total)
        self.mean.add_(delta * n / total)
        self.count.fill_(total)
        self._returns = torch.where(done, torch.zeros_like(self._returns), self._returns)

    @property
    def scale(self) -> float:
        return float(torch.sqrt(self.var + self.epsilon).item())

    def normalize(self, x: Tensor) -> Tensor:
        return (x / self.scale).clamp(-self.clamp, self.clamp)

    def denormalize(self, x: Tensor) -> Tensor:
        """Inverse of :meth:`normalize` for critic outputs (clamped first, as the targets were)."""
        return x.clamp(-self.clamp, self.clamp) * self.scale


class AdvantageNormalizer(nn.Module):
    """Advantages as z-scores against EMAs of their mean and std, clamped (ProtoMotions' scheme).

    Each call normalises with the EMAs from *previous* rollouts (starting at mean 0, std 1),
    with the std floored at ``min_std``, clamps the z-scores to ±``clamp``, then moves the EMAs
    by ``alpha`` towards the mean and std (over all ranks) of the advantages actually used,
    i.e. the clamped z-scores mapped back to advantage units. Using lagged statistics keeps the
    scale of the policy gradient steady from one rollout to the next; clamping stops a few
    outliers from dominating it.
    """

    def __init__(self, alpha: float = 0.05, min_std: float = 0.02, clamp: float = 4.0) -> None:
        super().__init__()
        self.alpha = alpha
        self.min_std = min_std
        self.clamp = clamp
        self.register_buffer("mean_ema", torch.zeros((), dtype=torch.float32))
        self.register_buffer("std_ema", torch.ones((), dtype=torch.float32))

    @torch.no_grad()
    def forward(self, advantages: Tensor) -> Tuple[Tensor, Dict[str, float]]:
        """(...) raw advantages → (same shape) clamped z-scores, and logging statistics."""
        std = self.std_ema.clamp_min(self.min_std)
        z = (advantages - self.mean_ema) / std
        clamp_frac = float((z.abs() > self.clamp).float().mean().item())
        z = z.clamp(-self.clamp, self.clamp)
        used = (z * std + self.mean_ema).reshape(-1, 1)
        batch_mean, batch_var, n = pooled_moments(used)
        batch_std = torch.sqrt(batch_var[0] * n / max(n - 1.0, 1.0)) + 1e-8  # unbiased, as torch.std
        self.mean_ema.mul_(1.0 - self.alpha).add_(self.alpha * batch_mean[0].float())
        self.std_ema.mul_(1.0 - self.alpha).add_(self.alpha * batch_std.float())
        stats = {
            "raw_mean": float(advantages.mean().item()),
            "raw_std": float(advantages.std().item()) if advantages.numel() > 1 else 0.0,
            "mean_ema": float(self.mean_ema.item()),
            "std_ema": float(self.std_ema.item()),
            "clamp_frac": clamp_frac,
        }
        return z, stats
