"""``mjwarp`` (MuJoCo Warp on Warp's CPU device) against ``mujoco`` (MuJoCo, CPU): the same initial
states and the same PD targets for 1 s (30 control steps at 30 Hz, 120 Hz physics) give the same
states within stated tolerances.

Measured (mujoco 4.0.0, mujoco-warp 4.0.0, warp-lang 1.19.0, CPU; max |mujoco − mjwarp| over 1 s):

* in the air, no contact (5 random poses 50 m up): body positions 3.4e-5 m (float32 at 50 m),
  rotations 2.2e-6, velocities 1.9e-5 m/s, DoF positions 1.3e-7 rad, DoF velocities 2.1e-6 rad/s;
* standing still on the ground (2 humanoids, zero targets): body positions 4.8e-7 m, DoF
  positions 3.1e-7 rad, contact forces 0.06 N (of ~620 N);
* standing with ±0.1 rad of fresh target noise per step: 1e-6 m for the first 0.6 s, then a foot
  contact made in one and not the other (step 18) splits them: 0.042 m, 0.010 rad by 1 s. That is
  contact chaos, not a backend error: only loose bounds there, and a tight one on the first 1/3 s.

The tolerances below give about 10× margin over these (3× for the chaotic case). A pose that starts
interpenetrating (self-collision) is not compared: the two solvers resolve the initial overlap with
impulses that differ by ~25%.

The first MuJoCo Warp simulator in a process compiles its kernels (~45 s on 2 cores, cached on
disk by Warp afterwards; on an H200 90-125 s, and the heightfield case compiles more variants, so
allow minutes for a first run there); every case shares one module-scoped run of both backends.

``mjwarp`` runs on ``MIMIC_TEST_DEVICE`` (tests/device_under_test.py; ``mujoco`` always on the CPU)
and states are compared on the CPU. The tolerances were measured on Warp's CPU device; on CUDA the
same ones are asserted (float32 on both), and the deviations are printed for the record.
"""

from __future__ import annotations

from typing import Dict, List

import pytest
import torch

mujoco = pytest.importorskip("mujoco")
pytest.importorskip("warp", reason="warp-lang is not installed: the mjwarp backend cannot run")
pytest.importorskip("mujoco_warp", reason="mujoco-warp is not installed: the mjwarp backend cannot run")

from device_under_test import TEST_DEVICE  # noqa: E402

from motion.rotations import quat_normalize  # noqa: E402
from robots.registry import smpl_robot  # noqa: E402
from training.config import TerrainConfig  # noqa: E402
from training.simulator import create_simulator  # noqa: E402
from training.simulator.base import DofState, RootState, SimulatorConfig  # noqa: E402
from training.terrain import build_terrain  # noqa: E402

ROBOT = smpl_robot()
_MODEL = mujoco.MjModel.from_xml_string(ROBOT.mjcf_xml)
WEIGHT = float(_MODEL.body_mass.sum()) * -float(_MODEL.opt.gravity[2])  # N, ~620
D = len(ROBOT.dof_names)
STEPS = 30  # control steps: 1 s at 30 Hz
NAMES = ("pos", "rot", "vel", "ang_vel", "dof_pos", "dof_vel", "contact")
pytestmark = pytest.mark.device

# Max |mujoco − mjwarp| over the 30 steps, per quantity (m, xyzw, m/s, rad/s, rad, rad/s, N).
AIR_TOLERANCE = {"pos": 3e-4, "rot": 3e-5, "vel": 2e-4, "ang_vel": 1e-4, "dof_pos": 1e-5, "dof_vel": 3e-5}
STANDING_TOLERANCE = {"pos": 1e-5, "rot": 1e-5, "vel": 1e-4, "ang_vel": 2e-4, "dof_pos": 1e-5, "dof_vel": 2e-4,
                      "contact": 1.0}  # fmt: skip
JITTER_EARLY_STEPS, JITTER_EARLY_POS = 10, 1e-4  # first 1/3 s, body positions, m (measured 5e-7)
HEIGHTFIELD_TOLERANCE = {"pos": 0.15, "rot": 0.1, "dof_pos": 0.1}  # measured 0.041, 0.019, 0.019
JITTER_TOLERANCE = {"pos": 0.15, "rot": 0.1, "dof_pos": 0.05}  # whole second (measured 0.042, 0.033, 0.010)


def lowest_point_of_neutral_pose() -> float:
    """Lowest z of the neutral pose's geoms with the root at the origin (boxes and capsules)."""
    model = mujoco.MjModel.from_xml_string(ROBOT.mjcf_xml)
    data = mujoco.MjData(model)
    data.qpos[:3] = 0.0
    mujoco.mj_kinematics(model, data)
    lowest = float("inf")
    for g in range(model.ngeom):
        axis_z, size = data.geom_xmat[g].reshape(3, 3)[2], model.geom_size[g]
        if model.geom_type[g] == mujoco.mjtGeom.mjGEOM_BOX:
            lowest = min(lowest, data.geom_xpos[g, 2] - float(abs(axis_z) @ size))
        else:  # capsule
            lowest = min(lowest, data.geom_xpos[g, 2] - abs(axis_z[2]) * size[1] - size[0])
    return lowest


def air_case():
    """5 random poses 50 m up (falls 4.9 m in 1 s: never near the ground), random targets ±0.2 rad.

    Drawn as 8 and the first 3 dropped: in those the legs cross and the feet touch each other
    (a contact case); the test checks that the 5 kept stay contact-free.
    """
    gen = torch.Generator().manual_seed(21)
    r = lambda *shape: torch.rand(*shape, generator=gen, dtype=torch.float64) * 2 - 1
    rot = quat_normalize(torch.randn(8, 4, generator=gen, dtype=torch.float64))
    root = RootState(torch.stack((r(8), r(8), 50 + r(8)), -1), rot, r(8, 3), r(8, 3))
    dofs = DofState(0.2 * r(8, D), 0.5 * r(8, D))
    targets = 0.2 * r(8, D)
    keep = slice(3, 8)
    return RootState(*(t[keep] for t in root)), DofState(*(t[keep] for t in dofs)), [targets[keep]] * STEPS


def standing_case(noise: float):
    """2 humanoids standing 2 cm above the ground; targets: ±``noise`` rad of fresh noise per step."""
    zeros = torch.zeros(2, 3, dtype=torch.float64)
    pos = zeros.clone()
    pos[:, 2] = -lowest_point_of_neutral_pose() + 0.02
    rot = torch.tensor([[0.0, 0.0, 0.0, 1.0]], dtype=torch.float64).repeat(2, 1)
    gen = torch.Generator().manual_seed(22)
    targets = [(torch.rand(2, D, generator=gen, dtype=torch.float64) * 2 - 1) * noise for _ in range(STEPS)]
    dofs = DofState(torch.zeros(2, D, dtype=torch.float64), torch.zeros(2, D, dtype=torch.float64))
    return RootState(pos, rot, zeros, zeros.clone()), dofs, targets


def heightfield_case():
    """The standing case on two flat platforms of a small complex terrain (a heightfield, 0.1 m up)."""
    terrain = build_terrain(TerrainConfig(kind="complex", num_levels=2, num_terrains=2, map_length=4.0,
                                          map_width=4.0, border_size=2.0))  # fmt: skip
    root, dofs, targets = standing_case(0.0)
    spawn = terrain.spawn_points[[0, -1]].double()
    return RootState(root.pos + spawn, root.rot, root.vel, root.ang_vel), dofs, targets, terrain


def rollout(backend: str, case, decimation: int = 4) -> List[List[torch.Tensor]]:
    """States (float64, on the CPU) after every control step; ``mjwarp`` runs on the test device."""
    device = TEST_DEVICE if backend == "mjwarp" else torch.device("cpu")
    root, dofs, targets = case[:3]
    root, dofs = RootState(*(t.to(device) for t in root)), DofState(*(t.to(device) for t in dofs))
    terrain = case[3] if len(case) > 3 else None
    n = len(root.pos)
    config = SimulatorConfig(num_envs=n, num_threads=1, decimation=decimation, terrain=terrain, device=str(device))
    sim = create_simulator(backend, ROBOT, config)
    try:
        sim.reset_envs(torch.arange(n, device=device), root, dofs)
        states = []
        for target in targets:
            for _ in range(4 // decimation):  # same physics steps per target
                sim.step(target.float().to(device))
                states.append(
                    [t.clone().cpu().double() for t in (*sim.body_state(), *sim.dof_state(), sim.contact_forces())]
                )
                assert not sim.diverged_envs().any()
        return states
    finally:
        sim.close()


def max_deviation(one: List[List[torch.Tensor]], two: List[List[torch.Tensor]]) -> Dict[str, float]:
    return {name: max(float((a[k] - b[k]).abs().max()) for a, b in zip(one, two)) for k, name in enumerate(NAMES)}


@pytest.fixture(scope="module")
def runs():
    cases = {
        "air": air_case(),
        "standing": standing_case(0.0),
        "jitter": standing_case(0.1),
        "heightfield": heightfield_case(),
    }
    return {name: {backend: rollout(backend, case) for backend in ("mujoco", "mjwarp")} for name, case in cases.items()}


def test_air_poses_agree_tightly(runs):
    # Precondition: no contact at any physics step (a self-collision would make this a contact case).
    every_physics_step = rollout("mujoco", air_case(), decimation=1)
    assert max(float(s[6].abs().max()) for s in every_physics_step) == 0.0
    deviation = max_deviation(runs["air"]["mujoco"], runs["air"]["mjwarp"])
    print("air: max |mujoco - mjwarp| over 1 s:", deviation)
    for name, tolerance in AIR_TOLERANCE.items():
        assert deviation[name] <= tolerance, (name, deviation[name])
    moved = runs["air"]["mujoco"][-1][4] - air_case()[1].pos
    assert moved.abs().max() > 0.2  # the PD moved the joints: the comparison has something to compare


def test_standing_still_agrees_tightly(runs):
    deviation = max_deviation(runs["standing"]["mujoco"], runs["standing"]["mjwarp"])
    print("standing: max |mujoco - mjwarp| over 1 s:", deviation)
    for name, tolerance in STANDING_TOLERANCE.items():
        assert deviation[name] <= tolerance, (name, deviation[name])
    load = runs["standing"]["mjwarp"][-1][6][..., 2].sum(-1)
    assert torch.allclose(load, torch.full_like(load, WEIGHT), rtol=0.05)  # the feet carry the weight


def test_standing_with_target_noise_agrees_until_contacts_split_it(runs):
    one, two = runs["jitter"]["mujoco"], runs["jitter"]["mjwarp"]
    deviation = max_deviation(one, two)
    print("jitter: max |mujoco - mjwarp| over 1 s:", deviation)
    early = max_deviation(one[:JITTER_EARLY_STEPS], two[:JITTER_EARLY_STEPS])
    assert early["pos"] <= JITTER_EARLY_POS, early
    for name, tolerance in JITTER_TOLERANCE.items():
        assert deviation[name] <= tolerance, (name, deviation[name])
    for states in (one, two):  # both still upright, the root ~0.94 m up
        assert min(float(s[0][:, 0, 2].min()) for s in states) > 0.85


def test_standing_on_a_heightfield_agrees_loosely(runs):
    """Heightfield contacts are generated differently (MuJoCo Warp: its own convex-vs-heightfield
    collision; MuJoCo: mjc_ConvexHField): standing still on a flat heightfield platform the two
    differ by 4 cm after 1 s (against 5e-7 m on the plane), and the feet's load per step by up to
    ~800 N (contacts come and go), while both stand and carry the weight."""
    one, two = runs["heightfield"]["mujoco"], runs["heightfield"]["mjwarp"]
    deviation = max_deviation(one, two)
    print("heightfield: max |mujoco - mjwarp| over 1 s:", deviation)
    for name, tolerance in HEIGHTFIELD_TOLERANCE.items():
        assert deviation[name] <= tolerance, (name, deviation[name])
    for states in (one, two):
        assert min(float(s[0][:, 0, 2].min()) for s in states) > 0.95  # upright on the 0.1 m platform
        load = torch.stack([s[6][..., 2].sum(-1) for s in states[15:]]).mean(0)  # last 0.5 s, N
        assert torch.allclose(load, torch.full_like(load, WEIGHT), rtol=0.1), load


def test_diverged_worlds_are_flagged_and_reset_to_the_default_pose():
    """As the mujoco backend: a world whose state blows up is reset and flagged for one step."""
    root, dofs, _ = standing_case(0.0)
    root = RootState(root.pos + torch.tensor([0.0, 0.0, 3.0], dtype=torch.float64), *root[1:])
    wild = dofs.vel.clone()
    wild[1, 10] = 1e12  # rad/s, beyond MuJoCo's 1e10 bound on any state value
    sim = create_simulator("mjwarp", ROBOT, SimulatorConfig(num_envs=2, device=str(TEST_DEVICE)))
    dev = sim.device
    try:
        root = RootState(*(t.to(dev) for t in root))
        sim.reset_envs(torch.arange(2, device=dev), root, DofState(dofs.pos.to(dev), wild.to(dev)))
        sim.step(torch.zeros(2, D, device=dev))
        assert sim.diverged_envs().tolist() == [False, True]
        default = torch.tensor(_MODEL.qpos0[:3], dtype=torch.float32, device=dev)  # the model's default root position
        assert torch.allclose(sim.body_state().pos[1, 0], default)
        assert sim.dof_state().vel[1].abs().max() == 0 and sim.applied_torques()[1].abs().max() == 0
        assert torch.isfinite(sim.body_state().vel).all()
        sim.step(torch.zeros(2, D, device=dev))
        assert not sim.diverged_envs().any()
    finally:
        sim.close()


def test_device_names_map_to_warp_devices():
    from training.simulator.mjwarp_backend import warp_device_name

    assert [warp_device_name(d) for d in ("cpu", "cuda", "cuda:0", "cuda:1")] == ["cpu", "cuda:0", "cuda:0", "cuda:1"]
    with pytest.raises(ValueError, match="'cpu' or 'cuda"):
        warp_device_name("meta")
