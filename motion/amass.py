"""Reading AMASS ``.npz`` archives (SMPL-H, SMPL-X and plain SMPL) into one SMPL body layout.

Every reader returns an :class:`AmassClip` whose ``poses`` are the 24 SMPL joints in SMPL joint
order as axis-angle (T, 72): the global orientation plus 21 body joints come straight from the
source file and the two SMPL hand joints (22, 23), which SMPL-H/SMPL-X replace with articulated
fingers, are zero. Every problem with a file raises :class:`motion.errors.MotionDataError`.

AMASS files are zip archives read lazily by ``np.load``: only the members we need are
decompressed (never the marker arrays, which are often larger than the poses).

Hostile files are refused before they can hang or exhaust the reader: only regular files are
opened (a FIFO would block ``open`` forever), each member's ``.npy`` header is checked (size
limits of :mod:`motion.limits`, and data exactly as long as the header says) before its data is
read, and every number is range-checked before use.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Tuple

import numpy as np

from motion.errors import MotionDataError
from motion.io_utils import PathLike, open_regular_file
from motion.limits import MAX_ABS_POSE, MAX_ABS_TRANS, MAX_ARRAY_ELEMENTS, MAX_FRAMERATE, MAX_FRAMES, check_framerate

#: Width of ``poses`` for each body model: axis-angle for every joint of the model.
POSE_WIDTH_BY_MODEL = {"smplh": 156, "smplx": 165, "smpl": 72}
#: Global orientation + 21 body joints: the leading values shared by SMPL, SMPL-H and SMPL-X.
BODY_POSE_WIDTH = 66
SMPL_POSE_WIDTH = 72
GENDERS = ("male", "female", "neutral")
#: Shape coefficients a clip may carry, per body model: real AMASS has 16 (SMPL-H, and SMPL-X
#: stage-ii fits), SMPL-X and SMPL models take up to 300, and 10 is every model's basic set.
BETAS_COUNT_BY_MODEL = {"smplh": (10, 16), "smplx": (10, 300), "smpl": (10, 300)}
#: Frame-rate keys: SMPL-H archives use the first, SMPL-X archives the second.
FPS_KEYS = ("mocap_framerate", "mocap_frame_rate")
# What np.load / zipfile raise for unreadable, truncated, corrupt or non-npz bytes: besides OSError,
# ValueError, EOFError, BadZipFile, zlib.error and KeyError, a damaged .npy header raises
# tokenize.TokenError or SyntaxError, an unknown compression NotImplementedError, an encrypted
# member RuntimeError (all found by tests/test_fuzz_inputs.py). Any of them is the file's problem;
# the try blocks they guard contain only the reading call.
_READ_ERRORS = (Exception,)


@dataclass
class AmassClip:
    """One AMASS motion in the SMPL body layout.

    Attributes:
        path: the source file.
        poses: (T, 72) float64, axis-angle radians for the 24 SMPL joints in SMPL joint order;
            joints 22 and 23 (the SMPL hands) are zero for SMPL-H/SMPL-X sources.
        trans: (T, 3) float64, root (pelvis) translation in metres, AMASS z-up world.
        fps: frames per second of the source capture (e.g. 120.0, or 120.00004577636719).
        betas: (B,) float64 shape coefficients as stored (B is 16 in real AMASS; see BETAS_COUNT_BY_MODEL).
        gender: 'male', 'female' or 'neutral'.
        model_type: 'smplh', 'smplx' or 'smpl': the body model the source file was fitted with.
    """

    path: str
    poses: np.ndarray
    trans: np.ndarray
    fps: float
    betas: np.ndarray
    gender: str
    model_type: str

    @property
    def num_frames(self) -> int:
        return int(self.poses.shape[0])


def _describe_shape(value: np.ndarray) -> str:
    return str(tuple(int(n) for n in value.shape))


class _Archive:
    """An open npz archive: membership from its name list, reads that raise MotionDataError."""

    def __init__(self, npz: Any, path: str) -> None:
        self.npz = npz
        self.path = path
        self.keys = frozenset(npz.files)
        self.members = frozenset(npz.zip.namelist())

    def __contains__(self, key: str) -> bool:
        return key in self.keys

    def __getitem__(self, key: str) -> np.ndarray:
        self._check_header(key)
        try:
            return self.npz[key]
        except _READ_ERRORS as error:
            raise MotionDataError(
                self.path, key, "a readable numpy array", f"{type(error).__name__}: {error}"
            ) from error

    def _check_header(self, key: str) -> None:
        """Read only the member's ``.npy`` header: refuse a size beyond the limits, or data whose
        length is not what the header declares, before np.load allocates the declared array."""
        member = key if key in self.members else key + ".npy"  # np.load's own lookup order
        try:
            stored_bytes = self.npz.zip.getinfo(member).file_size
            with self.npz.zip.open(member) as raw:
                version = np.lib.format.read_magic(raw)
                readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
                header = readers[version](raw) if version in readers else None
                header_bytes = raw.tell()
        except _READ_ERRORS as error:
            raise MotionDataError(
                self.path, key, "a readable numpy array", f"{type(error).__name__}: {error}"
            ) from error
        if header is None:
            raise MotionDataError(self.path, key, "a .npy array of format 1.0 or 2.0", f"format {version}")
        shape, _fortran_order, dtype = header
        if dtype.hasobject:
            return  # np.load refuses it (allow_pickle=False) without reading any data
        elements = math.prod(shape)
        if (shape and shape[0] > MAX_FRAMES) or elements > MAX_ARRAY_ELEMENTS:
            expected = f"at most {MAX_FRAMES} frames and {MAX_ARRAY_ELEMENTS} values"
            raise MotionDataError(self.path, key, expected, f"shape {tuple(shape)}")
        if header_bytes + elements * dtype.itemsize != stored_bytes:
            expected = f"{elements * dtype.itemsize} bytes of data for shape {tuple(shape)} {dtype}"
            raise MotionDataError(self.path, key, expected, f"{stored_bytes - header_bytes} bytes in the archive")


def _float_array(value: np.ndarray, path: str, key: str) -> np.ndarray:
    if value.dtype.kind not in "fiu":
        raise MotionDataError(path, key, "a numeric array", f"dtype {value.dtype}")
    return np.asarray(value, dtype=np.float64)


def _check_finite(value: np.ndarray, path: str, key: str, limit: float) -> None:
    """Every value finite and within ±``limit`` (frames are rows of ``value``)."""
    finite = np.isfinite(value)
    if finite.all():
        magnitude = np.abs(value).reshape(value.shape[0], -1).max(axis=1)
        if magnitude.max() > limit:
            frame = int(np.argmax(magnitude > limit))
            raise MotionDataError(path, key, f"|values| ≤ {limit:g}", f"{magnitude[frame]:.3g} at frame {frame}")
    else:
        bad_rows = np.nonzero(~finite.reshape(value.shape[0], -1).all(axis=1))[0]
        kinds = []
        if np.isnan(value).any():
            kinds.append("NaN")
        if np.isinf(value).any():
            kinds.append("inf")
        raise MotionDataError(
            path,
            key,
            "finite values",
            f"{' and '.join(kinds)} in {bad_rows.size} frame(s), first at frame {int(bad_rows[0])}",
        )


def _decode_text(value: np.ndarray, path: str, key: str) -> str:
    """A string stored as str, bytes, a 0-d array or a 1-element array of either."""
    if value.dtype.kind not in "SU" or value.size != 1:
        raise MotionDataError(path, key, "a single string", f"dtype {value.dtype}, shape {value.shape}")
    item = value.reshape(()).item()
    if isinstance(item, bytes):
        item = item.decode("utf-8", errors="replace")
    return str(item).strip()


def _read_gender(data: _Archive, path: str) -> str:
    if "gender" not in data:
        return "neutral"  # plain SMPL files from other tools sometimes omit it
    gender = _decode_text(data["gender"], path, "gender").lower()
    if gender not in GENDERS:
        raise MotionDataError(path, "gender", "one of 'male', 'female', 'neutral'", repr(gender)[:100])
    return gender


def _read_fps(data: _Archive, path: str) -> float:
    for key in FPS_KEYS:
        if key in data:
            value = data[key]
            if value.size != 1 or value.dtype.kind not in "fiu":
                raise MotionDataError(path, key, "a single number", f"dtype {value.dtype}, shape {value.shape}")
            return check_framerate(float(value.reshape(())), path, key)
    raise MotionDataError(
        path,
        FPS_KEYS[0],
        "a frame-rate key 'mocap_framerate' (SMPL-H/SMPL) or 'mocap_frame_rate' (SMPL-X)",
        f"keys {sorted(data.keys)}",
    )


def _read_split_smplx_pose(data: _Archive, path: str) -> np.ndarray:
    """(T, 66) global orientation + body pose from SMPL-X's ``root_orient`` and ``pose_body``."""
    parts = []
    for key, width in (("root_orient", 3), ("pose_body", 63)):
        value = data[key]
        if value.ndim != 2 or value.shape[1] != width:
            raise MotionDataError(path, key, f"shape (T, {width})", _describe_shape(value))
        parts.append(_float_array(value, path, key))
    root, body = parts
    if root.shape[0] != body.shape[0]:
        raise MotionDataError(
            path, "pose_body", f"{root.shape[0]} frames like 'root_orient'", f"{body.shape[0]} frames"
        )
    return np.concatenate((root, body), axis=1)


def _read_body_pose(data: _Archive, path: str) -> Tuple[np.ndarray, str]:
    """(T, 66) or (T, 72) source pose and the body model it comes from."""
    if "poses" in data:
        poses = data["poses"]
        width = poses.shape[1] if poses.ndim == 2 else None
        model_type = next((m for m, w in POSE_WIDTH_BY_MODEL.items() if w == width), None)
        if model_type is None:
            raise MotionDataError(
                path,
                "poses",
                "shape (T, 156) (SMPL-H), (T, 165) (SMPL-X) or (T, 72) (SMPL)",
                _describe_shape(poses),
            )
        poses = _float_array(poses, path, "poses")
        return (poses if model_type == "smpl" else poses[:, :BODY_POSE_WIDTH]), model_type
    if "root_orient" in data and "pose_body" in data:
        return _read_split_smplx_pose(data, path), "smplx"
    raise MotionDataError(
        path,
        "poses",
        "a key 'poses' or the SMPL-X keys 'root_orient' and 'pose_body'",
        f"keys {sorted(data.keys)}",
    )


def _read_betas(data: _Archive, path: str, model_type: str) -> np.ndarray:
    """The clip's shape coefficients, (B,) float64 (empty when the file has none).

    Betas describe the subject, not a frame: one vector per clip, ``(B,)`` or ``(1, B)`` as some
    exporters keep a batch axis. A per-frame ``(T, B)`` matrix or a count the body model does not
    have (3 betas, 1,000) would otherwise be flattened into the ``.motion`` metadata and later
    shape the wrong body, so both are refused. ``num_betas``, which SMPL-X archives carry, must
    agree with the vector.
    """
    if "betas" not in data:
        return np.zeros(0, dtype=np.float64)
    low, high = BETAS_COUNT_BY_MODEL[model_type]
    expected = f"one shape vector of {low} to {high} values for {model_type} (shape (B,) or (1, B))"
    raw = data["betas"]
    if not (raw.ndim == 1 or (raw.ndim == 2 and raw.shape[0] == 1)):
        raise MotionDataError(path, "betas", expected, f"shape {_describe_shape(raw)}")
    betas = _float_array(raw, path, "betas").reshape(-1)
    if not low <= betas.size <= high:
        raise MotionDataError(path, "betas", expected, f"{betas.size} value(s)")
    if not np.isfinite(betas).all():
        raise MotionDataError(path, "betas", "finite values", f"NaN or inf in {betas.size} values")
    if "num_betas" in data:
        declared = data["num_betas"]
        if declared.size != 1 or declared.dtype.kind not in "iu" or int(declared.reshape(())) != betas.size:
            found = repr(declared.reshape(()).item()) if declared.size == 1 else f"shape {_describe_shape(declared)}"
            raise MotionDataError(path, "num_betas", f"{betas.size} (the length of 'betas')", found)
    return betas


def _check_declared_model(data: _Archive, path: str, model_type: str) -> None:
    """SMPL-X archives may name their model; a contradiction means a mislabelled file."""
    if "surface_model_type" not in data:
        return
    declared = _decode_text(data["surface_model_type"], path, "surface_model_type")
    declared = declared.lower()
    if declared in POSE_WIDTH_BY_MODEL and declared != model_type:
        raise MotionDataError(path, "surface_model_type", f"'{model_type}' (as the pose layout says)", repr(declared))


def read_amass_clip(path: PathLike) -> AmassClip:
    """Read one AMASS archive (SMPL-H, SMPL-X or SMPL) as an :class:`AmassClip`.

    Raises:
        MotionDataError: unreadable or non-regular file (field ``'<file>'``), missing key, wrong
            shape or dtype, an array beyond the size limits or shorter/longer than its header says,
            NaN/inf or values beyond :mod:`motion.limits`, a frame rate outside
            ``[MIN_FRAMERATE, MAX_FRAMERATE]``, fewer than 2 frames, ``trans`` and ``poses`` of
            different lengths, or betas that are not one vector of a count the body model has
            (:data:`BETAS_COUNT_BY_MODEL`) or disagree with ``num_betas``.
    """
    path_str = os.fspath(path)
    try:
        # A FIFO, device or socket is refused here, never opened (it would block the batch).
        handle = open_regular_file(path_str, "a readable .npz archive")
    except OSError as error:
        raise MotionDataError(
            path_str, "<file>", "a readable .npz archive", f"{type(error).__name__}: {error}"
        ) from error
    with handle:
        return _read_open_archive(handle, path_str)


def _read_open_archive(handle: Any, path_str: str) -> AmassClip:
    try:
        npz = np.load(handle, allow_pickle=False)
    except _READ_ERRORS as error:
        raise MotionDataError(
            path_str, "<file>", "a readable .npz archive", f"{type(error).__name__}: {error}"
        ) from error
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise MotionDataError(path_str, "<file>", "a .npz archive", f"a single .npy array {npz.shape}")
    with npz:
        data = _Archive(npz, path_str)
        body_pose, model_type = _read_body_pose(data, path_str)
        _check_declared_model(data, path_str, model_type)
        num_frames = body_pose.shape[0]
        if num_frames < 2:
            raise MotionDataError(path_str, "poses", "at least 2 frames", f"{num_frames} frame(s)")
        _check_finite(body_pose, path_str, "poses", MAX_ABS_POSE)

        if "trans" not in data:
            raise MotionDataError(path_str, "trans", "a key 'trans' of shape (T, 3)", "no such key")
        trans = data["trans"]
        if trans.ndim != 2 or trans.shape[1] != 3:
            raise MotionDataError(path_str, "trans", f"shape ({num_frames}, 3)", _describe_shape(trans))
        if trans.shape[0] != num_frames:
            raise MotionDataError(
                path_str, "trans", f"{num_frames} frames (as many as 'poses')", f"{trans.shape[0]} frames"
            )
        trans = _float_array(trans, path_str, "trans")
        _check_finite(trans, path_str, "trans", MAX_ABS_TRANS)

        fps = _read_fps(data, path_str)
        gender = _read_gender(data, path_str)
        betas = _read_betas(data, path_str, model_type)

    if model_type == "smpl":
        poses = np.ascontiguousarray(body_pose)
    else:
        poses = np.zeros((num_frames, SMPL_POSE_WIDTH), dtype=np.float64)
        poses[:, :BODY_POSE_WIDTH] = body_pose
    return AmassClip(
        path=path_str,
        poses=poses,
        trans=np.ascontiguousarray(trans),
        fps=fps,
        betas=betas,
        gender=gender,
        model_type=model_type,
    )


def is_amass_motion_file(path: PathLike) -> bool:
    """Whether a file name looks like an AMASS motion archive (decided by name only, no I/O).

    Skips ``shape.npz`` (SMPL-H per-subject shape), ``*stagei.npz`` (SMPL-X MoSh stage-i shape
    fits) and dot files such as the ``._name.npz`` AppleDouble files of archives made on macOS.
    """
    name = os.path.basename(os.fspath(path))
    lower = name.lower()
    return (
        lower.endswith(".npz")
        and lower != "shape.npz"
        and not lower.endswith("stagei.npz")
        and not name.startswith(".")
    )


def find_amass_files(root: PathLike) -> List[Path]:
    """Every AMASS motion archive below ``root`` (recursive), sorted by path."""
    found: List[Path] = []
    for directory, _dirs, files in os.walk(os.fspath(root)):
        found.extend(Path(directory, name) for name in files if is_amass_motion_file(name))
    return sorted(found)


#: AMASS subsets as the AMASS server names its per-dataset archives today.
AMASS_SUBSETS = (
    "ACCAD", "BMLhandball", "BMLmovi", "BMLrub", "CMU", "CNRS", "DFaust", "DanceDB", "EKUT",
    "EyesJapanDataset", "GRAB", "HDM05", "HUMAN4D", "HumanEva", "KIT", "MoSh", "PosePrior", "SFU",
    "SOMA", "SSM", "TCDHands", "TotalCapture", "Transitions", "WEIZMANN",
)  # fmt: skip
#: The folder names of older AMASS releases (still in many users' trees).
AMASS_LEGACY_SUBSETS = (
    "BioMotionLab_NTroje", "DFaust_67", "Eyes_Japan_Dataset", "MPI_HDM05", "MPI_Limits", "MPI_mosh",
    "SSM_synced", "TCD_handMocap", "Transitions_mocap",
)  # fmt: skip


def subset_folder_parent(root: PathLike) -> Optional[Tuple[Path, str]]:
    """``(parent, name)`` when ``root`` is one AMASS subset's own folder (``~/AMASS/SFU``): its
    name is a known subset and none of its folders is one. Converted from there, the first folder
    below it (a subject, ``0005``) would pass for the subset; callers convert ``parent`` restricted
    to ``name`` instead. None for an AMASS root (``~/AMASS``) or any other folder."""
    path = Path(root)
    known = set(AMASS_SUBSETS) | set(AMASS_LEGACY_SUBSETS)
    if path.name not in known or not path.is_dir():
        return None
    if any(child.is_dir() and child.name in known for child in path.iterdir()):
        return None
    resolved = path.resolve()
    return resolved.parent, resolved.name


def amass_subset_of(path: PathLike, root: PathLike) -> str:
    """The AMASS subset a file belongs to: the first directory below ``root``.

    ``root/CMU/01/01_01_poses.npz`` → ``'CMU'``; a file directly in ``root`` → the name of its
    parent directory. Raises ValueError if ``path`` is not below ``root``.
    """
    file_path, root_path = Path(path), Path(root)
    try:
        relative = file_path.relative_to(root_path)
    except ValueError:
        relative = file_path.resolve().relative_to(root_path.resolve())
    return relative.parts[0] if len(relative.parts) > 1 else file_path.resolve().parent.name


def round_fps(fps: float) -> int:
    """A capture rate as an integer (120.00004577636719 → 120). Raises ValueError below 0.5 fps,
    above :data:`motion.limits.MAX_FRAMERATE` or for NaN/inf."""
    fps = float(fps)
    if not math.isfinite(fps) or round(fps) > MAX_FRAMERATE:
        raise ValueError(f"frame rate {fps!r}: expected a finite rate of at most {MAX_FRAMERATE:g} fps")
    rounded = int(round(fps))
    if rounded < 1:
        raise ValueError(f"frame rate {fps!r} rounds to {rounded}; expected at least 1 fps")
    return rounded


def downsample_step(source_fps: float, target_fps: float) -> Tuple[int, float]:
    """Frame step and resulting rate for taking every ``step``-th source frame.

    With r = round(source_fps): d = the smallest divisor of r with d ≥ target_fps (r itself if
    none is), step = r // d, output fps = d. So 120→(4, 30), 150→(5, 30), 59→(1, 59), 24→(1, 24)
    for a 30 fps target: the output rate is the smallest exact sub-rate at or above the target,
    never an interpolated one. The divisor search is bounded: ``r`` is at most
    :data:`motion.limits.MAX_FRAMERATE` (ValueError beyond).
    """
    if not target_fps > 0:
        raise ValueError(f"target fps must be > 0, got {target_fps!r}")
    rate = round_fps(source_fps)
    divisor = next((d for d in range(1, rate + 1) if rate % d == 0 and d >= target_fps), rate)
    return rate // divisor, float(divisor)
