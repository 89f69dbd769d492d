"""Terrains: the flat plane and ProtoMotions' complex terrain as one heightfield.

:func:`build_terrain` turns a :class:`training.config.TerrainConfig` into a
:class:`training.simulator.heightfield.TerrainSpec` (``None`` for the flat plane at z = 0) that
every simulator backend builds its ground from (and looks heights up in, with
:func:`training.simulator.heightfield.sample_heights`).

Layout of the complex terrain (ProtoMotions' ``ComplexTerrainConfig``): ``num_levels`` rows ×
``num_terrains`` columns of ``map_length`` × ``map_width`` tiles inside a flat border of
``border_size``. Row r has difficulty d = r / num_levels; column c picks its type from
``choice = c / num_terrains`` against the cumulative ``proportions`` (slots: smooth slope, rough
slope, stairs with negative step height, stairs with positive step height, discrete obstacles,
stepping stones, poles, flat). With the default 7 columns that gives: 0 downward slope, 1 upward
slope, 2 rough slope, 3 stairs rising to the tile centre, 4-6 flat. Every tile keeps a flat
``platform_size`` square in its middle. Heights are integers of ``vertical_scale`` (as a
heightfield stores them) and are shifted so the lowest point is z = 0. The tiles start at world
(0, 0); the border extends to negative x and y.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np
import torch

from motion.errors import ConfigError
from training.config import TerrainConfig
from training.simulator.heightfield import TerrainSpec

#: Every tile kind :func:`column_kinds` can return.
TILE_KINDS: Tuple[str, ...] = (
    "slope_down", "slope_up", "rough_slope", "stairs_down", "stairs_up", "discrete", "stepping_stones", "poles", "flat",
)  # fmt: skip

#: Tile kinds in the order of ``TerrainConfig.proportions``' slots (slot 0 splits into down/up).
SLOT_KINDS: Tuple[str, ...] = (
    "slope", "rough_slope", "stairs_down", "stairs_up", "discrete", "stepping_stones", "poles", "flat",
)  # fmt: skip

ROUGH_NOISE = 0.1  # m, ± amplitude of the rough-slope noise
ROUGH_NOISE_STEP = 0.025  # m, noise quantum
ROUGH_NOISE_SPACING = 0.2  # m, grid on which the noise is drawn (then interpolated)
DISCRETE_OBSTACLES = 20  # rectangles per tile
DISCRETE_SIZE = (1.0, 2.0)  # m, side length range of an obstacle
STONE_PIT_DEPTH = 1.0  # m, depth of the pit the stepping stones stand in
POLE_SIZE = 0.2  # m, side of a pole's square section
POLE_HEIGHT = 1.0  # m


def column_kinds(config: TerrainConfig) -> List[str]:
    """The tile kind (one of :data:`TILE_KINDS`) of each of the ``num_terrains`` columns."""
    proportions = _checked_proportions(config)
    cumulative = np.cumsum(proportions)
    kinds = []
    for column in range(config.num_terrains):
        choice = column / config.num_terrains
        slot = int(np.searchsorted(cumulative, choice, side="right"))  # first slot with choice < cum
        if slot >= len(SLOT_KINDS):
            kinds.append("flat")  # proportions summing below 1 leave the remainder flat
        elif slot == 0:
            # ProtoMotions: the first half of the smooth-slope share slopes down, the rest up.
            kinds.append("slope_down" if choice < proportions[0] / 2 else "slope_up")
        else:
            kinds.append(SLOT_KINDS[slot])
    return kinds


def build_terrain(config: TerrainConfig) -> Optional[TerrainSpec]:
    """``None`` for ``kind="flat"`` (a plane at z = 0); the complex heightfield for ``"complex"``.

    Deterministic in ``config.seed``. The spec's ``heights`` is (rows, cols) float32 metres, x
    along rows; ``spawn_points`` (S, 3) are the walkable cells of the tiles (see
    :func:`walkable_cells`).
    """
    if config.kind == "flat":
        return None
    if config.kind != "complex":
        raise ConfigError("<TerrainConfig>", "kind", '"flat" or "complex"', repr(config.kind))
    _check_sizes(config)
    scale = config.horizontal_scale
    tile_rows = int(round(config.map_length / scale))
    tile_cols = int(round(config.map_width / scale))
    border = int(round(config.border_size / scale))
    units = np.zeros(
        (2 * border + config.num_levels * tile_rows, 2 * border + config.num_terrains * tile_cols), dtype=np.int64
    )
    for column, kind in enumerate(column_kinds(config)):
        for row in range(config.num_levels):
            # One generator per tile: a tile's heights do not depend on which other tiles exist.
            rng = np.random.default_rng([config.seed, row, column])
            tile = tile_height_units(kind, row / config.num_levels, tile_rows, tile_cols, config, rng)
            r0, c0 = border + row * tile_rows, border + column * tile_cols
            units[r0 : r0 + tile_rows, c0 : c0 + tile_cols] = tile
    units -= units.min()
    # float32 as stored in the spec; walkability is judged on exactly these values
    heights = (units * config.vertical_scale).astype(np.float32)
    origin = (-border * scale, -border * scale)
    inside = np.zeros(units.shape, dtype=bool)
    inside[border : units.shape[0] - border, border : units.shape[1] - border] = True
    cells = np.nonzero(walkable_cells(heights.astype(np.float64), scale, config.slope_threshold) & inside)
    spawn = np.stack((origin[0] + cells[0] * scale, origin[1] + cells[1] * scale, heights[cells]), axis=-1)
    return TerrainSpec(
        heights=torch.from_numpy(heights),
        horizontal_scale=scale,
        origin=origin,
        spawn_points=torch.from_numpy(spawn.astype(np.float32)),
    )


def tile_height_units(
    kind: str, difficulty: float, rows: int, cols: int, config: TerrainConfig, rng: np.random.Generator
) -> np.ndarray:
    """Heights of one tile in ``vertical_scale`` units, (rows, cols) int64; the tile's rim is 0 for
    slopes and stairs so neighbouring tiles meet without a step."""
    scale, vertical = config.horizontal_scale, config.vertical_scale
    edge = _edge_distance(rows, cols)
    platform = int(round(config.platform_size / scale))
    # Slopes and stairs rise with the distance from the rim up to this many cells: their flat top
    # is the central platform_size square (a rectangle, on tiles that are not square).
    platform_edge = max((min(rows, cols) - platform) // 2, 0)
    ramp = np.minimum(edge, platform_edge)  # cells, constant on the platform
    slope = 0.4 * difficulty
    if kind in ("slope_down", "slope_up", "rough_slope"):
        sign = -1.0 if kind == "slope_down" else 1.0
        heights = sign * slope * ramp * scale / vertical
        if kind == "rough_slope":
            heights = heights + _rough_noise_units(rows, cols, config, rng)
        return np.rint(heights).astype(np.int64)
    if kind in ("stairs_down", "stairs_up"):
        step_units = int(round((0.05 + 0.175 * difficulty) / vertical))
        step_cells = max(int(round(config.step_width / scale)), 1)
        sign = -1 if kind == "stairs_down" else 1
        return sign * step_units * (ramp // step_cells)
    tile = np.zeros((rows, cols), dtype=np.int64)
    index_r, index_c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    centre = (np.abs(index_r - (rows - 1) / 2) < platform / 2) & (np.abs(index_c - (cols - 1) / 2) < platform / 2)
    if kind == "discrete":
        height = int(round((0.025 + 0.15 * difficulty) / vertical))
        half = height // 2
        choices = np.array([-height, -half, half, height])
        low, high = (int(round(size / scale)) for size in DISCRETE_SIZE)
        for _ in range(DISCRETE_OBSTACLES):
            size_r, size_c = rng.integers(low, high + 1, size=2)
            r0, c0 = rng.integers(0, rows - size_r + 1), rng.integers(0, cols - size_c + 1)
            tile[r0 : r0 + size_r, c0 : c0 + size_c] = rng.choice(choices)
    elif kind == "stepping_stones":
        stone = max(int(round(1.5 * (1.05 - difficulty) / scale)), 1)
        gap = max(int(round((0.05 if difficulty == 0 else 0.1) / scale)), 1)
        on_stone = (index_r % (stone + gap) < stone) & (index_c % (stone + gap) < stone)
        tile[~on_stone] = -int(round(STONE_PIT_DEPTH / vertical))
    elif kind == "poles":
        size = max(int(round(POLE_SIZE / scale)), 1)
        for _ in range(int(round(10 + 40 * difficulty))):
            r0, c0 = rng.integers(0, rows - size + 1), rng.integers(0, cols - size + 1)
            tile[r0 : r0 + size, c0 : c0 + size] = int(round(POLE_HEIGHT / vertical))
    elif kind != "flat":
        raise ConfigError("<TerrainConfig>", "tile kind", f"one of {', '.join(TILE_KINDS)}", repr(kind))
    tile[centre] = 0
    return tile


def walkable_cells(heights: np.ndarray, horizontal_scale: float, slope_threshold: float) -> np.ndarray:
    """(rows, cols) bool: cells whose height differs from each of its 4 neighbours by less than
    ``slope_threshold · horizontal_scale`` (local slope below the threshold); grid rim excluded."""
    limit = slope_threshold * horizontal_scale
    ok = np.zeros(heights.shape, dtype=bool)
    centre = heights[1:-1, 1:-1]
    ok[1:-1, 1:-1] = (
        (np.abs(centre - heights[:-2, 1:-1]) < limit)
        & (np.abs(centre - heights[2:, 1:-1]) < limit)
        & (np.abs(centre - heights[1:-1, :-2]) < limit)
        & (np.abs(centre - heights[1:-1, 2:]) < limit)
    )
    return ok


def _edge_distance(rows: int, cols: int) -> np.ndarray:
    """(rows, cols) int: cells from each cell to the nearest tile rim (0 on the rim)."""
    index_r = np.minimum(np.arange(rows), np.arange(rows)[::-1])
    index_c = np.minimum(np.arange(cols), np.arange(cols)[::-1])
    return np.minimum(index_r[:, None], index_c[None, :])


def _rough_noise_units(rows: int, cols: int, config: TerrainConfig, rng: np.random.Generator) -> np.ndarray:
    """Uniform noise of ±ROUGH_NOISE in ROUGH_NOISE_STEP quanta drawn on a ROUGH_NOISE_SPACING grid
    and bilinearly interpolated to the tile's cells, in vertical units (float)."""
    levels = np.arange(-ROUGH_NOISE, ROUGH_NOISE + 0.5 * ROUGH_NOISE_STEP, ROUGH_NOISE_STEP) / config.vertical_scale
    spacing = ROUGH_NOISE_SPACING / config.horizontal_scale  # tile cells per noise cell
    coarse_r = int(np.ceil((rows - 1) / spacing)) + 1
    coarse_c = int(np.ceil((cols - 1) / spacing)) + 1
    coarse = rng.choice(np.rint(levels), size=(coarse_r, coarse_c))
    u = np.arange(rows) / spacing
    v = np.arange(cols) / spacing
    r0 = np.minimum(np.floor(u).astype(np.int64), coarse_r - 2)
    c0 = np.minimum(np.floor(v).astype(np.int64), coarse_c - 2)
    fu, fv = (u - r0)[:, None], (v - c0)[None, :]
    top = coarse[r0][:, c0] * (1 - fv) + coarse[r0][:, c0 + 1] * fv
    bottom = coarse[r0 + 1][:, c0] * (1 - fv) + coarse[r0 + 1][:, c0 + 1] * fv
    return top * (1 - fu) + bottom * fu


def _checked_proportions(config: TerrainConfig) -> np.ndarray:
    proportions = np.asarray(config.proportions, dtype=np.float64)
    if proportions.shape != (len(SLOT_KINDS),) or (proportions < 0).any() or not np.isfinite(proportions).all():
        raise ConfigError(
            "<TerrainConfig>",
            "proportions",
            f"{len(SLOT_KINDS)} non-negative shares ({', '.join(SLOT_KINDS)})",
            repr(list(config.proportions)),
        )
    return proportions


def _check_sizes(config: TerrainConfig) -> None:
    positive = {
        "num_levels": config.num_levels,
        "num_terrains": config.num_terrains,
        "map_length": config.map_length,
        "map_width": config.map_width,
        "horizontal_scale": config.horizontal_scale,
        "vertical_scale": config.vertical_scale,
    }
    for name, value in positive.items():
        if not value > 0:
            raise ConfigError("<TerrainConfig>", name, "a positive value", repr(value))
    if config.border_size < 0:
        raise ConfigError("<TerrainConfig>", "border_size", "a non-negative size", repr(config.border_size))
    if config.map_length < 2 * config.horizontal_scale or config.map_width < 2 * config.horizontal_scale:
        raise ConfigError("<TerrainConfig>", "map_length/map_width", "at least two cells per tile", repr(config))
