"""How the ranks of a ``mimic train`` run are started: one process, N spawned processes, or torchrun.

- ``--ngpu N`` (one node): ``mimic train`` spawns N processes itself (training/trainer.py).
- ``--nodes M --ngpu N``: torchrun starts N processes on each of the M nodes and joins them
  through its rendezvous; each process is one rank (``RANK`` global, ``LOCAL_RANK`` selects
  the GPU). ``mimic train --nodes M`` outside torchrun prints the command to run on every node.

The rendezvous is torchrun's ``c10d`` backend at ``HEAD:29500``; scripts/slurm_train.sh starts it
under SLURM.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from typing import Any, List, Mapping, Optional

#: What torchrun (torch.distributed.run) puts in the environment of every process it starts.
TORCHRUN_ENV_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
#: The rendezvous port on the head node (torchrun's customary default).
RENDEZVOUS_PORT = 29500


@dataclass(frozen=True)
class TorchrunRank:
    """This process's place in a torchrun job: ``rank`` in [0, world_size), ``local_rank`` on its node."""

    rank: int
    world_size: int
    local_rank: int
    local_world_size: int


def torchrun_rank(environ: Optional[Mapping[str, str]] = None) -> Optional[TorchrunRank]:
    """The torchrun rank of this process, or None when it was not started by torchrun."""
    env = os.environ if environ is None else environ
    if not all(env.get(name) for name in TORCHRUN_ENV_VARS):
        return None
    world_size = int(env["WORLD_SIZE"])
    return TorchrunRank(
        rank=int(env["RANK"]),
        world_size=world_size,
        local_rank=int(env["LOCAL_RANK"]),
        local_world_size=int(env.get("LOCAL_WORLD_SIZE") or world_size),
    )


def process_group_backend(cuda_available: bool) -> str:
    """gloo for CPU tensors; with CUDA, NCCL for GPU tensors and gloo still for CPU ones (the CPU
    simulator's rollout statistics), so every collective has a backend for its device."""
    return "cpu:gloo,cuda:nccl" if cuda_available else "gloo"


def torchrun_command(nodes: int, procs_per_node: int, rendezvous_id: str, train_arguments: List[str]) -> str:
    """The command to run on each of ``nodes`` nodes (``HEAD`` is the first node's host name)."""
    command = ["torchrun", "--nnodes", str(nodes), "--nproc-per-node", str(procs_per_node)]
    command += ["--rdzv-backend", "c10d", "--rdzv-endpoint", f"HEAD:{RENDEZVOUS_PORT}", "--rdzv-id", rendezvous_id]
    command += ["-m", "mimic.cli", "train", *train_arguments]
    return " ".join(shlex.quote(part) for part in command)


def train_arguments(options: Any) -> List[str]:
    """``mimic train`` arguments equivalent to ``options`` (a :class:`training.trainer.TrainOptions`)."""
    from training.command_flags import TRAIN_FLAGS, flag_arguments

    arguments = ["--experiment-path", options.experiment_path, "--experiment-name", options.experiment_name]
    arguments += flag_arguments(TRAIN_FLAGS, options.flags)
    arguments += ["--nodes", str(options.nodes), "--results-dir", options.results_dir]
    if options.checkpoint:
        arguments += ["--checkpoint", options.checkpoint]
    if options.use_wandb:
        arguments.append("--use-wandb")
    if options.quiet:
        arguments.append("--quiet")
    if options.overrides:
        arguments += ["--overrides", *options.overrides]
    return arguments
