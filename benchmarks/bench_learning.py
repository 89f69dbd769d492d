"""Learning on this CPU: wall time until full-eval tracks the real walk and jumps clips to their end.

From a clean start (a new run folder), converts the two real AMASS fixture clips (walk with a
high kick, jumps) with the project's own conversion, then runs ``mimic train`` (the real command,
its own process) with ``--experiment`` for up to ``--minutes`` of training wall time. Training
runs the evaluator every ``--eval-every`` epochs: the full-eval protocol on every motion (each
clip from its first frame on flat ground, deterministic actions, no termination; a clip succeeds
when the mean body error never exceeds 0.5 m), written to ``eval/<time>/`` with per-motion rows,
so each evaluation is one point of the curve at the wall time metrics.csv records for it.
``--stop-after-success N`` ends the run once N consecutive evaluations tracked every clip. Then
``mimic inference --full-eval`` (the user's command) evaluates the final ``last.ckpt``.

Prints one JSON record (the command, the curve, wall time to the first success per clip, the
final full-eval's success rate and E_g-mpjpe / E_mpjpe / E_pa-mpjpe / E_acc, PHC's frame-weighted
block) and a summary line; ``--plot P.png`` draws success and E_g-mpjpe against wall time.

    python benchmarks/bench_learning.py --results-dir /tmp/learning [--minutes 60]
        [--experiment training/experiments/mimic/mlp_cpu.py] [--num-envs 256] [--eval-every 25]

Rerunning with the same ``--results-dir`` resumes the run (wall time carries on across resumes).
``--simulator mjwarp --device cuda`` runs it on a GPU (``make gpu-check`` does, with ``mlp_gpu.py``);
the final full-eval runs where the checkpoint's config says.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

from fixture_clips import fixture_motion_lib  # noqa: E402

from training.run_layout import RunDir  # noqa: E402

GRACE_SECONDS = 180  # after SIGTERM: the epoch finishes, last.ckpt is written
POLL_SECONDS = 5.0


def evaluation_points(run: Path) -> List[Dict[str, Any]]:
    """One point per training-time evaluation of ``run``: epoch, env steps, training wall seconds
    (from metrics.csv), success rate, E_g-mpjpe (mm) and which clips were tracked to their end."""
    import pyarrow.parquet as pq

    wall_by_epoch: Dict[int, float] = {}
    metrics = RunDir(run).metrics_csv
    if metrics.is_file():
        with metrics.open(newline="") as handle:
            for row in csv.DictReader(handle):
                if row.get("wall_seconds"):
                    wall_by_epoch[int(row["epoch"])] = float(row["wall_seconds"])
    points = []
    for summary_path in sorted(RunDir(run).eval_root.glob("*/summary.json")):
        summary = json.loads(summary_path.read_text())
        if "epoch" not in summary:  # a full-eval of a checkpoint, not a training-time evaluation
            continue
        table = pq.read_table(summary_path.parent / "per_motion.parquet").to_pydict()
        points.append(
            {
                "epoch": int(summary["epoch"]),
                "env_steps": int(summary["env_steps"]),
                "wall_seconds": wall_by_epoch.get(int(summary["epoch"]), float("nan")),
                "success_rate": float(summary["Eval/success_rate"]),
                "e_g_mpjpe_mm": float(summary["all"]["e_g_mpjpe"]),
                "tracked": sorted(Path(f).stem for f, ok in zip(table["file"], table["success"]) if ok),
            }
        )
    return sorted(points, key=lambda point: point["epoch"])


def first_success_seconds(points: List[Dict[str, Any]], clips: List[str]) -> Dict[str, Optional[float]]:
    """Training wall seconds of the first evaluation that tracked each clip (None: never)."""
    return {clip: next((p["wall_seconds"] for p in points if clip in p["tracked"]), None) for clip in clips}


def consecutive_full_success(points: List[Dict[str, Any]]) -> int:
    count = 0
    for point in reversed(points):
        if point["success_rate"] < 1.0:
            break
        count += 1
    return count


def train(args: argparse.Namespace, motion_file: Path) -> List[str]:
    """Run ``mimic train`` until the wall-time budget or the success criterion; returns the command."""
    command = [
        sys.executable, "-m", "mimic.cli", "train", "--robot-name", "smpl", "--simulator", args.simulator,
        "--device", args.device,
        "--experiment-path", str(Path(args.experiment).resolve()), "--experiment-name", args.name,
        "--motion-file", str(motion_file), "--num-envs", str(args.num_envs), "--results-dir", str(args.results_dir),
        "--quiet", "--overrides", f"agent.eval_metrics_every={args.eval_every}", *args.overrides,
    ]  # fmt: skip
    if args.batch_size:
        command[command.index("--quiet") : command.index("--quiet")] = ["--batch-size", str(args.batch_size)]
    run = args.results_dir / args.name
    process = subprocess.Popen(command, cwd=REPO)
    while process.poll() is None:
        time.sleep(POLL_SECONDS)
        points = evaluation_points(run)
        trained = _last_wall_seconds(run)
        done = args.stop_after_success and consecutive_full_success(points) >= args.stop_after_success
        if done or trained >= args.minutes * 60:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=GRACE_SECONDS)
    return command


def _last_wall_seconds(run: Path) -> float:
    metrics = RunDir(run).metrics_csv
    if not metrics.is_file():
        return 0.0
    last = ""
    with metrics.open(newline="") as handle:
        for row in csv.DictReader(handle):
            last = row.get("wall_seconds") or last
    return float(last or 0.0)


def final_full_eval(run: Path, num_envs: int) -> Dict[str, Any]:
    """``mimic inference --full-eval`` of ``run/last.ckpt``; its summary.json."""
    out = run / "final_full_eval"
    command = [
        sys.executable, "-m", "mimic.cli", "inference", "--checkpoint", str(RunDir(run).last_checkpoint), "--full-eval",
        "--num-envs", str(num_envs), "--headless", "--output-dir", str(out),
    ]  # fmt: skip
    subprocess.run(command, cwd=REPO, check=True)
    return json.loads((out / "summary.json").read_text())


def plot(points: List[Dict[str, Any]], path: Path, label: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes = [p["wall_seconds"] / 60 for p in points]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    top.plot(minutes, [p["success_rate"] for p in points], marker=".", label=label)
    top.set_ylabel("full-eval success rate")
    top.set_ylim(-0.05, 1.05)
    top.legend()
    bottom.plot(minutes, [p["e_g_mpjpe_mm"] for p in points], marker=".")
    bottom.set_ylabel("E_g-mpjpe, all clips (mm)")
    bottom.set_xlabel("training wall time (min, 2 CPU cores)")
    bottom.set_yscale("log")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", type=Path, required=True)
    parser.add_argument("--experiment", default=str(REPO / "training/experiments/mimic/mlp_cpu.py"))
    parser.add_argument("--name", default="learning")
    parser.add_argument("--minutes", type=float, default=60.0, help="training wall-time budget")
    parser.add_argument("--num-envs", type=int, default=256)
    parser.add_argument("--simulator", default="mujoco", help="mujoco (CPU) or mjwarp (GPU)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:k")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the experiment's")
    parser.add_argument("--eval-every", type=int, default=25, help="epochs between evaluations")
    parser.add_argument("--stop-after-success", type=int, default=0, help="stop after N evaluations at 100 %%")
    parser.add_argument(
        "--motion-file",
        default=None,
        help="MotionLib to train on, relative to the checkout (default: the fixture clips, converted)",
    )
    parser.add_argument("--plot", type=Path, default=None)
    parser.add_argument("--overrides", nargs="*", default=[])
    args = parser.parse_args()
    args.results_dir = args.results_dir.resolve()
    args.results_dir.mkdir(parents=True, exist_ok=True)
    motion_file = Path(args.motion_file) if args.motion_file else fixture_motion_lib(args.results_dir / "clips")
    started = time.perf_counter()
    command = train(args, motion_file)
    run = args.results_dir / args.name
    points = evaluation_points(run)
    final = final_full_eval(run, num_envs=2)
    clips = ["dmpl_sample_female_120fps_poses", "hbp_sample_walk_female_120fps_poses"]
    record = {
        "benchmark": "learning",
        "experiment": Path(args.experiment).name,
        "command": command,
        "elapsed_seconds": round(time.perf_counter() - started, 1),
        "training_wall_seconds": _last_wall_seconds(run),
        "first_success_wall_seconds": first_success_seconds(points, clips),
        "final": {
            "success_rate": final["Eval/success_rate"],
            "e_g_mpjpe_mm": final["all"]["e_g_mpjpe"],
            "e_mpjpe_mm": final["all"]["e_mpjpe"],
            "e_pa_mpjpe_mm": final["all"]["e_pa_mpjpe"],
            "e_acc_mm_per_frame2": final["all"]["e_acc"],
            "success": final["success"],
            "phc": final.get("phc"),
        },
        "curve": points,
        "machine": _machine(),
    }
    print(json.dumps(record))
    if args.plot:
        plot(points, args.plot, Path(args.experiment).stem)
    firsts = record["first_success_wall_seconds"]
    print(
        f"learning ({record['experiment']}): first success walk "
        f"{_minutes(firsts['hbp_sample_walk_female_120fps_poses'])}, "
        f"jumps {_minutes(firsts['dmpl_sample_female_120fps_poses'])}; "
        f"final full-eval success {final['Eval/success_rate']:.2f}, E_g-mpjpe {final['all']['e_g_mpjpe']:.1f} mm "
        f"after {record['training_wall_seconds'] / 60:.1f} min of training"
    )
    return 0


def _machine() -> Dict[str, Any]:
    import os

    import torch

    info: Dict[str, Any] = {"cpus": os.cpu_count(), "platform": platform.platform()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_properties(0).name
    return info


def _minutes(seconds: Optional[float]) -> str:
    return "never" if seconds is None else f"{seconds / 60:.1f} min"


if __name__ == "__main__":
    sys.exit(main())
