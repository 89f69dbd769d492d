"""Reward kernels of the mimic task: pure functions of batched states (ProtoMotions' definitions).

Tracking kernels are exp(coefficient · error) with coefficients from
:class:`training.config.RewardConfig` (e.g. gt: exp(−25 · mean over bodies of the mean over
xyz of the squared position error)); the total is the sum of weight · kernel over terms, each
weighted term clamped below at its ``min_value``.
"""

from __future__ import annotations

from typing import Dict, NamedTuple

import torch
from torch import Tensor

from motion.rotations import quat_angle, quat_conjugate, quat_mul
from training.config import RewardConfig
from training.simulator.base import BodyState


def mean_squared_exp(error: Tensor, coefficient: float) -> Tensor:
    """exp(coefficient · mean over bodies of mean over xyz of error²): (N, B, 3) → (N,)."""
    return torch.exp(coefficient * error.pow(2).mean(dim=-1).mean(dim=-1))


def rotation_exp(body_rot: Tensor, ref_rot: Tensor, coefficient: float) -> Tensor:
    """exp(coefficient · mean over bodies of θ²), θ the angle of q_ref·q⁻¹: (N, B, 4) → (N,)."""
    angle = quat_angle(quat_mul(ref_rot, quat_conjugate(body_rot)))
    return torch.exp(coefficient * angle.pow(2).mean(dim=-1))


def smooth_contacts(contacts: Tensor, window: int) -> Tensor:
    """Moving average over ``window`` frames with replicate padding: (T, C) bool/float → (T, C) float."""
    values = contacts.float().t()[:, None, :]  # (C, 1, T)
    left = (window - 1) // 2
    padded = torch.nn.functional.pad(values, (left, window - 1 - left), mode="replicate")
    kernel = torch.full((1, 1, window), 1.0 / window, dtype=values.dtype, device=values.device)
    return torch.nn.functional.conv1d(padded, kernel)[:, 0, :].t()


class Actuation(NamedTuple):
    """What the PD controllers were asked for and did in the step just taken, (N, D)."""

    pd_targets: Tensor  # (N, D) rad, this step's targets
    prev_pd_targets: Tensor  # (N, D) rad, the previous step's
    torques: Tensor  # (N, D) N·m applied
    dof_vel: Tensor  # (N, D) rad/s


class ContactMatch(NamedTuple):
    """Simulated against reference foot contacts, (N, K) for the K contact bodies."""

    simulated: Tensor  # (N, K) bool (or 0/1)
    reference: Tensor  # (N, K) smoothed reference contacts in [0, 1]
    in_grace_period: Tensor  # (N,) bool: just reset, contacts not judged yet


def mimic_reward_terms(
    bodies: BodyState, reference: BodyState, actuation: Actuation, contacts: ContactMatch, config: RewardConfig
) -> Dict[str, Tensor]:
    """Raw (unweighted) value of every reward term, each (N,).

    ``bodies`` and ``reference`` are the simulated and reference rigid-body states, (N, B, 3|4),
    world frame (the reference with the spawn offset applied).
    """
    contact_error = (contacts.simulated.float() - contacts.reference).abs().sum(dim=-1)
    no_error = torch.zeros_like(contact_error)
    height_error = bodies.pos[:, 0, 2] - reference.pos[:, 0, 2]
    return {
        "gt_rew": mean_squared_exp(bodies.pos - reference.pos, config.gt_rew.coefficient),
        "gr_rew": rotation_exp(bodies.rot, reference.rot, config.gr_rew.coefficient),
        "gv_rew": mean_squared_exp(bodies.vel - reference.vel, config.gv_rew.coefficient),
        "gav_rew": mean_squared_exp(bodies.ang_vel - reference.ang_vel, config.gav_rew.coefficient),
        "rh_rew": torch.exp(config.rh_rew.coefficient * height_error.pow(2)),
        "action_smoothness": (actuation.pd_targets - actuation.prev_pd_targets).norm(dim=-1),
        "pow_rew": (actuation.torques * actuation.dof_vel).abs().sum(dim=-1),
        "contact_match_rew": torch.where(contacts.in_grace_period, no_error, contact_error),
    }


def combine_rewards(terms: Dict[str, Tensor], config: RewardConfig) -> Dict[str, Tensor]:
    """Weighted terms (``weight · raw``, clamped at ``min_value``) and their sum under ``"total"``."""
    weighted = {}
    for name, raw in terms.items():
        term = getattr(config, name)
        weighted[name] = (term.weight * raw).clamp_min(term.min_value)
    weighted["total"] = torch.stack(list(weighted.values())).sum(dim=0)
    return weighted
