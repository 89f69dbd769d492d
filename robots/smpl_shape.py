"""Shape-specific SMPL humanoids from user-supplied SMPL model files (``SMPL_<GENDER>.pkl``).

The SMPL model files are licensed and never shipped: the user points ``smpl_model_dir`` at their
copy. ``smplx`` (optional dependency ``mimicflow[smpl]``) loads it and gives the rest joints for
the requested ``betas``; they become body offsets in the humanoid's z-up frame, and the neutral
collision geometry is stretched to the new bones. The result feeds
:func:`robots.smpl_humanoid.build_smpl_humanoid_xml`.

Frames: SMPL is y-up with +x to the body's left; the humanoid is z-up, x forward, y left. A
humanoid-frame offset ``o`` is ``R·o`` in SMPL's frame, ``R`` the xyzw quaternion
:data:`HUMANOID_TO_SMPL_QUAT`, so ``o = R⁻¹·o_smpl``.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, replace
from pathlib import Path
from typing import List, Sequence, Tuple, Union

import numpy as np
import torch

from motion.errors import MotionDataError
from motion.rotations import quat_conjugate, quat_from_rotvec, quat_rotate
from motion.skeleton import NEUTRAL_OFFSETS, NUM_BODIES, PARENTS, SMPL_INDEX_OF_BODY, children
from robots.smpl_humanoid import NEUTRAL_GEOMS, GeomSpec

#: Rotation taking humanoid-frame vectors to SMPL-frame vectors, xyzw.
HUMANOID_TO_SMPL_QUAT: Tuple[float, float, float, float] = (-0.5, -0.5, -0.5, 0.5)
SMPL_GENDERS: Tuple[str, ...] = ("neutral", "male", "female")

#: Parent of each SMPL joint in SMPL's own (breadth-first) order; the model file's kinematic
#: tree must match it.
SMPL_PARENTS: Tuple[int, ...] = tuple(
    -1 if PARENTS[body] < 0 else SMPL_INDEX_OF_BODY[PARENTS[body]]
    for body in sorted(range(NUM_BODIES), key=lambda body: SMPL_INDEX_OF_BODY[body])
)


@dataclass(frozen=True)
class ShapedHumanoid:
    """A humanoid for one SMPL body shape.

    ``offsets`` (24, 3) m in ``BODY_NAMES`` order (non-root: humanoid frame; root: SMPL-frame
    pelvis joint, the convention of ``NEUTRAL_OFFSETS``); ``geoms`` one GeomSpec per body.
    """

    offsets: np.ndarray
    geoms: Tuple[GeomSpec, ...]
    gender: str
    betas: Tuple[float, ...]
    model_file: Path


def find_smpl_model_file(smpl_model_dir: Union[str, Path], gender: str) -> Path:
    """``SMPL_<GENDER>.pkl`` in ``smpl_model_dir`` or its ``smpl/`` sub-folder (smplx's layout)."""
    directory = Path(smpl_model_dir)
    if gender not in SMPL_GENDERS:
        raise MotionDataError(directory, "gender", f"one of {', '.join(SMPL_GENDERS)}", repr(gender))
    name = f"SMPL_{gender.upper()}.pkl"
    candidates = [directory / name, directory / "smpl" / name]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise MotionDataError(directory, "model file", f"{name} in {directory} or {directory / 'smpl'}",
                          "no such file")  # fmt: skip


def smpl_rest_joints(model_file: Union[str, Path], gender: str, betas: Sequence[float] = ()) -> np.ndarray:
    """Rest (zero pose) joint positions (24, 3) m, SMPL joint order and SMPL frame.

    Loads ``model_file`` with ``smplx.create``. At zero pose linear blend skinning is the
    identity, so the posed joints equal ``J_regressor · (v_template + shapedirs · betas)``;
    that is computed directly, which also works for meshes without smplx's extra keypoint vertices.
    smplx stores the model arrays as float32, so joints are exact to about 0.1 µm.
    """
    try:
        import smplx
        from smplx.lbs import vertices2joints
    except ImportError as error:  # pragma: no cover - smplx is a dev dependency
        raise ImportError("shape-specific humanoids need smplx: pip install 'mimicflow[smpl]'") from error
    path = Path(model_file)
    shape = [float(b) for b in betas]
    if not np.isfinite(shape).all():
        raise MotionDataError(path, "betas", "finite shape coefficients", repr(shape))
    # smplx prints a warning to stdout for files with only 10 shape components; keep CLI output clean.
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            model = smplx.create(str(path), model_type="smpl", gender=gender,
                                 num_betas=max(len(shape), 1), dtype=torch.float64)  # fmt: skip
        except ModuleNotFoundError as error:
            raise MotionDataError(
                path,
                "pickle",
                "numpy arrays (a chumpy-free SMPL file, see smplx's tools/clean_ch.py)",
                f"objects of missing module {error.name!r}",
            ) from error
        except Exception as error:  # any failure here means the file is not a usable SMPL model
            raise MotionDataError(path, "SMPL model", "a pickle with v_template, shapedirs, posedirs, "
                                  "J_regressor, weights, kintree_table, f",
                                  f"{type(error).__name__}: {error}") from error  # fmt: skip
    if model.num_betas < len(shape):
        raise MotionDataError(path, "betas", f"at most {model.num_betas} shape coefficients",
                              f"{len(shape)}")  # fmt: skip
    parents = tuple(int(p) for p in model.parents.tolist())
    if model.J_regressor.shape[0] != NUM_BODIES or parents != SMPL_PARENTS:
        raise MotionDataError(path, "kintree_table/J_regressor", f"SMPL's 24-joint tree {SMPL_PARENTS}",
                              f"{model.J_regressor.shape[0]} joints with parents {parents}")  # fmt: skip
    coefficients = torch.zeros(1, model.num_betas, dtype=torch.float64)
    coefficients[0, : len(shape)] = torch.tensor(shape, dtype=torch.float64)
    with torch.no_grad():
        v_shaped = model.forward_shape(betas=coefficients).v_shaped
        joints = vertices2joints(model.J_regressor, v_shaped)[0]
    return joints.numpy()


def offsets_from_smpl_joints(joints: np.ndarray) -> np.ndarray:
    """Body offsets (24, 3) m in ``BODY_NAMES`` order from SMPL rest joints (24, 3) in SMPL order.

    Non-root offsets are child minus parent joint rotated into the humanoid frame by R⁻¹. The root
    entry is the pelvis joint exactly as SMPL gives it (SMPL frame), the convention of
    ``NEUTRAL_OFFSETS`` (the neutral model's pelvis joint is (−0.0018, −0.2233, 0.0282)).
    """
    smpl = np.asarray(joints, dtype=np.float64)
    if smpl.shape != (NUM_BODIES, 3) or not np.isfinite(smpl).all():
        raise MotionDataError("<joints argument>", "joints", f"finite array of shape ({NUM_BODIES}, 3)",
                              f"shape {smpl.shape}")  # fmt: skip
    by_body = smpl[list(SMPL_INDEX_OF_BODY)]
    offsets = np.empty((NUM_BODIES, 3), dtype=np.float64)
    offsets[0] = by_body[0]
    bone_smpl = by_body[1:] - by_body[list(PARENTS[1:])]
    to_humanoid = quat_conjugate(torch.tensor(HUMANOID_TO_SMPL_QUAT, dtype=torch.float64))
    offsets[1:] = quat_rotate(to_humanoid, torch.from_numpy(bone_smpl)).numpy()
    return offsets


def _bone(offsets: np.ndarray, body: int) -> np.ndarray:
    """The vector a body's capsule lies along: the mean of its children's offsets (the chest
    capsule points between neck and collar bones), or its own offset for a leaf body."""
    kids = children(body)
    return offsets[kids].mean(axis=0) if kids else offsets[body]


def _limb_length(offsets: np.ndarray, body: int) -> float:
    """Size of the limb a box belongs to: mean child bone length, or the body's own bone."""
    kids = children(body)
    lengths = np.linalg.norm(offsets[kids] if kids else offsets[body : body + 1], axis=-1)
    return float(lengths.mean())


def _stretch_to(old: np.ndarray, new: np.ndarray, body: int) -> Tuple[torch.Tensor, float]:
    """Smallest rotation (xyzw) turning ``old``'s direction into ``new``'s, and the length ratio."""
    old_len, new_len = float(np.linalg.norm(old)), float(np.linalg.norm(new))
    if old_len < 1e-9 or new_len < 1e-9:
        raise MotionDataError("<offsets argument>", f"body {body} bone", "non-zero bone length",
                              f"{old_len:.3g} m -> {new_len:.3g} m")  # fmt: skip
    a, b = old / old_len, new / new_len
    axis = np.cross(a, b)
    sin, cos = float(np.linalg.norm(axis)), float(np.dot(a, b))
    if cos < 0.0 and sin < 1e-9:
        raise MotionDataError("<offsets argument>", f"body {body} bone", "a bone pointing roughly the "
                              "neutral way", "a reversed bone")  # fmt: skip
    rotvec = np.zeros(3) if sin < 1e-12 else axis / sin * np.arctan2(sin, cos)
    return quat_from_rotvec(torch.from_numpy(rotvec)), new_len / old_len


def scale_geoms_to_offsets(
    offsets: np.ndarray,
    base_offsets: Sequence[Sequence[float]] = NEUTRAL_OFFSETS,
    base_geoms: Sequence[GeomSpec] = NEUTRAL_GEOMS,
) -> Tuple[GeomSpec, ...]:
    """Fit ``base_geoms`` (built for ``base_offsets``) to new ``offsets`` (24, 3) m.

    A capsule follows its bone (:func:`_bone`): its end points are rotated with the bone's
    direction change and scaled by its length ratio ``s``; its radius scales by ``s`` too
    (an isotropically scaled segment). A box scales uniformly (centre and half extents) by its
    limb's length ratio. Densities are kept, so masses scale with volume. Girth changes that do
    not move joints (SMPL betas that only fatten the mesh) are not captured.
    """
    new = np.asarray(offsets, dtype=np.float64)
    old = np.asarray(base_offsets, dtype=np.float64)
    if new.shape != (NUM_BODIES, 3) or old.shape != (NUM_BODIES, 3) or len(base_geoms) != NUM_BODIES:
        raise MotionDataError(
            "<offsets argument>",
            "offsets",
            f"({NUM_BODIES}, 3) offsets and {NUM_BODIES} geoms",
            f"{new.shape}, {old.shape}, {len(base_geoms)} geoms",
        )
    fitted: List[GeomSpec] = []
    for body, geom in enumerate(base_geoms):
        if geom.kind == "capsule":
            rotation, ratio = _stretch_to(_bone(old, body), _bone(new, body), body)
            ends = torch.tensor(geom.fromto, dtype=torch.float64).reshape(2, 3)
            moved = ratio * quat_rotate(rotation, ends)
            fitted.append(replace(geom, fromto=tuple(moved.reshape(6).tolist()),
                                  size=(geom.size[0] * ratio,)))  # fmt: skip
        else:
            ratio = _limb_length(new, body) / _limb_length(old, body)
            fitted.append(replace(geom, pos=tuple(ratio * float(v) for v in geom.pos or ()),
                                  size=tuple(ratio * float(v) for v in geom.size)))  # fmt: skip
    return tuple(fitted)


def smpl_shaped_humanoid(
    smpl_model_dir: Union[str, Path], gender: str = "neutral", betas: Sequence[float] = ()
) -> ShapedHumanoid:
    """Offsets and geometry of the humanoid for SMPL shape ``betas`` (up to the file's count).

    Reads ``SMPL_<GENDER>.pkl`` from ``smpl_model_dir`` (or its ``smpl/`` sub-folder).
    """
    gender = gender.lower()
    model_file = find_smpl_model_file(smpl_model_dir, gender)
    joints = smpl_rest_joints(model_file, gender, betas)
    offsets = offsets_from_smpl_joints(joints)
    return ShapedHumanoid(
        offsets=offsets,
        geoms=scale_geoms_to_offsets(offsets),
        gender=gender,
        betas=tuple(float(b) for b in betas),
        model_file=model_file,
    )
