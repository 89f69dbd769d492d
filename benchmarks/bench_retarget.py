"""SMPL → G1 retargeting throughput (frames/s) with the process pool, on copies of the three real clips.

Measures ``retarget.batch.retarget_motion_lib`` end to end (MotionLib read, worker start-up with
model load, mink IK, FK states, quality metrics with self-collision checks, atomic writes of every
``.motion``, packaging and the quality report). Prints one JSON line, then a summary.
Target from the issue: ≥ 64 retargeted frames/s per core.

    python benchmarks/bench_retarget.py [--copies 10] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from motion.batch_convert import convert_amass_tree  # noqa: E402
from motion.motion_lib import MotionLib  # noqa: E402
from retarget.batch import retarget_motion_lib  # noqa: E402

TARGET_FRAMES_PER_S_PER_CORE = 64


def build_lib(fixtures: Path, root: Path, copies: int) -> Path:
    """An SMPL MotionLib holding ``copies`` copies of each real clip."""
    assert convert_amass_tree(fixtures / "amass", root / "motions", progress=False).ok
    clips = sorted((root / "motions").rglob("*.motion"))
    path = root / "smpl.pt"
    MotionLib.from_motion_files(clips * copies).save(path)
    return path


def timed_run(lib: Path, out: Path, robot_xml: Path, workers: int, repeats: int) -> dict:
    times = []
    for repeat in range(repeats):
        start = time.perf_counter()
        report = retarget_motion_lib(lib, out / f"{repeat}" / "g1.pt", robot_xml=robot_xml, workers=workers)
        times.append(time.perf_counter() - start)
        assert report.ok, report.failures
    seconds = statistics.median(times)
    return {
        "repeats": repeats,
        "workers": workers,
        "motions": len(report.quality),
        "frames": report.num_frames,
        "seconds": round(seconds, 3),
        "frames_per_s": round(report.num_frames / seconds, 1),
        "frames_per_s_per_worker": round(report.num_frames / seconds / workers, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fixtures", default=os.environ.get("MIMIC_FIXTURES", str(REPO.parent / "shared/fixtures")))
    parser.add_argument("--robot-xml", default=None, help="default: <fixtures>/../robots/unitree_g1/g1_29dof.xml")
    args = parser.parse_args()
    fixtures = Path(args.fixtures).resolve()
    robot_xml = Path(args.robot_xml) if args.robot_xml else fixtures.parent / "robots" / "unitree_g1" / "g1_29dof.xml"

    with tempfile.TemporaryDirectory() as tmp:
        lib = build_lib(fixtures, Path(tmp) / "smpl", args.copies)
        in_process = timed_run(lib, Path(tmp) / "out1", robot_xml, 1, args.repeats)
        pooled = timed_run(lib, Path(tmp) / "outN", robot_xml, args.workers, args.repeats)
    result = {
        "benchmark": "retarget_g1",
        "in_process": in_process,
        "pool": pooled,
        "target": {"frames_per_s_per_core": TARGET_FRAMES_PER_S_PER_CORE},
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine()},
        "versions": {"python": platform.python_version(), "torch": torch.__version__},
    }
    print(json.dumps(result))
    print(
        f"retarget SMPL→G1 (median of {args.repeats}, {pooled['frames']} frames): in-process "
        f"{in_process['frames_per_s']} frames/s; pool of {args.workers}: {pooled['frames_per_s']} frames/s = "
        f"{pooled['frames_per_s_per_worker']} per core (target ≥ {TARGET_FRAMES_PER_S_PER_CORE} per core)"
    )


if __name__ == "__main__":
    main()
