"""Plausibility limits for the numbers read from input files (AMASS archives, motion configs,
``.motion`` files, MotionLibs).

A value outside them is bad input (:class:`motion.errors.MotionDataError`), checked before the
value is used: a frame rate drives the sub-rate search and every velocity, a frame count sizes
allocations. The limits are generous (real AMASS data sits far inside them) so that only
corrupt or hostile files are refused.
"""

from __future__ import annotations

import math
import numbers
from pathlib import Path
from typing import Any, Union

from motion.errors import MotionDataError

#: Frame rates accepted anywhere (fps). AMASS captures run at 60–250 fps; below 1 fps a clip is no
#: motion capture, and above 1000 fps the sub-rate search and the velocities stop meaning anything.
MIN_FRAMERATE = 1.0
MAX_FRAMERATE = 1000.0
#: Frames of one clip: about 2.3 hours at 120 fps (AMASS's longest clips are minutes). Checked from
#: array headers before any data is read, so a hostile header cannot make us allocate terabytes.
MAX_FRAMES = 1_000_000
#: Elements of one AMASS archive member: the widest pose array (SMPL-X, 165 values) at MAX_FRAMES.
MAX_ARRAY_ELEMENTS = MAX_FRAMES * 165
#: Largest |axis-angle| (rad) and |root translation| (m) in an AMASS clip: far beyond any body
#: (a few turns, a capture volume of metres) yet small enough that float32 arithmetic stays finite.
MAX_ABS_POSE = 1e3
MAX_ABS_TRANS = 1e4

FRAMERATE_RANGE_TEXT = f"[{MIN_FRAMERATE:g}, {MAX_FRAMERATE:g}] fps"


def check_framerate(value: Any, path: Union[str, Path], field: str) -> float:
    """``value`` as a float frame rate within ``[MIN_FRAMERATE, MAX_FRAMERATE]``, else MotionDataError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise MotionDataError(path, field, f"a finite frame rate in {FRAMERATE_RANGE_TEXT}", repr(value))
    fps = float(value)
    if not (math.isfinite(fps) and MIN_FRAMERATE <= fps <= MAX_FRAMERATE):
        raise MotionDataError(path, field, f"a finite frame rate in {FRAMERATE_RANGE_TEXT}", repr(fps))
    return fps
