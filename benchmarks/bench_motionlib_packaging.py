"""MotionLib packaging: peak memory against output size, and motions/s.

Writes ``--num-motions`` small synthetic ``.motion`` files (30–120 frames, random but valid) to
a temporary folder, then packages them in a fresh child process that measures its own peak
resident memory around the call: it resets the kernel's high-water mark (``/proc/self/clear_refs``)
after its imports, reads ``VmRSS`` as the baseline, runs ``package_motion_lib`` and reads
``VmHWM``. Peak increase / output file size must stay ≤ 2 (two passes: sizes from memory-mapped
headers, one allocation of the output, each motion copied into its slice).
Prints one JSON line, then a one-line summary.

    python benchmarks/bench_motionlib_packaging.py [--num-motions 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def write_synthetic_motions(folder: Path, count: int, min_frames: int, max_frames: int, seed: int) -> int:
    """``count`` valid ``.motion`` files under ``folder`` (100 per subfolder); returns total frames."""
    import torch

    from motion.motion_file import save_motion
    from motion.synthetic import random_motion

    gen = torch.Generator().manual_seed(seed)
    lengths = torch.randint(min_frames, max_frames + 1, (count,), generator=gen).tolist()
    for index, frames in enumerate(lengths):
        metadata = {
            "source_path": f"BENCH/{index:05d}_poses.npz",
            "source_md5": f"{index:032x}",
            "converter_version": "bench",
            "conversion": {"output_fps": 30},
        }
        motion = random_motion(frames, seed * 100_000 + index, contact_rate=0.3, metadata=metadata)
        save_motion(motion, folder / f"{index // 100:03d}" / f"{index:05d}.motion")
    return sum(lengths)


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as handle:
        match = re.search(rf"^{field}:\s+(\d+) kB", handle.read(), re.MULTILINE)
    return int(match.group(1)) if match else -1


def measure_packaging_in_this_process(motion_dir: str, output: str) -> Dict[str, object]:
    """Package ``motion_dir`` here, reporting peak RSS over the call (bytes) and seconds."""
    import torch  # noqa: F401  (imported before the baseline is taken)

    from motion.motion_lib_packaging import package_motion_lib

    try:  # reset VmHWM to the current RSS, so the peak is the packaging's own
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        method = "VmHWM after clear_refs"
    except OSError:
        method = "VmHWM without reset (conservative)"
    baseline = _status_kib("VmRSS")
    start = time.perf_counter()
    result = package_motion_lib(motion_dir, output)
    seconds = time.perf_counter() - start
    peak = _status_kib("VmHWM")
    return {
        "method": method,
        "baseline_rss_bytes": baseline * 1024,
        "peak_rss_bytes": peak * 1024,
        "peak_increase_bytes": (peak - baseline) * 1024,
        "seconds": seconds,
        "num_motions": result.num_motions,
        "num_frames": result.num_frames,
        "file_size_bytes": result.file_size,
    }


def measure_packaging(motion_dir: Path, output: Path) -> Dict[str, object]:
    """Run :func:`measure_packaging_in_this_process` in a fresh interpreter and return its report."""
    completed = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", str(motion_dir), str(output)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-motions", type=int, default=10_000)
    parser.add_argument("--min-frames", type=int, default=30)
    parser.add_argument("--max-frames", type=int, default=120)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", nargs=2, metavar=("MOTION_DIR", "OUTPUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure_packaging_in_this_process(*args.child)))
        return

    import torch

    with tempfile.TemporaryDirectory(prefix="bench_motionlib_") as tmp:
        motion_dir = Path(tmp) / "motions"
        started = time.perf_counter()
        write_synthetic_motions(motion_dir, args.num_motions, args.min_frames, args.max_frames, args.seed)
        write_seconds = time.perf_counter() - started
        report = measure_packaging(motion_dir, Path(tmp) / "motion_lib.pt")
    ratio = report["peak_increase_bytes"] / report["file_size_bytes"]
    result = {
        "benchmark": "motionlib_packaging",
        "num_motions": report["num_motions"],
        "num_frames": report["num_frames"],
        "file_size_bytes": report["file_size_bytes"],
        "peak_rss_increase_bytes": report["peak_increase_bytes"],
        "peak_over_size": round(ratio, 3),
        "target_peak_over_size": 2.0,
        "seconds": round(report["seconds"], 3),
        "motions_per_s": round(report["num_motions"] / report["seconds"], 1),
        "memory_method": report["method"],
        "write_inputs_seconds": round(write_seconds, 1),
        "torch": torch.__version__,
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine()},
    }
    print(json.dumps(result))
    print(
        f"packaged {result['num_motions']:,} motions ({result['num_frames']:,} frames) into "
        f"{result['file_size_bytes'] / 2**20:.1f} MiB in {result['seconds']:.1f} s "
        f"({result['motions_per_s']:,} motions/s); peak RSS +{result['peak_rss_increase_bytes'] / 2**20:.1f} MiB "
        f"= {result['peak_over_size']}× the file (target ≤ 2)"
    )


if __name__ == "__main__":
    main()
