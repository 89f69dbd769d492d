"""Smaller checkpoints for committing and shipping, written by ``mimic checkpoint compact``.

- **resume** (default): drops the episodes in flight (each rank's ``env`` physics snapshot and
  ``rollout``), keeps networks, optimisers, normalisers, counters, random streams, motion weights
  and the failure-start memory. ``mimic train`` resumes from it with fresh episodes: the learning
  state is exact, only the half-finished episodes of the interrupted epoch are started anew.
- **inference** (``--inference-only``): keeps what ``mimic inference`` needs, the actor with its
  observation normaliser, plus config, counters, motion weights and lineage; no critic, no
  optimisers, no rank states. ``mimic train`` refuses to resume from it (one line saying so) but
  can warm-start from it with ``--checkpoint`` (a fresh critic).

Either way the lineage record stays, with a ``compacted`` entry naming the source checkpoint's md5
and what was dropped.
"""

from __future__ import annotations

from typing import Any, Dict, List

from motion.io_utils import PathLike, file_digest
from training.checkpoint import load_checkpoint, save_checkpoint

#: model.agent entries an inference-only checkpoint keeps.
INFERENCE_AGENT_KEYS = ("actor", "epoch", "env_steps", "bad_grad_count", "rng_state")


def compact_checkpoint(source: PathLike, target: PathLike, inference_only: bool = False) -> Dict[str, Any]:
    """Write the compact form of checkpoint ``source`` to ``target`` (atomically; may be the same
    path); returns the new payload."""
    payload = load_checkpoint(source)
    dropped = []
    for index, state in enumerate(payload.get("rank_states") or []):
        for key in ("env", "rollout"):
            if state.get(key) is not None:
                state[key] = None
                dropped.append(f"rank_states[{index}].{key}")
    if inference_only:
        dropped += make_inference_only(payload)
    lineage = dict(payload.get("lineage") or {})
    lineage["compacted"] = list(lineage.get("compacted") or []) + [
        {"source_md5": file_digest(source, "md5"), "inference_only": inference_only, "dropped": dropped}
    ]
    payload["lineage"] = lineage
    save_checkpoint(target, payload)
    return payload


def make_inference_only(payload: Dict[str, Any]) -> List[str]:
    """Turn ``payload`` (in place) into an inference-only checkpoint; returns what was dropped.

    Also how the trainer writes ``score_based.ckpt``: the best policy is evaluated, shipped or
    warm-started from, never resumed (``last.ckpt`` is), so it needs no critic, optimiser
    moments or episodes in flight (25 MB instead of 126 MB for mlp.py's networks).
    """
    dropped = []
    agent = payload["model"]["agent"]
    for key in sorted(set(agent) - set(INFERENCE_AGENT_KEYS)):
        dropped.append(f"model.agent.{key}")
    payload["model"]["agent"] = {key: agent[key] for key in INFERENCE_AGENT_KEYS if key in agent}
    if payload.get("rank_states"):
        dropped.append("rank_states")
    payload["rank_states"] = []
    payload["extra"] = dict(payload.get("extra") or {}, inference_only=True)
    return dropped


def is_inference_only(payload: Dict[str, Any]) -> bool:
    return bool((payload.get("extra") or {}).get("inference_only"))
