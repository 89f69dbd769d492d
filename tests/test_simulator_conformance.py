"""One conformance suite for every simulator backend in ``training.simulator.BACKENDS``.

Written against the :class:`training.simulator.base.Simulator` interface only, so any future
backend (``mjwarp``, ``isaacgym``) gets the same checks; backends whose module does not import
here are skipped with the import error as the reason. The suite runs on ``MIMIC_TEST_DEVICE``
(tests/device_under_test.py): on CUDA the GPU backends run there, every input and expectation is
built on the simulator's device, and the ``mujoco`` backend (CPU only) is skipped. On the CPU two
runs from one state are identical to the bit; on CUDA, where MuJoCo Warp's contact solver sums
with atomics, they agree within a stated tolerance over 1/3 s. Reference quantities (mass, gravity, the
lowest point of the neutral pose) come from compiling the robot's own MJCF with MuJoCo, and poses
from :mod:`motion.kinematics`, never from the backend under test. A last section checks the
``mujoco`` backend's conventions against MuJoCo's own functions.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from typing import Callable, List, Optional

import numpy as np
import pytest
import torch

mujoco = pytest.importorskip("mujoco")

from device_under_test import (  # noqa: E402
    BIT_IDENTICAL_SIMULATION,
    REPEAT_HORIZON_STEPS,
    TEST_DEVICE,
    assert_repeatable,
)

from motion.kinematics import forward_kinematics  # noqa: E402
from motion.rotations import quat_from_euler_xyz, quat_mul, quat_normalize, quat_rotate  # noqa: E402
from motion.skeleton import NEUTRAL_OFFSETS, PARENTS  # noqa: E402
from robots.registry import smpl_robot  # noqa: E402
from training.simulator import BACKENDS, create_simulator  # noqa: E402
from training.simulator.base import DofState, RootState, Simulator, SimulatorConfig  # noqa: E402

ROBOT = smpl_robot()
D = len(ROBOT.dof_names)
STATE_NAMES = ("pos", "rot", "vel", "ang_vel", "dof_pos", "dof_vel", "contact")


def _import_error(name: str) -> str:
    try:
        importlib.import_module(BACKENDS[name].split(":")[0])
    except ImportError as error:  # e.g. isaacgym / mujoco_warp not installed
        return f"backend {name!r} does not import here: {error}"
    return ""


def _unusable(name: str) -> str:
    """Why backend ``name`` cannot run on the test device here ('' when it can)."""
    if name == "mujoco" and TEST_DEVICE.type != "cpu":
        return f"the mujoco backend runs on the CPU only (MIMIC_TEST_DEVICE={TEST_DEVICE})"
    return _import_error(name)


BACKEND_NAMES = [
    # every test of the interface follows MIMIC_TEST_DEVICE (the ``device`` marker)
    pytest.param(name, marks=[pytest.mark.device, pytest.mark.skipif(bool(_unusable(name)), reason=_unusable(name))])
    for name in BACKENDS
]


@pytest.fixture(params=BACKEND_NAMES)
def make_sim(request):
    """``make_sim(num_envs, **config)`` → a simulator of the parametrised backend on the test
    device, closed after."""
    created: List[Simulator] = []

    def make(num_envs: int, **config) -> Simulator:
        config = dict(config, device=str(TEST_DEVICE))
        sim = create_simulator(request.param, ROBOT, SimulatorConfig(num_envs=num_envs, **config))
        created.append(sim)
        return sim

    yield make
    for sim in created:
        sim.close()


@pytest.fixture(scope="module")
def reference_model():
    """The robot's MJCF compiled by MuJoCo directly: mass, gravity and geometry for references."""
    return mujoco.MjModel.from_xml_string(ROBOT.mjcf_xml)


def random_state(num_envs: int, seed: int, height: float = 2.0, dof_range: float = 1.0, device=TEST_DEVICE):
    """Random root poses and velocities and DoF states, float64 on ``device`` (drawn on the CPU, so
    every device gets the same numbers)."""
    gen = torch.Generator().manual_seed(seed)
    r = lambda *shape: torch.rand(*shape, generator=gen, dtype=torch.float64) * 2 - 1
    pos = torch.stack((r(num_envs), r(num_envs), height + 0.2 * r(num_envs)), dim=-1)
    rot = quat_normalize(torch.randn(num_envs, 4, generator=gen, dtype=torch.float64))
    root = RootState(pos, rot, r(num_envs, 3), 2 * r(num_envs, 3))
    dofs = DofState(dof_range * r(num_envs, D), 2 * r(num_envs, D))
    return RootState(*(t.to(device) for t in root)), DofState(*(t.to(device) for t in dofs))


def still_state(num_envs: int, height: float, dofs: Optional[torch.Tensor] = None, device=TEST_DEVICE):
    """Upright root at (0, 0, height), zero velocities, DoFs ``dofs`` (default neutral), on ``device``."""
    zeros = torch.zeros(num_envs, 3, dtype=torch.float64, device=device)
    pos = zeros.clone()
    pos[:, 2] = height
    rot = torch.tensor([[0.0, 0.0, 0.0, 1.0]], dtype=torch.float64, device=device).repeat(num_envs, 1)
    dof_pos = torch.zeros(num_envs, D, dtype=torch.float64, device=device) if dofs is None else dofs
    dof_vel = torch.zeros(num_envs, D, dtype=torch.float64, device=device)
    return RootState(pos, rot, zeros, zeros.clone()), DofState(dof_pos, dof_vel)


def fk(root: RootState, dofs: DofState):
    """(global_rot, global_pos) (N, 24, ·) of a reset pose: hinges are intrinsic x-y-z Euler angles."""
    local = torch.cat((root.rot[:, None], quat_from_euler_xyz(dofs.pos.reshape(-1, D // 3, 3))), dim=1)
    offsets = torch.tensor(NEUTRAL_OFFSETS, dtype=torch.float64, device=root.pos.device)
    return forward_kinematics(local, root.pos, offsets, PARENTS)


def assert_same_rotation(a: torch.Tensor, b: torch.Tensor, atol: float) -> None:
    """q and −q are one rotation: compare up to sign."""
    dot = (a.double() * b.double()).sum(-1, keepdim=True)
    assert torch.allclose(a.double() * torch.sign(dot), b.double(), atol=atol)


def run(sim: Simulator, steps: int, targets: torch.Tensor, each: Optional[Callable[[int], None]] = None) -> None:
    for step in range(steps):
        sim.step(targets.float())
        if each is not None:
            each(step)


# --------------------------------------------------------------------------------------- (a)
def test_reset_state_reads_back_exactly_and_matches_forward_kinematics(make_sim):
    sim = make_sim(4, num_threads=2)

    def assert_reads_back(rows: List[int], root: RootState, dofs: DofState) -> None:
        bodies, dof_state = sim.body_state(), sim.dof_state()
        assert torch.allclose(bodies.pos[rows, 0].double(), root.pos, atol=1e-6)  # root body = root pos
        assert_same_rotation(bodies.rot[rows, 0], root.rot, atol=1e-6)
        assert torch.allclose(bodies.vel[rows, 0].double(), root.vel, atol=1e-6)
        assert torch.allclose(bodies.ang_vel[rows, 0].double(), root.ang_vel, atol=1e-6)
        assert torch.allclose(dof_state.pos[rows].double(), dofs.pos, atol=1e-6)
        assert torch.allclose(dof_state.vel[rows].double(), dofs.vel, atol=1e-6)
        fk_rot, fk_pos = fk(root, dofs)
        assert torch.allclose(bodies.pos[rows].double(), fk_pos, atol=1e-6)
        assert_same_rotation(bodies.rot[rows], fk_rot, atol=1e-6)
        assert torch.count_nonzero(sim.applied_torques()[rows]) == 0  # nothing applied since the reset
        assert torch.count_nonzero(sim.contact_forces()[rows]) == 0

    root_a, dofs_a = random_state(4, seed=1)
    sim.reset_envs(torch.arange(4, device=sim.device), root_a, dofs_a)
    bodies = sim.body_state()
    assert bodies.pos.shape == (4, 24, 3) and bodies.rot.shape == (4, 24, 4) and bodies.vel.shape == (4, 24, 3)
    assert sim.dof_state().pos.shape == (4, D) and sim.contact_forces().shape == (4, 24, 3)
    assert_reads_back([0, 1, 2, 3], root_a, dofs_a)

    sim.step(torch.zeros(4, D, device=sim.device))
    before = [t.clone() for t in (*sim.body_state(), *sim.dof_state(), sim.applied_torques())]
    root_b, dofs_b = random_state(2, seed=2)
    sim.reset_envs(torch.tensor([3, 1], device=sim.device), root_b, dofs_b)  # a subset, out of order
    assert_reads_back([3, 1], root_b, dofs_b)
    after = (*sim.body_state(), *sim.dof_state(), sim.applied_torques())
    for old, new in zip(before, after):  # the other worlds are untouched
        assert torch.equal(old[[0, 2]], new[[0, 2]])
    assert torch.count_nonzero(after[-1][[0, 2]]) > 0


def test_body_velocities_are_the_derivatives_of_body_poses(make_sim):
    """Linear velocity of each body *origin* and world-frame angular velocity: centred finite
    differences of the reported poses over two short physics steps agree with them."""
    # Joint damping stops a light hand within ~1 ms (armature 0.02 kg·m², kd 30 N·m·s): steps of
    # 1/24000 s resolve that; near the origin float32 positions still resolve v·dt to 0.2%.
    rate = 24000.0
    sim = make_sim(2, physics_hz=rate, decimation=1)
    # a pose without self-contact, clear of the ground
    root, dofs = random_state(2, seed=3, height=1.5, dof_range=0.3)
    sim.reset_envs(torch.arange(2, device=sim.device), root, DofState(dofs.pos, 0.1 * dofs.vel))
    states = []
    for _ in range(3):
        sim.step(sim.dof_state().pos.clone())  # hold the current pose
        assert sim.contact_forces().abs().max() == 0
        states.append([t.clone().double() for t in sim.body_state()])
    before, now, later = states
    dt = 1.0 / rate
    vel = (later[0] - before[0]) / (2 * dt)
    assert torch.allclose(vel, now[2], atol=0.01 * now[2].abs().max().item())
    # ω from q(t+dt)·q(t−dt)⁻¹ (world frame), small angle: 2·vec / (2·dt)
    delta = quat_mul(later[1], torch.cat((-before[1][..., :3], before[1][..., 3:]), -1))
    omega = 2 * delta[..., :3] * torch.sign(delta[..., 3:]) / (2 * dt)
    assert torch.allclose(omega, now[3], atol=0.01 * now[3].abs().max().item())
    assert now[3].abs().max() > 1.0 and now[2].abs().max() > 1.0  # the check has something to check


# --------------------------------------------------------------------------------------- (b)
def test_free_fall_follows_gravity_from_the_model(make_sim, reference_model):
    g = -float(reference_model.opt.gravity[2])
    assert g > 9
    # 1200 Hz: the integrator's O(dt) offset (semi-implicit Euler: Δz·(1 + 1/n)) stays below 0.1%.
    sim = make_sim(2, physics_hz=1200.0, decimation=10)
    root, dofs = still_state(2, height=50.0)
    sim.reset_envs(torch.arange(2, device=sim.device), root, dofs)
    start = sim.body_state().pos.clone().double()
    run(sim, 30, torch.zeros(2, D, device=sim.device))  # 0.25 s
    t = 30 * sim.control_dt
    assert t == pytest.approx(0.25)
    drop = start[..., 2] - sim.body_state().pos[..., 2].double()
    assert torch.allclose(drop, torch.full_like(drop, g * t * t / 2), rtol=0.01)
    assert torch.allclose(sim.body_state().vel[..., 2].double(), torch.full_like(drop, -g * t), rtol=0.01)
    assert torch.allclose(sim.body_state().pos[..., :2].double(), start[..., :2], atol=1e-5)


# --------------------------------------------------------------------------------------- (c)
def test_pd_control_reaches_and_holds_a_pose(make_sim):
    """In free fall (no gravity torques, no ground) the in-engine PD brings every hinge to a
    random target within ±0.5 rad and holds it."""
    gen = torch.Generator().manual_seed(4)
    sim = make_sim(2)
    targets = ((torch.rand(2, D, generator=gen, dtype=torch.float64) * 2 - 1) * 0.5).to(sim.device)
    root, dofs = still_state(2, height=100.0)
    sim.reset_envs(torch.arange(2, device=sim.device), root, dofs)
    run(sim, 60, targets)  # 2 s
    assert sim.contact_forces().abs().max() == 0.0  # no body is held against another at the end
    assert (sim.dof_state().pos.double() - targets).abs().max() < 0.01
    assert sim.dof_state().vel.abs().max() < 0.05


# --------------------------------------------------------------------------------------- (d)
def lowest_point_of_neutral_pose(model) -> float:
    """Lowest z of any geom of the neutral pose with the root at the origin, metres."""
    data = mujoco.MjData(model)
    data.qpos[:3] = 0.0
    mujoco.mj_kinematics(model, data)
    lowest = math.inf
    for g in range(model.ngeom):
        z, axis_z = data.geom_xpos[g, 2], data.geom_xmat[g].reshape(3, 3)[2]  # row 2: z of local axes
        size = model.geom_size[g]
        if model.geom_type[g] == mujoco.mjtGeom.mjGEOM_BOX:
            lowest = min(lowest, z - float(np.abs(axis_z) @ size))
        elif model.geom_type[g] == mujoco.mjtGeom.mjGEOM_CAPSULE:
            lowest = min(lowest, z - abs(axis_z[2]) * size[1] - size[0])
        else:
            raise AssertionError(f"unexpected geom type {model.geom_type[g]}")
    return lowest


def test_standing_humanoid_rests_its_weight_on_the_feet(make_sim, reference_model):
    weight = float(reference_model.body_mass.sum()) * -float(reference_model.opt.gravity[2])
    sim = make_sim(2)
    root, dofs = still_state(2, height=-lowest_point_of_neutral_pose(reference_model))
    sim.reset_envs(torch.arange(2, device=sim.device), root, dofs)
    vertical, feet, others = [], [], []
    feet_ids = [ROBOT.body_names.index(name) for name in ROBOT.contact_bodies]
    other_ids = [i for i in range(len(ROBOT.body_names)) if i not in feet_ids]

    def record(step: int) -> None:
        if (step + 1) * sim.control_dt >= 0.1 - 1e-9:  # 0.1 s … 0.4 s
            force = sim.contact_forces().double()
            vertical.append(force[..., 2].sum(-1))
            feet.append(force[:, feet_ids, 2].sum(-1))
            others.append(force[:, other_ids].norm(dim=-1).max())

    run(sim, 12, torch.zeros(2, D, device=sim.device), record)  # 0.4 s
    mean_vertical = torch.stack(vertical).mean(0)
    assert torch.allclose(mean_vertical, torch.full_like(mean_vertical, weight), rtol=0.1)
    assert torch.allclose(torch.stack(feet).mean(0), mean_vertical, rtol=0.02)
    assert max(others) < 0.02 * weight
    assert sim.body_state().pos[:, 0, 2].min() > 0.8  # still upright


# --------------------------------------------------------------------------------------- (e)
def test_body_order_and_quaternion_convention_under_a_known_yaw(make_sim):
    sim = make_sim(2)
    dev = sim.device
    yaw = torch.tensor([0.0, 0.0, math.sin(math.pi / 4), math.cos(math.pi / 4)], dtype=torch.float64, device=dev)
    root, dofs = still_state(2, height=3.0)
    root.rot[1] = yaw  # +90° about z
    sim.reset_envs(torch.arange(2, device=dev), root, dofs)
    bodies = sim.body_state()
    assert torch.allclose(bodies.rot[1, 0].double(), yaw, atol=1e-7)  # xyzw as given
    hip = ROBOT.body_names.index("L_Hip")
    offset = torch.tensor(NEUTRAL_OFFSETS[hip], dtype=torch.float64, device=dev)
    turned = torch.stack((-offset[1], offset[0], offset[2]))  # +90° about z: (x, y) → (−y, x)
    assert torch.allclose(bodies.pos[1, hip].double() - root.pos[1], turned, atol=1e-6)
    assert torch.allclose(bodies.pos[0, hip].double() - root.pos[0], offset, atol=1e-6)

    # A random pose and its copy turned by 30° about the world z axis.
    state, joint = random_state(1, seed=5)
    turn = torch.tensor([[0.0, 0.0, math.sin(math.pi / 12), math.cos(math.pi / 12)]], dtype=torch.float64, device=dev)
    twin = RootState(*(torch.cat((a, b)) for a, b in zip(state, (
        quat_rotate(turn, state.pos), quat_mul(turn, state.rot), quat_rotate(turn, state.vel),
        quat_rotate(turn, state.ang_vel)))))  # fmt: skip
    sim.reset_envs(torch.arange(2, device=dev), twin, DofState(joint.pos.repeat(2, 1), joint.vel.repeat(2, 1)))
    pos, rot, vel, ang = (t.double() for t in sim.body_state())
    assert torch.allclose(pos[1], quat_rotate(turn, pos[0]), atol=1e-5)
    assert_same_rotation(rot[1], quat_mul(turn.expand(24, 4), rot[0]), atol=1e-6)
    assert torch.allclose(vel[1], quat_rotate(turn, vel[0]), atol=1e-5)
    assert torch.allclose(ang[1], quat_rotate(turn, ang[0]), atol=1e-5)
    assert torch.equal(sim.dof_state().pos[0], sim.dof_state().pos[1])


# --------------------------------------------------------------------------------------- (f)
def test_applied_torques_are_the_pd_law_at_a_known_state(make_sim):
    sim = make_sim(3, decimation=1)
    dev = sim.device
    root, dofs = random_state(3, seed=6, height=10.0)
    sim.reset_envs(torch.arange(3, device=dev), root, dofs)
    gen = torch.Generator().manual_seed(7)
    targets = ((torch.rand(3, D, generator=gen, dtype=torch.float64) * 2 - 1) * 1.5).to(dev)
    sim.step(targets.float())  # one physics step: the torque is computed at the reset state
    kp = torch.tensor(ROBOT.kp, dtype=torch.float64, device=dev)
    kd = torch.tensor(ROBOT.kd, dtype=torch.float64, device=dev)
    limit = torch.tensor(ROBOT.effort_limit, dtype=torch.float64, device=dev)
    # The spring term is clipped to the effort limit; the damping (joint damping, implicit in the
    # integrator so a saturated PD stays stable) is not.
    spring = kp * (targets.float().double() - dofs.pos)
    spring = torch.maximum(torch.minimum(spring, limit), -limit)
    expected = spring - kd * dofs.vel
    assert (spring.abs() == 500).float().mean() > 0.2  # both regimes exercised
    assert torch.allclose(sim.applied_torques().double(), expected, atol=1e-3)


# --------------------------------------------------------------------------------------- (g)
def _states(sim: Simulator) -> List[torch.Tensor]:
    return [t.clone() for t in (*sim.body_state(), *sim.dof_state(), sim.contact_forces())]


def test_thread_counts_give_identical_states(make_sim, reference_model):
    """Two runs from one state (1 and 2 worker threads where the backend has them): identical on
    the CPU over 1 s; on CUDA within tolerance over the first 1/3 s (atomics in the contact solver)."""
    height = -lowest_point_of_neutral_pose(reference_model) + 0.02
    root, dofs = still_state(4, height=height)
    gen = torch.Generator().manual_seed(8)
    # ±0.1 rad of fresh noise per step: larger jitter makes this model diverge at 120 Hz (see
    # the mujoco backend's notes); divergence is not what this test is about.
    targets = [((torch.rand(4, D, generator=gen) * 2 - 1) * 0.1).to(TEST_DEVICE) for _ in range(30)]
    early, late = [], []
    for threads in (1, 2):
        sim = make_sim(4, num_threads=threads)
        sim.reset_envs(torch.arange(4, device=sim.device), root, dofs)
        for step, target in enumerate(targets, start=1):
            sim.step(target)
            if step == REPEAT_HORIZON_STEPS:
                early.append(dict(zip(STATE_NAMES, _states(sim))))
        late.append(dict(zip(STATE_NAMES, _states(sim))))
    assert late[0]["contact"].abs().sum() > 0  # the feet touch the ground: contacts are part of it
    assert early[0]["contact"].abs().sum() > 0
    assert_repeatable(*early, bit_identical=BIT_IDENTICAL_SIMULATION)
    if BIT_IDENTICAL_SIMULATION:  # on CUDA contact events may split the runs after 1/3 s
        assert_repeatable(*late, bit_identical=True)


def test_saved_physics_state_continues_bit_for_bit(make_sim, reference_model):
    """get_state/set_state (for exact resume): a restored copy reads back exactly the saved
    positions on every device, and steps exactly like the original on the CPU (on CUDA: within
    tolerance over the 10 steps, 1/3 s, compared)."""
    height = -lowest_point_of_neutral_pose(reference_model) + 0.02
    root, dofs = still_state(3, height=height)
    gen = torch.Generator().manual_seed(9)
    targets = [((torch.rand(3, D, generator=gen) * 2 - 1) * 0.1).to(TEST_DEVICE) for _ in range(20)]
    original = make_sim(3, num_threads=1)
    original.reset_envs(torch.arange(3, device=original.device), root, dofs)
    for target in targets[:10]:
        original.step(target)
    state = original.get_state()
    if state is None:
        pytest.skip("this backend cannot save its physics state")
    copy = make_sim(3, num_threads=1)
    copy.set_state(state)
    assert torch.equal(copy.body_state().pos, original.body_state().pos)
    assert len(targets[10:]) == REPEAT_HORIZON_STEPS
    for target in targets[10:]:
        original.step(target)
        copy.step(target)
    one, two = (dict(zip(STATE_NAMES, _states(sim))) for sim in (original, copy))
    assert_repeatable(one, two, bit_identical=BIT_IDENTICAL_SIMULATION)


# ------------------------------------------------------------- mujoco backend: MuJoCo's functions
mujoco_only = pytest.mark.skipif(bool(_import_error("mujoco")), reason=_import_error("mujoco") or "n/a")


@pytest.fixture(params=["pyramidal", "elliptic"])
def mujoco_sim(request):
    """The mujoco backend; with elliptic friction cones contact forces take the per-contact path."""
    robot = ROBOT
    if request.param == "elliptic":
        robot = dataclasses.replace(ROBOT, mjcf_xml=ROBOT.mjcf_xml.replace("<option ", '<option cone="elliptic" ', 1))
    sim = create_simulator("mujoco", robot, SimulatorConfig(num_envs=3, num_threads=2))
    assert sim.model.opt.cone == getattr(mujoco.mjtCone, "mjCONE_" + request.param.upper())
    yield sim
    sim.close()


@mujoco_only
def test_mujoco_states_agree_with_mujoco_functions(mujoco_sim):
    sim = mujoco_sim
    model = sim.model
    root, dofs = random_state(3, seed=9, dof_range=0.2, device="cpu")
    tilt = quat_normalize(torch.cat((0.05 * root.rot[:, :3], torch.ones(3, 1, dtype=torch.float64)), -1))
    pos = torch.cat((root.pos[:, :2], torch.ones(3, 1, dtype=torch.float64)), -1)  # feet ~4 cm up
    sim.reset_envs(torch.arange(3), RootState(pos, tilt, 0.2 * root.vel, 0.2 * root.ang_vel), dofs)
    body_ids = [model.body(name).id for name in ROBOT.body_names]
    velocity, wrench = np.zeros(6), np.zeros(6)
    contact_steps = 0
    for _ in range(10):  # lands on its feet and bounces: contacts come and go
        sim.step(dofs.pos.float())
        bodies, torques, contacts = sim.body_state(), sim.applied_torques(), sim.contact_forces()
        for env, data in enumerate(sim.datas):
            # free joint: qvel[3:6] is the root's angular velocity in its own frame
            world_omega = data.xmat[body_ids[0]].reshape(3, 3) @ data.qvel[3:6]
            np.testing.assert_allclose(bodies.ang_vel[env, 0].numpy(), world_omega, atol=1e-5)
            for index, body in enumerate(body_ids):
                # XBODY: the body frame's origin (mjOBJ_BODY would be its centre of mass)
                mujoco.mj_objectVelocity(model, data, mujoco.mjtObj.mjOBJ_XBODY, body, velocity, 0)
                np.testing.assert_allclose(bodies.vel[env, index].numpy(), velocity[3:], atol=1e-5)
                np.testing.assert_allclose(bodies.ang_vel[env, index].numpy(), velocity[:3], atol=1e-5)
            np.testing.assert_allclose(bodies.pos[env].numpy(), data.xpos[body_ids], atol=1e-6)
            np.testing.assert_allclose(bodies.rot[env].numpy(), data.xquat[body_ids][:, [1, 2, 3, 0]], atol=1e-6)
            pd_torque = data.actuator_force + data.qfrc_damper[6:]  # clipped spring + hinge damping
            np.testing.assert_allclose(torques[env].numpy(), pd_torque, rtol=1e-6, atol=1e-3)
            expected = np.zeros((model.nbody, 3))
            for j in range(data.ncon):
                mujoco.mj_contactForce(model, data, j, wrench)
                force = data.contact.frame[j].reshape(3, 3).T @ wrench[:3]
                expected[model.geom_bodyid[data.contact.geom[j, 1]]] += force
                expected[model.geom_bodyid[data.contact.geom[j, 0]]] -= force
            np.testing.assert_allclose(contacts[env].numpy(), expected[body_ids], rtol=1e-5, atol=1e-3)
            contact_steps += int(np.abs(expected[body_ids]).max() > 10)
    assert contact_steps >= 10  # the comparison covered real contact forces


@mujoco_only
def test_mujoco_reset_writes_the_free_joint_conventions(mujoco_sim):
    root, dofs = random_state(3, seed=10, device="cpu")
    mujoco_sim.reset_envs(torch.arange(3), root, dofs)
    for env, data in enumerate(mujoco_sim.datas):
        np.testing.assert_allclose(data.qpos[:3], root.pos[env].numpy(), atol=1e-12)
        np.testing.assert_allclose(data.qpos[3:7], root.rot[env, [3, 0, 1, 2]].numpy(), atol=1e-12)  # wxyz
        np.testing.assert_allclose(data.qvel[:3], root.vel[env].numpy(), atol=1e-12)
        body_omega = data.xmat[1].reshape(3, 3).T @ root.ang_vel[env].numpy()
        np.testing.assert_allclose(data.qvel[3:6], body_omega, atol=1e-12)
        assert not data.qacc_warmstart.any() and data.time == 0.0


@mujoco_only
def test_mujoco_flags_worlds_it_had_to_reset(mujoco_sim):
    root, dofs = still_state(3, height=3.0, device="cpu")
    wild = dofs.vel.clone()
    wild[1, 10] = 1e12  # rad/s: MuJoCo rejects the resulting accelerations and resets the world
    mujoco_sim.reset_envs(torch.arange(3), root, DofState(dofs.pos, wild))
    mujoco_sim.step(torch.zeros(3, D))
    assert mujoco_sim.diverged.tolist() == [False, True, False]
    assert torch.isfinite(mujoco_sim.body_state().pos).all() and torch.isfinite(mujoco_sim.dof_state().vel).all()
    mujoco_sim.step(torch.zeros(3, D))
    assert not mujoco_sim.diverged.any()


def test_saturating_random_targets_do_not_diverge(make_sim):
    """A random policy (targets π·tanh(N(0, 1) + 0.055·noise), most hinges at the ±500 N·m limit)
    for 3 s of 16 worlds at 120 Hz: no world diverges. With the damping inside the force-limited
    actuator this model diverged in about half of such world-steps."""
    sim = make_sim(16, num_threads=2)
    generator = torch.Generator().manual_seed(0)
    mean = torch.randn(16, D, generator=generator)
    diverged = 0
    for _ in range(90):
        sim.step((math.pi * torch.tanh(mean + 0.055 * torch.randn(16, D, generator=generator))).to(sim.device))
        diverged += int(sim.diverged_envs().sum())
    assert diverged == 0
    assert float(sim.dof_state().vel.abs().max()) < 1e3  # rad/s: no blow-up short of a reset
