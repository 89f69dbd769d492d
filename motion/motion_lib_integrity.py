"""Plausibility of a packaged MotionLib's values: finite, unit quaternions, feet on the ground,
human-like speeds.

:mod:`motion.motion_lib_checks` decides whether a file *is* a MotionLib (keys, shapes, dtypes,
per-motion tables) and raises on the first problem; this module measures whether its motions
are *sound* and reports every problem at once. ``mimic motionlib check`` and the Dagster
``integrity`` asset checks both call :func:`motion_lib_file_integrity`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping

import torch

from motion.conversion import ConversionParams
from motion.io_utils import PathLike
from motion.motion_file import METADATA_KEY, read_torch_dict
from motion.motion_lib_checks import check_motion_lib_dict

#: Float tensors of a packaged MotionLib (see motion.motion_lib_packaging).
FLOAT_KEYS = ("gts", "grs", "gvs", "gavs", "dps", "dvs", "lrs")
QUATERNION_KEYS = ("grs", "lrs")


@dataclass(frozen=True)
class MotionLibIntegrityConfig:
    """The thresholds of :func:`motion_lib_integrity`."""

    quaternion_tolerance: float = 1e-3  # largest allowed | ‖q‖ − 1 | of grs/lrs
    height_tolerance_m: float = 0.005  # largest distance of a motion's lowest body origin from its height offset
    # Well above human extremes (a pitcher's hand ~ 20 m/s, arm internal rotation ~ 150 rad/s)
    # and far below what broken data gives (frame jumps, millimetres read as metres).
    max_body_speed_m_s: float = 30.0
    max_body_angular_speed_rad_s: float = 200.0


@dataclass(frozen=True)
class IntegrityCheck:
    """One check's outcome: which tensors it read, what it wanted, what it measured."""

    name: str
    field: str  # the MotionLib key(s) measured
    passed: bool
    expected: str
    found: str


@dataclass
class IntegrityReport:
    """What :func:`motion_lib_integrity` measured; ``problems`` is empty when the MotionLib is sound."""

    num_motions: int
    nonfinite_values: int
    max_quaternion_norm_error: float
    lowest_body_height_m: List[float]  # per motion, m
    expected_height_m: List[float]  # per motion: the conversion's height offset, m
    max_body_speed_m_s: float
    max_body_angular_speed_rad_s: float
    problems: List[str] = field(default_factory=list)
    checks: List[IntegrityCheck] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems


def _height_offsets(data: Mapping[str, Any], num_motions: int) -> List[float]:
    """Per motion, the height offset its conversion used (mimicflow metadata; else the default)."""
    meta = data.get(METADATA_KEY) or {}
    conversions, index = meta.get("conversion"), meta.get("conversion_index")
    default = ConversionParams().height_offset
    if not conversions or not index or len(index) != num_motions:
        return [default] * num_motions
    return [float(conversions[i].get("height_offset", default)) for i in index]


def _nonfinite_counts(data: Mapping[str, Any]) -> Dict[str, int]:
    """NaN/inf count per float key that has any."""
    counts = {key: int((~torch.isfinite(data[key])).sum()) for key in FLOAT_KEYS if data.get(key) is not None}
    return {key: count for key, count in counts.items() if count}


def motion_lib_integrity(
    data: Mapping[str, Any], config: MotionLibIntegrityConfig = MotionLibIntegrityConfig()
) -> IntegrityReport:
    """Check a packaged MotionLib dict (shapes as in motion.motion_lib_packaging; use
    :func:`motion_lib_file_integrity` for a file whose structure is not yet checked).

    - every float tensor finite;
    - ``grs``/``lrs`` unit quaternions: max | ‖q‖ − 1 | ≤ ``quaternion_tolerance``;
    - each motion's lowest body origin (min over frames and bodies of ``gts[..., 2]``, m) within
      ``height_tolerance_m`` of the conversion's height offset (0.015 m: the converter's height fix);
    - max ‖gvs‖ (m/s) and ‖gavs‖ (rad/s) over all frames and bodies under the plausible limits.
    """
    nonfinite_by_key = _nonfinite_counts(data)
    nonfinite = sum(nonfinite_by_key.values())
    quaternions = [key for key in QUATERNION_KEYS if data.get(key) is not None]
    # torch's max propagates NaN (Python's max() would drop it depending on the order).
    quat_error = float(torch.stack([(data[k].norm(dim=-1) - 1).abs().max() for k in quaternions]).max())
    starts, counts = data["length_starts"].tolist(), data["motion_num_frames"].tolist()
    heights = data["gts"][..., 2].amin(dim=-1)  # (F,) lowest body origin per frame, m
    lowest = [float(heights[start : start + count].min()) for start, count in zip(starts, counts)]
    expected = _height_offsets(data, len(counts))
    speed = float(data["gvs"].norm(dim=-1).max())
    angular = float(data["gavs"].norm(dim=-1).max())
    report = IntegrityReport(len(counts), nonfinite, quat_error, lowest, expected, speed, angular)

    def check(name: str, key: str, passed: bool, wanted: str, found: str, problems: List[str]) -> None:
        report.checks.append(IntegrityCheck(name, key, passed, wanted, found))
        report.problems.extend([] if passed else problems)

    where = ", ".join(f"{key} {count}" for key, count in nonfinite_by_key.items())
    floats = ",".join(key for key in FLOAT_KEYS if data.get(key) is not None)
    found = f"{nonfinite} non-finite values" + (f" ({where})" if where else "")
    check(
        "finite", floats, not nonfinite, "finite values", found, [f"{nonfinite} non-finite values (NaN/inf) in {where}"]
    )
    tolerance = config.quaternion_tolerance
    problem = f"quaternion norm off by {quat_error:.3g} (tolerance {tolerance})"
    check(
        "quaternion_norm",
        ",".join(quaternions),
        quat_error <= tolerance,
        f"| |q| - 1 | <= {tolerance}",
        f"{quat_error:.3g}",
        [problem],
    )
    files = data.get("motion_files") or [f"motion {i}" for i in range(len(counts))]
    off = [
        (name, low, want)
        for name, low, want in zip(files, lowest, expected)
        if not abs(low - want) <= config.height_tolerance_m
    ]
    found = f"{min(lowest):.4f} to {max(lowest):.4f} m" + (
        f"; {len(off)} motion(s) off, first {off[0][0]}" if off else ""
    )
    check(
        "lowest_body_height",
        "gts",
        not off,
        f"within {config.height_tolerance_m} m of the height offset",
        found,
        [f"{name}: lowest body at {low:.4f} m, expected {want:.4f} m" for name, low, want in off],
    )
    limit = config.max_body_speed_m_s
    check(
        "body_speed",
        "gvs",
        speed <= limit,
        f"max |v| <= {limit} m/s",
        f"{speed:.1f} m/s",
        [f"body speed {speed:.1f} m/s above {limit} m/s"],
    )
    limit = config.max_body_angular_speed_rad_s
    check(
        "body_angular_speed",
        "gavs",
        angular <= limit,
        f"max |w| <= {limit} rad/s",
        f"{angular:.1f} rad/s",
        [f"body angular speed {angular:.1f} rad/s above {limit}"],
    )
    return report


def motion_lib_file_integrity(
    path: PathLike, config: MotionLibIntegrityConfig = MotionLibIntegrityConfig()
) -> IntegrityReport:
    """:func:`motion_lib_integrity` of a MotionLib ``.pt``.

    Raises:
        MotionDataError: the file is not a MotionLib (unreadable, a key missing, shapes or
            per-motion tables inconsistent); names the file and the key.
    """
    data = read_torch_dict(path, mmap=True)
    check_motion_lib_dict(data, path)
    return motion_lib_integrity(data, config)
