"""A MuJoCo scene of K robots side by side, posed kinematically from MotionLib states.

Copy ``k`` is its robot's MJCF attached with the name prefix ``h<k>_`` and placed ``k · spacing``
metres along +x, so a source, a retargeted and a predicted MotionLib can be compared side by
side. The copies may be different robots (an SMPL MotionLib beside its G1 retarget); each is
posed with its own robot's body/DoF order and ``dof_format``. Nothing is simulated: gravity is
off and poses are written straight into ``qpos`` followed by ``mj_kinematics``. The copies keep
their robots' actuators (harmless, never driven). 1 m spacing clears the SMPL humanoid's T-pose
(hands at ±0.85 m) beside a G1 (about ±0.2 m deep along x when facing +x).

Pose convention (MotionLib → MuJoCo): root position + copy offset → free-joint position; root
rotation xyzw → free-joint quaternion wxyz; DoFs → hinge angles per the robot's ``dof_format``
(:func:`robots.dof_conversion.reference_dof_positions`: for the SMPL humanoid the local rotations
of bodies 1..B−1 as intrinsic x-y-z Euler angles, or its exp-map ``dof_pos`` converted; for the
G1 the ``dof_pos`` themselves).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, List, Optional, Sequence, Tuple, Union

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import mujoco

    from motion.motion_lib import MotionState
    from robots.spec import RobotSpec

HUMANOID_SPACING = 1.0  # m along +x between neighbouring copies

# The stage every copy stands on: a checker floor, a light from above, room for large offscreen
# frames. Compiler/option settings of the robot are copied in before attaching (see below).
_STAGE_XML = """
<mujoco model="visualizer">
  <visual>
    <global offwidth="1920" offheight="1080"/>
    <headlight ambient="0.35 0.35 0.35" diffuse="0.5 0.5 0.5"/>
  </visual>
  <asset>
    <texture name="grid" type="2d" builtin="checker" rgb1="0.2 0.3 0.4" rgb2="0.1 0.2 0.3"
             width="512" height="512"/>
    <material name="grid" texture="grid" texrepeat="1 1" texuniform="true"/>
  </asset>
  <worldbody>
    <light name="sun" directional="true" pos="0 0 4" dir="0 0 -1" diffuse="0.6 0.6 0.6"/>
    <geom name="floor" type="plane" size="0 0 0.05" material="grid" contype="0" conaffinity="0"/>
  </worldbody>
</mujoco>
"""


@dataclass(frozen=True)
class HumanoidCopy:
    """Where copy ``index`` (a copy of ``robot``) lives in the combined model.

    ``body_ids`` (B,) model body ids in the robot's body order; ``hinge_qpos`` (D,) ``qpos``
    addresses of its hinges in the robot's DoF order; ``root_qpos`` the free joint's address.
    """

    index: int
    robot: RobotSpec
    prefix: str
    offset: np.ndarray  # (3,) m, added to every world position of this copy
    root_qpos: int
    hinge_qpos: np.ndarray
    body_ids: np.ndarray


class VisualizerScene:
    """One compiled model with :attr:`copies` of the robots, and its ``MjData``.

    ``VisualizerScene(robot, K)``: K copies of one robot; ``VisualizerScene([robot_a, robot_b])``:
    one copy per listed robot, in that order (``num_copies`` then left out, or equal to the count).
    """

    def __init__(
        self,
        robots: Union[RobotSpec, Sequence[RobotSpec]],
        num_copies: Optional[int] = None,
        spacing: float = HUMANOID_SPACING,
    ) -> None:
        import mujoco

        self.robots: List[RobotSpec] = _robot_per_copy(robots, num_copies)
        self.robot = self.robots[0]  # the first copy's robot (all of them when there is one robot)
        self.model = build_side_by_side_model([robot.mjcf_xml for robot in self.robots], spacing=spacing)
        self.data = mujoco.MjData(self.model)
        self.copies: List[HumanoidCopy] = [
            _index_copy(self.model, robot, k, np.array([k * spacing, 0.0, 0.0])) for k, robot in enumerate(self.robots)
        ]
        mujoco.mj_kinematics(self.model, self.data)

    def set_pose(self, copy: int, root_pos: np.ndarray, root_rot_xyzw: np.ndarray, hinge_angles: np.ndarray) -> None:
        """Write one copy's pose into ``qpos``: root (3,) m, root rotation (4,) xyzw, hinges (D,) rad.

        Call :meth:`forward` afterwards to update body positions.
        """
        entry = self.copies[copy]
        qpos = self.data.qpos
        qpos[entry.root_qpos : entry.root_qpos + 3] = np.asarray(root_pos, dtype=np.float64) + entry.offset
        x, y, z, w = (float(v) for v in root_rot_xyzw)
        qpos[entry.root_qpos + 3 : entry.root_qpos + 7] = (w, x, y, z)
        qpos[entry.hinge_qpos] = np.asarray(hinge_angles, dtype=np.float64)

    def set_motion_state(self, copy: int, state: MotionState, row: int = 0) -> None:
        """Pose ``copy`` from row ``row`` of a :class:`~motion.motion_lib.MotionState`."""
        root_pos, root_rot, hinges = motion_state_pose(state, row, self.copies[copy].robot.dof_format)
        self.set_pose(copy, root_pos, root_rot, hinges)

    def forward(self) -> None:
        """Body positions and orientations from ``qpos`` (``mj_kinematics``: no dynamics)."""
        import mujoco

        mujoco.mj_kinematics(self.model, self.data)

    def body_positions(self, copy: int) -> np.ndarray:
        """(B,) world positions of one copy's bodies in robot body order, with its offset removed."""
        entry = self.copies[copy]
        return self.data.xpos[entry.body_ids] - entry.offset

    def centre(self) -> np.ndarray:
        """(3,) m: mean root position over the copies (where a tracking camera looks)."""
        roots = np.stack([self.data.xpos[entry.body_ids[0]] for entry in self.copies])
        return roots.mean(axis=0)


def motion_state_pose(
    state: MotionState, row: int = 0, dof_format: str = "exp_map_3hinge"
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Root position (3,) m, root rotation (4,) xyzw and hinge angles (D,) rad of one state row."""
    from robots.dof_conversion import reference_dof_positions

    root_pos = state.rigid_body_pos[row, 0].detach().double().cpu().numpy()
    root_rot = state.rigid_body_rot[row, 0].detach().double().cpu().numpy()
    local = state.local_rigid_body_rot
    one_row = state._replace(
        dof_pos=state.dof_pos[row : row + 1].double(),
        local_rigid_body_rot=None if local is None else local[row : row + 1].double(),
    )
    hinges = reference_dof_positions(dof_format, one_row)[0]
    return root_pos, root_rot, hinges.detach().cpu().numpy()


def _robot_per_copy(robots: Union[RobotSpec, Sequence[RobotSpec]], num_copies: Optional[int]) -> List[RobotSpec]:
    """One robot per copy: ``num_copies`` of a single robot, or the listed robots themselves."""
    if isinstance(robots, (list, tuple)):
        listed = list(robots)
        if num_copies is not None and num_copies != len(listed):
            raise ValueError(f"num_copies {num_copies} does not match the {len(listed)} robots listed")
    else:
        listed = [robots] * (1 if num_copies is None else num_copies)
    if not listed:
        raise ValueError(f"num_copies must be ≥ 1, got {num_copies if num_copies is not None else 0}")
    return listed


def build_side_by_side_model(
    robot_xml: Union[str, Sequence[str]], num_copies: Optional[int] = None, spacing: float = HUMANOID_SPACING
) -> mujoco.MjModel:
    """Compile robots on a floor, copy ``k`` prefixed ``h<k>_`` at ``k · spacing`` m in x, gravity off.

    ``robot_xml``: one MJCF string repeated ``num_copies`` times, or a sequence of MJCF strings
    (one copy each; the robots may differ).
    """
    import mujoco

    # MjSpec.attach and the static MjSpec.from_string came in mujoco 3.3 (3.2.3 is the last mujoco
    # for Python 3.8: visualize from the main environment).
    if not hasattr(getattr(mujoco, "MjSpec", None), "attach"):
        raise RuntimeError(f"the visualizer needs mujoco >= 3.3 (MjSpec.attach); found mujoco {mujoco.__version__}")
    xmls = [robot_xml] * (1 if num_copies is None else num_copies) if isinstance(robot_xml, str) else list(robot_xml)
    if not xmls:
        raise ValueError("build_side_by_side_model needs at least one robot")
    stage = mujoco.MjSpec.from_string(_STAGE_XML)
    for k, xml in enumerate(xmls):
        robot = mujoco.MjSpec.from_string(xml)
        if k == 0:
            # Take the first robot's simulation options so attaching reports no option conflicts
            # (nothing is simulated, so a later robot's own timestep does not matter).
            stage.option.timestep = robot.option.timestep
            stage.option.integrator = robot.option.integrator
        frame = stage.worldbody.add_frame(pos=[k * spacing, 0.0, 0.0])
        stage.attach(robot, prefix=copy_prefix(k), frame=frame)
    model = stage.compile()
    model.opt.gravity[:] = 0.0
    return model


def copy_prefix(index: int) -> str:
    return f"h{index}_"


def _index_copy(model: Any, robot: RobotSpec, index: int, offset: np.ndarray) -> HumanoidCopy:
    import mujoco

    prefix = copy_prefix(index)

    def object_id(kind: Any, name: str) -> int:
        found = mujoco.mj_name2id(model, kind, prefix + name)
        if found < 0:
            raise ValueError(f"robot {robot.name!r}: {kind.name} {name!r} not found in its MJCF (copy {index})")
        return int(found)

    body_ids = np.array([object_id(mujoco.mjtObj.mjOBJ_BODY, name) for name in robot.body_names], dtype=np.int64)
    hinge_ids = [object_id(mujoco.mjtObj.mjOBJ_JOINT, name) for name in robot.dof_names]
    root_joint = int(model.body_jntadr[body_ids[0]])
    if root_joint < 0 or model.jnt_type[root_joint] != mujoco.mjtJoint.mjJNT_FREE:
        raise ValueError(f"robot {robot.name!r}: root body {robot.body_names[0]!r} has no free joint")
    return HumanoidCopy(
        index=index,
        robot=robot,
        prefix=prefix,
        offset=offset,
        root_qpos=int(model.jnt_qposadr[root_joint]),
        hinge_qpos=model.jnt_qposadr[hinge_ids].astype(np.int64),
        body_ids=body_ids,
    )
