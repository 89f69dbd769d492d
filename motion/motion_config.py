"""Motion config YAML in ProtoMotions' format, and the default AMASS train/validation/test split.

Format::

    motions:
      - file: CMU/01/01_01_poses.npz     # relative to the YAML (or a given root)
        fps: 120                         # optional: source fps, overrides the file's
        weight: 1.0                      # sampling weight, default 1
        sub_motions:                     # optional: only the first one is used (as ProtoMotions)
          - timings: {start: 0.0, end: 4.5}   # seconds of the source clip
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

import yaml

from motion.errors import MotionDataError
from motion.io_utils import PathLike, atomic_write_text, open_regular_file
from motion.limits import check_framerate

#: AMASS subsets held out for testing and validation (both the old and new archive names);
#: every other subset is training data. The split used by PHC and ProtoMotions.
TEST_SUBSETS = ("Transitions_mocap", "Transitions", "SSM_synced", "SSM")
VALIDATION_SUBSETS = ("MPI_HDM05", "HDM05", "MPI_mosh", "MoSh", "SFU", "HumanEva")
SPLITS = ("train", "validation", "test")


def split_of_subset(subset: str) -> str:
    """'train', 'validation' or 'test' for an AMASS subset name, e.g. ``'SFU' → 'validation'``."""
    if subset in TEST_SUBSETS:
        return "test"
    if subset in VALIDATION_SUBSETS:
        return "validation"
    return "train"


@dataclass(frozen=True)
class MotionEntry:
    """One entry of a motion config."""

    file: str
    weight: float = 1.0
    fps: Optional[float] = None
    start: Optional[float] = None  # seconds into the source clip
    end: Optional[float] = None

    def to_yaml(self) -> Dict[str, Any]:
        entry: Dict[str, Any] = {"file": self.file, "weight": float(self.weight)}
        if self.fps is not None:
            entry["fps"] = float(self.fps)
        if self.start is not None or self.end is not None:
            entry["sub_motions"] = [{"timings": {"start": self.start, "end": self.end}}]
        return entry


def _number(value: Any, path: PathLike, field: str, minimum: Optional[float] = None) -> float:
    # YAML spells infinity .inf: a finite check keeps it out of slicing and sampling weights.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise MotionDataError(path, field, "a finite number", repr(value))
    if minimum is not None and not value >= minimum:
        raise MotionDataError(path, field, f"a number ≥ {minimum}", repr(value))
    return float(value)


def _read_yaml(path: PathLike) -> Any:
    """The YAML document in ``path``. Whatever stops it being read is the file's fault, raised as one
    MotionDataError line: a FIFO (refused unopened: open() would wait for a writer forever), bytes
    that are not UTF-8, nesting deeper than the parser's recursion, a syntax error (PyYAML's
    message spans lines; only the problem and its position are kept)."""
    expected = "a readable YAML motion config"
    try:
        with open_regular_file(path, expected) as raw:
            return yaml.safe_load(io.TextIOWrapper(raw, encoding="utf-8"))
    except MotionDataError:
        raise
    except (OSError, ValueError, RecursionError, yaml.YAMLError) as error:  # ValueError: UnicodeDecodeError
        raise MotionDataError(path, "<file>", expected, _one_line(error)) from None


def _one_line(error: BaseException) -> str:
    problem, mark = getattr(error, "problem", None), getattr(error, "problem_mark", None)
    if problem and mark is not None:  # yaml.MarkedYAMLError
        return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"
    if isinstance(error, RecursionError):
        return "RecursionError: nested too deeply to parse"
    lines = str(error).splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"


def _parse_entry(raw: Any, path: PathLike, index: int) -> MotionEntry:
    where = f"motions[{index}]"
    if not isinstance(raw, dict) or not isinstance(raw.get("file"), str) or not raw["file"]:
        raise MotionDataError(path, f"{where}.file", "a mapping with a non-empty 'file' string", repr(raw))
    weight = _number(raw.get("weight", 1.0), path, f"{where}.weight", minimum=0.0)
    fps = raw.get("fps")
    fps = None if fps is None else check_framerate(fps, path, f"{where}.fps")
    start = end = None
    sub_motions = raw.get("sub_motions")
    if sub_motions:
        if not isinstance(sub_motions, list) or not isinstance(sub_motions[0], dict):
            raise MotionDataError(path, f"{where}.sub_motions", "a list of {timings: {start, end}}", repr(sub_motions))
        timings = sub_motions[0].get("timings") or {}
        if not isinstance(timings, dict):
            raise MotionDataError(path, f"{where}.sub_motions[0].timings", "a mapping {start, end}", repr(timings))
        if timings.get("start") is not None:
            start = _number(timings["start"], path, f"{where}.sub_motions[0].timings.start", minimum=0.0)
        if timings.get("end") is not None:
            end = _number(timings["end"], path, f"{where}.sub_motions[0].timings.end", minimum=0.0)
        if start is not None and end is not None and end <= start:
            raise MotionDataError(path, f"{where}.sub_motions[0].timings", "end > start", f"start {start}, end {end}")
    return MotionEntry(file=raw["file"], weight=weight, fps=fps, start=start, end=end)


def read_motion_config(path: PathLike) -> List[MotionEntry]:
    """Parse and validate a motion config; errors name the entry and field."""
    document = _read_yaml(path)
    if not isinstance(document, dict) or not isinstance(document.get("motions"), list):
        raise MotionDataError(path, "motions", "a top-level 'motions' list", repr(type(document).__name__))
    return [_parse_entry(raw, path, index) for index, raw in enumerate(document["motions"])]


def write_motion_config(entries: Sequence[MotionEntry], path: PathLike) -> None:
    document = {"motions": [dict(entry.to_yaml(), idx=index) for index, entry in enumerate(entries)]}
    atomic_write_text(yaml.safe_dump(document, sort_keys=False), path)
