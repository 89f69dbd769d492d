"""The few torch.distributed operations data-parallel PPO needs, as no-ops in a single process.

Every rank runs the same program on its own environments. Ranks keep identical weights because
they start from rank 0's weights (:func:`broadcast_parameters`) and apply the same averaged
gradients (:func:`sync_gradients`) with identical optimisers. Plain all-reduces are simpler
than wrapping the networks in DDP and work the same on gloo (CPU) and nccl (GPU).

Every helper is a collective: all ranks must call it, in the same order, with tensors of the
same shape. The agent guarantees this by making every rank run the same number of minibatches.
"""

from __future__ import annotations

from typing import List

import torch
import torch.distributed as dist
from torch import Tensor, nn


def is_distributed() -> bool:
    """True when a default process group is initialised (more than a plain single process)."""
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def all_reduce_mean_(tensor: Tensor) -> Tensor:
    """Replace ``tensor`` in place by its mean over ranks; returns it (unchanged on one rank)."""
    if is_distributed() and dist.get_world_size() > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        tensor.div_(dist.get_world_size())
    return tensor


def all_reduce_sum_(tensor: Tensor) -> Tensor:
    """Replace ``tensor`` in place by its sum over ranks; returns it."""
    if is_distributed() and dist.get_world_size() > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def sync_gradients(module: nn.Module) -> None:
    """Average the gradients of every parameter of ``module`` over ranks, in one all-reduce.

    A parameter without a gradient takes part with zeros (and then gets the averaged
    gradient), so the flat buffer has the same layout on every rank.
    """
    if not (is_distributed() and dist.get_world_size() > 1):
        return
    params: List[nn.Parameter] = [p for p in module.parameters() if p.requires_grad]
    if not params:
        return
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    flat = torch.cat([p.grad.reshape(-1) for p in params])
    all_reduce_mean_(flat)
    offset = 0
    for p in params:
        n = p.numel()
        p.grad.copy_(flat[offset : offset + n].view_as(p.grad))
        offset += n


def broadcast_parameters(module: nn.Module, src: int = 0) -> None:
    """Copy rank ``src``'s parameters and buffers (normaliser statistics too) to every rank."""
    if not (is_distributed() and dist.get_world_size() > 1):
        return
    with torch.no_grad():
        for tensor in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(tensor.data, src=src)
