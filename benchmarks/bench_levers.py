"""Learning-quality levers on a corpus, side by side: each variant of the corpus recipe trained for
the same env steps on the same clips, from the same seed, in one run of this script.

Variants (``--variants`` picks some): ``mlp_cpu`` (the two-clip recipe, no lever), ``corpus``
(``mlp_corpus_cpu.py``: every lever on), and ``corpus`` with one lever off or changed:
``no_fd_velocity`` (resets take the MotionLib's root velocity), ``no_failure_starts``,
``learnable_std`` (mlp_cpu's learnable std from 0.30 with the entropy bonus, no decay),
``termination_0.3`` (episodes end at 0.3 m instead of 0.5 m) and ``wide_net`` (1024-512-256).

Each variant is a real ``mimic train`` process (its own results folder under ``--results-dir``)
with training-time evaluation every ``--eval-every`` epochs (every clip from t = 0, the full-eval
protocol). Reported per variant: mean training episode length (control steps) over the last 10
epochs, and from the last two evaluations the clips tracked to their end and the mean share of
each clip tracked before its error passed 0.5 m (``tracked_fraction``: finer than success early
on, when few clips are tracked to their end). Prints one JSON record and a summary line.

    python benchmarks/bench_levers.py --motion-file data/motionlib/accad_train.pt \\
        --results-dir /tmp/levers [--epochs 75] [--variants corpus no_failure_starts]

Variants whose run folder already holds ``--epochs`` epochs are read, not retrained.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from training.run_layout import RunDir  # noqa: E402

CPU_RECIPE = "training/experiments/mimic/mlp_cpu.py"
CORPUS_RECIPE = "training/experiments/mimic/mlp_corpus_cpu.py"
VARIANTS: Dict[str, Dict[str, Any]] = {
    "mlp_cpu": {"experiment": CPU_RECIPE, "overrides": []},
    "corpus": {"experiment": CORPUS_RECIPE, "overrides": []},
    "no_fd_velocity": {"experiment": CORPUS_RECIPE, "overrides": ["env.reset_root_velocity=motion_lib"]},
    "no_failure_starts": {"experiment": CORPUS_RECIPE, "overrides": ["env.failure_start_prob=0.0"]},
    "learnable_std": {
        "experiment": CORPUS_RECIPE,
        "overrides": ["agent.learnable_std=true", "agent.logstd_decay_env_steps=0"],
    },
    "termination_0.3": {"experiment": CORPUS_RECIPE, "overrides": ["env.termination_distance=0.3"]},
    "wide_net": {
        "experiment": CORPUS_RECIPE,
        "overrides": ["agent.actor_units=[1024,512,256]", "agent.critic_units=[1024,512,256]"],
    },
}


def run_variant(name: str, args: argparse.Namespace) -> Dict[str, Any]:
    variant = VARIANTS[name]
    run = args.results_dir / name
    started = time.time()
    if _epochs_done(run) < args.epochs:
        command = [
            sys.executable, "-m", "mimic.cli", "train", "--robot-name", "smpl", "--simulator", "mujoco",
            "--experiment-path", variant["experiment"], "--experiment-name", name,
            "--motion-file", str(args.motion_file), "--num-envs", str(args.num_envs),
            "--results-dir", str(args.results_dir), "--max-epochs", str(args.epochs), "--seed", str(args.seed),
            "--num-threads", str(args.num_threads),
            "--quiet", "--overrides", f"agent.eval_metrics_every={args.eval_every}", *variant["overrides"],
        ]  # fmt: skip
        subprocess.run(command, cwd=REPO, check=True)
    return dict(summarize_run(run), variant=name, overrides=variant["overrides"], experiment=variant["experiment"],
                seconds=round(time.time() - started, 1))  # fmt: skip


def _epochs_done(run: Path) -> int:
    rows = _metrics_rows(run)
    return int(rows[-1]["epoch"]) if rows else 0


def _metrics_rows(run: Path) -> List[Dict[str, str]]:
    path = RunDir(run).metrics_csv
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def summarize_run(run: Path) -> Dict[str, Any]:
    """Episode length over the last 10 epochs and the last two evaluations' tracking."""
    import pyarrow.parquet as pq

    rows = _metrics_rows(run)
    lengths = [float(r["Train/episode_length"]) for r in rows[-10:] if r.get("Train/episode_length")]
    evaluations = []
    for summary_path in sorted(RunDir(run).eval_root.glob("*/summary.json")):
        summary = json.loads(summary_path.read_text())
        if "epoch" not in summary:
            continue
        table = pq.read_table(summary_path.parent / "per_motion.parquet").to_pydict()
        fractions = [
            (frames if ok else failure) / frames
            for frames, ok, failure in zip(table["frames"], table["success"], table["failure_frame"])
        ]
        evaluations.append(
            {
                "epoch": int(summary["epoch"]),
                "env_steps": int(summary["env_steps"]),
                "tracked": int(sum(table["success"])),
                "tracked_fraction": round(sum(fractions) / len(fractions), 4),
                "e_g_mpjpe_mm": round(float(summary["all"]["e_g_mpjpe"]), 1),
            }
        )
    evaluations.sort(key=lambda e: e["epoch"])
    last = evaluations[-2:]
    return {
        "epochs": int(rows[-1]["epoch"]) if rows else 0,
        "env_steps": int(rows[-1]["env_steps"]) if rows else 0,
        "episode_length_last10": round(sum(lengths) / len(lengths), 2) if lengths else None,
        "tracked_last2": [e["tracked"] for e in last],
        "tracked_fraction_last2": round(sum(e["tracked_fraction"] for e in last) / len(last), 4) if last else None,
        "evaluations": evaluations,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--motion-file", type=Path, required=True)
    parser.add_argument("--results-dir", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=75)
    parser.add_argument("--eval-every", type=int, default=25)
    parser.add_argument("--num-envs", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-threads", type=int, default=0, help="CPU threads per run (0: all cores)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = parser.parse_args()
    args.results_dir = args.results_dir.resolve()
    results = []
    for name in args.variants:
        results.append(run_variant(name, args))
        print(json.dumps(results[-1]), flush=True)
    record = {
        "benchmark": "bench_levers",
        "motion_file": str(args.motion_file),
        "epochs": args.epochs,
        "num_envs": args.num_envs,
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
        "variants": results,
    }
    print(json.dumps(record))
    print(
        "levers: "
        + "; ".join(
            f"{r['variant']} ep len {r['episode_length_last10']}, tracked fraction "
            f"{r['tracked_fraction_last2']}, tracked {r['tracked_last2']}"
            for r in results
        )  # fmt: skip
    )


if __name__ == "__main__":
    main()
