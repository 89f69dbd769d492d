"""Success on the train and held-out clips of a corpus against training wall time and env steps.

Reads a training run (``--run``: its training-time evaluations on the train clips, every
``agent.eval_metrics_every`` epochs) and checkpoints taken along the way (``--checkpoints``:
copies of ``last.ckpt`` saved during training, or any checkpoints of the run), and runs
``mimic inference --full-eval`` (the user's command: every clip from t = 0 to its end) of each
checkpoint on the train and held-out MotionLibs. Prints one JSON record with both curves and a
summary line; ``--plot P.png`` draws clips tracked (train and held-out) against wall time and env
steps. Checkpoints already evaluated (``--out`` holds their summary.json) are read, not rerun.

    python benchmarks/bench_corpus_curve.py --run results/smpl_accad --checkpoints snapshots/*.ckpt \\
        --train data/motionlib/accad_train.pt --heldout data/motionlib/accad_heldout.pt --out curve/ \\
        --plot benchmarks/learning_corpus.png
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_learning import evaluation_points  # noqa: E402


def full_eval(checkpoint: Path, motion_file: Path, out: Path, num_envs: int) -> Dict[str, Any]:
    if not (out / "summary.json").is_file():
        command = [sys.executable, "-m", "mimic.cli", "inference", "--checkpoint", str(checkpoint), "--full-eval",
                   "--num-envs", str(num_envs), "--headless", "--quiet", "--motion-file", str(motion_file),
                   "--output-dir", str(out)]  # fmt: skip
        subprocess.run(command, cwd=REPO, check=True)
    summary = json.loads((out / "summary.json").read_text())
    return {
        "tracked": int(summary["num_success"]),
        "motions": int(summary["num_motions"]),
        "success_rate": float(summary["Eval/success_rate"]),
        "e_g_mpjpe_mm_all": round(float(summary["all"]["e_g_mpjpe"]), 1),
        "e_g_mpjpe_mm_tracked": None if summary["success"].get("e_g_mpjpe") is None
        else round(float(summary["success"]["e_g_mpjpe"]), 1),
    }  # fmt: skip


def checkpoint_points(args: argparse.Namespace) -> List[Dict[str, Any]]:
    import torch

    points = []
    for checkpoint in sorted(args.checkpoints):
        payload = torch.load(checkpoint, map_location="cpu", weights_only=True)
        epoch = int(payload["epoch"])
        point = {
            "checkpoint": checkpoint.name,
            "epoch": epoch,
            "env_steps": int(payload["env_steps"]),
            "wall_seconds": float(payload["counters"].get("training_wall_seconds", float("nan"))),
        }
        for split, motion_file in (("train", args.train), ("heldout", args.heldout)):
            point[split] = full_eval(checkpoint, motion_file, args.out / f"epoch_{epoch:06d}" / split, args.num_envs)
        points.append(point)
    return sorted(points, key=lambda point: point["epoch"])


def plot(training: List[Dict[str, Any]], points: List[Dict[str, Any]], path: Path, train_count: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for axis, key, scale, label in ((axes[0], "wall_seconds", 3600.0, "training wall time (h, 2 CPU cores)"),
                                    (axes[1], "env_steps", 1e6, "env steps (M)")):  # fmt: skip
        axis.plot([p[key] / scale for p in training], [p["success_rate"] * train_count for p in training],
                  ".", alpha=0.5, label="train clips, training-time evaluations")  # fmt: skip
        axis.plot([p[key] / scale for p in points], [p["train"]["tracked"] for p in points], "o-",
                  label="train clips (27), full-eval")  # fmt: skip
        axis.plot([p[key] / scale for p in points], [p["heldout"]["tracked"] for p in points], "s-",
                  label="held-out clips (10), full-eval")  # fmt: skip
        axis.set_xlabel(label)
    axes[0].set_ylabel("clips tracked to their end")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--checkpoints", type=Path, nargs="*", default=[])
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--heldout", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--num-envs", type=int, default=27)
    parser.add_argument("--plot", type=Path, default=None)
    args = parser.parse_args()
    training = evaluation_points(args.run)
    points = checkpoint_points(args)
    record = {"benchmark": "corpus_curve", "run": str(args.run), "training_evaluations": training,
              "full_evals": points}  # fmt: skip
    print(json.dumps(record))
    if args.plot:
        plot(training, points, args.plot, train_count=points[0]["train"]["motions"] if points else 27)
    last = points[-1] if points else None
    if last:
        print(
            f"corpus curve: {len(points)} checkpoints; last (epoch {last['epoch']}, {last['env_steps'] / 1e6:.1f} M "
            f"env steps, {last['wall_seconds'] / 3600:.2f} h): train {last['train']['tracked']}/"
            f"{last['train']['motions']}, held-out {last['heldout']['tracked']}/{last['heldout']['motions']}"
        )
    else:
        print(f"corpus curve: {len(training)} training-time evaluations, no checkpoint evaluated")


if __name__ == "__main__":
    main()
