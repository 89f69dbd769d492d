"""Reward kernels of the mimic task: pure functions of batched states (ProtoMotions' definitions).

Tracking kernels are exp(coefficient · error) with coefficients from
:class:`training.config.RewardConfig` (e.g. gt: exp(−25 · mean over bodies of the mean over
xyz of the squared position error)); the total is the sum of weight · kernel over terms, each
weighted term clamped below at its ``min_value``.
"""

from __future__ import annotations

from typing import Dict

import torch
from torch import Tensor

from motion.rotations import quat_angle, quat_conjugate, quat_mul
from training.config import RewardConfig


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


def mimic_reward_terms(
    body_pos: Tensor,
    body_rot: Tensor,
    body_vel: Tensor,
    body_ang_vel: Tensor,
    ref_pos: Tensor,
    ref_rot: Tensor,
    ref_vel: Tensor,
    ref_ang_vel: Tensor,
    pd_targets: Tensor,
    prev_pd_targets: Tensor,
    torques: Tensor,
    dof_vel: Tensor,
    contacts: Tensor,
    ref_contacts: Tensor,
    in_grace_period: Tensor,
    config: RewardConfig,
) -> Dict[str, Tensor]:
    """Raw (unweighted) value of every reward term, each (N,).

    Args:
        body_* / ref_*: (N, B, 3|4) simulated and reference body states, world frame.
        pd_targets, prev_pd_targets: (N, D) rad; torques, dof_vel: (N, D) N·m and rad/s.
        contacts: (N, K) simulated contact (0/1) of the contact bodies; ref_contacts: (N, K) the
            smoothed reference contacts in [0, 1]; in_grace_period: (N,) bool.
    """
    contact_error = (contacts.float() - ref_contacts).abs().sum(dim=-1)
    return {
        "gt_rew": mean_squared_exp(body_pos - ref_pos, config.gt_rew.coefficient),
        "gr_rew": rotation_exp(body_rot, ref_rot, config.gr_rew.coefficient),
        "gv_rew": mean_squared_exp(body_vel - ref_vel, config.gv_rew.coefficient),
        "gav_rew": mean_squared_exp(body_ang_vel - ref_ang_vel, config.gav_rew.coefficient),
        "rh_rew": torch.exp(config.rh_rew.coefficient * (body_pos[:, 0, 2] - ref_pos[:, 0, 2]).pow(2)),
        "action_smoothness": (pd_targets - prev_pd_targets).norm(dim=-1),
        "pow_rew": (torques * dof_vel).abs().sum(dim=-1),
        "contact_match_rew": torch.where(in_grace_period, torch.zeros_like(contact_error), contact_error),
    }


def combine_rewards(terms: Dict[str, Tensor], config: RewardConfig) -> Dict[str, Tensor]:
    """Weighted terms (``weight · raw``, clamped at ``min_value``) and their sum under ``"total"``."""
    weighted = {}
    for name, raw in terms.items():
        term = getattr(config, name)
        weighted[name] = (term.weight * raw).clamp_min(term.min_value)
    weighted["total"] = torch.stack(list(weighted.values())).sum(dim=0)
    return weighted
