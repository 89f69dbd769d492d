"""Report training to Dagster through dagster-pipes, only when Dagster launched the trainer.

Dagster's ``PipesSubprocessClient`` (the ``policy`` asset, assets/policy.py) starts
``mimic train`` with ``DAGSTER_PIPES_CONTEXT`` and ``DAGSTER_PIPES_MESSAGES`` in the environment.
Only then is ``dagster_pipes`` imported (lazily: a plain ``mimic train``, or a Python 3.8
IsaacGym environment without the package, never needs it) and a pipes session opened, once per
process, on the first report:

- :func:`report_epoch`: one log line per epoch in the Dagster run (headline metrics);
- :func:`report_final_checkpoint`: the ``policy`` materialisation, with the last epoch's
  metrics, the checkpoint path and its md5 (also the data version) and the checkpoint's lineage
  record; then the session is closed.

Both are no-ops without the environment variables. When the variables are set but
``dagster_pipes`` cannot be imported, one warning goes to stderr and training carries on (the
Dagster side then describes the checkpoint itself).
"""

from __future__ import annotations

import atexit
import json
import logging
import math
import os
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

from motion.io_utils import PathLike

log = logging.getLogger(__name__)

#: What dagster-pipes puts in the environment of a process it launches.
PIPES_ENV_VARS = ("DAGSTER_PIPES_CONTEXT", "DAGSTER_PIPES_MESSAGES")
#: Metrics on the per-epoch log line, in this order (when present).
HEADLINE_METRICS = (
    "Train/episode_reward",
    "Train/episode_length",
    "Train/fps",
    "Train/clip_frac",
    "Train/actor_loss",
    "Train/critic_loss",
    "env/termination_rate",
    "Eval/success_rate",
    "Eval/gt_err",
)


def launched_by_dagster(environ: Optional[Mapping[str, str]] = None) -> bool:
    """Whether both dagster-pipes variables are set (the process was started by a pipes client)."""
    env = os.environ if environ is None else environ
    return all(env.get(name) for name in PIPES_ENV_VARS)


def _finite_scalars(metrics: Mapping[str, Any]) -> Dict[str, float]:
    """The metrics that are finite numbers, as floats (tensors with one element included)."""
    scalars: Dict[str, float] = {}
    for key, value in metrics.items():
        if hasattr(value, "item") and getattr(value, "numel", lambda: 1)() == 1:
            value = value.item()
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            scalars[str(key)] = float(value)
    return scalars


def epoch_line(metrics: Mapping[str, Any]) -> str:
    """``epoch 3 | env_steps 96 | Train/episode_reward -0.2260 | ...`` (headline metrics present)."""
    scalars = _finite_scalars(metrics)
    parts = [f"epoch {int(scalars.get('epoch', 0))}", f"env_steps {int(scalars.get('env_steps', 0))}"]
    parts += [f"{name} {scalars[name]:.4g}" for name in HEADLINE_METRICS if name in scalars]
    return " | ".join(parts)


def _json_safe(value: Any) -> Any:
    """Plain JSON data (lineage records hold only plain data; anything else becomes its str)."""
    return json.loads(json.dumps(value, default=str))


def _last_csv_row(path: Path) -> Dict[str, float]:
    """The last row of metrics.csv as numbers (a resumed run that had nothing left to train)."""
    import csv

    if not path.is_file():
        return {}
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return {}
    numbers: Dict[str, float] = {}
    for key, text in rows[-1].items():
        try:
            numbers[key] = float(text)
        except (TypeError, ValueError):
            continue
    return numbers


def checkpoint_metadata(checkpoint: PathLike, metrics: Mapping[str, Any]) -> Dict[str, Any]:
    """pipes metadata of the final materialisation (values in dagster-pipes' ``raw_value``/``type`` form)."""
    from motion.io_utils import file_digest
    from training.checkpoint import load_checkpoint
    from training.run_layout import METRICS_CSV

    path = Path(checkpoint).resolve()
    payload = load_checkpoint(path)
    metadata: Dict[str, Any] = {
        "checkpoint": {"raw_value": str(path), "type": "path"},
        "checkpoint_md5": {"raw_value": file_digest(path, "md5"), "type": "text"},
        "epoch": {"raw_value": int(payload.get("epoch", 0)), "type": "int"},
        "env_steps": {"raw_value": int(payload.get("env_steps", 0)), "type": "int"},
        "metrics_csv": {"raw_value": str(path.parent / METRICS_CSV), "type": "path"},
    }
    for name, value in _finite_scalars(metrics or _last_csv_row(path.parent / METRICS_CSV)).items():
        if name not in ("epoch", "env_steps"):
            metadata["final/" + name] = {"raw_value": value, "type": "float"}
    if payload.get("lineage") is not None:
        metadata["lineage"] = {"raw_value": _json_safe(payload["lineage"]), "type": "json"}
    return metadata


class _PipesSession:
    """The process's dagster-pipes context and the last epoch's metrics."""

    def __init__(self, context: Any) -> None:
        self.context = context
        self.last_metrics: Dict[str, Any] = {}
        self.closed = False

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.context.close()


_session: Optional[_PipesSession] = None
_unavailable = False  # variables set but dagster_pipes missing: warned once, then silent


def _pipes_session() -> Optional[_PipesSession]:
    global _session, _unavailable
    if _session is not None:
        return None if _session.closed else _session
    if _unavailable or not launched_by_dagster():
        return None
    try:
        from dagster_pipes import open_dagster_pipes
    except ImportError as error:
        _unavailable = True
        log.warning(
            f"mimic train: launched by Dagster but dagster_pipes cannot be imported ({error}); no metrics are "
            "reported to Dagster (pip install dagster-pipes in this environment)"
        )
        return None
    _session = _PipesSession(open_dagster_pipes())
    atexit.register(_session.close)  # an interrupted run still ends the session cleanly
    return _session


def report_epoch(metrics: Mapping[str, Any]) -> None:
    """Log one epoch's headline metrics in the Dagster run (no-op unless launched by Dagster)."""
    session = _pipes_session()
    if session is None:
        return
    session.last_metrics = dict(metrics)
    session.context.log.info(epoch_line(metrics))


def report_log(message: str) -> None:
    """One line in the Dagster run's log (no-op unless launched by Dagster); the session closes
    at exit. ``mimic inference`` uses it, so an evaluation launched through pipes reports too."""
    session = _pipes_session()
    if session is not None:
        session.context.log.info(message)


def report_final_checkpoint(checkpoint: PathLike) -> None:
    """Report the materialisation of the trained checkpoint and close the session (no-op unless
    launched by Dagster). The data version is the checkpoint file's md5."""
    session = _pipes_session()
    if session is None:
        return
    metadata = checkpoint_metadata(checkpoint, session.last_metrics)
    session.context.report_asset_materialization(
        metadata=metadata, data_version=metadata["checkpoint_md5"]["raw_value"]
    )
    session.close()
