"""A wall-clock-limited training run: success rate against wall time (the GPU learning record).

Runs ``mimic train`` (the real command, its own process) for ``--minutes``, evaluating every
``--eval-every`` epochs, then stops it with SIGTERM (the trainer saves last.ckpt and summarises,
as under a scheduler's pre-emption) and reads the run's metrics.csv: one row per evaluation with
wall seconds, env steps, Eval/success_rate and Eval/gt_err. Prints one JSON record and a summary.

    python benchmarks/bench_gpu_training.py [--motion-file data/motionlib/amass_train.pt]
        [--minutes 10] [--simulator mjwarp] [--num-envs 8192] [--eval-every 20]

Without a CUDA device (and a GPU simulator) it prints a record saying so and exits 0. With
``--results-dir D`` a second call with the same ``D`` resumes the run (``wall_seconds`` in
metrics.csv carries on across resumes), so a 10-minute run can be split over calls shorter than
that, e.g. ``--minutes 6`` twice where a machine limits one command to 10 minutes.
"""

from __future__ import annotations

import argparse
import csv
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

import torch

from training.run_layout import RunDir

REPO = Path(__file__).resolve().parent.parent
GRACE_SECONDS = 120  # after SIGTERM: the last epoch finishes its step, last.ckpt is written


def evaluations(metrics_csv: Path) -> List[Dict[str, Any]]:
    """The rows of ``metrics_csv`` that carry an evaluation, reduced to what the record keeps."""
    rows: List[Dict[str, Any]] = []
    with metrics_csv.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row.get("Eval/success_rate"):
                rows.append(
                    {
                        "epoch": int(row["epoch"]),
                        "env_steps": int(row["env_steps"]),
                        "wall_seconds": float(row.get("wall_seconds") or "nan"),
                        "success_rate": float(row["Eval/success_rate"]),
                        "gt_err_m": float(row["Eval/gt_err"]),
                        "train_fps": float(row.get("Train/fps") or "nan"),
                    }
                )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--motion-file", default=None, help="default: the synthetic clips, packaged")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--simulator", default="mjwarp")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--num-envs", type=int, default=8192)
    parser.add_argument("--batch-size", type=int, default=8192)
    parser.add_argument("--eval-every", type=int, default=20, help="epochs between evaluations")
    parser.add_argument("--results-dir", default=None, help="default: a temporary directory")
    parser.add_argument("--overrides", nargs="*", default=[])
    args = parser.parse_args()
    if args.device != "cpu" and not torch.cuda.is_available():
        print(json.dumps({"benchmark": "gpu_training", "skipped": "no CUDA device visible to torch"}))
        print("gpu_training: skipped (no CUDA device)")
        return 0
    results_dir = Path(args.results_dir or tempfile.mkdtemp(prefix="gpu-training-"))
    sys.path.insert(0, str(REPO / "benchmarks"))
    from bench_gpu_scale import machine, synthetic_library, versions

    motion_file = args.motion_file
    if motion_file is None:
        motion_file = str(synthetic_library(results_dir / "motions"))
    command = [
        sys.executable, "-m", "mimic.cli", "train", "--robot-name", "smpl", "--simulator", args.simulator,
        "--device", args.device, "--experiment-path", str(REPO / "training/experiments/mimic/mlp.py"),
        "--experiment-name", "gpu_training", "--motion-file", motion_file, "--num-envs", str(args.num_envs),
        "--batch-size", str(args.batch_size), "--results-dir", str(results_dir), "--quiet",
        "--overrides", f"agent.eval_metrics_every={args.eval_every}", *args.overrides,
    ]  # fmt: skip
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO)
    try:
        process.wait(timeout=args.minutes * 60)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=GRACE_SECONDS)
    wall = time.perf_counter() - started
    run = RunDir.for_experiment(results_dir, "gpu_training")
    rows = evaluations(run.metrics_csv) if run.metrics_csv.is_file() else []
    record = {
        "benchmark": "gpu_training",
        "command": command,
        "exit_status": process.returncode,
        "wall_seconds": round(wall, 1),
        "evaluations": rows,
        "last_checkpoint": str(run.last_checkpoint) if run.last_checkpoint.is_file() else None,
        "versions": versions(),
        "machine": machine(args.device if args.device != "auto" else "cuda"),
    }
    print(json.dumps(record))
    best = max((r["success_rate"] for r in rows), default=float("nan"))
    print(
        f"gpu_training: {wall / 60:.1f} min, {len(rows)} evaluations, best success rate {best:.3f}; "
        + ", ".join(f"{r['wall_seconds'] / 60:.1f} min: {r['success_rate']:.3f}" for r in rows)
    )
    return 0 if process.returncode in (0, 130) else 1


if __name__ == "__main__":
    sys.exit(main())
