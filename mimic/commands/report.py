"""``mimic report <run_dir>``: draw a run's training curves and its newest evaluation's plots."""

from __future__ import annotations

import argparse


def register_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="plot a run's training curves and its newest evaluation",
        description="Write <run_dir>/plots/training_curves.png from metrics.csv and redraw the plots of the newest "
        "<run_dir>/eval/<stamp>/ from its per_motion.parquet. Prints each written path.",
    )
    parser.add_argument("run_dir", help="a run directory, e.g. results/<experiment-name>")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from evaluation.report import write_report

    for path in write_report(args.run_dir):
        print(path)
    return 0
