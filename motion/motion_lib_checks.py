"""Validation of a packaged MotionLib dict (ours or ProtoMotions'), before anything is built from it.

:func:`check_motion_lib_dict` reads only shapes, dtypes and the small per-motion tables, so it is
cheap even for memory-mapped libraries of millions of frames; :func:`check_finite_columns` scans
the per-frame data once, in chunks, after :class:`motion.motion_lib.MotionLib` has copied it.
Every problem is a :class:`MotionDataError` naming the file and the key.
"""

from __future__ import annotations

from typing import Any, Mapping, Tuple

import torch
from torch import Tensor

from motion.errors import MotionDataError
from motion.io_utils import PathLike
from motion.limits import FRAMERATE_RANGE_TEXT, MAX_FRAMERATE, MIN_FRAMERATE
from motion.motion_file import METADATA_KEY

PER_FRAME_KEYS = ("gts", "grs", "gvs", "gavs", "dps", "dvs")
OPTIONAL_PER_FRAME_KEYS = ("lrs", "contacts")
PER_MOTION_KEYS = ("length_starts", "motion_num_frames", "motion_lengths", "motion_dt", "motion_weights")
_INTEGER_KEYS = ("length_starts", "motion_num_frames")
# float32 1/fps of a rate at the range's ends, with room for rounding.
_DT_RANGE = (1.0 / MAX_FRAMERATE * (1 - 1e-5), 1.0 / MIN_FRAMERATE * (1 + 1e-5))
_CHUNK_FRAMES = 65536  # bounded temporary memory for the finiteness scan


def _check_tensor(data: Mapping[str, Any], key: str, source: PathLike) -> None:
    value = data.get(key)
    if not isinstance(value, Tensor):
        raise MotionDataError(source, key, "a tensor", "missing" if key not in data else type(value).__name__)
    if value.layout != torch.strided:
        raise MotionDataError(source, key, "a dense tensor", f"layout {value.layout}")
    if any(step == 0 and size > 1 for size, step in zip(value.shape, value.stride())):
        # expand()ed data: a few stored bytes that would make us allocate the declared size
        raise MotionDataError(source, key, "a tensor that stores every value", f"strides {value.stride()}")


def check_motion_lib_dict(data: Any, source: PathLike) -> Tuple[int, int, int]:
    """Check a packaged dict's keys, types, shapes, dtypes and per-motion tables; return (frames F,
    bodies B, dofs D)."""
    if not isinstance(data, Mapping):
        raise MotionDataError(source, "<file>", "a dict", type(data).__name__)
    for key in PER_FRAME_KEYS + PER_MOTION_KEYS:
        _check_tensor(data, key, source)
    for key in OPTIONAL_PER_FRAME_KEYS:
        if data.get(key) is not None:
            _check_tensor(data, key, source)
    gts = data["gts"]
    if gts.dim() != 3 or gts.shape[2] != 3 or gts.shape[0] < 1 or gts.shape[1] < 1:
        raise MotionDataError(source, "gts", "shape (F ≥ 1, B ≥ 1, 3)", f"shape {tuple(gts.shape)}")
    num_frames, num_bodies = int(gts.shape[0]), int(gts.shape[1])
    num_dofs = int(data["dps"].shape[-1]) if data["dps"].dim() == 2 else -1
    expected = {
        "gts": (num_frames, num_bodies, 3),
        "grs": (num_frames, num_bodies, 4),
        "gvs": (num_frames, num_bodies, 3),
        "gavs": (num_frames, num_bodies, 3),
        "dps": (num_frames, num_dofs),
        "dvs": (num_frames, num_dofs),
        "lrs": (num_frames, num_bodies, 4),
        "contacts": (num_frames, num_bodies),
    }
    for key, shape in expected.items():
        value = data.get(key)
        if value is None and key in OPTIONAL_PER_FRAME_KEYS:
            continue
        if tuple(value.shape) != shape or not (value.is_floating_point() or key == "contacts"):
            raise MotionDataError(source, key, f"float tensor of shape {shape}", f"{value.dtype} {tuple(value.shape)}")
    contacts = data.get("contacts")
    if contacts is not None and not (contacts.dtype == torch.bool or contacts.is_floating_point()):
        raise MotionDataError(source, "contacts", "bool or float", str(contacts.dtype))
    count = _check_per_motion_tables(data, num_frames, source)
    files = data.get("motion_files")
    if files is not None:
        if not isinstance(files, (list, tuple)) or not all(isinstance(name, str) for name in files):
            raise MotionDataError(source, "motion_files", "a list of file names", type(files).__name__)
        if len(files) != count:
            raise MotionDataError(source, "motion_files", f"{count} names", f"{len(files)}")
    metadata = data.get(METADATA_KEY)
    if metadata is not None and not isinstance(metadata, dict):
        raise MotionDataError(source, METADATA_KEY, "a dict", type(metadata).__name__)
    return num_frames, num_bodies, num_dofs


def _check_per_motion_tables(data: Mapping[str, Any], num_frames: int, source: PathLike) -> int:
    """The (M,) tables: dtypes, shapes, frame counts and starts, finite dt of a rate in range."""
    count = int(data["motion_lengths"].shape[0]) if data["motion_lengths"].dim() == 1 else -1
    for key in PER_MOTION_KEYS:
        value = data[key]
        if tuple(value.shape) != (count,):
            raise MotionDataError(source, key, f"shape ({max(count, 0)},)", f"shape {tuple(value.shape)}")
        integral = not (value.is_floating_point() or value.is_complex() or value.dtype == torch.bool)
        if integral != (key in _INTEGER_KEYS) or value.is_complex():
            kind = "an integer" if key in _INTEGER_KEYS else "a float"
            raise MotionDataError(source, key, f"{kind} tensor", str(value.dtype))
    frames = data["motion_num_frames"].to(torch.int64)
    if count == 0 or bool((frames < 1).any()) or int(frames.sum()) != num_frames:
        raise MotionDataError(
            source, "motion_num_frames", f"≥ 1 each, summing to {num_frames}", str(frames.tolist()[:8])
        )
    if not torch.equal(data["length_starts"].to(torch.int64), torch.cumsum(frames, 0) - frames):
        raise MotionDataError(source, "length_starts", "exclusive cumulative sum of motion_num_frames", "other values")
    dt = data["motion_dt"].double()
    if not bool(((dt >= _DT_RANGE[0]) & (dt <= _DT_RANGE[1])).all()):  # False for NaN too
        bad = dt[~((dt >= _DT_RANGE[0]) & (dt <= _DT_RANGE[1]))]
        raise MotionDataError(source, "motion_dt", f"1/fps of a rate in {FRAMERATE_RANGE_TEXT}", str(bad.tolist()[:4]))
    lengths = data["motion_lengths"].double()
    if not bool((torch.isfinite(lengths) & (lengths >= 0)).all()):
        raise MotionDataError(source, "motion_lengths", "finite lengths ≥ 0 s", str(lengths.tolist()[:8]))
    return count


def check_finite_columns(frames: Tensor, columns: Mapping[str, slice], source: PathLike) -> None:
    """Every value of the packed (F, C) per-frame buffer is finite; else name the key and frame."""
    for start in range(0, int(frames.shape[0]), _CHUNK_FRAMES):
        chunk = frames[start : start + _CHUNK_FRAMES]
        finite = torch.isfinite(chunk)
        if bool(finite.all()):
            continue
        row, column = (int(i) for i in (~finite).nonzero()[0])
        key = next((name for name, span in columns.items() if span.start <= column < span.stop), "<frames>")
        raise MotionDataError(source, key, "finite values", f"NaN or inf at frame {start + row}")
