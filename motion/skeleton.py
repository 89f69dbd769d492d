"""The SMPL humanoid's kinematic tree: body order, parents, rest offsets and PD gains.

Body order is the MuJoCo/ProtoMotions order (depth first, left leg before right leg),
not SMPL's breadth-first joint order; ``SMPL_INDEX_OF_BODY`` maps between them.
Offsets are the SMPL neutral mean shape in the humanoid's z-up frame (metres).
"""

from __future__ import annotations

from typing import Dict, List, Tuple

BODY_NAMES: Tuple[str, ...] = (
    "Pelvis", "L_Hip", "L_Knee", "L_Ankle", "L_Toe",
    "R_Hip", "R_Knee", "R_Ankle", "R_Toe",
    "Torso", "Spine", "Chest", "Neck", "Head",
    "L_Thorax", "L_Shoulder", "L_Elbow", "L_Wrist", "L_Hand",
    "R_Thorax", "R_Shoulder", "R_Elbow", "R_Wrist", "R_Hand",
)  # fmt: skip
NUM_BODIES = len(BODY_NAMES)  # 24
NUM_DOFS = 3 * (NUM_BODIES - 1)  # 69: three hinges (x, y, z) per non-root body

#: Parent body index of each body (-1 for the root), in BODY_NAMES order.
PARENTS: Tuple[int, ...] = (
    -1, 0, 1, 2, 3,
    0, 5, 6, 7,
    0, 9, 10, 11, 12,
    11, 14, 15, 16, 17,
    11, 19, 20, 21, 22,
)  # fmt: skip

#: SMPL joint index for each body in BODY_NAMES order (SMPL's own order is breadth first).
SMPL_INDEX_OF_BODY: Tuple[int, ...] = (
    0, 1, 4, 7, 10, 2, 5, 8, 11, 3, 6, 9, 12, 15, 13, 16, 18, 20, 22, 14, 17, 19, 21, 23,
)  # fmt: skip

SMPL_JOINT_NAMES: Tuple[str, ...] = tuple(
    BODY_NAMES[body] for body in sorted(range(NUM_BODIES), key=lambda body: SMPL_INDEX_OF_BODY[body])
)

#: Rest offset of each body from its parent (root: offset of the pelvis in the model), metres.
#: SMPL neutral mean shape, the numbers of the widely used SMPL humanoid MJCF.
NEUTRAL_OFFSETS: Tuple[Tuple[float, float, float], ...] = (
    (-0.0018, -0.2233, 0.0282),
    (-0.0068, 0.0695, -0.0914), (-0.0045, 0.0343, -0.3752), (-0.0437, -0.0136, -0.398), (0.1193, 0.0264, -0.0558),
    (-0.0043, -0.0677, -0.0905), (-0.0089, -0.0383, -0.3826), (-0.0423, 0.0158, -0.3984), (0.1233, -0.0254, -0.0481),
    (-0.0267, -0.0025, 0.109), (0.0011, 0.0055, 0.1352), (0.0254, 0.0015, 0.0529),
    (-0.0429, -0.0028, 0.2139), (0.0513, 0.0052, 0.065),
    (-0.0341, 0.0788, 0.1217), (-0.0089, 0.091, 0.0305), (-0.0275, 0.2596, -0.0128),
    (-0.0012, 0.2492, 0.009), (-0.0149, 0.084, -0.0082),
    (-0.0386, -0.0818, 0.1188), (-0.0091, -0.096, 0.0326), (-0.0214, -0.2537, -0.0133),
    (-0.0056, -0.2553, 0.0078), (-0.0103, -0.0846, -0.0061),
)  # fmt: skip

#: PD gains (stiffness N·m/rad, damping N·m·s/rad) by body; all three hinges of a body share them.
_GAINS_BY_GROUP: Dict[Tuple[str, ...], Tuple[float, float]] = {
    ("Hip", "Knee", "Ankle"): (800.0, 80.0),
    ("Toe",): (500.0, 50.0),
    ("Torso", "Spine", "Chest"): (1000.0, 100.0),
    ("Neck", "Head", "Thorax", "Shoulder", "Elbow"): (500.0, 50.0),
    ("Wrist", "Hand"): (300.0, 30.0),
}
EFFORT_LIMIT = 500.0  # N·m, per hinge
JOINT_RANGE_DEG = 180.0  # every hinge is limited to ±180°


def body_gains(body_name: str) -> Tuple[float, float]:
    """(kp, kd) of a non-root body's hinges, e.g. ``body_gains("L_Knee") == (800.0, 80.0)``."""
    part = body_name.split("_", 1)[-1]
    for group, gains in _GAINS_BY_GROUP.items():
        if part in group:
            return gains
    raise KeyError(f"no PD gains for body {body_name!r}")


def dof_names() -> List[str]:
    """The 69 hinge names in DoF order: ``L_Hip_x, L_Hip_y, L_Hip_z, L_Knee_x, ...``."""
    return [f"{body}_{axis}" for body in BODY_NAMES[1:] for axis in "xyz"]


def children(body: int) -> List[int]:
    return [index for index, parent in enumerate(PARENTS) if parent == body]
