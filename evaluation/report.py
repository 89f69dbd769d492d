"""``mimic report``: (re)draw a run's plots from the files training and evaluation left behind.

- ``<run_dir>/metrics.csv`` → ``<run_dir>/plots/training_curves.png``;
- the newest complete ``<run_dir>/eval/<stamp>/`` → its ``plots/error_histogram.png`` and
  ``plots/success_by_subset.png``, redrawn from its ``per_motion.parquet``.
"""

from __future__ import annotations

from pathlib import Path
from typing import List

from motion.errors import ResultsFileError
from motion.io_utils import PathLike
from training.run_layout import EVAL_DIR, METRICS_CSV, PLOTS_DIR, RunDir

TRAINING_CURVES_PNG = "training_curves.png"


def write_report(run_dir: PathLike) -> List[Path]:
    """Write every plot the run directory has data for; return the written paths in order.

    Raises ResultsFileError naming ``run_dir`` when it is not a directory, or holds neither
    ``metrics.csv`` nor a complete evaluation directory.
    """
    from evaluation.eval_outputs import (
        ERROR_HISTOGRAM_PNG,
        PER_MOTION_PARQUET,
        SUCCESS_BY_SUBSET_PNG,
        SUMMARY_JSON,
        latest_eval_dir,
        read_per_motion_table,
    )
    from evaluation.plots import plot_error_histogram, plot_success_by_subset, plot_training_curves

    root = Path(run_dir)
    if not root.is_dir():
        raise ResultsFileError(root, "run directory", "an existing directory", "no such directory")
    run = RunDir(root)
    metrics_csv = run.metrics_csv
    eval_dir = latest_eval_dir(root)
    if not metrics_csv.is_file() and eval_dir is None:
        expected = (
            f"{METRICS_CSV} (written by mimic train) or {EVAL_DIR}/<YYYYmmdd-HHMMSS>/ "
            f"with {SUMMARY_JSON} and {PER_MOTION_PARQUET} (written by an evaluation)"
        )
        contents = sorted(path.name for path in root.iterdir())
        found = f"neither (contents: {', '.join(contents[:10])}{', ...' if len(contents) > 10 else ''})"
        raise ResultsFileError(root, "run directory", expected, found if contents else "an empty directory")

    written: List[Path] = []
    if metrics_csv.is_file():
        written.append(plot_training_curves(metrics_csv, run.plots / TRAINING_CURVES_PNG))
    if eval_dir is not None:
        rows = read_per_motion_table(eval_dir / PER_MOTION_PARQUET)
        written.append(plot_error_histogram(rows, eval_dir / PLOTS_DIR / ERROR_HISTOGRAM_PNG))
        written.append(plot_success_by_subset(rows, eval_dir / PLOTS_DIR / SUCCESS_BY_SUBSET_PNG))
    return written
