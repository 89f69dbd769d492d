"""Pendulum swing-up (Gym Pendulum-v1 dynamics), vectorised in torch: a small standard control
task for checking that PPO learns.

State: angle θ (rad, 0 = upright) and angular velocity θ̇ (rad/s). Per step (dt = 0.05 s),
with torque u = clip(action, ±2) N·m, g = 10 m/s², m = 1 kg, l = 1 m:

    cost   = normalise(θ)² + 0.1·θ̇² + 0.001·u²          (reward = −cost, from the state before the step)
    θ̇'     = clip(θ̇ + (3g/(2l)·sin θ + 3/(m·l²)·u)·dt, ±8)
    θ'     = θ + θ̇'·dt

Observation (N, 3): (cos θ, sin θ, θ̇). Episodes last 200 steps and end by time-out only
(``truncated``; never ``terminated``); resets draw θ ~ U(−π, π), θ̇ ~ U(−1, 1). A uniformly
random policy scores about −1200 per episode; a good swing-up policy about −150 to −200.
Implements the vectorised env contract of :mod:`training.ppo.agent` (auto-reset, ``final_obs``).
"""

from __future__ import annotations

import math
from typing import Any, Dict, Tuple

import torch
from torch import Tensor

GRAVITY = 10.0  # m/s²
MASS = 1.0  # kg
LENGTH = 1.0  # m
DT = 0.05  # s
MAX_TORQUE = 2.0  # N·m
MAX_SPEED = 8.0  # rad/s


def angle_normalize(theta: Tensor) -> Tensor:
    """Wrap angles (rad) to [−π, π)."""
    return torch.remainder(theta + math.pi, 2.0 * math.pi) - math.pi


class PendulumEnv:
    """``num_envs`` independent pendulums stepped together on ``device``."""

    obs_size = 3
    action_size = 1

    def __init__(self, num_envs: int, device: str = "cpu", seed: int = 0, max_episode_steps: int = 200) -> None:
        self.num_envs = num_envs
        self.device = torch.device(device)
        self.max_episode_steps = max_episode_steps
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(seed)
        self.theta = torch.zeros(num_envs, device=self.device)
        self.theta_dot = torch.zeros(num_envs, device=self.device)
        self.steps = torch.zeros(num_envs, dtype=torch.long, device=self.device)
        self.episode_return = torch.zeros(num_envs, device=self.device)

    def _uniform(self, count: int, low: float, high: float) -> Tensor:
        return torch.rand(count, generator=self.generator, device=self.device) * (high - low) + low

    def _reset_envs(self, ids: Tensor) -> None:
        self.theta[ids] = self._uniform(ids.numel(), -math.pi, math.pi)
        self.theta_dot[ids] = self._uniform(ids.numel(), -1.0, 1.0)
        self.steps[ids] = 0
        self.episode_return[ids] = 0.0

    def observation(self) -> Tensor:
        return torch.stack([torch.cos(self.theta), torch.sin(self.theta), self.theta_dot], dim=-1)

    def reset(self) -> Tensor:
        """Reset every env; returns observations (N, 3)."""
        self._reset_envs(torch.arange(self.num_envs, device=self.device))
        return self.observation()

    def step(self, actions: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor, Dict[str, Any]]:
        """actions (N, 1) torque before clipping → (obs, reward, terminated, truncated, info)."""
        torque = actions.reshape(self.num_envs).clamp(-MAX_TORQUE, MAX_TORQUE)
        theta, theta_dot = self.theta, self.theta_dot
        angle_cost = angle_normalize(theta) ** 2
        speed_cost = 0.1 * theta_dot**2
        torque_cost = 0.001 * torque**2
        reward = -(angle_cost + speed_cost + torque_cost)

        accel = 3.0 * GRAVITY / (2.0 * LENGTH) * torch.sin(theta) + 3.0 / (MASS * LENGTH**2) * torque
        self.theta_dot = (theta_dot + accel * DT).clamp(-MAX_SPEED, MAX_SPEED)
        self.theta = theta + self.theta_dot * DT
        self.steps += 1
        self.episode_return += reward

        final_obs = self.observation()
        truncated = self.steps >= self.max_episode_steps
        terminated = torch.zeros_like(truncated)
        ended = truncated.nonzero().squeeze(-1)
        episode = {"return": self.episode_return[ended].clone(), "length": self.steps[ended].clone()}
        if ended.numel() > 0:
            self._reset_envs(ended)
        info = {
            "final_obs": final_obs,
            "episode": episode,
            "metrics": {
                "Pendulum/angle_cost": angle_cost.mean(),
                "Pendulum/speed_cost": speed_cost.mean(),
                "Pendulum/torque_cost": torque_cost.mean(),
            },
        }
        return self.observation(), reward, terminated, truncated, info
