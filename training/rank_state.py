"""One rank's state in a checkpoint beyond the networks: its random streams and its episodes in flight.

A resumed run with the same ranks on the same kind of device continues exactly where it
stopped: each rank restores its own :class:`RankState` (``checkpoint["rank_states"][rank]``).
Everything is a tensor or a builtin, so the record goes into a ``weights_only`` checkpoint.
"""

from __future__ import annotations

import logging
import random
from typing import Any, Dict, List, Mapping, Optional, TypedDict

import numpy as np
import torch
from torch import Tensor

log = logging.getLogger(__name__)

#: The process-wide generators :func:`capture_rng_state` saves (the keys of :class:`ProcessRngState`).
PROCESS_RNG_KEYS = ("torch", "torch_cuda", "numpy", "python")


class ProcessRngState(TypedDict):
    """The process-wide random generators (:func:`capture_rng_state`)."""

    torch: Tensor  # torch's CPU generator, uint8 bytes
    torch_cuda: List[Tensor]  # one per CUDA device; [] when CUDA was not in use
    numpy: Dict[str, Any]  # numpy's legacy global state: bit_generator, keys (int64), pos, has_gauss, cached_gaussian
    python: Dict[str, Any]  # Python's ``random``: version, internal (625 int64 words), gauss_next


class RankState(TypedDict):
    """What one rank needs, besides the shared networks, to continue its run exactly."""

    rng: ProcessRngState
    agent_generator: Tensor  # the agent's own generator (action noise, minibatch shuffling)
    env_generator: Tensor  # the env's own generator (motion and start-time sampling)
    env: Optional[Dict[str, Any]]  # MimicEnv.state_dict(): episode bookkeeping + physics; None if not saveable
    rollout: Optional[Dict[str, Tensor]]  # PPOAgent.rollout_state(); None before the first collect


def capture_rng_state() -> ProcessRngState:
    """torch (CPU, and CUDA if already initialised), numpy global and Python ``random`` states."""
    np_name, np_keys, np_pos, np_has_gauss, np_cached = np.random.get_state()
    py_version, py_internal, py_gauss_next = random.getstate()
    cuda: List[Tensor] = []
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


def capture_rank_state(agent: Any, env: Any) -> RankState:
    """This rank's :class:`RankState`: process RNGs, the agent's and env's generators, and the
    episodes in flight (``env.state_dict()``, ``agent.rollout_state()``)."""
    return {
        "rng": capture_rng_state(),
        "agent_generator": agent.generator.get_state(),
        "env_generator": env.generator.get_state(),
        "env": env.state_dict(),
        "rollout": agent.rollout_state(),
    }


def same_device_kind(state: Mapping[str, Any], agent: Any, env: Any) -> bool:
    """Whether ``state``'s generators were saved on this run's kind of device: CPU and CUDA
    generator states differ in format, so a run moved between them starts new random streams."""
    return all(
        state[key].numel() == generator.get_state().numel()
        for key, generator in (("agent_generator", agent.generator), ("env_generator", env.generator))
    )


def restore_rank_state(state: Mapping[str, Any], agent: Any, env: Any) -> None:
    """Inverse of :func:`capture_rank_state`: every stream continues, and so do the episodes in
    flight when the backend saved its physics (otherwise the first collect restarts them)."""
    restore_rng_state(state["rng"])
    agent.generator.set_state(state["agent_generator"])
    env.generator.set_state(state["env_generator"])
    if state.get("env") is not None and state.get("rollout") is not None:
        agent.resume_rollout(env, state["rollout"])
        env.load_state_dict(state["env"])
