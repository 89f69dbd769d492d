"""The ``mujoco`` backend: N CPU worlds (one ``MjData`` each) stepped by a persistent thread pool.

Design: each thread owns a contiguous slice of worlds; per world it sets ``ctrl``, runs
``mj_step(m, d, decimation)`` (MuJoCo releases the GIL inside), refreshes kinematics at the new
state and copies the raw MuJoCo arrays into preallocated float64 staging buffers; then it converts
its whole slice at once (body order, xyzw, origin velocities, DoF gather, contact forces) into
float32 buffers that the accessors expose as zero-copy ``torch.from_numpy`` views. The calling
thread works on slice 0, so one thread means no thread switching at all.

Why not ``mujoco.rollout`` (persistent pool)? Measured by ``benchmarks/bench_simulator.py`` on 2
cores, standing humanoid, N = 64 and 256: this backend runs at 75-84% of uninterrupted ``rollout``
physics (the raw reference: one call for many steps, no state out); a design built on rollout —
one call per control step, then per world ``mj_setState`` + ``mj_forward`` and the same copies —
reached only 68-72%: rollout restarts every world from a saved state (losing the solver warm
start) and returns only ``qpos``-level state, so the body poses, velocities and contact forces the
environment needs cost a second pass over every world. What this backend loses to the reference
is the per-world Python (~35 µs per world per control step, against ~240 µs of physics).

Stability (measured, MuJoCo 4.0.0): with the whole PD law in a force-limited actuator, this
model diverged at 120 Hz whenever the ±500 N·m limit saturated — a clipped force has no
derivative, so ``implicitfast`` lost the damping it integrates implicitly (random policies:
half of all world-steps diverged). The model therefore keeps only the spring term kp·(target − q)
in the clipped actuator and puts kd on the hinges as joint damping, which the integrator always
treats implicitly: the same test gives no divergence. The law differs from a clipped PD only
while saturated (the damping is then not clipped). MuJoCo resets a world that still diverges to
the model's default pose; :attr:`MujocoSimulator.diverged` flags it for that step.

State returned by the accessors is a view of buffers that the next :meth:`~MujocoSimulator.step`
or :meth:`~MujocoSimulator.reset_envs` overwrites (as with IsaacGym's state tensors): clone what
you keep.
"""

from __future__ import annotations

import itertools
import os
import threading
from typing import TYPE_CHECKING, Callable, List, Optional

import numpy as np
import torch
from torch import Tensor

from robots.spec import RobotSpec
from training.simulator.base import BodyState, DofState, RootState, Simulator, SimulatorConfig
from training.simulator.heightfield import sample_heights
from training.simulator.mujoco_model import ResetCoordinates, build_model, index_model

if TYPE_CHECKING:  # pragma: no cover
    import mujoco

_EDGES = np.arange(4)  # a condim-3 pyramidal contact owns 4 constraint rows
_CHUNKS_PER_THREAD = 4  # stepping: chunks per worker thread, taken on demand (load balance)


class _SlicePool:
    """Persistent worker threads; :meth:`run` calls ``job(k)`` for k = 0..num_slices-1 at once,
    slice 0 on the calling thread, and re-raises the first exception of any slice."""

    def __init__(self, num_slices: int) -> None:
        self.num_slices = num_slices
        self._job: Optional[Callable[[int], None]] = None
        self._errors: List[Optional[BaseException]] = [None] * num_slices
        self._closed = False
        self._start = threading.Barrier(num_slices)
        self._done = threading.Barrier(num_slices)
        self._threads = [
            threading.Thread(target=self._worker, args=(k,), name=f"mujoco-slice-{k}", daemon=True)
            for k in range(1, num_slices)
        ]
        for thread in self._threads:
            thread.start()

    def run(self, job: Callable[[int], None]) -> None:
        if self._closed:
            raise RuntimeError("the simulator's thread pool is closed")
        if self.num_slices == 1:
            job(0)
            return
        self._job = job
        self._start.wait()
        self._call(0)
        self._done.wait()
        self._job = None
        errors = [error for error in self._errors if error is not None]
        self._errors = [None] * self.num_slices
        if errors:
            raise errors[0]

    def close(self) -> None:
        self._closed = True
        if self._threads:
            self._job = None  # workers released with no job return
            self._start.wait()
            for thread in self._threads:
                thread.join()
            self._threads = []

    def _call(self, k: int) -> None:
        try:
            self._job(k)  # type: ignore[misc]
        except BaseException as error:  # handed to run() on the calling thread
            self._errors[k] = error

    def _worker(self, k: int) -> None:
        while True:
            self._start.wait()
            if self._job is None:
                return
            self._call(k)
            self._done.wait()


class MujocoSimulator(Simulator):
    """``num_envs`` MuJoCo worlds of ``robot``; PD control by the model's position actuators."""

    def __init__(self, robot: RobotSpec, config: SimulatorConfig) -> None:
        super().__init__(robot, config)
        import mujoco

        self._mj = mujoco
        self.model = build_model(robot, config.terrain, config.physics_hz)
        self.datas = [mujoco.MjData(self.model) for _ in range(self.num_envs)]
        self._index_model(robot)
        n, m = self.num_envs, self.model
        # float64 staging: whole MuJoCo arrays copied per world (one memcpy each)
        self._raw_xpos = np.zeros((n, m.nbody, 3))
        self._raw_xquat = np.zeros((n, m.nbody, 4))
        self._raw_cvel = np.zeros((n, m.nbody, 6))
        self._raw_com = np.zeros((n, m.nbody, 3))
        self._raw_qpos = np.zeros((n, m.nq))
        self._raw_qvel = np.zeros((n, m.nv))
        self._raw_force = np.zeros((n, m.nu))
        self._raw_damper = np.zeros((n, m.nv))
        # float32 outputs, exposed as zero-copy tensors
        b, d = self.num_bodies, self.num_dofs
        self._pos, self._rot = np.zeros((n, b, 3), np.float32), np.zeros((n, b, 4), np.float32)
        self._vel, self._ang_vel = np.zeros((n, b, 3), np.float32), np.zeros((n, b, 3), np.float32)
        self._dof_pos, self._dof_vel = np.zeros((n, d), np.float32), np.zeros((n, d), np.float32)
        self._torque, self._contact = np.zeros((n, d), np.float32), np.zeros((n, b, 3), np.float32)
        self._diverged = np.zeros(n, dtype=bool)
        #: (N,) bool, True where MuJoCo found non-finite or huge positions, velocities or
        #: accelerations during the last step and reset that world to the model's default pose.
        self.diverged = torch.from_numpy(self._diverged)
        self._views = {name: torch.from_numpy(getattr(self, "_" + name)) for name in
                       ("pos", "rot", "vel", "ang_vel", "dof_pos", "dof_vel", "torque", "contact")}  # fmt: skip
        threads = config.num_threads if config.num_threads > 0 else (os.cpu_count() or 1)
        bounds = np.linspace(0, n, min(threads, n) + 1).round().astype(int)
        self._slices = [(int(lo), int(hi)) for lo, hi in zip(bounds[:-1], bounds[1:])]
        self._pool = _SlicePool(len(self._slices))
        # Stepping hands out small chunks on demand rather than one fixed slice per thread: a
        # world that is falling (many contacts) costs several times one standing still, and
        # fixed slices left one thread idle at the barrier while the other finished.
        chunk = max(1, -(-n // (len(self._slices) * _CHUNKS_PER_THREAD)))
        self._chunks = [(lo, min(lo + chunk, n)) for lo in range(0, n, chunk)]
        self._next_chunk = itertools.count()
        self._targets = np.zeros((n, m.nu))
        self._parked = np.zeros(n, dtype=bool)  # park_envs: worlds step() leaves alone

        def initial(k: int) -> None:
            lo, hi = self._slices[k]
            self._reset_rows(np.arange(lo, hi), np.tile(m.qpos0, (hi - lo, 1)), np.zeros((hi - lo, m.nv)))

        self._pool.run(initial)

    # ----------------------------------------------------------------------------- model indexing

    def diverged_envs(self) -> Tensor:
        return self.diverged

    def get_state(self) -> Tensor:
        # mjSTATE_INTEGRATION: positions, velocities, activations, controls and the solver's warm
        # start: stepping a restored world then repeats the original bit for bit.
        mj, m = self._mj, self.model
        spec = mj.mjtState.mjSTATE_INTEGRATION
        state = np.empty((self.num_envs, mj.mj_stateSize(m, spec)))
        for i, d in enumerate(self.datas):
            mj.mj_getState(m, d, state[i], spec)
        return torch.from_numpy(state)

    def set_state(self, state: Tensor) -> None:
        mj, m = self._mj, self.model
        spec = mj.mjtState.mjSTATE_INTEGRATION
        values = state.detach().cpu().numpy().astype(np.float64)
        expected = (self.num_envs, mj.mj_stateSize(m, spec))
        if values.shape != expected:
            raise ValueError(f"physics state: expected shape {expected}, found {values.shape}")
        for i, d in enumerate(self.datas):
            mj.mj_setState(m, d, values[i], spec)
            # As after a step: frames at the restored state, without touching the solver state.
            mj.mj_kinematics(m, d)
            mj.mj_comPos(m, d)
            mj.mj_comVel(m, d)
            self._copy_raw(i, d)
        self._publish(slice(0, self.num_envs))
        self._diverged[:] = False

    def _index_model(self, robot: RobotSpec) -> None:
        index = self.index = index_model(self.model, robot)
        self._reset_coordinates = ResetCoordinates(index, torch.from_numpy(self.model.qpos0), self.model.nv)
        # unpacked: the per-world hot loops read them as plain attributes
        self._body_ids, self._body_root, self._geom_body = index.body_ids, index.body_root, index.geom_body
        self._dof_qpos, self._dof_qvel, self._act_of_dof = index.dof_qpos, index.dof_qvel, index.act_of_dof
        self._condim3_pyramids = index.condim3_pyramids
        # the checks after which mj_step resets a world: non-finite/huge qpos, qvel or qacc
        mj = self._mj
        self._bad_state = tuple(int(w) for w in (mj.mjtWarning.mjWARN_BADQPOS, mj.mjtWarning.mjWARN_BADQVEL,
                                                 mj.mjtWarning.mjWARN_BADQACC))  # fmt: skip

    # ------------------------------------------------------------------------------ stepping
    def step(self, pd_targets: Tensor) -> None:
        if tuple(pd_targets.shape) != (self.num_envs, self.num_dofs):
            raise ValueError(f"pd_targets: expected ({self.num_envs}, {self.num_dofs}), got {tuple(pd_targets.shape)}")
        self._targets[:, self._act_of_dof] = pd_targets.detach().to("cpu", torch.float64).numpy()
        self._next_chunk = itertools.count()
        self._pool.run(self._step_chunks)

    def park_envs(self, parked: Optional[Tensor]) -> None:
        # Skipped in _step_range: an evaluation of 27 clips in a 256-env training env then costs
        # 27 worlds of physics, not 256.
        self._parked[:] = False if parked is None else parked.detach().cpu().numpy().astype(bool)

    def _step_chunks(self, k: int) -> None:
        """Worker ``k``: step chunks until none is left (``next`` on a count is atomic under the GIL)."""
        while True:
            index = next(self._next_chunk)
            if index >= len(self._chunks):
                return
            self._step_range(*self._chunks[index])

    def _step_range(self, lo: int, hi: int) -> None:
        mj, m, decimation = self._mj, self.model, self.config.decimation
        step, kinematics, com_pos, com_vel = mj.mj_step, mj.mj_kinematics, mj.mj_comPos, mj.mj_comVel
        datas, targets, bad = self.datas, self._targets, self._bad_state
        contacts = []
        parked = self._parked
        for i in range(lo, hi):
            if parked[i]:
                self._diverged[i] = False
                continue
            d = datas[i]
            d.ctrl[:] = targets[i]
            step(m, d, decimation)  # releases the GIL
            warnings = d.warning
            diverged = False
            for kind in bad:
                if warnings[kind].number:  # MuJoCo has reset this world to the model's default pose
                    warnings[kind].number = 0
                    diverged = True
            self._diverged[i] = diverged
            # mj_step leaves positions/velocities of the frames at the state *before* its last
            # integration; recompute them at the new state (cheap: no collision, no solver).
            kinematics(m, d)
            com_pos(m, d)
            com_vel(m, d)
            self._copy_raw(i, d)
            if d.ncon:
                contacts.append(self._contacts_of(i, d))
        self._publish(slice(lo, hi))
        self._publish_contacts(lo, hi, contacts)

    def _copy_raw(self, i: int, d: mujoco.MjData) -> None:
        self._raw_xpos[i] = d.xpos
        self._raw_xquat[i] = d.xquat
        self._raw_cvel[i] = d.cvel
        self._raw_com[i] = d.subtree_com
        self._raw_qpos[i] = d.qpos
        self._raw_qvel[i] = d.qvel
        self._raw_force[i] = d.actuator_force
        self._raw_damper[i] = d.qfrc_damper

    def _publish(self, rows) -> None:  # rows: slice or int array
        """Convert staged raw arrays of ``rows`` into the output buffers, vectorised."""
        xpos = self._raw_xpos[rows][:, self._body_ids]
        cvel = self._raw_cvel[rows][:, self._body_ids]
        self._pos[rows] = xpos
        self._rot[rows] = self._raw_xquat[rows][:, self._body_ids][..., [1, 2, 3, 0]]  # wxyz → xyzw
        # cvel = (ω, v) with v the velocity of the point at the root's subtree COM moving with the
        # body; the body origin moves at v + ω × (origin − com).
        arm = xpos - self._raw_com[rows][:, self._body_root]
        self._vel[rows] = cvel[..., 3:] + np.cross(cvel[..., :3], arm)
        self._ang_vel[rows] = cvel[..., :3]
        self._dof_pos[rows] = self._raw_qpos[rows][:, self._dof_qpos]
        self._dof_vel[rows] = self._raw_qvel[rows][:, self._dof_qvel]
        # The PD torque: the actuator's clipped spring term plus the hinge's (implicit) damping.
        self._torque[rows] = self._raw_force[rows][:, self._act_of_dof] + self._raw_damper[rows][:, self._dof_qvel]

    def _contacts_of(self, i: int, d: mujoco.MjData) -> tuple:
        """World ``i``'s contacts, copied raw: ``(i, geom pairs (K, 2), frames (K, 9), friction
        (K, 5), constraint addresses (K,), edge forces (K, 4))``; or, when the contacts are not
        condim-3 pyramids, ``(i, geom pairs, world forces (K, 3))`` via mj_contactForce."""
        c = d.contact
        if self._condim3_pyramids:
            address = c.efc_address
            # a condim-3 pyramidal contact owns 4 constraint rows: its 4 edge forces
            return i, c.geom, c.frame, c.friction, address, d.efc_force[address[:, None] + _EDGES]
        forces = np.zeros((d.ncon, 3))
        wrench = np.zeros(6)
        for j in range(d.ncon):
            if c.efc_address[j] >= 0:
                self._mj.mj_contactForce(self.model, d, j, wrench)
                forces[j] = c.frame[j].reshape(3, 3).T @ wrench[:3]
        return i, c.geom, forces

    def _publish_contacts(self, lo: int, hi: int, contacts: List[tuple]) -> None:
        """Net contact force per robot body for worlds lo..hi-1 from :meth:`_contacts_of` results,
        decoded for the whole slice at once."""
        stride = self.num_bodies + 1  # one spare slot per world collects non-robot geoms
        net = np.zeros(((hi - lo) * stride, 3))
        if contacts:
            env = np.concatenate([np.full(len(c[1]), c[0] - lo) for c in contacts])
            geom = np.concatenate([c[1] for c in contacts])
            if self._condim3_pyramids:
                frame = np.concatenate([c[2] for c in contacts]).reshape(-1, 3, 3)  # normal, tangent 1, 2
                mu = np.concatenate([c[3] for c in contacts])
                p = np.concatenate([c[5] for c in contacts])
                p[np.concatenate([c[4] for c in contacts]) < 0] = 0.0  # not in the constraint set
                # MuJoCo's mju_decodePyramid: normal = Σp, tangent_k = (p_2k − p_2k+1)·μ_k
                local = np.stack((p.sum(axis=1), (p[:, 0] - p[:, 1]) * mu[:, 0], (p[:, 2] - p[:, 3]) * mu[:, 1]), 1)
                force = np.einsum("kc,kcx->kx", local, frame)
            else:
                force = np.concatenate([c[2] for c in contacts])
            # The contact force acts along +normal (from geom1 to geom2) on geom2, opposite on geom1.
            np.add.at(net, env * stride + self._geom_body[geom[:, 1]], force)
            np.add.at(net, env * stride + self._geom_body[geom[:, 0]], -force)
        self._contact[lo:hi] = net.reshape(hi - lo, stride, 3)[:, : self.num_bodies]

    # -------------------------------------------------------------------------------- resets
    def reset_envs(self, env_ids: Tensor, root: RootState, dofs: DofState) -> None:
        ids = self.checked_reset_ids(env_ids, root, dofs).numpy()
        if len(ids) == 0:
            return
        qpos_t, qvel_t = self._reset_coordinates(root, dofs)
        qpos, qvel = qpos_t.numpy(), qvel_t.numpy()

        def job(s: int) -> None:
            lo, hi = self._slices[s]
            mine = (ids >= lo) & (ids < hi)
            if mine.any():
                self._reset_rows(ids[mine], qpos[mine], qvel[mine])

        self._pool.run(job)

    def _reset_rows(self, ids: np.ndarray, qpos: np.ndarray, qvel: np.ndarray) -> None:
        mj, m = self._mj, self.model
        for row, i in enumerate(ids):
            d = self.datas[i]
            mj.mj_resetData(m, d)  # zeroes ctrl, act, warm start, applied forces, time
            d.qpos[:] = qpos[row]
            d.qvel[:] = qvel[row]
            mj.mj_forward(m, d)
            # A reset world starts its solver cold, as mj_resetData left it: mj_forward of
            # mujoco < 3.3 (3.2.3 is the last for Python 3.8) fills the warm start, 4.x does not.
            d.qacc_warmstart[:] = 0.0
            self._copy_raw(i, d)
        self._publish(ids)
        self._torque[ids] = 0.0  # no physics step since the reset
        self._diverged[ids] = False
        self._contact[ids] = 0.0

    # ------------------------------------------------------------------------------ accessors
    def _out(self, name: str) -> Tensor:
        view = self._views[name]
        return view if self.device.type == "cpu" else view.to(self.device)

    def body_state(self) -> BodyState:
        return BodyState(self._out("pos"), self._out("rot"), self._out("vel"), self._out("ang_vel"))

    def dof_state(self) -> DofState:
        return DofState(self._out("dof_pos"), self._out("dof_vel"))

    def applied_torques(self) -> Tensor:
        return self._out("torque")

    def contact_forces(self) -> Tensor:
        return self._out("contact")

    def terrain_heights(self, points_xy: Tensor) -> Tensor:
        return sample_heights(self.config.terrain, points_xy)

    def close(self) -> None:
        self._pool.close()
