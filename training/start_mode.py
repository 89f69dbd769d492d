"""How a run starts: fresh, resumed from its own ``last.ckpt``, or warm-started from another checkpoint.

ProtoMotions' rule (:func:`decide_start`): ``last.ckpt`` in the run dir → resume (everything from
the checkpoint, the saved config); else ``--checkpoint`` → warm start (weights only); else fresh.
A resumed run keeps its saved config; :func:`resume_config` says which requested changes it ignores.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple

from motion.errors import CheckpointError
from motion.io_utils import PathLike
from training.overrides import config_differences, config_from_dict, config_to_dict, set_value
from training.run_layout import RunDir

log = logging.getLogger(__name__)


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

    Raises CheckpointError if a warm start is asked for from a file that does not exist.
    """
    given = None if checkpoint_arg is None else Path(checkpoint_arg)
    if run_dir.last_checkpoint.is_file():
        ignored = given if given is not None and given.resolve() != run_dir.last_checkpoint.resolve() else None
        return StartMode(StartKind.RESUME, run_dir.last_checkpoint, ignored)
    if given is not None:
        if not given.is_file():
            raise CheckpointError(given, "--checkpoint", "an existing checkpoint file", "no such file")
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
            warnings.append(f"ignoring {key}={new!r}, keeping the saved {key}={old!r}")
    for line in warnings:
        log.warning(f"mimic train: resume: {line}")
    return config, warnings
