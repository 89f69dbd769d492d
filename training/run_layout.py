"""The run directory ``results/<experiment-name>/``: every file name in it, and when checkpoints are written.

Layout (ProtoMotions' names):

- ``last.ckpt`` — every :data:`SAVE_LAST_EVERY` epochs and at exit; a rerun of the same
  command resumes from it (everything for an exact resume).
- ``epoch_<N>.ckpt`` — every :data:`SAVE_EPOCH_EVERY` epochs, full (a point to go back to); the
  newest :func:`keep_epoch_checkpoints` are kept, older ones removed when a new one is written.
- ``score_based.ckpt`` — whenever the evaluation score reaches its best; inference-only (the
  actor and its normaliser: what evaluation, shipping and warm starts use).
- ``resolved_config.yaml`` — the full config after experiment file and overrides.
- ``metrics.csv`` — one row per epoch, every scalar (:class:`training.metrics_csv.MetricsCSV`).
- ``experiment_config.py`` — a copy of the experiment file.
- ``eval/<YYYYmmdd-HHMMSS>/`` — one folder per evaluation (:mod:`evaluation.eval_outputs`); the
  newest :func:`keep_eval_dirs` complete ones and the best one are kept.
- ``plots/`` — the training curves ``mimic report`` draws.

Only names and paths live here, without torch, so the Dagster side, the lineage check and the
report read a run folder under the same names the trainer writes it with.
"""

from __future__ import annotations

import os
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
SAVE_EPOCH_EVERY = 1000  # epochs between epoch_<N>.ckpt files

# Retention: outputs piled up (three eval folders per demo run, a 126 MB checkpoint every 1000
# epochs). The environment variables change the numbers; 0 keeps everything.
KEEP_EPOCH_CHECKPOINTS_ENV = "MIMIC_KEEP_EPOCH_CHECKPOINTS"
KEEP_EPOCH_CHECKPOINTS = 3  # newest epoch_<N>.ckpt files kept (besides last.ckpt and score_based.ckpt)
KEEP_EVAL_DIRS_ENV = "MIMIC_KEEP_EVAL_DIRS"
KEEP_EVAL_DIRS = 5  # newest complete eval/<time>/ folders kept, plus the best one


def _kept(variable: str, default: int) -> int:
    text = os.environ.get(variable, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{variable}={text!r}: expected a whole number of outputs to keep (0: all)") from None
    if value < 0:
        raise ValueError(f"{variable}={text!r}: expected a whole number ≥ 0 of outputs to keep (0: all)")
    return value


def keep_epoch_checkpoints() -> int:
    """How many of the newest ``epoch_<N>.ckpt`` files a run keeps (0: all); ``$MIMIC_KEEP_EPOCH_CHECKPOINTS``."""
    return _kept(KEEP_EPOCH_CHECKPOINTS_ENV, KEEP_EPOCH_CHECKPOINTS)


def keep_eval_dirs() -> int:
    """How many of the newest complete ``eval/<time>/`` folders a run keeps besides the best
    (0: all); ``$MIMIC_KEEP_EVAL_DIRS``."""
    return _kept(KEEP_EVAL_DIRS_ENV, KEEP_EVAL_DIRS)


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

    def prune_epoch_checkpoints(self, keep: int) -> List[Path]:
        """Remove all but the newest ``keep`` ``epoch_<N>.ckpt`` files (none when ``keep`` is 0);
        returns the removed paths."""
        found = self.epoch_checkpoints()
        if keep <= 0 or len(found) <= keep:
            return []
        removed = [path for _epoch, path in found[:-keep]]
        for path in removed:
            path.unlink()
        return removed


def should_save_last(epoch: int, every: int = SAVE_LAST_EVERY) -> bool:
    """After completing ``epoch`` (1-based count of finished epochs); the trainer also saves at exit."""
    return every > 0 and epoch > 0 and epoch % every == 0


def should_save_epoch(epoch: int, every: int = SAVE_EPOCH_EVERY) -> bool:
    return every > 0 and epoch > 0 and epoch % every == 0
