"""The files one evaluation writes: ``<run_dir>/eval/<YYYYmmdd-HHMMSS>/``.

Layout (see the evaluation contract):

- ``per_motion.parquet`` — one row per evaluated motion, the columns of :data:`PER_MOTION_COLUMNS`
  in that order and with those types;
- ``failed_motions.txt`` — one line ``<motion_id>\\t<failure_frame>\\t<file>`` per failed motion
  (an empty file when every motion succeeded);
- ``predicted_motionlib.pt`` — the simulated motions as a MotionLib dict (when the evaluator gives one);
- ``plots/error_histogram.png``, ``plots/success_by_subset.png``;
- ``summary.json`` — the motion-weighted means (``all``, ``success``, ``by_subset``) and, for the
  evaluator's rows, PHC's frame-weighted metrics (``phc``, :mod:`evaluation.phc_metrics`); written
  last, so its presence marks a complete evaluation (:func:`latest_eval_dir` only returns complete ones).

Every file is written to a temporary file beside its target and renamed, so a reader never
sees a half-written output. pyarrow and torch are imported inside the functions that need them.
"""

from __future__ import annotations

import json
import math
import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from evaluation.metrics import METRIC_NAMES
from motion.errors import ResultsFileError
from motion.io_utils import PathLike, atomic_output, atomic_torch_save, atomic_write_text
from training.run_layout import EVAL_DIR, PLOTS_DIR

#: per_motion.parquet columns, in file order: name → Python type (int → int64, float → float64).
#: per_motion.parquet: the evaluator's row columns (evaluation.metrics.ROW_COLUMNS) and their types.
PER_MOTION_COLUMNS: Dict[str, type] = dict(
    [("motion_id", int), ("file", str), ("subset", str), ("frames", int), ("success", bool), ("failure_frame", int)]
    + [(name, float) for name in METRIC_NAMES]  # units: evaluation.metrics.METRIC_UNITS
)

SUMMARY_JSON = "summary.json"
PER_MOTION_PARQUET = "per_motion.parquet"
FAILED_MOTIONS_TXT = "failed_motions.txt"
PREDICTED_MOTIONLIB_PT = "predicted_motionlib.pt"
ERROR_HISTOGRAM_PNG = "error_histogram.png"
SUCCESS_BY_SUBSET_PNG = "success_by_subset.png"

_STAMP_FORMAT = "%Y%m%d-%H%M%S"
_EVAL_DIR_PATTERN = re.compile(r"^(\d{8}-\d{6})(?:-(\d+))?$")
_TYPE_WORDS = {int: "an int", str: "a str", bool: "a bool", float: "a float"}


def _arrow_type(kind: type) -> Any:
    import pyarrow as pa

    return {int: pa.int64(), str: pa.string(), bool: pa.bool_(), float: pa.float64()}[kind]


# --- directories --------------------------------------------------------------------------


def new_eval_dir(run_dir: PathLike, now: Optional[datetime] = None) -> Path:
    """Create and return ``run_dir/eval/<YYYYmmdd-HHMMSS>/`` (local time ``now``, default: the current time).

    A second evaluation in the same second gets ``<stamp>-1``, then ``-2``, … The directory is
    created exclusively, so two evaluators never share one.
    """
    stamp = (now or datetime.now()).strftime(_STAMP_FORMAT)
    parent = Path(run_dir) / EVAL_DIR
    parent.mkdir(parents=True, exist_ok=True)
    suffix = 0
    while True:
        candidate = parent / (stamp if suffix == 0 else f"{stamp}-{suffix}")
        try:
            candidate.mkdir()
        except FileExistsError:
            suffix += 1
            continue
        return candidate


def _eval_dir_order(path: Path) -> Optional[Tuple[str, int]]:
    match = _EVAL_DIR_PATTERN.match(path.name)
    if match is None or not path.is_dir():
        return None
    return match.group(1), int(match.group(2) or 0)


def latest_eval_dir(run_dir: PathLike) -> Optional[Path]:
    """The newest complete evaluation directory of ``run_dir`` (None when there is none).

    Newest by its name (timestamp, then the ``-N`` suffix numerically); complete means it holds
    ``summary.json`` and ``per_motion.parquet`` (an evaluation that crashed half-way is skipped).
    Other directories under ``eval/`` are ignored.
    """
    parent = Path(run_dir) / EVAL_DIR
    if not parent.is_dir():
        return None
    found = []
    for path in parent.iterdir():
        order = _eval_dir_order(path)
        if order is not None and (path / SUMMARY_JSON).is_file() and (path / PER_MOTION_PARQUET).is_file():
            found.append((order, path))
    return max(found)[1] if found else None


def prune_eval_dirs(run_dir: PathLike, keep: int) -> List[Path]:
    """Remove complete evaluation folders of ``run_dir`` but the newest ``keep`` and the best one
    (0: remove nothing); returns the removed folders.

    Best: the highest ``Eval/success_rate`` in its summary.json, then the lowest ``Eval/gt_err``,
    then the newest. Incomplete folders (no summary.json yet: an evaluation still writing, or one
    that crashed) and other folders under ``eval/`` are left alone. A folder is renamed to a
    hidden name before it is deleted, so no reader ever sees a half-deleted evaluation.
    """
    import shutil

    parent = Path(run_dir) / EVAL_DIR
    if keep <= 0 or not parent.is_dir():
        return []
    complete = sorted(
        (order, path)
        for path in parent.iterdir()
        for order in [_eval_dir_order(path)]
        if order is not None and (path / SUMMARY_JSON).is_file() and (path / PER_MOTION_PARQUET).is_file()
    )
    if len(complete) <= keep:
        return []
    best = max(complete, key=lambda item: (*_eval_score(item[1]), item[0]))[1]
    removed = [path for _order, path in complete[:-keep] if path != best]
    for path in removed:
        hidden = path.with_name(f".{path.name}.removing")
        path.rename(hidden)
        shutil.rmtree(hidden)
    return removed


def _eval_score(path: Path) -> Tuple[float, float]:
    """(success rate, −gt_err) of one evaluation folder: higher is better; unreadable is worst."""
    try:
        summary = json.loads((path / SUMMARY_JSON).read_text(encoding="utf-8"))
        return float(summary["Eval/success_rate"]), -float(summary["Eval/gt_err"])
    except (OSError, ValueError, KeyError, TypeError):
        return float("-inf"), float("-inf")


# --- rows ---------------------------------------------------------------------------------


def _describe_motion(row: Mapping[str, Any], index: int) -> str:
    return f"motion_id={row.get('motion_id', '?')!r} (row {index}, file {row.get('file', '?')!r})"


def _plain_value(value: Any) -> Any:
    """numpy scalars, 0-d arrays and 0-d tensors → the Python scalar (anything else unchanged)."""
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "item"):
        try:
            return value.item()
        except (ValueError, RuntimeError):  # more than one element: reported as a wrong type
            return value
    return value


def _coerce(value: Any, kind: type) -> Any:
    """``value`` as ``kind`` or None when it is not one (bools are not ints, ints are floats)."""
    value = _plain_value(value)
    if kind is bool:
        return value if isinstance(value, bool) else None
    if kind is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    if kind is float:
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    return value if isinstance(value, str) else None


def validate_rows(rows: Sequence[Mapping[str, Any]], target: PathLike) -> List[Dict[str, Any]]:
    """Rows reduced to the contract columns, as plain Python values of the contract types.

    Keys outside :data:`PER_MOTION_COLUMNS` are dropped. Raises ResultsFileError naming
    ``target``, the field and the motion when a row lacks a column or has a value of the wrong type.
    """
    checked = []
    for index, row in enumerate(rows):
        plain: Dict[str, Any] = {}
        for column, kind in PER_MOTION_COLUMNS.items():
            if column not in row:
                found = f"no {column!r} in {_describe_motion(row, index)}"
                raise ResultsFileError(target, column, f"{_TYPE_WORDS[kind]} for every motion", found)
            value = _coerce(row[column], kind)
            if value is None:
                raw = row[column]
                found = f"{type(raw).__name__} {raw!r} in {_describe_motion(row, index)}"
                raise ResultsFileError(target, column, _TYPE_WORDS[kind], found)
            plain[column] = value
        checked.append(plain)
    return checked


# --- writers ------------------------------------------------------------------------------


def _plain_summary(value: Any, where: str, target: PathLike) -> Any:
    """A JSON-ready copy of ``value``: str keys, Python scalars, lists; non-finite floats refused."""
    value = _plain_value(value)
    if isinstance(value, Mapping):
        return {str(key): _plain_summary(item, f"{where}.{key}" if where else str(key), target)
                for key, item in value.items()}  # fmt: skip
    if isinstance(value, (list, tuple)):
        return [_plain_summary(item, f"{where}[{i}]", target) for i, item in enumerate(value)]
    if hasattr(value, "tolist"):  # arrays and tensors with more than one element
        return _plain_summary(value.tolist(), where, target)
    if isinstance(value, float) and not math.isfinite(value):
        raise ResultsFileError(target, where, "a finite number or null (JSON has no NaN/Infinity)", repr(value))
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ResultsFileError(target, where, "JSON data (numbers, strings, lists, dicts, null)", type(value).__name__)


def summary_json_text(summary: Mapping[str, Any], target: PathLike = SUMMARY_JSON) -> str:
    """summary.json's text: indent 2, sorted keys, no NaN (ResultsFileError naming the key instead)."""
    plain = _plain_summary(summary, "", target)
    return json.dumps(plain, indent=2, sort_keys=True, allow_nan=False) + "\n"


def failed_motions_text(rows: Sequence[Mapping[str, Any]]) -> str:
    """``<motion_id>\\t<failure_frame>\\t<file>`` per failed motion, in row order ('' when none)."""
    return "".join(f"{row['motion_id']}\t{row['failure_frame']}\t{row['file']}\n" for row in rows if not row["success"])


def write_per_motion_table(rows: Sequence[Mapping[str, Any]], path: PathLike) -> Path:
    """Write validated rows as parquet (the contract's columns, in order, with their types)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    checked = validate_rows(rows, path)
    schema = pa.schema([(column, _arrow_type(kind)) for column, kind in PER_MOTION_COLUMNS.items()])
    arrays = [
        pa.array([row[column] for row in checked], type=field.type) for column, field in zip(schema.names, schema)
    ]
    table = pa.Table.from_arrays(arrays, schema=schema)
    with atomic_output(path) as handle:
        pq.write_table(table, handle)
    return Path(path)


def write_eval_outputs(
    out_dir: PathLike,
    rows: Sequence[Mapping[str, Any]],
    summary: Mapping[str, Any],
    predicted_motion_lib: Optional[Mapping[str, Any]] = None,
) -> Dict[str, Path]:
    """Write every file of one evaluation into ``out_dir`` (usually from :func:`new_eval_dir`).

    Args:
        rows: one mapping per evaluated motion with every :data:`PER_MOTION_COLUMNS` key.
        summary: what ``evaluation.metrics.summarize_motions`` returns plus the evaluator's keys.
        predicted_motion_lib: a MotionLib dict of the simulated motions, saved with torch.save.
    Returns:
        name → path for ``summary``, ``per_motion``, ``failed_motions``, ``error_histogram``,
        ``success_by_subset`` and, when given, ``predicted_motionlib``.

    Rows and summary are checked before anything is written, so bad input leaves ``out_dir`` as it was.
    """
    from evaluation.plots import plot_error_histogram, plot_success_by_subset

    out = Path(out_dir)
    paths = {
        "summary": out / SUMMARY_JSON,
        "per_motion": out / PER_MOTION_PARQUET,
        "failed_motions": out / FAILED_MOTIONS_TXT,
        "error_histogram": out / PLOTS_DIR / ERROR_HISTOGRAM_PNG,
        "success_by_subset": out / PLOTS_DIR / SUCCESS_BY_SUBSET_PNG,
    }
    checked = validate_rows(rows, paths["per_motion"])
    summary_text = summary_json_text(summary, paths["summary"])

    write_per_motion_table(checked, paths["per_motion"])
    atomic_write_text(failed_motions_text(checked), paths["failed_motions"])
    if predicted_motion_lib is not None:
        paths["predicted_motionlib"] = out / PREDICTED_MOTIONLIB_PT
        atomic_torch_save(dict(predicted_motion_lib), paths["predicted_motionlib"])
    plot_error_histogram(checked, paths["error_histogram"])
    plot_success_by_subset(checked, paths["success_by_subset"])
    atomic_write_text(summary_text, paths["summary"])  # last: marks the evaluation complete
    return paths


# --- reader -------------------------------------------------------------------------------


def _arrow_type_matches(found: Any, kind: type) -> bool:
    import pyarrow.types as pat

    if kind is str:
        return pat.is_string(found) or pat.is_large_string(found)
    if kind is bool:
        return pat.is_boolean(found)
    if kind is int:
        return pat.is_integer(found)
    return pat.is_floating(found)


def read_per_motion_table(path: PathLike) -> List[Dict[str, Any]]:
    """Rows of a ``per_motion.parquet`` as dicts of plain Python values, in the contract's column order.

    Raises ResultsFileError(path, "columns", expected, found) when a column is missing, and
    ResultsFileError naming the column when its type is wrong or it has empty (null) cells.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not Path(path).is_file():
        raise ResultsFileError(path, "per_motion table", "an existing parquet file", "no such file")
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise ResultsFileError(path, "per_motion table", "a parquet file", str(error).splitlines()[0]) from None
    expected = list(PER_MOTION_COLUMNS)
    missing = [column for column in expected if column not in table.column_names]
    if missing:
        found = f"{', '.join(table.column_names) or 'no columns'} (missing: {', '.join(missing)})"
        raise ResultsFileError(path, "columns", ", ".join(expected), found)
    for column, kind in PER_MOTION_COLUMNS.items():
        data = table.column(column)
        if not _arrow_type_matches(data.type, kind):
            raise ResultsFileError(path, column, f"{_TYPE_WORDS[kind]} column", f"type {data.type}")
        if data.null_count:
            raise ResultsFileError(path, column, "a value in every row", f"{data.null_count} empty cells")
    rows = table.select(expected).to_pylist()
    for row in rows:  # int32 / float32 files still give the contract's Python types
        for column, kind in PER_MOTION_COLUMNS.items():
            row[column] = kind(row[column])
    return rows
