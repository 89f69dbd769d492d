"""The run directory ``results/<experiment-name>/``: every file name in it, and when checkpoints are written.

Layout (ProtoMotions' names):

- ``last.ckpt`` — every :data:`SAVE_LAST_EVERY` epochs and at exit; a rerun of the same
  command resumes from it.
- ``epoch_<N>.ckpt`` — every :data:`SAVE_EPOCH_EVERY` epochs, kept.
- ``score_based.ckpt`` — whenever the evaluation score reaches its best.
- ``resolved_config.yaml`` — the full config after experiment file and overrides.
- ``metrics.csv`` — one row per epoch, every scalar (:class:`training.metrics_csv.MetricsCSV`).
- ``experiment_config.py`` — a copy of the experiment file.
- ``eval/<YYYYmmdd-HHMMSS>/`` — one folder per evaluation (:mod:`evaluation.eval_outputs`).
- ``plots/`` — the training curves ``mimic report`` draws.

Only names and paths live here, without torch, so the Dagster side, the lineage check and the
report read a run folder under the same names the trainer writes it with.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Tuple

from motion.io_utils import PathLike

LAST_CHECKPOINT = "last.ckpt"
SCORE_BASED_CHECKPOINT = "score_based.ckpt"
CHECKPOINT_SUFFIX = ".ckpt"
EPOCH_CHECKPOINT_PREFIX = "epoch_"  # epoch_<N>.ckpt
RESOLVED_CONFIG = "resolved_config.yaml"
METRICS_CSV = "metrics.csv"
EXPERIMENT_COPY = "experiment_config.py"
EVAL_DIR = "eval"
PLOTS_DIR = "plots"

SAVE_LAST_EVERY = 10  # epochs between last.ckpt writes
SAVE_EPOCH_EVERY = 1000  # epochs between kept epoch_<N>.ckpt files


def epoch_checkpoint_name(epoch: int) -> str:
    return f"{EPOCH_CHECKPOINT_PREFIX}{epoch}{CHECKPOINT_SUFFIX}"


class RunDir:
    """Paths inside one run directory (nothing is created until something is written)."""

    def __init__(self, root: PathLike) -> None:
        self.root = Path(root)

    @classmethod
    def for_experiment(cls, results_root: PathLike, experiment_name: str) -> RunDir:
        if not experiment_name or "/" in experiment_name or experiment_name in (".", ".."):
            raise ValueError(f"experiment name {experiment_name!r} is not a single directory name")
        return cls(Path(results_root) / experiment_name)

    @property
    def last_checkpoint(self) -> Path:
        return self.root / LAST_CHECKPOINT

    @property
    def score_based_checkpoint(self) -> Path:
        return self.root / SCORE_BASED_CHECKPOINT

    def epoch_checkpoint(self, epoch: int) -> Path:
        return self.root / epoch_checkpoint_name(epoch)

    @property
    def resolved_config(self) -> Path:
        return self.root / RESOLVED_CONFIG

    @property
    def metrics_csv(self) -> Path:
        return self.root / METRICS_CSV

    @property
    def experiment_copy(self) -> Path:
        return self.root / EXPERIMENT_COPY

    @property
    def eval_root(self) -> Path:
        """The folder holding one ``<YYYYmmdd-HHMMSS>/`` folder per evaluation."""
        return self.root / EVAL_DIR

    @property
    def plots(self) -> Path:
        return self.root / PLOTS_DIR

    def epoch_checkpoints(self) -> List[Tuple[int, Path]]:
        """Kept ``epoch_<N>.ckpt`` files as ``(N, path)``, sorted by N."""
        found = []
        for path in self.root.glob(f"{EPOCH_CHECKPOINT_PREFIX}*{CHECKPOINT_SUFFIX}"):
            number = path.stem[len(EPOCH_CHECKPOINT_PREFIX) :]
            if number.isdigit():
                found.append((int(number), path))
        return sorted(found)


def should_save_last(epoch: int, every: int = SAVE_LAST_EVERY) -> bool:
    """After completing ``epoch`` (1-based count of finished epochs); the trainer also saves at exit."""
    return every > 0 and epoch > 0 and epoch % every == 0


def should_save_epoch(epoch: int, every: int = SAVE_EPOCH_EVERY) -> bool:
    return every > 0 and epoch > 0 and epoch % every == 0
