"""The ``isaacgym`` backend: NVIDIA IsaacGym Preview 4 (PhysX), all worlds on the GPU tensor API.

NOT EXERCISED BY CI: IsaacGym is not on PyPI (the user downloads Preview 4 from NVIDIA) and needs
Python 3.8. CI type-checks this module against ``isaacgym-stubs`` (``make typecheck-isaacgym``) and
``tests/test_isaacgym_backend.py`` runs the backend conformance suite wherever isaacgym imports.

Import order. IsaacGym refuses to load once torch is imported (its ``gymdeps`` checks
``sys.modules``), and this module sits in a package whose ``__init__`` already imports torch, so
``isaacgym`` must be imported before *any* ``training`` module in the process.
``mimic train|inference --simulator isaacgym`` does that first thing (see
:func:`mimic.commands.train.import_isaacgym_first`); other callers must ``import isaacgym`` at the
top of their script. Importing this module otherwise raises an :class:`ImportError` that says so.

Timing. ``sim_params.dt = 1 / SimulatorConfig.physics_hz`` with :data:`SUBSTEPS` PhysX substeps,
and :meth:`IsaacGymSimulator.step` calls ``simulate`` ``SimulatorConfig.decimation`` times.
ProtoMotions' IsaacGym defaults are 60 Hz, 2 substeps, decimation 2 (30 Hz control): pass
``physics_hz=60, decimation=2`` to match them (our default 120 Hz / 4 also gives 30 Hz control).

Conventions. PhysX state tensors are (pos, quat xyzw, linear vel, angular vel): quaternions need
no reordering. PhysX reports a body's linear velocity at its centre of mass; the interface wants
the velocity of the body origin, so both directions are converted with the bodies' COM offsets.
Bodies and DoFs are gathered from IsaacGym's asset order into ``RobotSpec`` order by name.

Resets. IsaacGym recomputes rigid-body states only in ``simulate``; the interface wants body
states at the new pose at once, so :meth:`IsaacGymSimulator.reset_envs` computes them with
MuJoCo's forward kinematics of the same MJCF on the CPU (one ``mj_kinematics`` per reset world)
and writes them into the rigid-body tensor until the next step overwrites it (ProtoMotions patches
the same tensor with the reference motion's body states for the same reason).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from typing import List, Tuple

INSTALL_HINT = (
    "the isaacgym simulator needs NVIDIA IsaacGym Preview 4, which runs only on Python 3.8 (3.6-3.8): "
    "download IsaacGym_Preview_4_Package.tar.gz from https://developer.nvidia.com/isaac-gym, then in a "
    "Python 3.8 environment run `pip install -e isaacgym/python` (see README, 'IsaacGym (not exercised by CI)')"
)
TORCH_FIRST_HINT = (
    "isaacgym must be imported before torch (IsaacGym refuses to load after it): torch is already imported "
    "in this process. Run `mimic train|inference --simulator isaacgym ...`, which imports isaacgym first, or "
    "put `from isaacgym import gymapi, gymtorch` at the very top of your script, before any training/motion import"
)


def _check_importable() -> None:
    """Raise an ImportError that says what to do, before IsaacGym fails with a less helpful one."""
    if sys.version_info >= (3, 9) or importlib.util.find_spec("isaacgym") is None:
        raise ImportError(f"{INSTALL_HINT} (this is Python {sys.version_info[0]}.{sys.version_info[1]})")
    if "isaacgym.gymapi" not in sys.modules and "torch" in sys.modules:
        raise ImportError(TORCH_FIRST_HINT)


_check_importable()

from isaacgym import gymapi, gymtorch  # noqa: E402  (after the check above, before torch)

# isort: split
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import Tensor  # noqa: E402

from motion.rotations import quat_conjugate, quat_rotate  # noqa: E402
from robots.spec import RobotSpec  # noqa: E402
from training.simulator.base import BodyState, DofState, RootState, Simulator, SimulatorConfig  # noqa: E402
from training.simulator.heightfield import sample_heights  # noqa: E402
from training.simulator.terrain_mesh import heightfield_triangle_mesh  # noqa: E402

#: PhysX substeps per ``simulate`` call (ProtoMotions' IsaacGym default).
SUBSTEPS = 2
GROUND_FRICTION = 1.0  # the MuJoCo backend's ground friction


class IsaacGymSimulator(Simulator):
    """``num_envs`` IsaacGym worlds of ``robot``, one actor each; PD by PhysX DoF position drives."""

    def __init__(self, robot: RobotSpec, config: SimulatorConfig) -> None:
        super().__init__(robot, config)
        self.gym = gymapi.acquire_gym()
        self.sim = self._create_sim(config)
        self._add_ground(config)
        self.asset = self._load_asset(robot)
        self._index_asset(robot)
        self.envs: List[gymapi.Env] = []
        self.actors: List[int] = []
        self._create_actors(robot)
        self.gym.prepare_sim(self.sim)
        self._wrap_state_tensors()
        self._actor_ids = torch.arange(self.num_envs, dtype=torch.int32, device=self.device)
        self._targets = torch.zeros(self.num_envs, self._asset_dofs, dtype=torch.float32, device=self.device)
        self._fk = _MujocoForwardKinematics(robot)
        self._closed = False

    # ------------------------------------------------------------------------------ construction
    def _create_sim(self, config: SimulatorConfig) -> gymapi.Sim:
        params = gymapi.SimParams()
        params.dt = 1.0 / config.physics_hz  # s per simulate() call, split into SUBSTEPS
        params.substeps = SUBSTEPS
        params.up_axis = gymapi.UP_AXIS_Z
        params.gravity = gymapi.Vec3(0.0, 0.0, -9.81)
        params.use_gpu_pipeline = self.device.type == "cuda"
        physx = params.physx  # ProtoMotions' PhysX settings for humanoids
        physx.use_gpu = self.device.type == "cuda"
        physx.num_threads = config.num_threads if config.num_threads > 0 else 4
        physx.solver_type = 1  # TGS
        physx.num_position_iterations = 4
        physx.num_velocity_iterations = 0
        physx.contact_offset = 0.02  # m
        physx.rest_offset = 0.0  # m
        physx.bounce_threshold_velocity = 0.2  # m/s
        physx.max_depenetration_velocity = 10.0  # m/s
        physx.default_buffer_size_multiplier = 10.0
        physx.max_gpu_contact_pairs = 8 * 1024 * 1024
        gpu = (self.device.index or 0) if self.device.type == "cuda" else 0
        sim = self.gym.create_sim(gpu, -1, gymapi.SIM_PHYSX, params)  # graphics device -1: headless
        if sim is None:
            raise RuntimeError(f"IsaacGym could not create a PhysX sim on {self.device}")
        return sim

    def _add_ground(self, config: SimulatorConfig) -> None:
        """A plane at z = 0, or the heightfield as a triangle mesh (two triangles per grid cell)."""
        terrain = config.terrain
        if terrain is None:
            plane = gymapi.PlaneParams()
            plane.normal = gymapi.Vec3(0.0, 0.0, 1.0)
            plane.static_friction = plane.dynamic_friction = GROUND_FRICTION
            plane.restitution = 0.0
            self.gym.add_ground(self.sim, plane)
            return
        vertices, triangles = heightfield_triangle_mesh(terrain.heights, terrain.horizontal_scale, terrain.origin)
        mesh = gymapi.TriangleMeshParams()
        mesh.nb_vertices = vertices.shape[0]
        mesh.nb_triangles = triangles.shape[0]
        mesh.static_friction = mesh.dynamic_friction = GROUND_FRICTION
        mesh.restitution = 0.0
        self.gym.add_triangle_mesh(self.sim, vertices.reshape(-1), triangles.reshape(-1), mesh)

    def _load_asset(self, robot: RobotSpec) -> gymapi.Asset:
        """Load ``robot.mjcf_xml`` through IsaacGym's MJCF importer (it reads files only)."""
        options = gymapi.AssetOptions()
        options.angular_damping = 0.01  # ProtoMotions' humanoid asset options
        options.max_angular_velocity = 100.0
        options.default_dof_drive_mode = int(gymapi.DOF_MODE_POS)
        with tempfile.TemporaryDirectory(prefix="mimic_isaacgym_") as folder:
            name = f"{robot.name}.xml"
            with open(os.path.join(folder, name), "w") as handle:
                handle.write(robot.mjcf_xml)
            asset = self.gym.load_asset(self.sim, folder, name, options)
        if asset is None:
            raise RuntimeError(f"IsaacGym could not load robot {robot.name!r}'s MJCF")
        return asset

    def _index_asset(self, robot: RobotSpec) -> None:
        """Index maps from IsaacGym's asset order into ``robot.body_names`` / ``robot.dof_names``."""
        body_index = self.gym.get_asset_rigid_body_dict(self.asset)
        dof_index = self.gym.get_asset_dof_dict(self.asset)
        missing = [n for n in robot.body_names if n not in body_index]
        missing += [n for n in robot.dof_names if n not in dof_index]
        if missing:
            raise ValueError(f"robot {robot.name!r}: IsaacGym's MJCF import lacks bodies/DoFs {missing}")
        self._asset_bodies = self.gym.get_asset_rigid_body_count(self.asset)
        self._asset_dofs = self.gym.get_asset_dof_count(self.asset)
        self._body_order = torch.tensor([body_index[n] for n in robot.body_names], device=self.device)
        self._dof_order = torch.tensor([dof_index[n] for n in robot.dof_names], device=self.device)

    def _create_actors(self, robot: RobotSpec) -> None:
        """One env and actor per world, PD gains and effort limits in the DoF drive properties."""
        props = self.gym.get_asset_dof_properties(self.asset)  # numpy structured array, asset DoF order
        order = self._dof_order.cpu().numpy()
        props["driveMode"][:] = int(gymapi.DOF_MODE_POS)
        props["stiffness"][order] = robot.kp  # N·m/rad
        props["damping"][order] = robot.kd  # N·m·s/rad
        props["effort"][order] = robot.effort_limit  # N·m
        # zero spacing: every env origin at the world origin, so root/body states (global in
        # IsaacGym) are world coordinates on the one shared terrain, as in the MuJoCo backend
        lower = upper = gymapi.Vec3(0.0, 0.0, 0.0)
        start = gymapi.Transform(p=gymapi.Vec3(0.0, 0.0, 1.0))
        per_row = max(1, int(np.sqrt(self.num_envs)))
        for i in range(self.num_envs):
            env = self.gym.create_env(self.sim, lower, upper, per_row)
            actor = self.gym.create_actor(env, self.asset, start, robot.name, i, 0)  # group i: no cross-world contacts
            self.gym.set_actor_dof_properties(env, actor, props)
            self.gym.enable_actor_dof_force_sensors(env, actor)
            self.envs.append(env)
            self.actors.append(actor)
        # COM offsets in each body's frame (same for every world), for origin ↔ COM velocities
        coms = self.gym.get_actor_rigid_body_properties(self.envs[0], self.actors[0])
        self._com_local = torch.tensor([[c.com.x, c.com.y, c.com.z] for c in coms], device=self.device)

    def _wrap_state_tensors(self) -> None:
        """Zero-copy torch views of PhysX's GPU state buffers, shaped per world."""
        gym, sim, n = self.gym, self.sim, self.num_envs
        self._root = gymtorch.wrap_tensor(gym.acquire_actor_root_state_tensor(sim))  # (N, 13)
        self._dofs = gymtorch.wrap_tensor(gym.acquire_dof_state_tensor(sim)).view(n, self._asset_dofs, 2)
        self._bodies = gymtorch.wrap_tensor(gym.acquire_rigid_body_state_tensor(sim)).view(n, self._asset_bodies, 13)
        contact = gymtorch.wrap_tensor(gym.acquire_net_contact_force_tensor(sim))
        self._contact = contact.view(n, self._asset_bodies, 3)
        self._dof_force = gymtorch.wrap_tensor(gym.acquire_dof_force_tensor(sim)).view(n, self._asset_dofs)
        self._refresh()

    def _refresh(self) -> None:
        for refresh in (self.gym.refresh_actor_root_state_tensor, self.gym.refresh_dof_state_tensor,
                        self.gym.refresh_rigid_body_state_tensor, self.gym.refresh_net_contact_force_tensor,
                        self.gym.refresh_dof_force_tensor):  # fmt: skip
            refresh(self.sim)

    # ------------------------------------------------------------------------------ stepping
    def step(self, pd_targets: Tensor) -> None:
        """``decimation`` × ``simulate`` with DoF position targets ``pd_targets`` (N, D) rad."""
        if tuple(pd_targets.shape) != (self.num_envs, self.num_dofs):
            raise ValueError(f"pd_targets: expected ({self.num_envs}, {self.num_dofs}), got {tuple(pd_targets.shape)}")
        self._targets[:, self._dof_order] = pd_targets.detach().to(self.device, torch.float32)
        self.gym.set_dof_position_target_tensor(self.sim, gymtorch.unwrap_tensor(self._targets))
        for _ in range(self.config.decimation):
            self.gym.simulate(self.sim)
        if self.device.type == "cpu":
            self.gym.fetch_results(self.sim, True)
        self._refresh()

    def reset_envs(self, env_ids: Tensor, root: RootState, dofs: DofState) -> None:
        """Worlds ``env_ids`` (K,) to root (K, ·) and DoF (K, D) states; zero torques and contacts."""
        ids = self.checked_reset_ids(env_ids, root, dofs)
        k = ids.numel()
        if k == 0:
            return
        f32 = lambda t: t.detach().to(self.device, torch.float32)
        rot, ang_vel = f32(root.rot), f32(root.ang_vel)
        root_body = int(self._body_order[0])  # the free root is RobotSpec.body_names[0]
        com_arm = quat_rotate(rot, self._com_local[root_body].expand(k, 3))
        self._root[ids, 0:3] = f32(root.pos)
        self._root[ids, 3:7] = rot
        self._root[ids, 7:10] = f32(root.vel) + torch.cross(ang_vel, com_arm, dim=-1)  # origin → COM velocity
        self._root[ids, 10:13] = ang_vel
        self._dofs[ids.unsqueeze(1), self._dof_order, 0] = f32(dofs.pos)
        self._dofs[ids.unsqueeze(1), self._dof_order, 1] = f32(dofs.vel)
        actor_ids = self._actor_ids[ids]
        self.gym.set_actor_root_state_tensor_indexed(
            self.sim, gymtorch.unwrap_tensor(self._root), gymtorch.unwrap_tensor(actor_ids), k
        )
        self.gym.set_dof_state_tensor_indexed(
            self.sim, gymtorch.unwrap_tensor(self._dofs), gymtorch.unwrap_tensor(actor_ids), k
        )
        # Body states at the new pose now (PhysX updates them only in simulate), in RobotSpec order.
        pos, quat, vel, omega = (f32(x) for x in self._fk(root, dofs))
        arm = quat_rotate(quat, self._com_local[self._body_order].expand(k, -1, -1))
        com_vel = vel + torch.cross(omega, arm, dim=-1)  # PhysX stores COM velocities
        self._bodies[ids.unsqueeze(1), self._body_order] = torch.cat((pos, quat, com_vel, omega), dim=-1)
        self._contact[ids] = 0.0
        self._dof_force[ids] = 0.0

    # ------------------------------------------------------------------------------ accessors
    def body_state(self) -> BodyState:
        """(N, B, ·) in RobotSpec body order: pos m, rot xyzw, origin velocity m/s, ω rad/s (world)."""
        bodies = self._bodies[:, self._body_order]
        arm = quat_rotate(bodies[..., 3:7], self._com_local[self._body_order].expand(self.num_envs, -1, -1))
        origin_vel = bodies[..., 7:10] - torch.cross(bodies[..., 10:13], arm, dim=-1)  # COM → origin
        return BodyState(bodies[..., 0:3], bodies[..., 3:7], origin_vel, bodies[..., 10:13])

    def dof_state(self) -> DofState:
        """(N, D) rad and rad/s in RobotSpec DoF order."""
        return DofState(self._dofs[:, self._dof_order, 0], self._dofs[:, self._dof_order, 1])

    def applied_torques(self) -> Tensor:
        """(N, D) N·m: PhysX's DoF force sensors (the drive torque, limited to ``effort``)."""
        return self._dof_force[:, self._dof_order]

    def contact_forces(self) -> Tensor:
        """(N, B, 3) N: IsaacGym's net contact force per body, world frame, RobotSpec body order."""
        return self._contact[:, self._body_order]

    def terrain_heights(self, points_xy: Tensor) -> Tensor:
        """(N, P) m under ``points_xy`` (N, P, 2) m: the same bilinear lookup as the CPU backend."""
        return sample_heights(self.config.terrain, points_xy)

    def close(self) -> None:
        """Destroy the PhysX sim (frees its GPU buffers; the wrapped views become invalid)."""
        if not self._closed:
            self._closed = True
            self.gym.destroy_sim(self.sim)


class _MujocoForwardKinematics:
    """Body poses and origin velocities of a robot state, from MuJoCo's kinematics of the same MJCF."""

    def __init__(self, robot: RobotSpec) -> None:
        import mujoco

        self._mj = mujoco
        self.model = mujoco.MjModel.from_xml_string(robot.mjcf_xml)
        self.data = mujoco.MjData(self.model)
        m, obj = self.model, mujoco.mjtObj
        self.body_ids = np.array([mujoco.mj_name2id(m, obj.mjOBJ_BODY, n) for n in robot.body_names])
        joints = [mujoco.mj_name2id(m, obj.mjOBJ_JOINT, n) for n in robot.dof_names]
        self.dof_qpos, self.dof_qvel = m.jnt_qposadr[joints], m.jnt_dofadr[joints]
        free = [j for j in range(m.njnt) if m.jnt_type[j] == mujoco.mjtJoint.mjJNT_FREE][0]
        self.root_q, self.root_v = int(m.jnt_qposadr[free]), int(m.jnt_dofadr[free])

    def __call__(self, root: RootState, dofs: DofState) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """(pos (K, B, 3) m, rot (K, B, 4) xyzw, origin vel (K, B, 3) m/s, ω (K, B, 3) rad/s), float64 CPU."""
        mj, m, d = self._mj, self.model, self.data
        cpu = lambda t: t.detach().to("cpu", torch.float64).numpy()
        pos, rot, vel, omega = cpu(root.pos), cpu(root.rot), cpu(root.vel), cpu(root.ang_vel)
        q, qd = cpu(dofs.pos), cpu(dofs.vel)
        k, b = len(pos), len(self.body_ids)
        out = [np.zeros((k, b, 3)), np.zeros((k, b, 4)), np.zeros((k, b, 3)), np.zeros((k, b, 3))]
        # the free joint's angular velocity is in the root body's frame
        local_omega = cpu(quat_rotate(quat_conjugate(torch.from_numpy(rot)), torch.from_numpy(omega)))
        for row in range(k):
            d.qpos[:] = m.qpos0
            d.qvel[:] = 0.0
            d.qpos[self.root_q : self.root_q + 7] = np.concatenate((pos[row], rot[row, [3, 0, 1, 2]]))
            d.qvel[self.root_v : self.root_v + 6] = np.concatenate((vel[row], local_omega[row]))
            d.qpos[self.dof_qpos], d.qvel[self.dof_qvel] = q[row], qd[row]
            mj.mj_kinematics(m, d)
            mj.mj_comPos(m, d)
            mj.mj_comVel(m, d)
            xpos, cvel = d.xpos[self.body_ids], d.cvel[self.body_ids]
            arm = xpos - d.subtree_com[m.body_rootid[self.body_ids]]  # cvel's linear part is at that point
            out[0][row], out[1][row] = xpos, d.xquat[self.body_ids][:, [1, 2, 3, 0]]
            out[2][row], out[3][row] = cvel[:, 3:] + np.cross(cvel[:, :3], arm), cvel[:, :3]
        pos, rot, vel, omega = (torch.from_numpy(x) for x in out)
        return pos, rot, vel, omega
