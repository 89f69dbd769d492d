"""Batched forward kinematics of a kinematic tree, over all frames at once.

Bodies are processed one tree *depth* at a time (the SMPL tree has 9 levels), so a clip of
T frames costs ~9 batched tensor operations per quantity instead of T×24 Python steps.
"""

from __future__ import annotations

from typing import List, Sequence, Tuple

import torch
from torch import Tensor

from motion.rotations import quat_mul, quat_rotate


def depth_levels(parents: Sequence[int]) -> List[Tuple[List[int], List[int]]]:
    """Group non-root bodies by depth: ``[(bodies, their parents), ...]`` from the root down.

    Requires parents to precede children (true for MJCF depth-first order).
    """
    depth = [0] * len(parents)
    for body, parent in enumerate(parents):
        if parent >= body and parent != -1:
            raise ValueError(f"body {body} has parent {parent}: parents must come first")
        depth[body] = 0 if parent < 0 else depth[parent] + 1
    levels = []
    for level in range(1, max(depth) + 1):
        bodies = [body for body, d in enumerate(depth) if d == level]
        levels.append((bodies, [parents[body] for body in bodies]))
    return levels


def forward_kinematics(
    local_rot: Tensor, root_pos: Tensor, offsets: Tensor, parents: Sequence[int]
) -> Tuple[Tensor, Tensor]:
    """Global body rotations and positions from local rotations.

    Args:
        local_rot: (T, B, 4) xyzw rotation of each body relative to its parent (root: global).
        root_pos: (T, 3) world position of the root body, metres.
        offsets: (B, 3) rest offset of each body from its parent in the parent's frame, metres
            (the root's entry is ignored).
        parents: B parent indices, -1 for the root, parents before children.

    Returns:
        (global_rot (T, B, 4) xyzw, global_pos (T, B, 3) metres).
    """
    num_frames, num_bodies = local_rot.shape[:2]
    global_rot = torch.empty_like(local_rot)
    global_pos = torch.empty(num_frames, num_bodies, 3, dtype=local_rot.dtype, device=local_rot.device)
    global_rot[:, 0] = local_rot[:, 0]
    global_pos[:, 0] = root_pos
    offsets = offsets.to(local_rot)
    for bodies, body_parents in depth_levels(parents):
        parent_rot = global_rot[:, body_parents]
        global_rot[:, bodies] = quat_mul(parent_rot, local_rot[:, bodies])
        global_pos[:, bodies] = global_pos[:, body_parents] + quat_rotate(parent_rot, offsets[bodies])
    return global_rot, global_pos
