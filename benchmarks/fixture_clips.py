"""The real AMASS fixture clips (walk with a high kick, jumps) as a MotionLib, for benchmarks.

Found through ``MIMIC_FIXTURES`` (default ``../shared/fixtures`` beside the checkout), as the tests do.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Sequence

REPO = Path(__file__).resolve().parent.parent
WALK = "hbp_sample_walk_female_120fps_poses.npz"
JUMPS = "dmpl_sample_female_120fps_poses.npz"
SEATED = "amass_sample_male_120fps_poses.npz"


def fixtures_amass_dir() -> Path:
    configured = Path(os.environ.get("MIMIC_FIXTURES", "../shared/fixtures"))
    folder = (configured if configured.is_absolute() else REPO / configured) / "amass"
    if not folder.is_dir():
        raise SystemExit(f"AMASS fixtures not found at {folder}: set MIMIC_FIXTURES to the shared fixtures folder")
    return folder


def fixture_motion_lib(workdir: Path, clips: Sequence[str] = (WALK, JUMPS)) -> Path:
    """Convert ``clips`` (file names under the fixtures' amass/) and package them into
    ``workdir/fixture_clips.pt`` with the project's own conversion; returns the MotionLib path."""
    from motion.batch_convert import convert_amass_tree
    from motion.motion_lib_packaging import package_motion_lib

    source = workdir / "amass" / "samples"
    source.mkdir(parents=True, exist_ok=True)
    for name in clips:
        shutil.copyfile(fixtures_amass_dir() / name, source / name)
    convert_amass_tree(workdir / "amass", workdir / "motions", progress=False)
    lib = workdir / "fixture_clips.pt"
    package_motion_lib(workdir / "motions" / "samples", lib)
    return lib
