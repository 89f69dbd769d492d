"""The complex terrain heightfield: layout, tile shapes, spawn points, and MuJoCo's view of it."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from motion.errors import ConfigError
from training.config import TerrainConfig
from training.simulator.heightfield import sample_heights
from training.terrain import build_terrain, column_kinds, walkable_cells

SCALE, VERTICAL = 0.1, 0.005


@pytest.fixture(scope="module")
def default_terrain():
    config = TerrainConfig(kind="complex")
    return config, build_terrain(config)


def tile(spec, config: TerrainConfig, row: int, column: int) -> np.ndarray:
    """Heights (200, 200) m of tile (row, column) of a default-sized terrain."""
    border = int(round(config.border_size / SCALE))
    size = int(round(config.map_length / SCALE))
    heights = spec.heights.numpy().astype(np.float64)
    r0, c0 = border + row * size, border + column * size
    return heights[r0 : r0 + size, c0 : c0 + size]


def test_flat_is_a_plane_at_zero():
    assert build_terrain(TerrainConfig(kind="flat")) is None
    points = torch.randn(3, 5, 2) * 100
    assert torch.equal(sample_heights(None, points), torch.zeros(3, 5))


def test_layout_size_origin_and_column_types(default_terrain):
    config, spec = default_terrain
    assert spec.heights.shape == (2 * 400 + 7 * 200, 2 * 400 + 7 * 200)
    assert spec.horizontal_scale == SCALE and spec.origin == (-40.0, -40.0)
    assert float(spec.heights.min()) == 0.0
    # ProtoMotions with 7 columns: choice = c/7 against the cumulative proportions
    assert column_kinds(config) == ["slope_down", "slope_up", "rough_slope", "stairs_up", "flat", "flat", "flat"]
    units = spec.heights.double() / VERTICAL
    assert torch.allclose(units, units.round(), atol=1e-3)  # integer multiples of the vertical scale


def test_border_is_flat_and_tiles_meet_it_without_a_step(default_terrain):
    config, spec = default_terrain
    heights = spec.heights.numpy()
    border_height = heights[0, 0]
    rim = np.ones(heights.shape, dtype=bool)
    rim[400:-400, 400:-400] = False
    assert np.all(heights[rim] == border_height)
    # the outermost cells of every slope and stair tile sit at the border height
    for row in range(7):
        for column in range(4):
            t = tile(spec, config, row, column)
            edge = np.concatenate((t[0], t[-1], t[:, 0], t[:, -1]))
            if column == 2:  # rough slope: noise of ±0.1 m on the rim
                assert np.abs(edge - border_height).max() <= 0.1 + 1e-6
            else:
                assert np.all(np.abs(edge - border_height) < 1e-6)
    # the deepest point is the bottom of the hardest downward slope
    assert border_height == pytest.approx(round(0.4 * 6 / 7 * 8.5 / VERTICAL) * VERTICAL, abs=1e-6)


@pytest.mark.parametrize("row", [0, 3, 6])
def test_stairs_step_heights_and_widths(default_terrain, row):
    config, spec = default_terrain
    t = tile(spec, config, row, 3)
    profile = t[100, :100]  # from the tile's rim to its centre along y
    rises = np.diff(profile)
    step = round((0.05 + 0.175 * row / 7) / VERTICAL) * VERTICAL
    assert np.allclose(rises[np.abs(rises) > 1e-6], step, atol=1e-6)  # all steps go up by one step height
    edges = np.nonzero(np.abs(rises) > 1e-6)[0]
    assert np.all(np.diff(edges) == 3)  # 0.31 m treads → 3 cells
    # the central 3 m platform is flat, at the top
    platform = t[85:115, 85:115]
    assert np.ptp(platform) == 0 and platform[0, 0] == t.max()
    assert platform[0, 0] - t[0, 0] == pytest.approx(len(edges) * step, abs=1e-6)


@pytest.mark.parametrize("column,sign", [(0, -1.0), (1, 1.0)])
def test_slopes_rise_or_fall_at_the_difficulty_grade(default_terrain, column, sign):
    config, spec = default_terrain
    for row in (1, 4, 6):
        t = tile(spec, config, row, column)
        profile = t[100, :86]  # rim → platform edge, 8.5 m
        grade = np.polyfit(np.arange(len(profile)) * SCALE, profile, 1)[0]
        assert grade == pytest.approx(sign * 0.4 * row / 7, abs=2e-3)
        assert np.abs(np.diff(profile)).max() <= 0.4 * row / 7 * SCALE + VERTICAL + 1e-9
        platform = t[85:115, 85:115]
        assert np.ptp(platform) == 0
    assert np.ptp(tile(spec, config, 0, column)) == 0  # difficulty 0: flat


def test_rough_slope_is_a_slope_plus_bounded_noise(default_terrain):
    config, spec = default_terrain
    row = 5
    rough, smooth = tile(spec, config, row, 2), tile(spec, config, row, 1)  # same slope, upward
    noise = rough - smooth
    assert np.abs(noise).max() <= 0.1 + VERTICAL / 2 + 1e-9
    assert noise.std() > 0.03  # uniform on ±0.1 m, interpolated
    quanta = noise[::2, ::2] / 0.025  # on the 0.2 m noise grid the values are 0.025 m quanta
    assert np.allclose(quanta, np.round(quanta), atol=0.15)


def test_spawn_points_are_walkable_and_on_the_ground(default_terrain):
    config, spec = default_terrain
    spawn = spec.spawn_points
    assert spawn.ndim == 2 and spawn.shape[1] == 3 and len(spawn) > 1_000_000
    # inside the tiles, never in the border
    assert spawn[:, :2].min() >= 0 and spawn[:, 0].max() < 140 and spawn[:, 1].max() < 140
    assert torch.allclose(sample_heights(spec, spawn[:, :2]), spawn[:, 2], atol=1e-5)
    walkable = walkable_cells(spec.heights.numpy().astype(np.float64), SCALE, config.slope_threshold)
    cells = ((spawn[:, :2].double() - torch.tensor(spec.origin)) / SCALE).round().long()
    assert walkable[cells[:, 0].numpy(), cells[:, 1].numpy()].all()
    # every tile's platform centre is a spawn point; the cells beside a 0.2 m stair edge are not
    marked = np.zeros(walkable.shape, dtype=bool)
    marked[cells[:, 0].numpy(), cells[:, 1].numpy()] = True
    for row in range(7):
        for column in (0, 1, 3, 4, 5, 6):
            assert marked[400 + row * 200 + 100, 400 + column * 200 + 100]
        # rough slopes: the noise makes some cells steeper than the threshold, most stay walkable
        rough = marked[400 + row * 200 : 600 + row * 200, 800:1000]
        assert 0.5 < rough.mean() < 1.0
    hard_stairs = tile(spec, config, 6, 3)
    edge = int(np.nonzero(np.abs(np.diff(hard_stairs[100, :100])) > 0)[0][0])  # between edge, edge+1
    assert not marked[400 + 6 * 200 + 100, 400 + 3 * 200 + edge : 400 + 3 * 200 + edge + 2].any()
    assert marked[400 + 6 * 200 + 100, 400 + 3 * 200 + edge + 2]  # middle of the next tread


def test_terrain_is_deterministic_in_the_seed():
    config = TerrainConfig(kind="complex", num_levels=3, num_terrains=4, map_length=4.0, map_width=4.0,
                           border_size=1.0, proportions=[0.0, 0.5, 0.0, 0.0, 0.5, 0.0, 0.0, 0.0])  # fmt: skip
    one, two = build_terrain(config), build_terrain(config)
    assert torch.equal(one.heights, two.heights) and torch.equal(one.spawn_points, two.spawn_points)
    config.seed = 1
    other = build_terrain(config)
    assert not torch.equal(one.heights, other.heights)  # rough noise and obstacles are drawn anew


def test_bad_configs_name_the_field():
    with pytest.raises(ConfigError, match="proportions"):
        build_terrain(TerrainConfig(kind="complex", proportions=[1.0, 0.0]))
    with pytest.raises(ConfigError, match="kind"):
        build_terrain(TerrainConfig(kind="hilly"))
    with pytest.raises(ConfigError, match="horizontal_scale"):
        build_terrain(TerrainConfig(kind="complex", horizontal_scale=0.0))


def test_sample_heights_interpolates_bilinearly_and_clamps_at_the_border():
    from training.simulator.heightfield import TerrainSpec

    heights = torch.tensor([[0.0, 1.0, 2.0], [10.0, 11.0, 12.0]])
    spec = TerrainSpec(heights=heights, horizontal_scale=0.5, origin=(1.0, -1.0))
    points = torch.tensor([[1.0, -1.0], [1.25, -1.0], [1.25, -0.75], [1.5, 0.0], [0.0, -5.0], [9.0, 9.0]])
    expected = torch.tensor([0.0, 5.0, 5.5, 12.0, 0.0, 12.0])
    assert torch.allclose(sample_heights(spec, points), expected)


# ------------------------------------------------------------------------ MuJoCo's heightfield
mujoco = pytest.importorskip("mujoco")


@pytest.fixture(scope="module")
def small_terrain():
    """Every tile kind that appears by default, small: 3 rows × 4 columns of 6 m × 5 m tiles."""
    config = TerrainConfig(kind="complex", num_levels=3, num_terrains=4, map_length=6.0, map_width=5.0,
                           border_size=1.0, proportions=[0.5, 0.25, 0.0, 0.25, 0.0, 0.0, 0.0, 0.0])  # fmt: skip
    assert column_kinds(config) == ["slope_down", "slope_up", "rough_slope", "stairs_up"]
    return build_terrain(config)


@pytest.mark.parametrize("offset", [0.0, -1.5])
def test_mujoco_heightfield_agrees_with_terrain_heights(small_terrain, offset):
    from robots.registry import smpl_robot
    from training.simulator.heightfield import TerrainSpec
    from training.simulator.mujoco_model import GROUND_NAME, build_model

    spec = small_terrain
    if offset:  # any spec, e.g. one below z = 0, not only what build_terrain makes
        spec = TerrainSpec(spec.heights + offset, spec.horizontal_scale, spec.origin, spec.spawn_points)
    model = build_model(smpl_robot(), spec, 120.0)
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    ground = model.geom(GROUND_NAME).id
    rows, cols = spec.heights.shape
    gen = torch.Generator().manual_seed(0)
    vertices = torch.stack(
        (torch.randint(0, rows, (300,), generator=gen), torch.randint(0, cols, (300,), generator=gen)), -1
    )
    vertex_xy = vertices.double() * spec.horizontal_scale + torch.tensor(spec.origin, dtype=torch.float64)
    inner = torch.rand(300, 2, generator=gen, dtype=torch.float64)
    inner_xy = (inner * torch.tensor([rows - 1, cols - 1])) * spec.horizontal_scale + torch.tensor(spec.origin)

    def ray_heights(xy: torch.Tensor) -> np.ndarray:
        geom_id = np.zeros(1, dtype=np.int32)
        out = []
        for x, y in xy.tolist():
            distance = mujoco.mj_ray(model, data, np.array([x, y, 20.0]), np.array([0.0, 0.0, -1.0]),
                                     None, 1, -1, geom_id)  # fmt: skip
            assert geom_id[0] == ground
            out.append(20.0 - distance)
        return np.array(out)

    exact = sample_heights(spec, vertex_xy).numpy()
    assert np.abs(ray_heights(vertex_xy) - exact).max() < 1e-5  # on grid vertices: the same samples
    # inside cells MuJoCo's triangles and our bilinear patch differ by at most the cell's corner spread
    cell = (inner_xy - torch.tensor(spec.origin)) / spec.horizontal_scale
    r0, c0 = cell[:, 0].floor().long(), cell[:, 1].floor().long()
    corners = torch.stack([spec.heights[r0 + i, c0 + j] for i in (0, 1) for j in (0, 1)], -1).double()
    spread = (corners.max(-1).values - corners.min(-1).values).numpy()
    difference = np.abs(ray_heights(inner_xy) - sample_heights(spec, inner_xy).numpy())
    assert np.all(difference <= 0.5 * spread + 1e-5)
    assert np.median(difference) < 1e-3


def test_humanoid_stands_on_a_stair_platform_at_its_height(small_terrain):
    """Dropped onto the top of the hardest stairs, the humanoid's feet come to rest on the
    heightfield where terrain_heights says the ground is."""
    from robots.registry import smpl_robot
    from training.simulator.base import DofState, RootState, SimulatorConfig
    from training.simulator.mujoco_backend import MujocoSimulator

    spec = small_terrain
    robot = smpl_robot()
    # centre of tile (row 2, column 3); tiles start at the world origin, the border is at x, y < 0
    centre = torch.tensor([[2 * 6.0 + 3.0, 3 * 5.0 + 2.5]], dtype=torch.float64)
    ground = float(sample_heights(spec, centre)[0])
    assert ground > float(spec.heights[0, 0]) + 0.3  # a raised platform (3 steps up), not the border
    heights = []
    for terrain, floor in ((None, 0.0), (spec, ground)):
        sim = MujocoSimulator(robot, SimulatorConfig(num_envs=1, num_threads=1, terrain=terrain))
        zero = torch.zeros(1, 3, dtype=torch.float64)
        pos = torch.cat((centre, torch.tensor([[floor + 0.97]], dtype=torch.float64)), -1)
        rot = torch.tensor([[0.0, 0.0, 0.0, 1.0]], dtype=torch.float64)
        sim.reset_envs(
            torch.arange(1), RootState(pos, rot, zero, zero), DofState(torch.zeros(1, 69), torch.zeros(1, 69))
        )
        for _ in range(9):  # 0.3 s
            sim.step(torch.zeros(1, 69))
        feet = [robot.body_names.index(name) for name in robot.contact_bodies]
        assert sim.contact_forces()[0, feet, 2].sum() > 300  # standing on its feet
        heights.append(float(sim.body_state().pos[0, 0, 2]) - floor)
        assert math.isfinite(heights[-1])
        sim.close()
    assert heights[1] == pytest.approx(heights[0], abs=0.005)
