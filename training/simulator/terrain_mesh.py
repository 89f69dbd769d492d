"""A :class:`~training.simulator.heightfield.TerrainSpec` heightfield as a triangle mesh.

For backends that take terrain as triangles (IsaacGym's ``add_triangle_mesh``). Two triangles per
grid cell, split along the (i, j)–(i+1, j+1) diagonal: the mesh is exact at the samples and
linear across each triangle (MuJoCo's heightfield collides against the same triangulation), while
``training.simulator.heightfield.sample_heights`` interpolates bilinearly, so inside a cell the two
differ by at most a quarter of the cell's twist |h00 − h10 − h01 + h11|.
"""

from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np
from torch import Tensor


def heightfield_triangle_mesh(
    heights: Tensor, horizontal_scale: float, origin: Sequence[float] = (0.0, 0.0)
) -> Tuple[np.ndarray, np.ndarray]:
    """Vertices (R·C, 3) float32 m and triangles (2·(R−1)·(C−1), 3) uint32 of ``heights`` (R, C) m.

    Vertex ``i·C + j`` sits at ``(origin[0] + i·horizontal_scale, origin[1] + j·horizontal_scale,
    heights[i, j])`` (x along rows, as in ``TerrainSpec``). Triangles are counter-clockwise seen
    from above, so their normals point up (+z).
    """
    grid = heights.detach().cpu().double().numpy()
    if grid.ndim != 2 or min(grid.shape) < 2:
        raise ValueError(f"terrain heights: expected a (rows, cols) grid with rows, cols >= 2, got {grid.shape}")
    rows, cols = grid.shape
    i, j = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    x, y = origin[0] + i * horizontal_scale, origin[1] + j * horizontal_scale
    vertices = np.stack((x, y, grid), axis=-1).reshape(-1, 3).astype(np.float32)
    corner = (i[:-1, :-1] * cols + j[:-1, :-1]).reshape(-1)  # vertex (i, j) of each cell
    below, right, diagonal = corner + cols, corner + 1, corner + cols + 1  # (i+1, j), (i, j+1), (i+1, j+1)
    triangles = np.concatenate((np.stack((corner, below, diagonal), 1), np.stack((corner, diagonal, right), 1)))
    return vertices, triangles.astype(np.uint32)
