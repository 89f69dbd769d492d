"""A grid video of several clips: in each tile a clip's reference (left) beside what the policy did
with it (right), so many motions are judged at a glance.

Each tile is rendered with the visualizer's scene (:class:`evaluation.visualizer.MotionLibsVisualizer`
on the reference MotionLib and the predicted one a full-eval wrote), one clip at a time; tiles play
in step at :data:`evaluation.visualizer.DISPLAY_FPS` and a clip that ends holds its last frame
until the longest has played. Tile labels come from the caller (e.g. the clip, tracked or not, E_g-mpjpe).
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from motion.io_utils import PathLike


def render_grid(
    reference: PathLike,
    predicted: PathLike,
    motion_indices: Sequence[int],
    output: PathLike,
    labels: Optional[Sequence[str]] = None,
    columns: int = 3,
    tile_width: int = 384,
    tile_height: int = 288,
    max_seconds: Optional[float] = None,
) -> Dict[str, Any]:
    """Write the H.264 mp4 ``output``: one tile per motion index (of both MotionLibs), ``columns``
    tiles per row. ``labels`` (one per index) are drawn on the tiles. Returns frames written,
    the grid size and the motions shown."""
    from evaluation.rendering import OffscreenRenderer
    from evaluation.video import VideoWriter
    from evaluation.visualizer import DISPLAY_FPS, MotionLibsVisualizer, _camera_distance, load_motion_libs

    if not motion_indices:
        raise ValueError("render_grid: no motions to show")
    if labels is not None and len(labels) != len(motion_indices):
        raise ValueError(f"render_grid: {len(labels)} labels for {len(motion_indices)} motions")
    if tile_width % 2 or tile_height % 2:
        raise ValueError(f"render_grid: tile size must be even, got {tile_width}x{tile_height}")
    libs, _names = load_motion_libs([reference, predicted])
    tiles: List[List[np.ndarray]] = []
    for position, index in enumerate(motion_indices):
        visualizer = MotionLibsVisualizer(libs, ["reference", "simulated"], "auto", motion_index=int(index))
        playback = visualizer.playback
        frames = int(math.floor(playback.duration * DISPLAY_FPS + 1e-6)) + 1  # float frame times: keep the last
        if max_seconds is not None:
            frames = min(frames, int(max_seconds * DISPLAY_FPS) + 1)
        label = labels[position] if labels is not None else f"motion {index}"
        scene, clip_frames = visualizer.scene, []
        with OffscreenRenderer(scene.model, tile_width, tile_height, distance=_camera_distance(2)) as renderer:
            for frame in range(frames):
                playback.time = min(frame / DISPLAY_FPS, playback.duration)  # no wrap to the next motion
                markers, _lines = visualizer.update()
                clip_frames.append(renderer.render(scene.data, markers, [label], lookat=scene.centre()))
        tiles.append(clip_frames)
    rows = -(-len(tiles) // columns)
    width, height = tile_width * min(columns, len(tiles)), tile_height * rows
    length = max(len(clip) for clip in tiles)
    with VideoWriter(output, DISPLAY_FPS, width, height) as writer:
        for frame in range(length):
            canvas = np.zeros((height, width, 3), dtype=np.uint8)
            for position, clip in enumerate(tiles):
                row, col = divmod(position, columns)
                image = clip[min(frame, len(clip) - 1)]
                canvas[row * tile_height : (row + 1) * tile_height, col * tile_width : (col + 1) * tile_width] = image
            writer.write(canvas)
    return {"output": str(output), "frames": length, "width": width, "height": height,
            "motion_indices": [int(i) for i in motion_indices]}  # fmt: skip
