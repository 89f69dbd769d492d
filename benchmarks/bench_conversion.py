"""AMASS → .motion conversion throughput on a 90-file set made of the three real sample clips.

Measures end to end (read npz, md5, downsample, FK, velocities, contacts, atomic torch.save):
in-process (one worker) and with the process pool. Prints one JSON line, then a summary.
Baseline from the issue: ProtoMotions' converter ≈ 20,000 source frames/s, 46 files/s here.

    python benchmarks/bench_conversion.py [--copies 30] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from motion.batch_convert import convert_amass_tree  # noqa: E402


def build_set(fixtures: Path, root: Path, copies: int) -> int:
    count = 0
    for copy in range(copies):
        for source in sorted((fixtures / "amass").glob("*.npz")):
            target = root / "BENCH" / f"{copy:03d}_{source.name}"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target)
            count += 1
    return count


def timed_run(root: Path, out: Path, workers: int, repeats: int) -> dict:
    """Median of ``repeats`` full conversions (a 90-file run lasts well under a second)."""
    times = []
    for _ in range(repeats):
        shutil.rmtree(out, ignore_errors=True)
        start = time.perf_counter()
        report = convert_amass_tree(root, out, workers=workers, progress=False)
        times.append(time.perf_counter() - start)
        assert report.ok, report.summary()
    seconds = statistics.median(times)
    files = len(report.converted)
    return {
        "repeats": repeats,
        "workers": workers,
        "files": files,
        "seconds": round(seconds, 3),
        "files_per_s": round(files / seconds, 1),
        "source_frames_per_s": round(report.source_frames / seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=30)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--fixtures", default=os.environ.get("MIMIC_FIXTURES", str(REPO.parent / "shared/fixtures")))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "amass"
        files = build_set(Path(args.fixtures), root, args.copies)
        timed_run(root, Path(tmp) / "warmup", 1, 1)  # imports, page cache
        in_process = timed_run(root, Path(tmp) / "out1", 1, args.repeats)
        pooled = timed_run(root, Path(tmp) / "outN", args.workers, args.repeats)
    result = {
        "benchmark": "amass_conversion",
        "files": files,
        "in_process": in_process,
        "pool": pooled,
        "targets": {"source_frames_per_s": 200000, "files_per_s": 200},
        "baseline_protomotions": {"source_frames_per_s": 20000, "files_per_s": 46},
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine()},
        "versions": {"python": platform.python_version(), "torch": torch.__version__},
    }
    print(json.dumps(result))
    print(
        f"conversion (median of {args.repeats}): in-process {in_process['source_frames_per_s']:,} source frames/s, "
        f"{in_process['files_per_s']} files/s; pool of {args.workers}: {pooled['source_frames_per_s']:,} frames/s, "
        f"{pooled['files_per_s']} files/s (targets 200,000 and 200; ProtoMotions 20,000 and 46)"
    )


if __name__ == "__main__":
    main()
