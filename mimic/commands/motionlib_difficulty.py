"""``mimic motionlib difficulty``: what each clip demands, and how long the oracle and an untrained
policy last on it (:mod:`evaluation.clip_difficulty`), before any training."""

from __future__ import annotations

import argparse
import json

DEFAULT_EXPERIMENT = "training/experiments/mimic/mlp_corpus_cpu.py"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "difficulty",
        help="per-clip demands (speed, airborne, non-foot contact, glitches) and oracle/untrained survival",
        description="For every clip of a MotionLib: duration, peak root speed, airborne time, ground contact "
        "by bodies other than the feet, capture glitches recorded at conversion, and how long the oracle "
        "(reference joint angles as PD targets) and an untrained policy of the experiment last from t = 0 "
        "under the training termination. Prints a Markdown table.",
    )
    parser.add_argument("motion_file", metavar="FILE", help="MotionLib .pt")
    parser.add_argument("--experiment-path", "--experiment_path", default=DEFAULT_EXPERIMENT,
                        help="experiment whose robot, simulator and env settings to use "
                        f"(default {DEFAULT_EXPERIMENT})")  # fmt: skip
    parser.add_argument("--json", default=None, metavar="OUT", help="also write the rows as JSON here")
    parser.add_argument("--threads", type=int, default=0, help="simulator threads (0: all cores)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from evaluation.clip_difficulty import difficulty_table, markdown_table
    from motion.io_utils import atomic_write_text
    from training.experiment_loader import load_experiment

    config = load_experiment(args.experiment_path)
    rows = difficulty_table(args.motion_file, config, threads=args.threads)
    print(markdown_table(rows))
    lasted = sum(row["oracle_to_end"] for row in rows), sum(row["untrained_to_end"] for row in rows)
    print(f"{len(rows)} clips; lasted to the end: oracle {lasted[0]}, untrained {lasted[1]}")
    if args.json:
        atomic_write_text(json.dumps(rows, indent=1) + "\n", args.json)
    return 0
