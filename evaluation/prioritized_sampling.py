"""Prioritised motion sampling: after each training-time evaluation, train more on what fails.

ProtoMotions' (and PHC's) rule: a motion the policy tracked successfully has its sampling
weight multiplied by ``0.999 ** 200`` (≈ 0.8186, one evaluation every 200 epochs), a failed one
goes back to weight 1, and every weight is kept at or above ``1 / num_motions`` so no motion is
ever forgotten. Reset sampling draws motions in proportion to these weights
(``MotionLib.sample_motions``); they are saved in every checkpoint.
"""

from __future__ import annotations

from typing import Mapping

import torch
from torch import Tensor

SUCCESS_DECAY = 0.999**200  # weight factor of a successfully tracked motion per evaluation
FAILURE_WEIGHT = 1.0  # weight of a motion that failed


def update_motion_weights(
    weights: Tensor,
    successes: Mapping[int, bool],
    success_decay: float = SUCCESS_DECAY,
    failure_weight: float = FAILURE_WEIGHT,
) -> Tensor:
    """New sampling weights (M,) from the current ones (M,) and ``{motion id: success}`` of the
    motions just evaluated (motions not evaluated keep their weight), floored at 1/M."""
    num_motions = int(weights.numel())
    if num_motions == 0:
        raise ValueError("update_motion_weights: no motions")
    new = weights.detach().to("cpu", torch.float32).clone()  # per-motion writes: cheap on the CPU
    for motion_id, success in successes.items():
        if not 0 <= int(motion_id) < num_motions:
            raise IndexError(f"motion id {motion_id} outside 0..{num_motions - 1}")
        new[int(motion_id)] = new[int(motion_id)] * success_decay if success else failure_weight
    return new.clamp_min(1.0 / num_motions)
