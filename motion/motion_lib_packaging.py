"""Package many ``.motion`` files into one MotionLib ``.pt`` (ProtoMotions' packaged format).

The output is a ``torch.save`` dict (loadable with ``weights_only=True``). With ``F`` frames in
all and ``M`` motions of ``B`` bodies and ``D`` dofs (SMPL: 24 and 69; the G1: 30 and 29),
concatenated along frame axis 0:

==================  =========  =======  ====================================================
key                 shape      dtype    meaning
==================  =========  =======  ====================================================
gts / gvs / gavs    (F, B, 3)  float32  body positions (m), velocities (m/s), ang. vel. (rad/s)
grs / lrs           (F, B, 4)  float32  global / parent-local body rotations, xyzw
dps / dvs           (F, D)     float32  dof positions (rad) and velocities (rad/s)
contacts            (F, B)     bool     body-ground contacts
length_starts       (M,)       int64    first frame of each motion (exclusive cumsum)
motion_num_frames   (M,)       int64    frames per motion
motion_lengths      (M,)       float32  (n − 1) / fps, seconds
motion_dt           (M,)       float32  1 / fps, seconds
motion_weights      (M,)       float32  sampling weights
motion_files        tuple of str        the ``.motion`` paths (as given, or relative to the ``.pt``)
mimicflow           dict                format version, creator, md5 of every ``.motion`` file,
                                        per-motion source md5/path/fps, conversion parameters;
                                        ``robot``/``body_names``/``joint_names`` when the motions
                                        carry them (all motions must agree)
==================  =========  =======  ====================================================

Memory stays near the output size: pass 1 reads only each file's header (``mmap=True`` maps
tensors without reading them) to size the output, the output tensors are allocated once, and
pass 2 copies each motion into its slice. ``B`` and ``D`` are those of the first readable motion
(or ``expected``); a later motion of other sizes is a bad file. Bad files are collected, never
fatal mid-way: each file is read under a guard, so even an unexpected exception is that file's
:class:`MotionDataError` (KeyboardInterrupt still stops).
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch

from motion.errors import MotionDataError
from motion.io_utils import PathLike, atomic_torch_save, file_digest
from motion.motion_file import (
    METADATA_KEY,
    MOTION_FIELDS,
    MotionSizes,
    check_motion_shape,
    check_motion_values,
    motion_fps,
    read_torch_dict,
)

MotionInput = Union[PathLike, Sequence[PathLike]]

PACKAGE_FORMAT_VERSION = 1
#: MotionLib key → ``.motion`` key, in ProtoMotions' naming.
LIB_FIELDS: Dict[str, str] = {
    "gts": "rigid_body_pos",
    "grs": "rigid_body_rot",
    "gvs": "rigid_body_vel",
    "gavs": "rigid_body_ang_vel",
    "dps": "dof_pos",
    "dvs": "dof_vel",
    "contacts": "rigid_body_contacts",
    "lrs": "local_rigid_body_rot",
}
#: Per-motion metadata copied from each ``.motion``'s ``mimicflow`` dict (None when absent).
_COPIED_METADATA = ("source_path", "source_md5", "source_fps", "converter_version", "subset")
#: Library-wide metadata taken from the ``.motion`` files' ``mimicflow`` dicts: when the first motion
#: has one of these, every motion must have the same value (one body tree per library).
_SHARED_METADATA = ("robot", "body_names", "joint_names")


@dataclass(frozen=True)
class MotionSource:
    """One ``.motion`` file to package and its sampling weight."""

    path: Path
    weight: float = 1.0


class MotionPackagingError(MotionDataError):
    """Some input files were bad; ``failures`` holds one :class:`MotionDataError` per file."""

    def __init__(self, source: PathLike, failures: Sequence[MotionDataError]) -> None:
        self.failures = list(failures)
        listing = "; ".join(str(failure) for failure in self.failures)
        super().__init__(source, "motions", "only valid .motion files", f"{len(self.failures)} bad: {listing}")


@dataclass
class PackagingResult:
    """What :func:`package_motion_lib` wrote, and the files it left out (``skip_bad=True``)."""

    output_file: Path
    num_motions: int
    num_frames: int
    file_size: int
    seconds: float
    failures: List[MotionDataError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


@dataclass
class _Sized:
    source: MotionSource
    num_frames: int
    fps: int
    metadata: Dict[str, Any]
    sizes: MotionSizes


def find_motion_sources(
    motion_paths_or_yaml: MotionInput, motion_root: Optional[PathLike] = None
) -> List[MotionSource]:
    """The motions to package, in order.

    ``motion_paths_or_yaml`` is a directory (every ``*.motion`` below it, sorted), a YAML motion
    config in ProtoMotions' format (only each entry's ``file`` and ``weight`` are used; relative
    files resolve against ``motion_root`` when given, else the YAML's folder), one ``.motion``
    file, or a list of ``.motion`` paths (relative ones resolve against ``motion_root``).
    """
    if isinstance(motion_paths_or_yaml, (list, tuple)):
        return [MotionSource(_resolve(Path(p), motion_root)) for p in motion_paths_or_yaml]
    path = Path(motion_paths_or_yaml)
    if path.is_dir():
        return [MotionSource(p) for p in sorted(path.rglob("*.motion"))]
    if path.suffix.lower() in (".yaml", ".yml"):
        from motion.motion_config import read_motion_config

        base = Path(motion_root) if motion_root is not None else path.parent
        return [MotionSource(_resolve(Path(e.file), base), e.weight) for e in read_motion_config(path)]
    if path.suffix == ".motion" or path.is_file():
        return [MotionSource(_resolve(path, motion_root))]
    raise MotionDataError(path, "<file>", "a directory, a YAML motion config or a .motion file", "no such path")


def build_motion_lib(
    sources: Sequence[MotionSource],
    skip_bad: bool = False,
    progress: bool = False,
    origin: PathLike = "<motions>",
    expected: Optional[MotionSizes] = None,
) -> Tuple[Dict[str, Any], List[MotionDataError]]:
    """The packaged MotionLib dict of ``sources`` (see the module table) and the bad files.

    Body and dof counts are ``expected`` when given, else those of the first readable motion; a
    motion of other sizes, or with other ``robot``/``body_names``/``joint_names`` metadata, is bad.
    Without ``skip_bad`` any bad file raises :class:`MotionPackagingError` listing every bad file
    (all files are still checked first). With it, bad files are left out and returned.
    """
    if not sources:
        raise MotionDataError(origin, "motions", "at least one .motion file", "none")
    failures: List[MotionDataError] = []
    sized: List[_Sized] = []
    sizes = expected
    expected_from = "by the caller"
    shared: Dict[str, Any] = {}
    for source in _progress(sources, progress, "size"):
        try:
            item = _read_header(source, sizes, expected_from)
            _check_shared_metadata(item, shared)
        except Exception as error:  # the per-file guard
            failures.append(_as_data_error(source.path, error))
            continue
        if not sized:  # the first readable motion sets the sizes (unless expected) and the body tree
            if sizes is None:
                sizes, expected_from = item.sizes, f"as in {item.source.path}"
            shared = {key: item.metadata[key] for key in _SHARED_METADATA if key in item.metadata}
        sized.append(item)
    total_frames = sum(item.num_frames for item in sized)
    symbols = {"B": sizes.num_bodies, "D": sizes.num_dofs} if sizes is not None else {"B": 0, "D": 0}
    out = {
        lib_key: torch.empty((total_frames,) + tuple(symbols.get(d, d) for d in frame_shape), dtype=dtype)
        for lib_key, (frame_shape, dtype) in ((k, MOTION_FIELDS[v]) for k, v in LIB_FIELDS.items())
    }
    packed: List[Tuple[_Sized, str]] = []
    cursor = 0
    for item in _progress(sized, progress, "pack"):
        try:
            md5 = _copy_motion(item, out, cursor, expected_from)
        except Exception as error:  # the per-file guard
            failures.append(_as_data_error(item.source.path, error))
            continue
        packed.append((item, md5))
        cursor += item.num_frames
    if failures and not skip_bad:
        raise MotionPackagingError(origin, failures)
    if not packed:
        raise MotionPackagingError(origin, failures)
    if cursor != total_frames:  # a file went bad between the passes: drop the unused tail
        for key in list(out):
            out[key] = out.pop(key)[:cursor].clone()
    out.update(_motion_tables(packed))
    out[METADATA_KEY].update(shared)
    return out, failures


def package_motion_lib(
    motion_paths_or_yaml: MotionInput,
    output_file: PathLike,
    motion_root: Optional[PathLike] = None,
    skip_bad: bool = False,
    progress: bool = False,
    expected: Optional[MotionSizes] = None,
    files_relative_to_output: bool = False,
    extra_metadata: Optional[Mapping[str, Any]] = None,
) -> PackagingResult:
    """Package ``.motion`` files (see :func:`find_motion_sources`) into one ``.pt`` at ``output_file``.

    Written atomically. Bad files raise one :class:`MotionPackagingError` naming all of them and
    nothing is written, unless ``skip_bad``: then the good ones are written and the bad ones are
    returned in ``PackagingResult.failures``. ``expected`` fixes the body and dof counts (default:
    those of the first motion). ``motion_files`` holds each path as found (relative ones relative
    to the working directory), or with ``files_relative_to_output`` relative to the output's
    folder (POSIX separators), so the bytes do not depend on where the data lies or whether it
    was named by a relative or an absolute path. ``extra_metadata`` (plain data) is added to the
    file's ``mimicflow`` metadata (e.g. which split a MotionLib stands for).
    """
    started = time.perf_counter()
    origin = motion_paths_or_yaml if isinstance(motion_paths_or_yaml, (str, Path)) else "<motion list>"
    sources = find_motion_sources(motion_paths_or_yaml, motion_root)
    data, failures = build_motion_lib(sources, skip_bad=skip_bad, progress=progress, origin=origin, expected=expected)
    if extra_metadata:
        data[METADATA_KEY].update(dict(extra_metadata))
    if files_relative_to_output:
        folder = Path(output_file).parent
        data["motion_files"] = tuple(Path(os.path.relpath(name, folder)).as_posix() for name in data["motion_files"])
    atomic_torch_save(data, output_file)
    return PackagingResult(
        output_file=Path(output_file),
        num_motions=len(data["motion_files"]),
        num_frames=int(data["gts"].shape[0]),
        file_size=Path(output_file).stat().st_size,
        seconds=time.perf_counter() - started,
        failures=failures,
    )


def _as_data_error(path: PathLike, error: Exception) -> MotionDataError:
    """A file's failure as the one bad-input error type, whatever was raised reading it."""
    if isinstance(error, MotionDataError):
        return error
    text = str(error).splitlines()[0] if str(error) else ""
    return MotionDataError(
        path, "<file>", "a readable .motion file", f"unexpected {type(error).__name__}: {text}"[:300]
    )


def _resolve(path: Path, base: Optional[PathLike]) -> Path:
    return path if base is None or path.is_absolute() else Path(base) / path


def _read_header(source: MotionSource, expected: Optional[MotionSizes], expected_from: str) -> _Sized:
    header = read_torch_dict(source.path, mmap=True)
    shape = check_motion_shape(header, source.path, expected, expected_from)
    metadata = header.get(METADATA_KEY) or {}
    if not math.isfinite(source.weight) or source.weight < 0:
        raise MotionDataError(source.path, "weight", "a finite sampling weight ≥ 0", repr(source.weight))
    return _Sized(source, shape.num_frames, motion_fps(header, source.path), metadata, shape.sizes)


def _check_shared_metadata(item: _Sized, shared: Mapping[str, Any]) -> None:
    """Every motion of a library describes the same body tree as the first one."""
    for key, value in shared.items():
        found = item.metadata.get(key)
        if found != value:
            expected = f"{value!r} (as in the first motion)"[:300]
            raise MotionDataError(item.source.path, f"{METADATA_KEY}.{key}", expected, repr(found)[:300])


def _copy_motion(item: _Sized, out: Dict[str, torch.Tensor], start: int, expected_from: str) -> str:
    """Copy one motion into ``out[key][start:start + n]``, validate it there; return its file md5."""
    path = item.source.path
    md5 = file_digest(path, "md5")
    motion = read_torch_dict(path, mmap=True)
    num_frames = check_motion_shape(motion, path, item.sizes, expected_from).num_frames
    fps = motion_fps(motion, path)
    if (num_frames, fps) != (item.num_frames, item.fps):
        expected = f"{item.num_frames} frames at {item.fps} fps (as when sized)"
        raise MotionDataError(path, "<file>", expected, f"{num_frames} frames at {fps} fps: changed while packaging")
    slices = {}
    for lib_key, motion_key in LIB_FIELDS.items():
        target = out[lib_key][start : start + num_frames]
        target.copy_(motion[motion_key])
        slices[motion_key] = target
    del motion  # unmaps the file
    check_motion_values(slices, path)  # on the copy: the data is read from disk once
    return md5


def _motion_tables(packed: Sequence[Tuple[_Sized, str]]) -> Dict[str, Any]:
    """Per-motion tensors, file names and our metadata for the packaged dict."""
    num_frames = torch.tensor([item.num_frames for item, _ in packed], dtype=torch.int64)
    fps = [item.fps for item, _ in packed]
    # (n − 1)/fps and 1/fps in double, then float32: the numbers ProtoMotions stores.
    lengths = torch.tensor([(item.num_frames - 1) / item.fps for item, _ in packed], dtype=torch.float64)
    dt = torch.tensor([1.0 / f for f in fps], dtype=torch.float64)
    conversions: List[Any] = []
    conversion_index: List[int] = []
    seen: Dict[str, int] = {}
    for item, _ in packed:
        params = item.metadata.get("conversion")
        if params is None:
            conversion_index.append(-1)
            continue
        key = json.dumps(params, sort_keys=True, default=str)
        if key not in seen:
            seen[key] = len(conversions)
            conversions.append(params)
        conversion_index.append(seen[key])
    metadata: Dict[str, Any] = {
        "format_version": PACKAGE_FORMAT_VERSION,
        "created_by": f"mimicflow {_version()} motion.motion_lib_packaging",
        "fps": fps,
        "motion_md5": [md5 for _, md5 in packed],
        "conversion": conversions,
        "conversion_index": conversion_index,
    }
    for key in _COPIED_METADATA:
        metadata[key] = [item.metadata.get(key) for item, _ in packed]
    return {
        "length_starts": torch.cumsum(num_frames, 0) - num_frames,
        "motion_num_frames": num_frames,
        "motion_lengths": lengths.to(torch.float32),
        "motion_dt": dt.to(torch.float32),
        "motion_weights": torch.tensor([item.source.weight for item, _ in packed], dtype=torch.float32),
        "motion_files": tuple(str(item.source.path) for item, _ in packed),
        METADATA_KEY: metadata,
    }


def _progress(items: Sequence[Any], enabled: bool, desc: str) -> Any:
    from motion.progress import progress_iter

    return progress_iter(items, desc, "motion", enabled=enabled)  # a bar on a terminal, else lines


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("mimicflow")
    except Exception:  # not installed (running from a checkout)
        return "unknown"
