"""Older checkpoint formats, upgraded in memory when loaded (:func:`training.checkpoint.load_checkpoint`),
so every checkpoint ever written by ``mimic train`` still resumes and evaluates.

Format 1 (``mimic train`` up to commit ab52331; ``tests/fixtures/checkpoint_ab52331/`` and the
shipped ``data/pretrained/smpl_walk_jump/last.ckpt`` are such files) differs from format 2 in:

- ``step_count`` → ``env_steps`` (the name the agent, metrics.csv and Dagster use);
- ``rng_states``: per rank one flat dict ``{torch, torch_cuda, numpy, python, agent_generator,
  env_generator, env, rollout}`` → ``rank_states``: per rank a
  :class:`training.rank_state.RankState` with the process generators under ``rng``;
- ``optimizers``: always ``{}`` (the optimiser states are in ``model.agent``) → dropped.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping

from motion.errors import CheckpointError
from motion.io_utils import PathLike
from training.checkpoint_checks import check_types
from training.rank_state import PROCESS_RNG_KEYS

#: Keys only format 1 has, and the types they must have when present.
FORMAT_1_TYPES = {"step_count": (int,), "optimizers": (dict,), "rng_states": (list,)}
#: Per-rank entries of format 1 kept as they were in a format 2 RankState.
_RANK_KEYS = ("agent_generator", "env_generator", "env", "rollout")


def format_1_to_2(payload: Dict[str, Any], path: PathLike) -> Dict[str, Any]:
    """The format 2 record of a format 1 payload (a new dict; tensors are shared, not copied).

    Raises CheckpointError naming the format 1 field when one has the wrong type.
    """
    check_types(payload, FORMAT_1_TYPES, path)
    upgraded = {key: value for key, value in payload.items() if key not in FORMAT_1_TYPES}
    upgraded["format_version"] = 2
    if "step_count" in payload:
        upgraded["env_steps"] = payload["step_count"]
    if "rng_states" in payload:
        entries = payload["rng_states"]
        upgraded["rank_states"] = [_rank_state(entry, path, f"rng_states[{i}]") for i, entry in enumerate(entries)]
    return upgraded


def _rank_state(entry: Any, path: PathLike, field: str) -> Dict[str, Any]:
    if not isinstance(entry, Mapping):
        raise CheckpointError(path, field, "a dict of one rank's states", type(entry).__name__)
    state: Dict[str, Any] = {"rng": {key: entry[key] for key in PROCESS_RNG_KEYS if key in entry}}
    state.update((key, entry[key]) for key in _RANK_KEYS if key in entry)
    return state
