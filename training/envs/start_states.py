"""Where and how training episodes start: start times near recent failures, and root velocities.

Two levers of reference state initialisation (RSI) beyond ProtoMotions' uniform start times:

- :class:`FailureStarts` remembers, per motion and per time bin, where episodes recently failed
  (terminated, not timed out), and draws some start times shortly before those places, so the
  policy practises the parts of a clip it cannot yet get through instead of the parts it can.
- :func:`finite_difference_root_velocity` gives a reset the root's velocity as a one-frame
  difference of the reference, consistent with the joint rates, instead of the MotionLib's
  per-body smallest difference over 1-3 frames (benchmarks/RESULTS.md: 0.5 m/s apart on average).
"""

from __future__ import annotations

from typing import Tuple

import torch
from torch import Tensor

from motion.motion_lib import MotionLib
from motion.rotations import angular_velocity


class FailureStarts:
    """Failure times per motion, binned: ``counts`` (M, B), decayed every env step.

    ``bin_seconds`` is the bin width, ``lead`` how long before a failure an episode starts,
    ``memory`` the factor applied to all counts per :meth:`forget` (one env step).
    """

    def __init__(self, motion_lengths: Tensor, bin_seconds: float, lead: float, memory: float) -> None:
        if bin_seconds <= 0:
            raise ValueError(f"env.failure_start_bin: expected seconds > 0, got {bin_seconds}")
        if not 0.0 <= memory <= 1.0:
            raise ValueError(f"env.failure_memory: expected a factor in [0, 1], got {memory}")
        self.bin_seconds = float(bin_seconds)
        self.lead = float(lead)
        self.memory = float(memory)
        num_bins = int(torch.ceil(motion_lengths.max() / bin_seconds).item()) + 1 if motion_lengths.numel() else 1
        #: (M, B) recent failures per motion and time bin (decayed counts).
        self.counts = torch.zeros(len(motion_lengths), num_bins, device=motion_lengths.device)

    def record(self, motion_ids: Tensor, times: Tensor) -> None:
        """Count failures of motions ``motion_ids`` (K,) at motion times ``times`` (K,) s."""
        if motion_ids.numel() == 0:
            return
        bins = (times / self.bin_seconds).long().clamp(0, self.counts.shape[1] - 1)
        self.counts.index_put_((motion_ids, bins), torch.ones_like(times), accumulate=True)

    def forget(self) -> None:
        self.counts.mul_(self.memory)

    def sample(self, motion_ids: Tensor, generator: torch.Generator) -> Tuple[Tensor, Tensor]:
        """Start times (K,) s drawn from the failures of motions ``motion_ids`` (K,), ``lead`` s
        before a failure bin drawn in proportion to its count (uniform within the bin), and a
        mask (K,) of the motions that have failures to draw from (elsewhere the time is 0)."""
        rows = self.counts[motion_ids]
        known = rows.sum(dim=1) > 1e-6
        times = torch.zeros(len(motion_ids), device=self.counts.device)
        if bool(known.any()):
            picked = torch.multinomial(rows[known], 1, generator=generator).squeeze(1)
            within = torch.rand(len(picked), generator=generator, device=self.counts.device)
            times[known] = ((picked.float() + within) * self.bin_seconds - self.lead).clamp_min(0.0)
        return times, known

    def state_dict(self) -> Tensor:
        return self.counts.detach().to("cpu", copy=True)

    def load_state_dict(self, counts: Tensor) -> bool:
        """Restore saved counts; False (nothing restored) when their shape is not this one's."""
        if tuple(counts.shape) != tuple(self.counts.shape):
            return False
        self.counts.copy_(counts.to(self.counts.device))
        return True


def finite_difference_root_velocity(motion_lib: MotionLib, motion_ids: Tensor, times: Tensor) -> Tuple[Tensor, Tensor]:
    """Root linear (K, 3) m/s and angular (K, 3) rad/s velocity of the reference at ``times``
    (K,) s: the one-frame difference [t, t + 1/fps] (the last frame's [t − 1/fps, t])."""
    lengths = motion_lib.motion_lengths[motion_ids]
    frame_dt = motion_lib.motion_dt[motion_ids]
    late = torch.minimum(times + frame_dt, lengths)
    early = (late - frame_dt).clamp_min(0.0)
    span = (late - early).clamp_min(1e-6)
    s0 = motion_lib.get_motion_state(motion_ids, early)
    s1 = motion_lib.get_motion_state(motion_ids, late)
    velocity = (s1.rigid_body_pos[:, 0] - s0.rigid_body_pos[:, 0]) / span[:, None]
    omega = angular_velocity(s0.rigid_body_rot[:, 0], s1.rigid_body_rot[:, 0], span[:, None])
    return velocity, omega


def check_reset_root_velocity(mode: str) -> str:
    if mode not in RESET_ROOT_VELOCITIES:
        raise ValueError(f"env.reset_root_velocity: expected one of {', '.join(RESET_ROOT_VELOCITIES)}, got {mode!r}")
    return mode


RESET_ROOT_VELOCITIES = ("motion_lib", "finite_difference")
