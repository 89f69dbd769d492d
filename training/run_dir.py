"""The run directory ``results/<experiment-name>/``: checkpoints, resolved config, metrics, resume rule.

Layout (ProtoMotions' names):

- ``last.ckpt`` — every :data:`SAVE_LAST_EVERY` epochs and at exit; a rerun of the same
  command resumes from it.
- ``epoch_<N>.ckpt`` — every :data:`SAVE_EPOCH_EVERY` epochs, kept.
- ``score_based.ckpt`` — whenever the evaluation score reaches its best.
- ``resolved_config.yaml`` — the full config after experiment file and overrides.
- ``metrics.csv`` — one row per epoch, every scalar (:class:`MetricsCSV`).
- ``experiment_config.py`` — a copy of the experiment file.

Checkpoints are plain data (tensors, builtins, lists/dicts) so they load with
``torch.load(weights_only=True)``; :func:`make_checkpoint` builds them and
:func:`save_checkpoint` refuses anything else before writing. A checkpoint that cannot be written
(disk full, quota, read-only, permissions) raises :class:`motion.errors.OutputWriteError`, which
stops training with one line naming the file; the previous checkpoint is kept whole.
:func:`load_checkpoint` refuses FIFOs and devices unopened and checks the payload's top-level types
and the finiteness of the network weights, naming the file and the field.
"""

from __future__ import annotations

import csv
import enum
import io
import logging
import os
import random
import shutil
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import yaml

from motion.errors import MotionDataError
from motion.io_utils import (
    atomic_output,
    atomic_torch_save,
    atomic_write_text,
    open_regular_file,
    regular_file_problem,
    write_errors_named,
)
from training.checkpoint_checks import check_checkpoint_payload, load_error_summary
from training.experiment_loader import experiment_file_hash
from training.overrides import (
    OverrideError,
    config_differences,
    config_from_dict,
    config_hash,
    config_to_dict,
    set_value,
)

PathLike = Union[str, Path]
log = logging.getLogger(__name__)

SAVE_LAST_EVERY = 10  # epochs between last.ckpt writes
SAVE_EPOCH_EVERY = 1000  # epochs between kept epoch_<N>.ckpt files
CHECKPOINT_FORMAT_VERSION = 1


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
        return self.root / "last.ckpt"

    @property
    def score_based_checkpoint(self) -> Path:
        return self.root / "score_based.ckpt"

    def epoch_checkpoint(self, epoch: int) -> Path:
        return self.root / f"epoch_{epoch}.ckpt"

    @property
    def resolved_config(self) -> Path:
        return self.root / "resolved_config.yaml"

    @property
    def metrics_csv(self) -> Path:
        return self.root / "metrics.csv"

    @property
    def experiment_copy(self) -> Path:
        return self.root / "experiment_config.py"

    def epoch_checkpoints(self) -> List[Tuple[int, Path]]:
        """Kept ``epoch_<N>.ckpt`` files as ``(N, path)``, sorted by N."""
        found = []
        for path in self.root.glob("epoch_*.ckpt"):
            number = path.stem[len("epoch_") :]
            if number.isdigit():
                found.append((int(number), path))
        return sorted(found)

    def copy_experiment_file(self, source: PathLike) -> Path:
        with open(source, "rb") as src, atomic_output(self.experiment_copy) as dst:
            shutil.copyfileobj(src, dst)
        return self.experiment_copy

    def write_resolved_config(self, config: Any) -> Path:
        write_resolved_config(self.resolved_config, config)
        return self.resolved_config

    def read_resolved_config(self, cls: type) -> Any:
        return read_resolved_config(self.resolved_config, cls)

    def metrics(self) -> MetricsCSV:
        return MetricsCSV(self.metrics_csv)


# --- cadence ------------------------------------------------------------------------------


def should_save_last(epoch: int, every: int = SAVE_LAST_EVERY) -> bool:
    """After completing ``epoch`` (1-based count of finished epochs); the trainer also saves at exit."""
    return every > 0 and epoch > 0 and epoch % every == 0


def should_save_epoch(epoch: int, every: int = SAVE_EPOCH_EVERY) -> bool:
    return every > 0 and epoch > 0 and epoch % every == 0


# --- resolved config ----------------------------------------------------------------------


def write_resolved_config(path: PathLike, config: Any) -> None:
    """YAML of :func:`config_to_dict`, in field order, with its hash in a leading comment."""
    body = yaml.safe_dump(config_to_dict(config), sort_keys=False, allow_unicode=True)
    atomic_write_text(f"# config_hash: {config_hash(config)}\n{body}", path)


def read_resolved_config(path: PathLike, cls: type) -> Any:
    """Read a resolved config written by :func:`write_resolved_config` (or edited by hand)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MotionDataError(path, "resolved config", "an existing YAML file", "no such file") from None
    except yaml.YAMLError as error:
        raise MotionDataError(path, "resolved config", "valid YAML", str(error).splitlines()[0]) from None
    try:
        return config_from_dict(cls, data)
    except OverrideError as error:
        raise MotionDataError(
            path, error.key or "resolved config", error.expected or "a valid key", str(error)
        ) from None


# --- RNG state ----------------------------------------------------------------------------


def capture_rng_state() -> Dict[str, Any]:
    """torch (CPU, and CUDA if already initialised), numpy global and Python ``random`` states.

    Everything is a tensor or a builtin, so the state can go into a ``weights_only`` checkpoint.
    """
    np_name, np_keys, np_pos, np_has_gauss, np_cached = np.random.get_state()
    py_version, py_internal, py_gauss_next = random.getstate()
    cuda: List[torch.Tensor] = []
    # Never initialise CUDA just to read its RNG: only a process already using it has state.
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        cuda = [state.clone() for state in torch.cuda.get_rng_state_all()]
    return {
        "torch": torch.get_rng_state().clone(),
        "torch_cuda": cuda,
        "numpy": {
            "bit_generator": str(np_name),
            "keys": torch.from_numpy(np.asarray(np_keys, dtype=np.int64).copy()),  # uint32 → int64
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "cached_gaussian": float(np_cached),
        },
        "python": {
            "version": int(py_version),
            "internal": torch.tensor(py_internal, dtype=torch.int64),  # 625 words < 2**32
            "gauss_next": None if py_gauss_next is None else float(py_gauss_next),
        },
    }


def restore_rng_state(state: Mapping[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`: later draws repeat the ones after the capture."""
    torch.set_rng_state(state["torch"].to(dtype=torch.uint8, device="cpu"))
    cuda = list(state.get("torch_cuda", []))
    if cuda and torch.cuda.is_available():
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)
        else:
            message = "checkpoint has %d CUDA RNG states, this process sees %d devices: CUDA RNG not restored"
            log.warning(message, len(cuda), torch.cuda.device_count())
    np_state = state["numpy"]
    np.random.set_state(
        (
            np_state["bit_generator"],
            np_state["keys"].numpy().astype(np.uint32),
            int(np_state["pos"]),
            int(np_state["has_gauss"]),
            float(np_state["cached_gaussian"]),
        )
    )
    py_state = state["python"]
    internal = tuple(int(word) for word in py_state["internal"].tolist())
    random.setstate((int(py_state["version"]), internal, py_state["gauss_next"]))


# --- checkpoints --------------------------------------------------------------------------

_PLAIN_LEAVES = (torch.Tensor, bool, int, float, str, type(None))


def check_plain_data(obj: Any, where: str = "checkpoint") -> None:
    """Raise TypeError naming the first value that ``torch.load(weights_only=True)`` would refuse.

    Allowed: tensors, bool/int/float/str/None, and list/tuple/dict/OrderedDict of them with
    str or int keys. Checked before writing so a bad payload fails at save time, not at resume.
    """
    if isinstance(obj, _PLAIN_LEAVES):
        return
    if isinstance(obj, (list, tuple)):
        for index, item in enumerate(obj):
            check_plain_data(item, f"{where}[{index}]")
        return
    if type(obj) in (dict, OrderedDict):
        for key, value in obj.items():
            if not isinstance(key, (str, int)):
                raise TypeError(f"{where}: key {key!r} of type {type(key).__name__} is not a str or int")
            check_plain_data(value, f"{where}[{key!r}]")
        return
    raise TypeError(f"{where}: {type(obj).__module__}.{type(obj).__name__} cannot be loaded with weights_only=True")


def make_checkpoint(
    *,
    epoch: int,
    step_count: int,
    models: Mapping[str, Mapping[str, Any]],
    optimizers: Mapping[str, Mapping[str, Any]],
    config: Any,
    rng_states: Sequence[Mapping[str, Any]],
    motion_weights: Optional[torch.Tensor] = None,
    counters: Optional[Mapping[str, Union[int, float]]] = None,
    lineage: Optional[Mapping[str, Any]] = None,
    extra: Optional[Mapping[str, Any]] = None,
) -> Dict[str, Any]:
    """The checkpoint payload.

    Args:
        epoch: completed epochs. step_count: env steps so far, all ranks together.
        models: name → ``state_dict()`` (actor, critic, normalisers: tensors + builtins).
        optimizers: name → ``optimizer.state_dict()``.
        config: the resolved dataclass config (stored as a plain dict plus its hash).
        rng_states: one :func:`capture_rng_state` per rank, index = rank.
        motion_weights: (num_motions,) float sampling weights of the MotionLib, if adaptive.
        counters: other scalars (best_evaluated_score, eval_count, run_start_time, …).
        lineage: plain data saying where the run came from (:func:`make_lineage`).
        extra: anything else plain (reward/advantage normaliser scalars, …).
    """
    payload: Dict[str, Any] = {
        "format_version": CHECKPOINT_FORMAT_VERSION,
        "epoch": int(epoch),
        "step_count": int(step_count),
        "counters": dict(counters or {}),
        "model": {name: state for name, state in models.items()},
        "optimizers": {name: state for name, state in optimizers.items()},
        "config": config_to_dict(config),
        "config_hash": config_hash(config),
        "rng_states": [dict(state) for state in rng_states],
        "motion_weights": None if motion_weights is None else motion_weights.detach().cpu().clone(),
        "lineage": dict(lineage or {}),
        "extra": dict(extra or {}),
    }
    for name, value in payload["counters"].items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"counter {name!r} must be an int or float, found {type(value).__name__}")
    check_plain_data(payload)
    return payload


def make_lineage(
    *,
    experiment_file: Optional[PathLike] = None,
    overrides: Sequence[str] = (),
    start_mode: Optional[StartMode] = None,
    **facts: Any,
) -> Dict[str, Any]:
    """Where a run came from: experiment file and sha256, overrides, resumed / warm-started from."""
    lineage: Dict[str, Any] = {"overrides": list(overrides)}
    if experiment_file is not None:
        lineage["experiment_file"] = str(experiment_file)
        lineage["experiment_sha256"] = experiment_file_hash(experiment_file)
    if start_mode is not None:
        lineage["start_mode"] = start_mode.kind.value
        lineage["start_checkpoint"] = None if start_mode.checkpoint is None else str(start_mode.checkpoint)
    lineage.update(facts)
    check_plain_data(lineage, "lineage")
    return lineage


def save_checkpoint(path: PathLike, payload: Mapping[str, Any]) -> None:
    """Write atomically (temp file + rename): a crash never leaves a half-written checkpoint.

    Raises :class:`motion.errors.OutputWriteError` when the file cannot be stored (disk full,
    quota, read-only filesystem, permissions): the caller must stop, not train on unsaved.
    """
    check_plain_data(payload)
    atomic_torch_save(dict(payload), path)


def load_checkpoint(path: PathLike, map_location: str = "cpu") -> Dict[str, Any]:
    """Load with ``weights_only=True``, check the format version, the top-level types and that
    the network weights are finite (MotionDataError naming the file and the field)."""
    problem = regular_file_problem(path)
    if problem == "no such file":
        raise MotionDataError(path, "checkpoint", "an existing checkpoint file", "no such file")
    if problem is not None:  # a FIFO would block torch.load forever
        raise MotionDataError(path, "checkpoint", "an existing regular checkpoint file", problem)
    try:
        with open_regular_file(path, "an existing regular checkpoint file") as handle:
            payload = torch.load(handle, map_location=map_location, weights_only=True)
    except MotionDataError:
        raise
    except Exception as error:  # torch raises UnpicklingError, RuntimeError, EOFError, zip errors, ...
        found = load_error_summary(error)
        raise MotionDataError(path, "checkpoint", "a torch checkpoint readable with weights_only=True", found) from None
    if not isinstance(payload, dict):
        raise MotionDataError(path, "checkpoint", "a dict payload", type(payload).__name__)
    version = payload.get("format_version")
    # type first: a tensor there would compare elementwise (found by tests/test_fuzz_inputs.py)
    if type(version) is not int or version != CHECKPOINT_FORMAT_VERSION:
        raise MotionDataError(path, "format_version", str(CHECKPOINT_FORMAT_VERSION), repr(version)[:100])
    check_checkpoint_payload(payload, path)
    return payload


def checkpoint_config(payload: Mapping[str, Any], cls: type) -> Any:
    """The resolved config stored in a checkpoint, as ``cls``."""
    return config_from_dict(cls, payload["config"])


# --- start mode ---------------------------------------------------------------------------


class StartKind(enum.Enum):
    FRESH = "fresh"  # new weights, config from experiment file + overrides
    RESUME = "resume"  # everything from last.ckpt, saved config
    WARM_START = "warm_start"  # model weights from --checkpoint, config rebuilt from the experiment file


@dataclass(frozen=True)
class StartMode:
    kind: StartKind
    checkpoint: Optional[Path] = None  # what to load (None for FRESH)
    ignored_checkpoint_arg: Optional[Path] = None  # --checkpoint given but a resume took precedence


def decide_start(run_dir: RunDir, checkpoint_arg: Optional[PathLike]) -> StartMode:
    """ProtoMotions' rule: ``last.ckpt`` in the run dir → resume; else ``--checkpoint`` → warm start; else fresh.

    Raises MotionDataError if a warm start is asked for from a file that does not exist.
    """
    given = None if checkpoint_arg is None else Path(checkpoint_arg)
    if run_dir.last_checkpoint.is_file():
        ignored = given if given is not None and given.resolve() != run_dir.last_checkpoint.resolve() else None
        return StartMode(StartKind.RESUME, run_dir.last_checkpoint, ignored)
    if given is not None:
        if not given.is_file():
            raise MotionDataError(given, "--checkpoint", "an existing checkpoint file", "no such file")
        return StartMode(StartKind.WARM_START, given)
    return StartMode(StartKind.FRESH)


def resume_config(saved: Any, requested: Any, keep_from_request: Sequence[str] = ()) -> Tuple[Any, List[str]]:
    """The config a resumed run uses: the saved one, with warnings for every requested difference.

    ``keep_from_request`` lists dotted keys whose requested value wins (e.g. ``agent.max_epochs``
    to extend a run); every other difference (new ``--overrides``, a changed experiment file)
    is ignored and reported in the returned warning lines, which are also logged.
    """
    config = config_from_dict(type(saved), config_to_dict(saved))  # a copy
    keep = set(keep_from_request)
    warnings: List[str] = []
    for key, old, new in config_differences(saved, requested):
        if key in keep:
            set_value(config, key, new)
        else:
            warnings.append(f"resuming: ignoring {key}={new!r}, keeping the saved {key}={old!r}")
    for line in warnings:
        log.warning(line)
    return config, warnings


# --- metrics.csv --------------------------------------------------------------------------


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
