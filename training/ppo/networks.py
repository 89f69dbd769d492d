"""Actor and critic MLPs, each with its own observation normaliser, and the Gaussian policy maths.

As in ProtoMotions' SMPL mimic setup: the actor is a ReLU MLP whose linear output is the mean
of a diagonal Gaussian over raw actions (no output squashing: the environment applies its own
``tanh``/clip), with a state-independent log-std that is fixed unless ``learnable_std``; the
critic is a separate ReLU MLP with one output. Each network normalises its input with its own
:class:`RunningMeanStd`; the agent updates it once per epoch from the whole rollout.
"""

from __future__ import annotations

import math
from typing import List, Sequence

import torch
from torch import Tensor, nn

from training.ppo.normalizers import RunningMeanStd

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def build_mlp(in_size: int, hidden_units: Sequence[int], out_size: int) -> nn.Sequential:
    """``Linear → ReLU`` per hidden size, then a linear output layer (no activation)."""
    layers: List[nn.Module] = []
    width = in_size
    for units in hidden_units:
        layers += [nn.Linear(width, units), nn.ReLU()]
        width = units
    layers.append(nn.Linear(width, out_size))
    return nn.Sequential(*layers)


class Actor(nn.Module):
    """obs (B, O) → action mean (B, A); ``logstd`` (A,) is a Parameter only when learnable."""

    def __init__(
        self,
        obs_size: int,
        action_size: int,
        hidden_units: Sequence[int],
        init_logstd: float,
        learnable_std: bool,
        norm_decay: float = 0.999,
        obs_clamp: float = 5.0,
    ) -> None:
        super().__init__()
        self.obs_norm = RunningMeanStd(obs_size, decay=norm_decay, clamp=obs_clamp)
        self.mlp = build_mlp(obs_size, hidden_units, action_size)
        logstd = torch.full((action_size,), float(init_logstd))
        if learnable_std:
            self.logstd = nn.Parameter(logstd)
        else:
            # A buffer: saved in the state_dict, never touched by the optimiser.
            self.register_buffer("logstd", logstd)

    def forward(self, obs: Tensor) -> Tensor:
        return self.mlp(self.obs_norm(obs))


class Critic(nn.Module):
    """obs (B, O) → value (B,), in normalised-return units when rewards are normalised."""

    def __init__(
        self, obs_size: int, hidden_units: Sequence[int], norm_decay: float = 0.999, obs_clamp: float = 5.0
    ) -> None:
        super().__init__()
        self.obs_norm = RunningMeanStd(obs_size, decay=norm_decay, clamp=obs_clamp)
        self.mlp = build_mlp(obs_size, hidden_units, 1)

    def forward(self, obs: Tensor) -> Tensor:
        return self.mlp(self.obs_norm(obs)).squeeze(-1)


def gaussian_log_prob(actions: Tensor, mean: Tensor, logstd: Tensor) -> Tensor:
    """log N(actions; mean, exp(logstd)²) summed over the action dim: (B, A) → (B,)."""
    z = (actions - mean) * torch.exp(-logstd)
    return (-0.5 * z * z - logstd - _LOG_SQRT_2PI).sum(-1)


def gaussian_entropy(logstd: Tensor) -> Tensor:
    """Entropy of the diagonal Gaussian (independent of the mean): (A,) → scalar."""
    return (logstd + 0.5 + _LOG_SQRT_2PI).sum()
