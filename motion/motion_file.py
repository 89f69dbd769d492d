"""Per-clip ``.motion`` files: save, load and validate (ProtoMotions-compatible).

A ``.motion`` file is a ``torch.save`` dict, one clip of ``T`` frames of the 24-body SMPL humanoid:

=========================  ==============  =========  =====================================
key                        shape           dtype      meaning
=========================  ==============  =========  =====================================
``fps``                    —               int        frames per second
``rigid_body_pos``         (T, 24, 3)      float32    body origins, world frame, metres
``rigid_body_rot``         (T, 24, 4)      float32    body rotations, world frame, xyzw
``rigid_body_vel``         (T, 24, 3)      float32    linear velocities, m/s
``rigid_body_ang_vel``     (T, 24, 3)      float32    angular velocities, rad/s
``dof_pos``                (T, 69)         float32    exp-map of the local rotations of bodies 1..23
``dof_vel``                (T, 69)         float32    rad/s
``rigid_body_contacts``    (T, 24)         bool       body touches the ground
``local_rigid_body_rot``   (T, 24, 4)      float32    rotations relative to the parent body, xyzw
``mimicflow``              —               dict       our metadata (optional; str/int/float/bool/None
                                                      /list/dict values): source path and md5,
                                                      converter version, conversion parameters, ...
=========================  ==============  =========  =====================================

ProtoMotions 3 also pickles an enum under ``state_conversion``; :func:`load_motion` reads such
files with ``weights_only=True`` by allowing exactly one stand-in class for that enum, and returns
its value as a plain string.
"""

from __future__ import annotations

import contextlib
import enum
import math
import numbers
import zipfile
from pathlib import Path
from typing import Any, Dict, Mapping, Tuple, Union

import torch

from motion.errors import MotionDataError
from motion.io_utils import atomic_torch_save
from motion.skeleton import NUM_BODIES, NUM_DOFS

PathLike = Union[str, Path]

#: Per-frame tensors of a ``.motion`` file, each with its per-frame shape and dtype.
MOTION_FIELDS: Dict[str, Tuple[Tuple[int, ...], torch.dtype]] = {
    "rigid_body_pos": ((NUM_BODIES, 3), torch.float32),
    "rigid_body_rot": ((NUM_BODIES, 4), torch.float32),
    "rigid_body_vel": ((NUM_BODIES, 3), torch.float32),
    "rigid_body_ang_vel": ((NUM_BODIES, 3), torch.float32),
    "dof_pos": ((NUM_DOFS,), torch.float32),
    "dof_vel": ((NUM_DOFS,), torch.float32),
    "rigid_body_contacts": ((NUM_BODIES,), torch.bool),
    "local_rigid_body_rot": ((NUM_BODIES, 4), torch.float32),
}
#: Every key a ``.motion`` file must have.
MOTION_KEYS: Tuple[str, ...] = ("fps",) + tuple(MOTION_FIELDS)
#: Fields holding unit quaternions.
QUATERNION_FIELDS: Tuple[str, ...] = ("rigid_body_rot", "local_rigid_body_rot")
#: Key of our metadata dict; the converter writes ``source_path``, ``source_md5``,
#: ``source_fps``, ``converter_version``, ``conversion`` (parameters), ``betas``, ``gender``, ...
METADATA_KEY = "mimicflow"
#: ProtoMotions' enum key; loaded as its string value ('common' or 'simulator').
STATE_CONVERSION_KEY = "state_conversion"
#: How far from 1 a stored quaternion's norm may be (float32 FK output is within ~1e-6).
UNIT_NORM_TOLERANCE = 1e-3

_PROTOMOTIONS_STATE_CONVERSION = "protomotions.simulator.base_simulator.simulator_state.StateConversion"


class _StateConversion(enum.Enum):
    """Stand-in for ProtoMotions' ``StateConversion`` enum: the only class the unpickler may build."""

    COMMON = "common"
    SIMULATOR = "simulator"


def read_torch_dict(path: PathLike, mmap: bool = False) -> Dict[str, Any]:
    """``torch.load(path, weights_only=True)`` of a dict, accepting ProtoMotions' enum.

    ``mmap=True`` maps tensor storages lazily (zip-format files only; others load normally):
    shapes and dtypes are then known without reading tensor data. Any failure to read is a
    :class:`MotionDataError` naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise MotionDataError(path, "<file>", "an existing file", "no such file")
    # Only pass mmap when used (older torch lacks it); safe_globals with a (class, name) pair
    # needs torch ≥ 2.6 — without it ProtoMotions' enum files are refused, ours still load.
    options = {"mmap": True} if mmap and zipfile.is_zipfile(path) else {}
    safe_globals = getattr(torch.serialization, "safe_globals", None)
    allowed = [(_StateConversion, _PROTOMOTIONS_STATE_CONVERSION)]
    try:
        with safe_globals(allowed) if safe_globals is not None else contextlib.nullcontext():
            loaded = torch.load(path, map_location="cpu", weights_only=True, **options)
    except Exception as error:  # torch raises UnpicklingError, RuntimeError, EOFError, ...
        found = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"[:300]
        raise MotionDataError(path, "<file>", "a torch.save dict loadable with weights_only=True", found) from None
    if not isinstance(loaded, dict):
        raise MotionDataError(path, "<file>", "a dict", type(loaded).__name__)
    if isinstance(loaded.get(STATE_CONVERSION_KEY), _StateConversion):
        loaded[STATE_CONVERSION_KEY] = loaded[STATE_CONVERSION_KEY].value
    return loaded


def check_motion_structure(motion: Mapping[str, Any], path: PathLike) -> int:
    """Check keys, ``fps``, shapes and dtypes (no tensor data is read); return ``T``."""
    for key in MOTION_KEYS:
        if key not in motion:
            raise MotionDataError(path, key, "present", "missing")
    motion_fps(motion, path)
    num_frames = -1
    reference = ""
    for key, (frame_shape, dtype) in MOTION_FIELDS.items():
        value = motion[key]
        if not isinstance(value, torch.Tensor):
            raise MotionDataError(path, key, "a tensor", type(value).__name__)
        if value.dtype != dtype:
            raise MotionDataError(path, key, f"dtype {dtype}", f"dtype {value.dtype}")
        shape = tuple(value.shape)
        if num_frames < 0:
            if len(shape) != 1 + len(frame_shape) or shape[1:] != frame_shape or shape[0] < 1:
                raise MotionDataError(path, key, f"shape (T ≥ 1, {_dims(frame_shape)})", f"shape {shape}")
            num_frames, reference = shape[0], key
        elif shape != (num_frames,) + frame_shape:
            expected = f"shape ({num_frames}, {_dims(frame_shape)}) (T from {reference})"
            raise MotionDataError(path, key, expected, f"shape {shape}")
    metadata = motion.get(METADATA_KEY)
    if metadata is not None and not isinstance(metadata, dict):
        raise MotionDataError(path, METADATA_KEY, "a dict", type(metadata).__name__)
    return num_frames


def check_motion_values(motion: Mapping[str, Any], path: PathLike) -> None:
    """Check every float tensor is finite and every quaternion has unit norm (reads all data)."""
    for key, (_shape, dtype) in MOTION_FIELDS.items():
        if dtype != torch.float32:
            continue
        value = motion[key]
        finite = torch.isfinite(value)
        if not bool(finite.all()):
            frame = int((~finite).reshape(value.shape[0], -1).any(dim=1).nonzero()[0, 0])
            raise MotionDataError(path, key, "finite values", f"NaN or inf at frame {frame}")
    for key in QUATERNION_FIELDS:
        error = (torch.linalg.vector_norm(motion[key], dim=-1) - 1.0).abs()
        worst = float(error.max())
        if worst > UNIT_NORM_TOLERANCE:
            frame = int(error.amax(dim=1).argmax())
            raise MotionDataError(
                path,
                key,
                f"unit quaternions (|norm − 1| ≤ {UNIT_NORM_TOLERANCE})",
                f"|norm − 1| = {worst:.3g} at frame {frame}",
            )


def motion_fps(motion: Mapping[str, Any], path: PathLike) -> int:
    """The clip's frame rate as a positive int (an integral float is accepted)."""
    fps = motion.get("fps")
    if isinstance(fps, bool) or not isinstance(fps, numbers.Real) or not math.isfinite(fps):
        raise MotionDataError(path, "fps", "a positive integer", repr(fps))
    if fps <= 0 or int(fps) != fps:
        raise MotionDataError(path, "fps", "a positive integer", repr(fps))
    return int(fps)


def load_motion(path: PathLike) -> Dict[str, Any]:
    """Load and fully validate one ``.motion`` file.

    Returns a dict with ``fps`` (int), the eight per-frame tensors of :data:`MOTION_FIELDS`
    (contiguous, CPU), ``mimicflow`` metadata when present and ``state_conversion`` (str) when the
    file came from ProtoMotions. Other keys are dropped. Raises :class:`MotionDataError`.
    """
    raw = read_torch_dict(path)
    check_motion_structure(raw, path)
    # ProtoMotions may store views into a larger storage (e.g. dof_pos); compact them so a later
    # save does not carry the whole storage along.
    motion: Dict[str, Any] = {"fps": motion_fps(raw, path)}
    for key in MOTION_FIELDS:
        motion[key] = _compact(raw[key])
    check_motion_values(motion, path)
    for key in (METADATA_KEY, STATE_CONVERSION_KEY):
        if key in raw:
            motion[key] = raw[key]
    return motion


def save_motion(motion: Mapping[str, Any], path: PathLike) -> None:
    """Validate ``motion`` (as :func:`load_motion` would) and write it atomically to ``path``."""
    unknown = sorted(set(motion) - set(MOTION_KEYS) - {METADATA_KEY, STATE_CONVERSION_KEY})
    if unknown:
        raise MotionDataError(path, unknown[0], f"one of {', '.join(MOTION_KEYS + (METADATA_KEY,))}", "unknown key")
    check_motion_structure(motion, path)
    check_motion_values(motion, path)
    out: Dict[str, Any] = {"fps": motion_fps(motion, path)}
    for key in MOTION_FIELDS:
        out[key] = _compact(motion[key].detach().cpu())
    if METADATA_KEY in motion:
        _check_plain_data(motion[METADATA_KEY], path, METADATA_KEY)
        out[METADATA_KEY] = motion[METADATA_KEY]
    if STATE_CONVERSION_KEY in motion:
        if not isinstance(motion[STATE_CONVERSION_KEY], str):
            raise MotionDataError(path, STATE_CONVERSION_KEY, "a string", type(motion[STATE_CONVERSION_KEY]).__name__)
        out[STATE_CONVERSION_KEY] = motion[STATE_CONVERSION_KEY]
    atomic_torch_save(out, path)


def _compact(tensor: torch.Tensor) -> torch.Tensor:
    """A contiguous tensor that owns exactly its own bytes (views into bigger storages are copied)."""
    if tensor.is_contiguous() and tensor.untyped_storage().nbytes() == tensor.numel() * tensor.element_size():
        return tensor
    return tensor.clone(memory_format=torch.contiguous_format)


def _dims(shape: Tuple[int, ...]) -> str:
    return ", ".join(str(d) for d in shape)


def _check_plain_data(value: Any, path: PathLike, field: str) -> None:
    """Metadata must be plain data (loadable with ``weights_only=True``, JSON-like)."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_plain_data(item, path, f"{field}[{index}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise MotionDataError(path, field, "str keys", repr(key))
            _check_plain_data(item, path, f"{field}.{key}")
        return
    raise MotionDataError(path, field, "str, int, float, bool, None, list or dict", type(value).__name__)
