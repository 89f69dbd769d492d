"""The MuJoCo model both MuJoCo backends (``mujoco`` on CPU threads, ``mjwarp`` on Warp) step:
the robot's MJCF on its ground, the robot's index conventions in it, and the conversion of the
interface's reset states into MuJoCo coordinates. One definition, so the two backends cannot drift.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Tuple

import numpy as np
import torch
from torch import Tensor

from motion.rotations import quat_conjugate, quat_rotate
from robots.spec import RobotSpec
from training.simulator.base import DofState, RootState
from training.simulator.heightfield import TerrainSpec

if TYPE_CHECKING:  # pragma: no cover
    import mujoco

GROUND_NAME = "ground"
HFIELD_BASE_DEPTH = 1.0  # m of solid below the heightfield's lowest point
_GROUND_ATTRS = {"contype": "1", "conaffinity": "1", "condim": "3", "friction": "1 0.005 0.0001"}


def build_model_xml(robot_xml: str, terrain: Optional[TerrainSpec]) -> str:
    """The robot's MJCF plus the ground: a plane at z = 0, or a heightfield ``GROUND_NAME`` whose
    elevations are filled in by :func:`build_model` (MJCF text cannot carry millions of samples
    cheaply)."""
    root = ET.fromstring(robot_xml)
    worldbody = root.find("worldbody")
    if worldbody is None:
        worldbody = ET.SubElement(root, "worldbody")
    if terrain is None:
        ground = ET.Element("geom", name=GROUND_NAME, type="plane", size="0 0 0.05", **_GROUND_ATTRS)
    else:
        rows, cols = terrain.heights.shape
        half_x, half_y = (rows - 1) * terrain.horizontal_scale / 2, (cols - 1) * terrain.horizontal_scale / 2
        low = float(terrain.heights.min())
        span = max(float(terrain.heights.max()) - low, 1e-3)  # MuJoCo needs a positive elevation scale
        asset = root.find("asset")
        if asset is None:
            asset = ET.Element("asset")
            root.insert(list(root).index(worldbody), asset)
        # MuJoCo heightfield rows run along y and columns along x (TerrainSpec has x along rows),
        # so nrow = cols; samples span [-size_x, size_x] × [-size_y, size_y] around the geom.
        ET.SubElement(asset, "hfield", name=GROUND_NAME, nrow=str(cols), ncol=str(rows),
                      size=f"{half_x!r} {half_y!r} {span!r} {HFIELD_BASE_DEPTH!r}")  # fmt: skip
        centre = (terrain.origin[0] + half_x, terrain.origin[1] + half_y)
        # the geom sits at the lowest height; elevations 0..1 of the data span [low, low + span]
        ground = ET.Element("geom", name=GROUND_NAME, type="hfield", hfield=GROUND_NAME,
                            pos=f"{centre[0]!r} {centre[1]!r} {low!r}", **_GROUND_ATTRS)  # fmt: skip
    worldbody.insert(0, ground)
    return ET.tostring(root, encoding="unicode")


def build_model(robot: RobotSpec, terrain: Optional[TerrainSpec], physics_hz: float) -> mujoco.MjModel:
    """Compile the robot on its ground with timestep 1/physics_hz (integrator from the robot MJCF)."""
    import mujoco

    model = mujoco.MjModel.from_xml_string(build_model_xml(robot.mjcf_xml, terrain))
    model.opt.timestep = 1.0 / physics_hz
    if terrain is not None:
        heights = terrain.heights.detach().cpu().double().numpy()
        geom = model.geom(GROUND_NAME)
        low, span = float(geom.pos[2]), float(model.hfield_size[0, 2])
        # height = geom z + data · size_z; data is (nrow = y, ncol = x) row-major: transposed
        model.hfield_data[:] = ((heights.T - low) / span).reshape(-1)
    return model


@dataclass(frozen=True)
class ModelIndex:
    """Where the robot's bodies, DoFs and actuators sit in the compiled model (int64 arrays)."""

    body_ids: np.ndarray  # (B,) model body id of each robot body, in RobotSpec.body_names order
    body_root: np.ndarray  # (B,) model body id of each body's subtree root (whose COM cvel refers to)
    root_q: int  # qpos address of the free root joint (3 position + 4 wxyz quaternion)
    root_v: int  # qvel address of the free root joint (3 linear + 3 angular, body frame)
    dof_qpos: np.ndarray  # (D,) qpos address of each DoF, in RobotSpec.dof_names order
    dof_qvel: np.ndarray  # (D,) qvel address of each DoF
    act_of_dof: np.ndarray  # (D,) the actuator driving each DoF
    geom_body: np.ndarray  # (ngeom,) robot body index of each geom; B for non-robot geoms (ground)
    condim3_pyramids: bool  # every contact is condim 3 with pyramidal cones (4 rows per contact)


def index_model(model: mujoco.MjModel, robot: RobotSpec) -> ModelIndex:
    """The robot's index conventions in ``model``; ValueError naming what the MJCF lacks."""
    import mujoco as mj

    obj = mj.mjtObj
    body_ids = np.array([mj.mj_name2id(model, obj.mjOBJ_BODY, name) for name in robot.body_names], dtype=np.int64)
    joint_ids = np.array([mj.mj_name2id(model, obj.mjOBJ_JOINT, name) for name in robot.dof_names], dtype=np.int64)
    missing = [name for name, i in zip(robot.body_names + robot.dof_names, list(body_ids) + list(joint_ids)) if i < 0]
    if missing:
        raise ValueError(f"robot {robot.name!r}: MJCF lacks bodies/joints {missing}")
    free = [j for j in range(model.njnt) if model.jnt_type[j] == mj.mjtJoint.mjJNT_FREE]
    if len(free) != 1:
        raise ValueError(f"robot {robot.name!r}: expected one free root joint, found {len(free)}")
    actuator_of_joint = {int(model.actuator_trnid[a, 0]): a for a in range(model.nu)
                         if model.actuator_trntype[a] == mj.mjtTrn.mjTRN_JOINT}  # fmt: skip
    if model.nu != len(joint_ids) or any(int(j) not in actuator_of_joint for j in joint_ids):
        raise ValueError(f"robot {robot.name!r}: expected one joint actuator per DoF")
    num_bodies = len(robot.body_names)
    robot_index = np.full(model.nbody, num_bodies, dtype=np.int64)
    robot_index[body_ids] = np.arange(num_bodies)
    return ModelIndex(
        body_ids=body_ids,
        body_root=model.body_rootid[body_ids].astype(np.int64),
        root_q=int(model.jnt_qposadr[free[0]]),
        root_v=int(model.jnt_dofadr[free[0]]),
        dof_qpos=model.jnt_qposadr[joint_ids].astype(np.int64),
        dof_qvel=model.jnt_dofadr[joint_ids].astype(np.int64),
        act_of_dof=np.array([actuator_of_joint[int(j)] for j in joint_ids], dtype=np.int64),
        geom_body=robot_index[model.geom_bodyid],
        # Contacts take the larger condim of their geoms (no explicit <pair>s to override it): with
        # condim 3 everywhere and pyramidal cones every contact decodes the same vectorised way.
        condim3_pyramids=bool(
            model.opt.cone == mj.mjtCone.mjCONE_PYRAMIDAL and model.npair == 0 and (model.geom_condim == 3).all()
        ),
    )


class ResetCoordinates:
    """Converts reset states into MuJoCo coordinates on one device: ``qpos0`` (nq,) and the DoF
    columns are moved there once, so a reset (every control step with an ended episode) copies
    nothing between host and device beyond its own states."""

    def __init__(self, index: ModelIndex, qpos0: Tensor, nv: int) -> None:
        device = qpos0.device
        self.qpos0 = qpos0.to(torch.float64)
        self.nv = nv
        self.root_q, self.root_v = index.root_q, index.root_v
        self.dof_qpos = torch.as_tensor(index.dof_qpos, device=device)
        self.dof_qvel = torch.as_tensor(index.dof_qvel, device=device)

    def __call__(self, root: RootState, dofs: DofState) -> Tuple[Tensor, Tensor]:
        """``qpos`` (K, nq) and ``qvel`` (K, nv) float64 of K reset states; joints the robot spec
        does not name keep ``qpos0`` and zero speed."""
        device = self.qpos0.device
        as64 = lambda t: t.detach().to(device, torch.float64)  # noqa: E731
        rot = as64(root.rot)
        k = rot.shape[0]
        qpos = self.qpos0.repeat(k, 1)
        qvel = torch.zeros(k, self.nv, dtype=torch.float64, device=device)
        rq, rv = self.root_q, self.root_v
        qpos[:, rq : rq + 3] = as64(root.pos)
        qpos[:, rq + 3 : rq + 7] = rot[:, [3, 0, 1, 2]]  # xyzw → wxyz
        qpos[:, self.dof_qpos] = as64(dofs.pos)
        qvel[:, rv : rv + 3] = as64(root.vel)
        # The free joint's angular velocity is in the body's own frame.
        qvel[:, rv + 3 : rv + 6] = quat_rotate(quat_conjugate(rot), as64(root.ang_vel))
        qvel[:, self.dof_qvel] = as64(dofs.vel)
        return qpos, qvel
