"""Per-clip ``.motion`` files: save, load and validate (ProtoMotions-compatible).

A ``.motion`` file is a ``torch.save`` dict, one clip of ``T`` frames of a body tree of ``B`` bodies
with ``D`` degrees of freedom: the 24-body SMPL humanoid (``B`` = 24, ``D`` = 69) or a robot such as
the Unitree G1 (``B`` = 30, ``D`` = 29, hinge angles):

=========================  ==============  =========  =====================================
key                        shape           dtype      meaning
=========================  ==============  =========  =====================================
``fps``                    —               int        frames per second
``rigid_body_pos``         (T, B, 3)       float32    body origins, world frame, metres
``rigid_body_rot``         (T, B, 4)       float32    body rotations, world frame, xyzw
``rigid_body_vel``         (T, B, 3)       float32    linear velocities, m/s
``rigid_body_ang_vel``     (T, B, 3)       float32    angular velocities, rad/s
``dof_pos``                (T, D)          float32    SMPL: exp-map of the local rotations of
                                                      bodies 1..23; robots: joint angles, rad
``dof_vel``                (T, D)          float32    rad/s
``rigid_body_contacts``    (T, B)          bool       body touches the ground
``local_rigid_body_rot``   (T, B, 4)       float32    rotations relative to the parent body, xyzw
``mimicflow``              —               dict       our metadata (optional; str/int/float/bool/None
                                                      /list/dict values): source path and md5,
                                                      converter version, conversion parameters, ...
=========================  ==============  =========  =====================================

Every field is required (ProtoMotions writes all eight for its humanoids and robots alike). ``B``
and ``D`` come from the file itself: all fields must agree on ``T``, ``B`` and ``D``, and a
disagreement names the field that differs from the most others. Callers that know the body tree
pass ``expected`` sizes (e.g. :data:`SMPL_SIZES` when converting AMASS): then a file of another
size is refused naming the first field that differs.

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
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Tuple, Union

import torch

from motion.errors import MotionDataError
from motion.io_utils import PathLike, atomic_torch_save, open_regular_file, regular_file_problem
from motion.limits import FRAMERATE_RANGE_TEXT, MAX_FRAMERATE, MAX_FRAMES, MIN_FRAMERATE
from motion.skeleton import NUM_BODIES, NUM_DOFS

#: Per-frame tensors of a ``.motion`` file, each with its per-frame shape and dtype. ``"B"`` stands
#: for the number of bodies and ``"D"`` for the number of degrees of freedom, both read from the file.
MOTION_FIELDS: Dict[str, Tuple[Tuple[Union[int, str], ...], torch.dtype]] = {
    "rigid_body_pos": (("B", 3), torch.float32),
    "rigid_body_rot": (("B", 4), torch.float32),
    "rigid_body_vel": (("B", 3), torch.float32),
    "rigid_body_ang_vel": (("B", 3), torch.float32),
    "dof_pos": (("D",), torch.float32),
    "dof_vel": (("D",), torch.float32),
    "rigid_body_contacts": (("B",), torch.bool),
    "local_rigid_body_rot": (("B", 4), torch.float32),
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


class MotionSizes(NamedTuple):
    """Body and degree-of-freedom counts of a ``.motion`` file's body tree."""

    num_bodies: int  # B
    num_dofs: int  # D


class MotionShape(NamedTuple):
    """Frame, body and degree-of-freedom counts of one ``.motion`` file."""

    num_frames: int  # T
    num_bodies: int  # B
    num_dofs: int  # D

    @property
    def sizes(self) -> MotionSizes:
        return MotionSizes(self.num_bodies, self.num_dofs)


#: The 24-body SMPL humanoid: three exp-map dofs per non-root body.
SMPL_SIZES = MotionSizes(NUM_BODIES, NUM_DOFS)

_PROTOMOTIONS_STATE_CONVERSION = "protomotions.simulator.base_simulator.simulator_state.StateConversion"


#: Stand-in for ProtoMotions' ``StateConversion`` enum, the only class the unpickler may build. It
#: carries ProtoMotions' module and name because torch's allowlist is keyed by them: through the
#: ``safe_globals`` context (torch ≥ 2.5), or torch 2.4's process-wide ``add_safe_globals`` (2.4.1
#: is the last torch for Python 3.8, IsaacGym's).
_StateConversion = enum.Enum(  # type: ignore[misc]
    "StateConversion", {"COMMON": "common", "SIMULATOR": "simulator"},
    module=_PROTOMOTIONS_STATE_CONVERSION.rsplit(".", 1)[0],
)  # fmt: skip
_registered_globally = False


def _allow_protomotions_enum() -> Any:
    """A context in which ``torch.load(weights_only=True)`` may build ProtoMotions' enum."""
    global _registered_globally
    safe_globals = getattr(torch.serialization, "safe_globals", None)
    if safe_globals is not None:
        return safe_globals([_StateConversion])
    if not _registered_globally and hasattr(torch.serialization, "add_safe_globals"):
        torch.serialization.add_safe_globals([_StateConversion])
        _registered_globally = True
    return contextlib.nullcontext()


def read_torch_dict(path: PathLike, mmap: bool = False) -> Dict[str, Any]:
    """``torch.load(path, weights_only=True)`` of a dict, accepting ProtoMotions' enum.

    ``mmap=True`` maps tensor storages lazily (zip-format files only; others load normally):
    shapes and dtypes are then known without reading tensor data. Any failure to read is a
    :class:`MotionDataError` naming the file; a FIFO, device or socket is refused unopened.
    """
    path = Path(path)
    problem = regular_file_problem(path)
    if problem is not None:
        raise MotionDataError(path, "<file>", "an existing regular file", problem)
    try:
        if mmap and zipfile.is_zipfile(path):
            # mmap needs a path (so no open-then-check here); only pass it when used (older torch lacks it).
            with _allow_protomotions_enum():
                loaded = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        else:
            # Read through a descriptor checked to be a regular file: nothing swapped in can block us.
            with open_regular_file(path, "an existing regular file") as handle, _allow_protomotions_enum():
                loaded = torch.load(handle, map_location="cpu", weights_only=True)
    except MotionDataError:
        raise
    except Exception as error:  # torch raises UnpicklingError, RuntimeError, EOFError, ...
        found = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"[:300]
        raise MotionDataError(path, "<file>", "a torch.save dict loadable with weights_only=True", found) from None
    if not isinstance(loaded, dict):
        raise MotionDataError(path, "<file>", "a dict", type(loaded).__name__)
    if isinstance(loaded.get(STATE_CONVERSION_KEY), _StateConversion):
        loaded[STATE_CONVERSION_KEY] = loaded[STATE_CONVERSION_KEY].value
    return loaded


def check_motion_structure(
    motion: Mapping[str, Any], path: PathLike, expected: Optional[MotionSizes] = None, expected_from: str = ""
) -> int:
    """Check keys, ``fps``, shapes and dtypes (no tensor data is read); return ``T``.

    See :func:`check_motion_shape` for ``expected`` and ``expected_from``.
    """
    return check_motion_shape(motion, path, expected, expected_from).num_frames


def check_motion_shape(
    motion: Mapping[str, Any], path: PathLike, expected: Optional[MotionSizes] = None, expected_from: str = ""
) -> MotionShape:
    """Check keys, ``fps``, shapes and dtypes (no tensor data is read); return ``(T, B, D)``.

    ``T``, ``B`` and ``D`` are read from the fields and must agree across all of them; a
    disagreement names the field whose size differs from the most other fields (on a tie, the
    earlier field in :data:`MOTION_FIELDS` order). With ``expected``, ``B`` and ``D`` must be those
    sizes instead; ``expected_from`` says where they come from in the error (e.g. "as in a.motion").
    """
    for key in MOTION_KEYS:
        if key not in motion:
            raise MotionDataError(path, key, "present", "missing")
    motion_fps(motion, path)
    shapes: Dict[str, Tuple[int, ...]] = {}
    for key, (frame_shape, dtype) in MOTION_FIELDS.items():
        value = motion[key]
        if not isinstance(value, torch.Tensor):
            raise MotionDataError(path, key, "a tensor", type(value).__name__)
        if value.layout != torch.strided:
            raise MotionDataError(path, key, "a dense tensor", f"layout {value.layout}")
        if _broadcast(value):  # a few stored bytes posing as millions of frames
            raise MotionDataError(path, key, "a tensor that stores every value", f"strides {value.stride()}")
        if value.dtype != dtype:
            raise MotionDataError(path, key, f"dtype {dtype}", f"dtype {value.dtype}")
        shape = tuple(value.shape)
        fixed_ok = all(isinstance(dim, str) or size == dim for size, dim in zip(shape[1:], frame_shape))
        if len(shape) != 1 + len(frame_shape) or not fixed_ok:
            raise MotionDataError(path, key, f"shape (T, {_dims(frame_shape)})", f"shape {shape}")
        shapes[key] = shape
    reference, origin = _reference_sizes(shapes, expected, expected_from)
    if reference["B"] < 1:
        raise MotionDataError(path, "rigid_body_pos", "shape (T, B ≥ 1, 3)", f"shape {shapes['rigid_body_pos']}")
    for key, shape in shapes.items():
        symbols = ("T",) + MOTION_FIELDS[key][0]
        wanted = tuple(reference[d] if isinstance(d, str) else d for d in symbols)
        if not 1 <= reference["T"] <= MAX_FRAMES:
            expected = f"shape (1 ≤ T ≤ {MAX_FRAMES}, {_dims(MOTION_FIELDS[key][0])})"
            raise MotionDataError(path, key, expected, f"shape {shape}")
        if shape != wanted:
            reasons = "; ".join(origin[d] for d, size, want in zip(symbols, shape, wanted) if size != want)
            raise MotionDataError(path, key, f"shape {wanted} ({reasons})", f"shape {shape}")
    metadata = motion.get(METADATA_KEY)
    if metadata is not None and not isinstance(metadata, dict):
        raise MotionDataError(path, METADATA_KEY, "a dict", type(metadata).__name__)
    return MotionShape(reference["T"], reference["B"], reference["D"])


def _reference_sizes(
    shapes: Mapping[str, Tuple[int, ...]], expected: Optional[MotionSizes], expected_from: str
) -> Tuple[Dict[str, int], Dict[str, str]]:
    """The size every field must have for each of T, B, D, and a phrase saying where it comes from."""
    observed: Dict[str, List[Tuple[str, int]]] = {"T": [], "B": [], "D": []}
    for key, shape in shapes.items():
        for size, dim in zip(shape, ("T",) + MOTION_FIELDS[key][0]):
            if isinstance(dim, str):
                observed[dim].append((key, size))
    reference: Dict[str, int] = {}
    origin: Dict[str, str] = {}
    for symbol, values in observed.items():
        if expected is not None and symbol != "T":
            reference[symbol] = expected.num_bodies if symbol == "B" else expected.num_dofs
            origin[symbol] = f"{symbol} = {reference[symbol]} expected{' ' + expected_from if expected_from else ''}"
            continue
        counts: Dict[int, int] = {}
        for _key, size in values:
            counts[size] = counts.get(size, 0) + 1
        most = max(counts.values())
        # On a tie the later field's size wins, so the error names the earlier field.
        size = [size for _key, size in values if counts[size] == most][-1]
        agreeing = [key for key, value in values if value == size]
        others = f" and {len(agreeing) - 1} other fields" if len(agreeing) > 2 else ""
        reference[symbol] = size
        origin[symbol] = f"{symbol} = {size} as in {agreeing[0] if others else ' and '.join(agreeing)}{others}"
    return reference, origin


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
    """The clip's frame rate as an int in ``[MIN_FRAMERATE, MAX_FRAMERATE]`` (an integral float is accepted)."""
    fps = motion.get("fps")
    expected = f"an integer frame rate in {FRAMERATE_RANGE_TEXT}"
    if isinstance(fps, bool) or not isinstance(fps, numbers.Real) or not math.isfinite(fps):
        raise MotionDataError(path, "fps", expected, repr(fps)[:100])
    if not MIN_FRAMERATE <= fps <= MAX_FRAMERATE or int(fps) != fps:
        raise MotionDataError(path, "fps", expected, repr(fps))
    return int(fps)


def load_motion(path: PathLike, expected: Optional[MotionSizes] = None) -> Dict[str, Any]:
    """Load and fully validate one ``.motion`` file (of ``expected`` sizes when given, e.g. :data:`SMPL_SIZES`).

    Returns a dict with ``fps`` (int), the eight per-frame tensors of :data:`MOTION_FIELDS`
    (contiguous, CPU), ``mimicflow`` metadata when present and ``state_conversion`` (str) when the
    file came from ProtoMotions. Other keys are dropped. Raises :class:`MotionDataError`.
    """
    raw = read_torch_dict(path)
    check_motion_structure(raw, path, expected)
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


def save_motion(motion: Mapping[str, Any], path: PathLike, expected: Optional[MotionSizes] = None) -> None:
    """Validate ``motion`` (as :func:`load_motion` would, with ``expected`` sizes) and write it atomically."""
    unknown = sorted(set(motion) - set(MOTION_KEYS) - {METADATA_KEY, STATE_CONVERSION_KEY})
    if unknown:
        raise MotionDataError(path, unknown[0], f"one of {', '.join(MOTION_KEYS + (METADATA_KEY,))}", "unknown key")
    check_motion_structure(motion, path, expected)
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


def _broadcast(tensor: torch.Tensor) -> bool:
    """Whether a dense tensor repeats stored values along a dimension (stride 0, as ``expand`` makes)."""
    return any(step == 0 and size > 1 for size, step in zip(tensor.shape, tensor.stride()))


def _dims(shape: Tuple[Union[int, str], ...]) -> str:
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
