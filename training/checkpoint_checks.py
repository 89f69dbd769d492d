"""Checks on a loaded checkpoint payload (:func:`training.checkpoint.load_checkpoint`): cheap ones, so a
broken or hand-made file is one :class:`motion.errors.CheckpointError` naming the file and the
field instead of a KeyError or NaN actions later."""

from __future__ import annotations

import re
from typing import Any, Dict, Mapping, Tuple

import torch

from motion.errors import CheckpointError
from motion.io_utils import PathLike

#: Top-level checkpoint keys and the types they must have when present (older or partial
#: payloads may lack some; the readers of each key say so themselves).
_PAYLOAD_TYPES: Dict[str, Tuple[type, ...]] = {
    "epoch": (int,),
    "env_steps": (int,),
    "counters": (dict,),
    "model": (dict,),
    "config": (dict,),
    "config_hash": (str,),
    "rank_states": (list,),
    "motion_weights": (torch.Tensor, type(None)),
    "lineage": (dict,),
    "extra": (dict,),
}
#: Model states holding network weights and normalisers: non-finite there means a broken file
#: (training skips non-finite gradients, so it never saves such weights). Other states (recent
#: returns, optimisers) are not checked: a resume must not be refused over a statistic.
_WEIGHT_STATES = ("actor", "critic")


def check_types(payload: Mapping[str, Any], types_by_key: Mapping[str, Tuple[type, ...]], path: PathLike) -> None:
    """Each key of ``types_by_key`` present in ``payload`` has one of its types (a bool is no int)."""
    for key, types in types_by_key.items():
        value = payload.get(key)
        if key in payload and (not isinstance(value, types) or isinstance(value, bool)):
            names = " or ".join("None" if t is type(None) else t.__name__ for t in types)
            raise CheckpointError(path, key, names, type(value).__name__)


def check_checkpoint_payload(payload: Mapping[str, Any], path: PathLike) -> None:
    """Top-level types (of the keys present), one dict per rank, counts ≥ 0, finite motion
    weights and network weights."""
    check_types(payload, _PAYLOAD_TYPES, path)
    for index, state in enumerate(payload.get("rank_states") or []):
        if not isinstance(state, dict):
            raise CheckpointError(path, f"rank_states[{index}]", "a dict of one rank's states", type(state).__name__)
    for key in ("epoch", "env_steps"):
        if payload.get(key, 0) < 0:
            raise CheckpointError(path, key, "a count ≥ 0", repr(payload[key]))
    weights = payload.get("motion_weights")
    if weights is not None and not (weights.is_floating_point() and bool(torch.isfinite(weights).all())):
        raise CheckpointError(path, "motion_weights", "finite float sampling weights", str(weights.dtype))
    for name, state in (payload.get("model") or {}).items():
        if name in _WEIGHT_STATES:  # models={"actor": ..., "critic": ...}
            _check_finite_tensors(state, path, f"model.{name}")
        elif isinstance(state, dict):  # the trainer's models={"agent": {"actor": ..., "critic": ..., ...}}
            for part in _WEIGHT_STATES:
                _check_finite_tensors(state.get(part), path, f"model.{name}.{part}")


def check_policy_fits(payload: Mapping[str, Any], path: PathLike, robot_name: str, agent: Any) -> None:
    """Raise :class:`CheckpointError` unless the checkpoint's networks can drive ``agent``: the same
    robot (``config.robot_name``), then every actor and critic tensor of the same shape (the
    observations, actions and layer sizes of the config). Before it, a G1 checkpoint warm-starting
    an SMPL run failed in ``load_state_dict`` with a page of "size mismatch for mlp.2.bias"."""
    saved_robot = (payload.get("config") or {}).get("robot_name")
    if isinstance(saved_robot, str) and saved_robot != robot_name:
        raise CheckpointError(
            path, "config.robot_name", f"{robot_name!r} (the robot this run drives)", f"{saved_robot!r}"
        )
    saved = (payload.get("model") or {}).get("agent") or {}
    for part in _WEIGHT_STATES:
        for key, tensor in getattr(agent, part).state_dict().items():
            stored = (saved.get(part) or {}).get(key)
            if isinstance(stored, torch.Tensor) and stored.shape != tensor.shape:
                raise CheckpointError(
                    path,
                    f"model.agent.{part}.{key}",
                    f"shape {tuple(tensor.shape)} (this run's network: its observations, actions and layer sizes)",
                    f"shape {tuple(stored.shape)}",
                )


def _check_finite_tensors(value: Any, path: PathLike, field: str) -> None:
    if isinstance(value, torch.Tensor):
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise CheckpointError(path, field, "finite values", f"NaN or inf in {tuple(value.shape)} {value.dtype}")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_finite_tensors(item, path, f"{field}.{key}")


def load_error_summary(error: BaseException) -> str:
    """The informative sentence of a torch.load error (what was refused, not the advice around it)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))  # torch colours part of its message
    marker = "WeightsUnpickler error:"
    if marker in text:
        after = [line.strip() for line in text.split(marker, 1)[1].splitlines() if line.strip()]
        if after:
            return f"{marker} {after[0].split('. ')[0]}"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if "failed reading" in line:
            return line.split(". ")[0]
    return lines[0] if lines else type(error).__name__
