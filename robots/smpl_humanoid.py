"""The SMPL humanoid as MJCF, generated from data: bodies, hinges, collision geometry, PD actuators.

The neutral mean shape's collision geometry is kept as a typed table (:data:`NEUTRAL_GEOMS`);
joint offsets come from :data:`motion.skeleton.NEUTRAL_OFFSETS`. Shape-specific humanoids
(:mod:`robots.smpl_shape`) pass their own offsets and geometry to the same builder.

Control is PD *inside* the engine: each of the 69 hinges has a ``<general>`` actuator whose
force is ``kp·(ctrl − q)`` clipped to the effort limit, and joint damping ``kd``, so the torque
is ``kp·(ctrl − q) − kd·q̇`` with ``ctrl`` the target angle in radians.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional, Sequence, Tuple, Union

import numpy as np

from motion.errors import MotionDataError
from motion.io_utils import atomic_write_text
from motion.skeleton import (
    BODY_NAMES,
    EFFORT_LIMIT,
    JOINT_RANGE_DEG,
    NEUTRAL_OFFSETS,
    NUM_BODIES,
    PARENTS,
    body_gains,
    dof_names,
)

if TYPE_CHECKING:  # pragma: no cover
    import mujoco

Vec3 = Tuple[float, float, float]

PHYSICS_TIMESTEP = 1.0 / 120.0  # s; 4 physics steps per 30 Hz control step
JOINT_ARMATURE = 0.02  # kg·m², reflected rotor inertia on every hinge
GEOM_MARGIN = 0.001  # m
GEOM_CONDIM = 3  # sliding friction only
HINGE_AXES = (("x", "1 0 0"), ("y", "0 1 0"), ("z", "0 0 1"))

#: Body pairs whose geoms overlap in rest pose or in ordinary motion (crossed knees and feet,
#: upper arms against the chest); their contacts are excluded, not merely parent/child pairs.
CONTACT_EXCLUSIONS: Tuple[Tuple[str, str], ...] = (
    ("Torso", "Chest"), ("Head", "Chest"),
    ("R_Knee", "R_Toe"), ("R_Knee", "L_Ankle"), ("R_Knee", "L_Toe"),
    ("L_Knee", "L_Toe"), ("L_Knee", "R_Ankle"), ("L_Knee", "R_Toe"),
    ("L_Shoulder", "Chest"), ("R_Shoulder", "Chest"),
)  # fmt: skip


@dataclass(frozen=True)
class GeomSpec:
    """One collision/mass geom of a body, in the body's frame (metres, kg/m³).

    ``kind`` is ``"capsule"`` (``fromto`` = two segment end points, ``size`` = ``(radius,)``)
    or ``"box"`` (``pos`` = centre, ``size`` = half extents ``(x, y, z)``, axis aligned).
    """

    kind: str
    size: Tuple[float, ...]
    density: float
    contype: int
    conaffinity: int = 1
    fromto: Optional[Tuple[float, float, float, float, float, float]] = None
    pos: Optional[Vec3] = None

    def __post_init__(self) -> None:
        if self.kind == "capsule":
            ok = self.fromto is not None and len(self.fromto) == 6 and len(self.size) == 1
        elif self.kind == "box":
            ok = self.pos is not None and len(self.pos) == 3 and len(self.size) == 3
        else:
            ok = False
        if not ok or self.density <= 0 or any(s <= 0 for s in self.size):
            raise MotionDataError(
                "<geom spec>",
                "kind/size/fromto/pos",
                "a capsule (fromto, radius) or box (pos, 3 half extents) with positive sizes and density",
                repr(self),
            )


def _capsule(fromto: Sequence[float], radius: float, density: float) -> GeomSpec:
    return GeomSpec("capsule", (radius,), density, contype=1, fromto=tuple(fromto))  # type: ignore[arg-type]


def _box(pos: Sequence[float], half_size: Sequence[float]) -> GeomSpec:
    # Boxes (pelvis, feet, toes, head, hands) carry contype 7 (bits 1-3) and capsules bit 1 only,
    # as in the reference humanoid; every geom has conaffinity 1, so all of them touch the ground.
    return GeomSpec("box", tuple(half_size), 1000.0, contype=7, pos=tuple(pos))  # type: ignore[arg-type]


# The reference humanoid's densities: thighs and the three torso capsules 1000/0.49 kg/m³, shins
# 1000/0.81 kg/m³, everything else water (1000 kg/m³).
_THIGH_TORSO_DENSITY = 2040.816327
_SHIN_DENSITY = 1234.567901

#: Geometry of the neutral mean shape, one geom per body in ``BODY_NAMES`` order (63.31 kg total).
NEUTRAL_GEOMS: Tuple[GeomSpec, ...] = (
    _box((-0.0055, 0.0, -0.0121), (0.083, 0.1069, 0.0722)),  # Pelvis
    _capsule((-0.0009, 0.0069, -0.0750, -0.0036, 0.0274, -0.3002), 0.0615, _THIGH_TORSO_DENSITY),
    _capsule((-0.0087, -0.0027, -0.0796, -0.0350, -0.0109, -0.3184), 0.0541, _SHIN_DENSITY),
    _box((0.0242, 0.0233, -0.0239), (0.085, 0.0483, 0.0464)),  # L_Ankle
    _box((0.0248, -0.0030, 0.0055), (0.0496, 0.0478, 0.02)),  # L_Toe
    _capsule((-0.0018, -0.0077, -0.0765, -0.0071, -0.0306, -0.3061), 0.0606, _THIGH_TORSO_DENSITY),
    _capsule((-0.0085, 0.0032, -0.0797, -0.0338, 0.0126, -0.3187), 0.0541, _SHIN_DENSITY),
    _box((0.0256, -0.0212, -0.0174), (0.0865, 0.0483, 0.0478)),  # R_Ankle
    _box((0.0227, 0.0042, 0.0045), (0.0493, 0.0479, 0.0216)),  # R_Toe
    _capsule((0.0005, 0.0025, 0.0608, 0.0006, 0.0030, 0.0743), 0.0769, _THIGH_TORSO_DENSITY),  # Torso
    _capsule((0.0114, 0.0007, 0.0238, 0.0140, 0.0008, 0.0291), 0.0755, _THIGH_TORSO_DENSITY),  # Spine
    _capsule((-0.0173, -0.0009, 0.0682, -0.0212, -0.0010, 0.0833), 0.1002, _THIGH_TORSO_DENSITY),
    _capsule((0.0103, 0.0010, 0.0130, 0.0411, 0.0041, 0.0520), 0.0436, 1000.0),  # Neck
    _box((-0.0116, -0.0042, 0.0876), (0.076, 0.0606, 0.1154)),  # Head
    _capsule((-0.0018, 0.0182, 0.0061, -0.0071, 0.0728, 0.0244), 0.0521, 1000.0),  # L_Thorax
    _capsule((-0.0055, 0.0519, -0.0026, -0.0220, 0.2077, -0.0102), 0.0517, 1000.0),  # L_Shoulder
    _capsule((-0.0002, 0.0498, 0.0018, -0.0009, 0.1994, 0.0072), 0.0405, 1000.0),  # L_Elbow
    _capsule((-0.0030, 0.0168, -0.0016, -0.0120, 0.0672, -0.0065), 0.0318, 1000.0),  # L_Wrist
    _box((-0.0058, 0.0493, 0.0010), (0.0538, 0.0585, 0.0158)),  # L_Hand
    _capsule((-0.0018, -0.0192, 0.0065, -0.0073, -0.0768, 0.0260), 0.0511, 1000.0),  # R_Thorax
    _capsule((-0.0043, -0.0507, -0.0027, -0.0171, -0.2030, -0.0107), 0.0531, 1000.0),  # R_Shoulder
    _capsule((-0.0011, -0.0511, 0.0016, -0.0044, -0.2042, 0.0062), 0.0408, 1000.0),  # R_Elbow
    _capsule((-0.0021, -0.0169, -0.0012, -0.0083, -0.0677, -0.0049), 0.0326, 1000.0),  # R_Wrist
    _box((-0.0079, -0.0462, -0.0009), (0.0546, 0.0569, 0.0164)),  # R_Hand
)


@dataclass(frozen=True)
class HumanoidSpec:
    """The humanoid's articulation and PD gains, usable without mujoco.

    ``offsets`` (24, 3) metres (root: the pelvis position in the model); ``kp`` (69,) N·m/rad,
    ``kd`` (69,) N·m·s/rad in ``dof_names`` order; ``effort_limit`` N·m per hinge.
    """

    body_names: Tuple[str, ...]
    parents: Tuple[int, ...]
    offsets: np.ndarray
    dof_names: Tuple[str, ...]
    kp: np.ndarray
    kd: np.ndarray
    effort_limit: float


def humanoid_spec(offsets: Optional[np.ndarray] = None) -> HumanoidSpec:
    """The :class:`HumanoidSpec` for ``offsets`` (24, 3) m, default the neutral mean shape."""
    gains = np.array([body_gains(body) for body in BODY_NAMES[1:] for _axis in "xyz"], dtype=np.float64)
    return HumanoidSpec(
        body_names=BODY_NAMES,
        parents=PARENTS,
        offsets=_checked_offsets(offsets),
        dof_names=tuple(dof_names()),
        kp=gains[:, 0].copy(),
        kd=gains[:, 1].copy(),
        effort_limit=EFFORT_LIMIT,
    )


def _checked_offsets(offsets: Optional[np.ndarray]) -> np.ndarray:
    values = np.asarray(NEUTRAL_OFFSETS if offsets is None else offsets, dtype=np.float64)
    if values.shape != (NUM_BODIES, 3) or not np.isfinite(values).all():
        raise MotionDataError(
            "<offsets argument>",
            "offsets",
            f"finite array of shape ({NUM_BODIES}, 3)",
            f"shape {values.shape}" if values.shape != (NUM_BODIES, 3) else "non-finite",
        )
    return values


def _checked_geoms(geoms: Optional[Sequence[GeomSpec]]) -> Tuple[GeomSpec, ...]:
    values = tuple(NEUTRAL_GEOMS if geoms is None else geoms)
    if len(values) != NUM_BODIES or not all(isinstance(g, GeomSpec) for g in values):
        raise MotionDataError(
            "<geoms argument>",
            "geoms",
            f"{NUM_BODIES} GeomSpec in body order",
            f"{len(values)} items of types {sorted({type(g).__name__ for g in values})}",
        )
    return values


def _fmt(values: Sequence[float]) -> str:
    # 12 significant digits: exact for the 4-decimal table values, sub-nanometre for shaped models.
    return " ".join(format(float(v), ".12g") for v in values)


def _sub(parent: ET.Element, tag: str, **attrs: str) -> ET.Element:
    return ET.SubElement(parent, tag, attrs)


def _add_geom(body: ET.Element, geom: GeomSpec) -> None:
    attrs = {"type": geom.kind, "size": _fmt(geom.size), "density": _fmt([geom.density]),
             "contype": str(geom.contype), "conaffinity": str(geom.conaffinity),
             "condim": str(GEOM_CONDIM), "margin": _fmt([GEOM_MARGIN]), "rgba": "0.8 0.6 0.4 1"}  # fmt: skip
    if geom.kind == "capsule":
        attrs["fromto"] = _fmt(geom.fromto or ())
    else:
        attrs["pos"] = _fmt(geom.pos or ())
    _sub(body, "geom", **attrs)


def _add_floor(asset: ET.Element, worldbody: ET.Element) -> None:
    _sub(asset, "texture", name="grid", type="2d", builtin="checker", rgb1="0.2 0.3 0.4",
         rgb2="0.1 0.2 0.3", width="512", height="512")  # fmt: skip
    _sub(asset, "material", name="grid", texture="grid", texrepeat="1 1", texuniform="true")
    _sub(worldbody, "light", name="sun", directional="true", pos="0 0 3", dir="0 0 -1", diffuse="0.8 0.8 0.8")
    _sub(worldbody, "geom", name="floor", type="plane", size="0 0 0.05", material="grid",
         contype="1", conaffinity="1", condim=str(GEOM_CONDIM))  # fmt: skip


def build_smpl_humanoid_xml(
    offsets: Optional[np.ndarray] = None,
    geoms: Optional[Sequence[GeomSpec]] = None,
    *,
    with_floor: bool = False,
    model_name: str = "smpl_humanoid",
) -> str:
    """MJCF text of the SMPL humanoid.

    ``offsets`` (24, 3) m per body in ``BODY_NAMES`` order (default ``NEUTRAL_OFFSETS``);
    ``geoms`` one :class:`GeomSpec` per body (default :data:`NEUTRAL_GEOMS`). ``with_floor``
    adds a ground plane and a light for standalone viewing; simulators add their own terrain.
    """
    spec = humanoid_spec(offsets)
    body_geoms = _checked_geoms(geoms)
    root = ET.Element("mujoco", model=model_name)
    # Radians everywhere: joint ranges and ctrl ranges then share the unit of qpos.
    _sub(root, "compiler", angle="radian", autolimits="true")
    # implicitfast integrates the velocity-dependent (−kd·q̇) joint damping implicitly; at
    # 120 Hz with kd up to 100 N·m·s/rad on light distal bodies explicit Euler diverges.
    _sub(root, "option", timestep=repr(PHYSICS_TIMESTEP), integrator="implicitfast")
    asset = _sub(root, "asset") if with_floor else None
    worldbody = _sub(root, "worldbody")
    if asset is not None:
        _add_floor(asset, worldbody)

    range_rad = _fmt([-math.radians(JOINT_RANGE_DEG), math.radians(JOINT_RANGE_DEG)])
    elements: List[ET.Element] = []
    damping_of = dict(zip(spec.dof_names, spec.kd))
    for index, name in enumerate(spec.body_names):
        parent = worldbody if spec.parents[index] < 0 else elements[spec.parents[index]]
        body = _sub(parent, "body", name=name, pos=_fmt(spec.offsets[index]))
        elements.append(body)
        if index == 0:
            _sub(body, "freejoint", name=name)
        else:
            for axis_name, axis in HINGE_AXES:
                # The PD damping kd lives here, as joint damping, which implicitfast integrates
                # implicitly even while the actuator's force limit clips the spring term (a
                # clipped actuator force has no derivative: a saturated PD diverged at 120 Hz).
                _sub(body, "joint", name=f"{name}_{axis_name}", type="hinge", pos="0 0 0", axis=axis,
                     range=range_rad, limited="true", armature=_fmt([JOINT_ARMATURE]),
                     stiffness="0", damping=_fmt([damping_of[f"{name}_{axis_name}"]]))  # fmt: skip
        _add_geom(body, body_geoms[index])

    actuator = _sub(root, "actuator")
    ctrl_range = _fmt([-math.pi, math.pi])
    for dof, kp in zip(spec.dof_names, spec.kp):
        # force = gain·ctrl + bias = kp·(ctrl − q), clipped to ±effort; with the hinge's
        # damping −kd·q̇ this is a PD controller with target ctrl.
        _sub(actuator, "general", name=dof, joint=dof, gainprm=_fmt([kp]), biastype="affine",
             biasprm=_fmt([0.0, -kp, 0.0]), ctrlrange=ctrl_range, ctrllimited="true",
             forcerange=_fmt([-spec.effort_limit, spec.effort_limit]), forcelimited="true")  # fmt: skip

    contact = _sub(root, "contact")
    for first, second in CONTACT_EXCLUSIONS:
        _sub(contact, "exclude", body1=first, body2=second)

    _indent(root)
    return ET.tostring(root, encoding="unicode") + "\n"


def _indent(element: ET.Element, level: int = 0) -> None:
    """Pretty-print in place (``ET.indent`` needs Python 3.9)."""
    pad = "\n" + "  " * level
    if len(element):
        element.text = pad + "  "
        for child in element:
            _indent(child, level + 1)
        child.tail = pad  # the last child closes the parent's indentation
    if level and not element.tail:
        element.tail = pad


def write_smpl_humanoid_xml(
    path: Union[str, Path],
    offsets: Optional[np.ndarray] = None,
    geoms: Optional[Sequence[GeomSpec]] = None,
    *,
    with_floor: bool = False,
) -> Path:
    """Write :func:`build_smpl_humanoid_xml` atomically to ``path``; returns the path."""
    text = build_smpl_humanoid_xml(offsets, geoms, with_floor=with_floor)
    atomic_write_text(text, path)
    return Path(path)


def load_smpl_humanoid_model(
    offsets: Optional[np.ndarray] = None,
    geoms: Optional[Sequence[GeomSpec]] = None,
    *,
    with_floor: bool = False,
) -> mujoco.MjModel:
    """Compile the generated MJCF into a ``mujoco.MjModel`` (mujoco imported lazily)."""
    import mujoco

    return mujoco.MjModel.from_xml_string(build_smpl_humanoid_xml(offsets, geoms, with_floor=with_floor))
