"""Policies that need no learning: sanity checks of the environment and simulator.

``zero`` holds every PD target at 0; ``random`` draws actions from N(0, 1); ``oracle`` feeds the
reference's own next joint angles as PD targets — perfect kinematic knowledge but no balance
feedback, so it tracks a standing clip and falls on dynamic ones within about half a second.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from training.envs.mimic_env import MimicEnv

BASELINE_AGENTS = ("zero", "random", "oracle")


class BaselineAgent:
    def __init__(self, kind: str, env: MimicEnv, generator: Optional[torch.Generator] = None) -> None:
        if kind not in BASELINE_AGENTS:
            raise ValueError(f"unknown agent {kind!r}; expected one of {', '.join(BASELINE_AGENTS)}")
        self.kind = kind
        self.env = env
        self.generator = generator if generator is not None else torch.Generator(device=env.device).manual_seed(0)

    def act(self, obs: Tensor) -> Tensor:
        """Raw actions (N, D): the env maps them to PD targets (:meth:`MimicEnv.pd_targets`)."""
        num_envs, num_actions = obs.shape[0], self.env.num_actions
        if self.kind == "zero":
            return torch.zeros(num_envs, num_actions, device=obs.device)
        if self.kind == "random":
            return torch.randn(num_envs, num_actions, generator=self.generator, device=obs.device)
        # The target the PD should reach by the end of this control step.
        targets = self.env.reference_pd_targets(self.env.motion_times + self.env.dt)
        return self.env.actions_for_targets(targets)
