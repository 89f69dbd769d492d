"""The Unitree G1 (29 DoF): where its model file is, its PD gains, and the MJCF rewrite for our backend.

The model file is never copied into the repository. :func:`resolve_g1_xml` is the one place that
finds it, for training, evaluation, the visualizer and retargeting alike: an explicit path
(``--robot-xml``, ``robot_by_name("g1", robot_xml=...)``, ``load_g1_model(robot_xml)``), else the
``MIMIC_G1_XML`` environment variable, else an installed ``mujoco-menagerie`` package's
``unitree_g1/g1_29dof.xml`` or ``unitree_g1/g1.xml``.

The rewrite keeps the MJCF's bodies, geoms, joints and joint limits and replaces its torque
``<motor>``s by PD *inside the engine*, exactly as the SMPL humanoid does
(:mod:`robots.smpl_humanoid`): a ``<general>`` actuator with force ``kp·(ctrl − q)`` clipped to the
joint's effort limit, and ``kd`` as hinge damping, which ``implicitfast`` integrates implicitly
(a clipped force has no derivative, so damping inside the clipped actuator would lose it).
"""

from __future__ import annotations

import math
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from motion.errors import MotionDataError
from motion.io_utils import PathLike

#: Environment variable naming the G1 MJCF file.
G1_XML_ENV = "MIMIC_G1_XML"
#: Model files looked for inside an installed mujoco-menagerie, in order: the 29-DoF file Unitree
#: ships (what the fixtures and retargeting use), then menagerie's own name for its G1.
MENAGERIE_FILES = ("unitree_g1/g1_29dof.xml", "unitree_g1/g1.xml")
#: Joints (hinges, the floating base excluded) and bodies of the 29-DoF G1.
G1_NUM_DOFS = 29
G1_NUM_BODIES = 30
G1_CONTACT_BODIES = ("left_ankle_roll_link", "right_ankle_roll_link")
PHYSICS_TIMESTEP = 1.0 / 120.0  # s; the backend sets 1/physics_hz anyway (120 Hz by default)

#: Unitree's bent-knee standing pose for the G1 (unitree_rl_gym's default joint angles), rad;
#: every other joint at 0 (arms hanging).
G1_STAND_POSE: Dict[str, float] = {
    "left_hip_pitch_joint": -0.1,
    "right_hip_pitch_joint": -0.1,
    "left_knee_joint": 0.3,
    "right_knee_joint": 0.3,
    "left_ankle_pitch_joint": -0.2,
    "right_ankle_pitch_joint": -0.2,
}

# PD gains per motor type, from BeyondMimic's G1 (HybridRobotics/whole_body_tracking, robots/g1.py):
# kp = I·ω², kd = 2·ζ·I·ω with the motor's reflected rotor inertia I (armature), natural
# frequency ω = 2π·10 Hz and damping ratio ζ = 2. A joint driven by two motors in parallel
# (ankles, waist roll/pitch) gets twice the inertia. The armature also replaces the MJCF's
# uniform 0.01 on each joint, so the gains see the inertia they were designed for.
_NATURAL_FREQ = 2.0 * math.pi * 10.0  # rad/s
_DAMPING_RATIO = 2.0
MOTOR_ARMATURE: Dict[str, float] = {  # kg·m², per Unitree motor type
    "5020": 0.003609725,
    "7520_14": 0.010177520,
    "7520_22": 0.025101925,
    "4010": 0.00425,
}
#: joint-name suffix → (motor type, motors in parallel); the first matching suffix wins.
JOINT_MOTORS: Tuple[Tuple[str, str, int], ...] = (
    ("hip_pitch_joint", "7520_14", 1),
    ("hip_roll_joint", "7520_22", 1),
    ("hip_yaw_joint", "7520_14", 1),
    ("knee_joint", "7520_22", 1),
    ("ankle_pitch_joint", "5020", 2),
    ("ankle_roll_joint", "5020", 2),
    ("waist_yaw_joint", "7520_14", 1),
    ("waist_roll_joint", "5020", 2),
    ("waist_pitch_joint", "5020", 2),
    ("shoulder_pitch_joint", "5020", 1),
    ("shoulder_roll_joint", "5020", 1),
    ("shoulder_yaw_joint", "5020", 1),
    ("elbow_joint", "5020", 1),
    ("wrist_roll_joint", "5020", 1),
    ("wrist_pitch_joint", "4010", 1),
    ("wrist_yaw_joint", "4010", 1),
)


def joint_gains(joint: str) -> Tuple[float, float, float]:
    """``(kp N·m/rad, kd N·m·s/rad, armature kg·m²)`` of a G1 joint, from :data:`JOINT_MOTORS`."""
    for suffix, motor, count in JOINT_MOTORS:
        if joint.endswith(suffix):
            armature = count * MOTOR_ARMATURE[motor]
            return armature * _NATURAL_FREQ**2, 2.0 * _DAMPING_RATIO * armature * _NATURAL_FREQ, armature
    raise ValueError(f"G1 joint {joint!r}: no motor type known (see robots.g1.JOINT_MOTORS)")


class G1ModelNotFoundError(MotionDataError, FileNotFoundError):
    """No G1 MJCF where :func:`resolve_g1_xml` looked; the message names each place and how to give one.

    Both bad input (:class:`MotionDataError`: the ``mimic`` CLI prints it in one line, retargeting
    and the Dagster assets report it as such) and a missing file (``FileNotFoundError``: what
    ``mimic train``, ``inference`` and ``visualize`` report as a usage error).
    """

    def __init__(self, path: PathLike, source: str, found: str, message: str) -> None:
        super().__init__(path, source, "an existing G1 MJCF file", found)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> Tuple[object, ...]:  # raised in worker processes too: rebuild from our arguments
        return (type(self), (self.path, self.field, self.found, self.message))


def resolve_g1_xml(robot_xml: Optional[PathLike] = None) -> Path:
    """The G1 MJCF file, as an absolute path: the first of

    1. ``robot_xml`` (``--robot-xml``), 2. ``$MIMIC_G1_XML``, 3. an installed mujoco-menagerie's
    :data:`MENAGERIE_FILES`. An empty value counts as not given. A path named by 1 or 2 must exist:
    a typo is an error, never a silent fall-through to another model. Raises
    :class:`G1ModelNotFoundError`.
    """
    tried: List[str] = []
    named = ((robot_xml, "explicit path (--robot-xml)"), (os.environ.get(G1_XML_ENV), f"${G1_XML_ENV}"))
    for candidate, source in named:
        if candidate:
            path = Path(candidate).expanduser().resolve()
            if path.is_file():
                return path
            message = f"G1 model not found: {source} {path}: no such file"
            raise G1ModelNotFoundError(path, source, "no such file", message)
        tried.append(f"{source}: not given")
    menagerie = _menagerie_root()
    if menagerie is None:
        tried.append("mujoco-menagerie: package not installed")
    else:
        for name in MENAGERIE_FILES:
            if (menagerie / name).is_file():
                return (menagerie / name).resolve()
        tried.append(f"mujoco-menagerie: none of {', '.join(MENAGERIE_FILES)} in {menagerie}")
    raise G1ModelNotFoundError("<G1 model>", "robot_xml", "; ".join(tried), _not_found_message(tried))


def _menagerie_root() -> Optional[Path]:
    """The installed mujoco-menagerie's folder, or None (optional, never a dependency)."""
    try:
        import mujoco_menagerie  # type: ignore[import-not-found]
    except ImportError:
        return None
    return Path(getattr(mujoco_menagerie, "__file__", "")).resolve().parent


def _not_found_message(tried: Sequence[str]) -> str:
    return (
        "G1 model not found; pass its path (--robot-xml, or the robot_xml argument), set "
        f"{G1_XML_ENV}=/path/to/g1_29dof.xml, or install mujoco-menagerie ({'; '.join(tried)})"
    )


def _effort_limit(joint: ET.Element, motors: Dict[str, ET.Element], path: Path) -> float:
    """The joint's effort limit, N·m: its ``actuatorfrcrange``, else its motor's forcerange/ctrlrange."""
    name = joint.get("name", "")
    for source, attribute in ((joint, "actuatorfrcrange"), (motors.get(name), "forcerange"), (motors.get(name),
                              "ctrlrange")):  # fmt: skip
        value = source.get(attribute) if source is not None else None
        if value:
            low, high = (float(v) for v in value.split())
            return min(abs(low), abs(high))
    raise ValueError(f"{path}: joint {name!r} has no effort limit (actuatorfrcrange, motor forcerange or ctrlrange)")


def build_g1_robot_xml(path: Path) -> Tuple[str, List[str], List[str], List[Tuple[float, float]], List[float]]:
    """Rewrite the G1 MJCF for our backend.

    Returns ``(xml, body names, hinge names, joint ranges (lo, hi) rad, effort limits N·m)``, bodies
    and hinges in the MJCF's depth-first order (the root body first).
    """
    root = ET.parse(str(path)).getroot()
    compiler = root.find("compiler")
    if compiler is None:
        compiler = ET.Element("compiler")
        root.insert(0, compiler)
    # Absolute mesh directory: the XML string then compiles from anywhere.
    compiler.set("meshdir", str((path.parent / compiler.get("meshdir", ".")).resolve()))
    for option in root.findall("option"):
        root.remove(option)
    root.insert(list(root).index(compiler) + 1, ET.Element("option", timestep=repr(PHYSICS_TIMESTEP),
                                                          integrator="implicitfast"))  # fmt: skip
    motors: Dict[str, ET.Element] = {}
    for actuator in root.findall("actuator"):
        for motor in actuator:
            if motor.get("joint"):
                motors[motor.get("joint", "")] = motor
        root.remove(actuator)
    for sensor in root.findall("sensor"):  # joint/IMU sensors: unused, and they would cost every step
        root.remove(sensor)
    worldbody = root.find("worldbody")
    robot_root = worldbody.find("body") if worldbody is not None else None
    if robot_root is None:
        raise ValueError(f"{path}: no robot body under <worldbody>")
    bodies: List[str] = []
    hinges: List[str] = []
    ranges: List[Tuple[float, float]] = []
    efforts: List[float] = []
    for body in robot_root.iter("body"):
        bodies.append(body.get("name", ""))
        for joint in body.findall("joint"):
            if joint.get("type", "hinge") != "hinge":
                continue
            name = joint.get("name", "")
            kp, kd, armature = joint_gains(name)
            low, high = (float(v) for v in joint.get("range", "").split())
            hinges.append(name)
            ranges.append((low, high))
            efforts.append(_effort_limit(joint, motors, path))
            joint.set("damping", repr(kd))
            joint.set("armature", repr(armature))
    actuator = ET.SubElement(root, "actuator")
    for name, effort in zip(hinges, efforts):
        kp = joint_gains(name)[0]
        # force = kp·ctrl − kp·q, clipped to ±effort; with the hinge damping this is a PD controller.
        ET.SubElement(actuator, "general", name=name, joint=name, gainprm=repr(kp), biastype="affine",
                      biasprm=f"0 {-kp!r} 0", forcelimited="true", forcerange=f"{-effort!r} {effort!r}")  # fmt: skip
    return ET.tostring(root, encoding="unicode"), bodies, hinges, ranges, efforts
