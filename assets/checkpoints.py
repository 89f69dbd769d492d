"""Finding checkpoints under the results folder (the nightly schedule, the new-checkpoint sensor,
``evaluation`` with ``checkpoint: newest``)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from training.run_layout import CHECKPOINT_SUFFIX


@dataclass(frozen=True, order=True)
class CheckpointStamp:
    """A checkpoint file and its modification time (ns); ordered by (mtime, path): newest last."""

    mtime_ns: int
    path: str

    def to_cursor(self) -> str:
        return json.dumps({"mtime_ns": self.mtime_ns, "path": self.path}, sort_keys=True)

    @classmethod
    def from_cursor(cls, cursor: str | None) -> CheckpointStamp | None:
        if not cursor:
            return None
        fields = json.loads(cursor)
        return cls(int(fields["mtime_ns"]), str(fields["path"]))


def find_checkpoints(results_dir: str | Path) -> list[CheckpointStamp]:
    """Every ``*.ckpt`` below ``results_dir`` (recursive), oldest first; [] when it does not exist."""
    found = []
    for directory, _dirs, files in os.walk(results_dir):
        for name in files:
            if name.endswith(CHECKPOINT_SUFFIX) and not name.startswith("."):  # ".name.tmp": atomic write
                path = os.path.join(directory, name)
                try:
                    found.append(CheckpointStamp(os.stat(path).st_mtime_ns, os.path.abspath(path)))
                except FileNotFoundError:  # replaced between listing and stat
                    continue
    return sorted(found)


def newest_checkpoint(results_dir: str | Path) -> CheckpointStamp | None:
    found = find_checkpoints(results_dir)
    return found[-1] if found else None
