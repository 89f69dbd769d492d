"""The checkpoint record: build, write, read (older formats upgraded in memory) and check it.

Checkpoints are plain data (tensors, builtins, lists/dicts) so they load with
``torch.load(weights_only=True)``; :func:`make_checkpoint` builds them and
:func:`save_checkpoint` refuses anything else before writing. A checkpoint that cannot be written
(disk full, quota, read-only, permissions) raises :class:`motion.errors.OutputWriteError`, which
stops training with one line naming the file; the previous checkpoint is kept whole.
:func:`load_checkpoint` refuses FIFOs and devices unopened, upgrades an older format
(:mod:`training.checkpoint_upgrade`) and checks the payload's top-level types and the finiteness
of the network weights, naming the file and the field (:mod:`training.checkpoint_checks`).

Format 2 (top-level keys):

==================  ================================================================
key                 meaning
==================  ================================================================
format_version      :data:`CHECKPOINT_FORMAT_VERSION`
epoch               completed epochs
env_steps           env steps so far, all ranks together
counters            other scalars (best_evaluated_score, eval_count, training_wall_seconds, …)
model               name → state dict (the trainer: ``{"agent": PPOAgent.state_dict()}``,
                    optimisers included)
config              the resolved config as a plain dict
config_hash         its sha256
rank_states         one :class:`training.rank_state.RankState` per rank, index = rank
motion_weights      (num_motions,) float sampling weights of the MotionLib, or None
lineage             where the run came from (:mod:`training.lineage`)
extra               anything else plain (``rank_weights_md5``: one digest per rank)
==================  ================================================================
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Union

import torch

from motion.errors import CheckpointError, MotionDataError
from motion.io_utils import PathLike, atomic_torch_save, open_regular_file, regular_file_problem
from training.checkpoint_checks import check_checkpoint_payload, load_error_summary
from training.checkpoint_upgrade import format_1_to_2
from training.overrides import config_from_dict, config_hash, config_to_dict
from training.rank_state import RankState

CHECKPOINT_FORMAT_VERSION = 2
#: Older formats that still load: version → the upgrade to the next version (applied in turn).
UPGRADES: Dict[int, Callable[[Dict[str, Any], PathLike], Dict[str, Any]]] = {1: format_1_to_2}
READABLE_VERSIONS = tuple(sorted(UPGRADES)) + (CHECKPOINT_FORMAT_VERSION,)

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
    env_steps: int,
    models: Mapping[str, Mapping[str, Any]],
    config: Any,
    rank_states: Sequence[RankState],
    motion_weights: Optional[torch.Tensor] = None,
    counters: Optional[Mapping[str, Union[int, float]]] = None,
    lineage: Optional[Mapping[str, Any]] = None,
    extra: Optional[Mapping[str, Any]] = None,
) -> Dict[str, Any]:
    """The checkpoint payload (the module table).

    Args:
        epoch: completed epochs. env_steps: env steps so far, all ranks together.
        models: name → ``state_dict()`` (actor, critic, normalisers, optimisers: tensors + builtins).
        config: the resolved dataclass config (stored as a plain dict plus its hash).
        rank_states: one :func:`training.rank_state.capture_rank_state` per rank, index = rank.
        motion_weights: (num_motions,) float sampling weights of the MotionLib, if adaptive.
        counters: other scalars (best_evaluated_score, eval_count, run_start_time, …).
        lineage: plain data saying where the run came from (:func:`training.lineage.make_lineage`).
        extra: anything else plain (reward/advantage normaliser scalars, …).
    """
    payload: Dict[str, Any] = {
        "format_version": CHECKPOINT_FORMAT_VERSION,
        "epoch": int(epoch),
        "env_steps": int(env_steps),
        "counters": dict(counters or {}),
        "model": {name: state for name, state in models.items()},
        "config": config_to_dict(config),
        "config_hash": config_hash(config),
        "rank_states": [dict(state) for state in rank_states],
        "motion_weights": None if motion_weights is None else motion_weights.detach().cpu().clone(),
        "lineage": dict(lineage or {}),
        "extra": dict(extra or {}),
    }
    for name, value in payload["counters"].items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"counter {name!r} must be an int or float, found {type(value).__name__}")
    check_plain_data(payload)
    return payload


def save_checkpoint(path: PathLike, payload: Mapping[str, Any]) -> None:
    """Write atomically (temp file + rename): a crash never leaves a half-written checkpoint.

    Raises :class:`motion.errors.OutputWriteError` when the file cannot be stored (disk full,
    quota, read-only filesystem, permissions): the caller must stop, not train on unsaved.
    """
    check_plain_data(payload)
    atomic_torch_save(dict(payload), path)


def load_checkpoint(path: PathLike, map_location: str = "cpu") -> Dict[str, Any]:
    """Load with ``weights_only=True``, upgrade an older format to :data:`CHECKPOINT_FORMAT_VERSION`,
    check the top-level types and that the network weights are finite (CheckpointError naming
    the file and the field)."""
    problem = regular_file_problem(path)
    if problem == "no such file":
        raise CheckpointError(path, "checkpoint", "an existing checkpoint file", "no such file")
    if problem is not None:  # a FIFO would block torch.load forever
        raise CheckpointError(path, "checkpoint", "an existing regular checkpoint file", problem)
    try:
        with open_regular_file(path, "an existing regular checkpoint file") as handle:
            payload = torch.load(handle, map_location=map_location, weights_only=True)
    except MotionDataError as error:  # replaced by a FIFO or a folder between the check and the open
        raise CheckpointError(error.path, error.field, error.expected, error.found) from None
    except Exception as error:  # torch raises UnpicklingError, RuntimeError, EOFError, zip errors, ...
        found = load_error_summary(error)
        raise CheckpointError(path, "checkpoint", "a torch checkpoint readable with weights_only=True", found) from None
    if not isinstance(payload, dict):
        raise CheckpointError(path, "checkpoint", "a dict payload", type(payload).__name__)
    version = payload.get("format_version")
    # type first: a tensor there would compare elementwise (found by tests/test_fuzz_inputs.py)
    if type(version) is not int or version not in READABLE_VERSIONS:
        expected = " or ".join(str(readable) for readable in READABLE_VERSIONS)
        raise CheckpointError(path, "format_version", expected, repr(version)[:100])
    while payload["format_version"] in UPGRADES:
        payload = UPGRADES[payload["format_version"]](payload, path)
    check_checkpoint_payload(payload, path)
    return payload


def checkpoint_config(payload: Mapping[str, Any], cls: type) -> Any:
    """The resolved config stored in a checkpoint, as ``cls``."""
    return config_from_dict(cls, payload["config"])
