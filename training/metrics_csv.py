"""``metrics.csv``: one row per epoch, one column per scalar ever logged (pandas reads it directly)."""

from __future__ import annotations

import csv
import io
import logging
import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, Union

import numpy as np
import torch

from motion.io_utils import PathLike, atomic_write_text, write_errors_named

log = logging.getLogger(__name__)


def _scalar(key: str, value: Any) -> Union[int, float, None]:
    if isinstance(value, (torch.Tensor, np.ndarray, np.generic)):
        if int(np.prod(value.shape)) != 1:
            raise ValueError(f"metric {key!r} is not a scalar (shape {tuple(value.shape)})")
        value = value.item()
    if isinstance(value, bool):
        return int(value)
    if value is None or isinstance(value, (int, float)):
        return value
    raise ValueError(f"metric {key!r} must be a number, found {type(value).__name__}")


def _format(value: Union[int, float, None]) -> str:
    # repr round-trips floats exactly; nan/inf/-inf are spelled as pandas and float() read them.
    return "" if value is None else repr(value)


class MetricsCSV:
    """``metrics.csv``: one row per epoch, one column per scalar ever logged, a single header.

    A key seen for the first time adds a column: the file is rewritten atomically with the
    wider header, earlier rows getting empty cells (pandas reads them as NaN). Rows are
    otherwise appended, so the cost per epoch is one line. Opening an existing file (resume)
    keeps its columns and drops a partial last line left by a crash; after a resume,
    :meth:`truncate_after` drops the rows of epochs the resumed run will repeat.
    """

    def __init__(self, path: PathLike, index_key: str = "epoch") -> None:
        self.path = Path(path)
        self.index_key = index_key
        self._columns: List[str] = []
        if self.path.exists():
            text = self.path.read_text(encoding="utf-8")
            rows = list(csv.reader(io.StringIO(text)))
            if rows:
                self._columns = rows[0]
            if text and not text.endswith("\n"):
                log.warning("%s: dropping a partial last line (interrupted write)", self.path)
                self._rewrite(self.read_rows()[:-1] if len(rows) > 1 else [])

    @property
    def columns(self) -> List[str]:
        return list(self._columns)

    def read_rows(self) -> List[Dict[str, str]]:
        """Rows as ``column → text`` ('' where a key was not logged)."""
        if not self.path.exists():
            return []
        with open(self.path, newline="", encoding="utf-8") as handle:
            return [dict(row) for row in csv.DictReader(handle)]

    def append(self, row: Mapping[str, Any]) -> None:
        """Append one epoch's scalars (numbers, 0-d tensors/arrays; None → empty cell)."""
        if self.index_key not in row:
            raise ValueError(f"metrics row has no {self.index_key!r} column")
        values = {key: _scalar(key, value) for key, value in row.items()}
        new_keys = [key for key in values if key not in self._columns]
        if new_keys or not self.path.exists():
            if not self._columns:
                self._columns = [self.index_key]
            self._columns += [key for key in new_keys if key != self.index_key]
            texts = {key: _format(value) for key, value in values.items()}
            self._rewrite(self.read_rows() + [texts])
            return
        line = io.StringIO()
        csv.writer(line, lineterminator="\n").writerow([_format(values.get(key)) for key in self._columns])
        # An append cannot be atomic; a partial line is dropped on reopening (see __init__).
        with write_errors_named(self.path), open(self.path, "a", encoding="utf-8", newline="") as handle:
            handle.write(line.getvalue())
            handle.flush()
            os.fsync(handle.fileno())

    def truncate_after(self, epoch: int) -> int:
        """Drop rows whose index is greater than ``epoch`` (rerun after resuming); return how many."""
        rows = self.read_rows()
        kept = [row for row in rows if not row.get(self.index_key) or float(row[self.index_key]) <= epoch]
        if len(kept) != len(rows):
            self._rewrite(kept)
        return len(rows) - len(kept)

    def _rewrite(self, rows: List[Dict[str, str]]) -> None:
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(self._columns)
        for row in rows:
            writer.writerow([row.get(key) or "" for key in self._columns])
        atomic_write_text(text.getvalue(), self.path)
