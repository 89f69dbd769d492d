"""The ground every backend simulates (:class:`TerrainSpec`) and the height under a point (:func:`sample_heights`).

Shared by the simulator backends (their ground and ``terrain_heights``) and by
:mod:`training.terrain`, which builds specs from a ``TerrainConfig``: both import this module, so
the arrow runs one way (``training.terrain`` → ``training.simulator``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Tuple

import torch
from torch import Tensor


@dataclass(frozen=True)
class TerrainSpec:
    """A heightfield terrain: ``heights`` (rows, cols) metres on a regular grid.

    Cell (i, j) is centred at ``origin + (i·horizontal_scale, j·horizontal_scale)`` (x along rows).
    """

    heights: Tensor
    horizontal_scale: float
    origin: Tuple[float, float] = (0.0, 0.0)
    spawn_points: Tensor = field(default_factory=lambda: torch.zeros(1, 3))  # (S, 3) walkable xyz


def sample_heights(terrain: Optional[TerrainSpec], points_xy: Tensor) -> Tensor:
    """Bilinearly interpolated ground height (...) m under world points ``points_xy`` (..., 2) m.

    Zero for the flat plane (``terrain is None``); points outside the grid take the height of the
    nearest border sample.
    """
    if terrain is None:
        return torch.zeros(points_xy.shape[:-1], dtype=points_xy.dtype, device=points_xy.device)
    heights = terrain.heights.to(device=points_xy.device, dtype=points_xy.dtype)
    rows, cols = heights.shape
    scale = terrain.horizontal_scale
    u = ((points_xy[..., 0] - terrain.origin[0]) / scale).clamp(0, rows - 1)
    v = ((points_xy[..., 1] - terrain.origin[1]) / scale).clamp(0, cols - 1)
    # Lower corner clamped one short of the last sample so the upper corner stays in the grid;
    # the fraction then reaches 1 exactly on the last row/column.
    r0 = u.floor().clamp(max=max(rows - 2, 0))
    c0 = v.floor().clamp(max=max(cols - 2, 0))
    fu, fv = u - r0, v - c0
    r0, c0 = r0.long(), c0.long()
    r1, c1 = (r0 + 1).clamp(max=rows - 1), (c0 + 1).clamp(max=cols - 1)
    flat = heights.reshape(-1)
    h00, h01 = flat[r0 * cols + c0], flat[r0 * cols + c1]
    h10, h11 = flat[r1 * cols + c0], flat[r1 * cols + c1]
    return (h00 * (1 - fv) + h01 * fv) * (1 - fu) + (h10 * (1 - fv) + h11 * fv) * fu
