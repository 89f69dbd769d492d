"""Capture glitches: single-frame jumps of the root that no body can make.

Optical capture occasionally loses or swaps markers for a frame, and the fitted root then jumps.
Such a jump is kept in the data (it is what the archive holds) but reported, so that a policy
failing there is not blamed: a tracker cannot follow a 12 cm teleport in 1/120 s.

A jump is a frame-to-frame root displacement that exceeds the median displacement of the seven
steps around it by more than :data:`GLITCH_EXCESS` (5 cm): 6 m/s of extra speed for one frame at
120 fps. Measured on the 37 ACCAD clips of the test corpus: the two clips documented as glitched
exceed it (8.7 and 7.1 cm); the largest excess elsewhere is 4.4 cm (a military crawl's lunge), and
walks, runs and jumps stay under 2 cm.
"""

from __future__ import annotations

from typing import List, NamedTuple

import numpy as np

GLITCH_EXCESS = 0.05  # m beyond the local median step
_WINDOW = 7  # steps in the local median


class RootJump(NamedTuple):
    frame: int  # the jump is from source frame ``frame`` to ``frame + 1``
    seconds: float  # time of ``frame`` in the source clip
    step: float  # m, the root displacement of that frame
    local: float  # m, the median displacement around it

    def describe(self) -> str:
        return (
            f"capture glitch: the root jumps {self.step * 100:.1f} cm between source frames {self.frame} and "
            f"{self.frame + 1} (t = {self.seconds:.2f} s; {self.local * 100:.1f} cm per frame around it)"
        )


def root_jumps(trans: np.ndarray, fps: float, excess: float = GLITCH_EXCESS) -> List[RootJump]:
    """Root jumps in ``trans`` (T, 3) m sampled at ``fps``: the frames whose step exceeds the
    local median step by more than ``excess`` m, largest first."""
    trans = np.asarray(trans, dtype=np.float64)
    if trans.ndim != 2 or len(trans) < 3:
        return []
    steps = np.linalg.norm(np.diff(trans, axis=0), axis=1)
    half = _WINDOW // 2
    padded = np.pad(steps, (half, half), mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, _WINDOW)
    local = np.median(windows, axis=1)
    frames = np.nonzero(steps - local > excess)[0]
    jumps = [RootJump(int(f), float(f / fps), float(steps[f]), float(local[f])) for f in frames]
    return sorted(jumps, key=lambda jump: jump.step - jump.local, reverse=True)
