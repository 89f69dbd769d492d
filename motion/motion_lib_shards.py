"""Sharded MotionLibs: one file per distributed rank.

A path whose file name contains ``slurmrank`` exactly once (``amass_slurmrank.pt``) stands for
the shards ``amass_0.pt``, ``amass_1.pt``, ...; each rank loads one, chosen by ProtoMotions' rule
(:func:`shard_index`). Only the file name is a pattern, never its folders.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import List, Optional, Tuple

from motion.errors import MotionDataError
from motion.io_utils import PathLike

SHARD_TOKEN = "slurmrank"


def distributed_rank_and_world_size() -> Tuple[int, int]:
    """(rank, world size) from torch.distributed when initialised, else env RANK/WORLD_SIZE, else (0, 1)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def shard_index(rank: int, world_size: int, num_shards: int, cycle: int = 0) -> int:
    """Which shard ``rank`` loads (ProtoMotions' rule; ``cycle`` advances it between reloads)."""
    if world_size < num_shards:
        return (cycle * world_size + rank) % num_shards
    if rank < num_shards:
        return rank
    return (rank - num_shards + cycle) % num_shards


def find_shards(path: PathLike) -> List[Path]:
    """Shard files ``<prefix>0<suffix>``, ``<prefix>1<suffix>``, ... of a ``slurmrank`` name, in order."""
    path = Path(path)
    if path.name.count(SHARD_TOKEN) != 1:
        raise MotionDataError(path, "<file>", f"'{SHARD_TOKEN}' exactly once in the file name", path.name)
    prefix, suffix = path.name.split(SHARD_TOKEN)
    pattern = re.compile(re.escape(prefix) + r"(\d+)" + re.escape(suffix) + "$")
    folder = path.parent
    found = {}
    if folder.is_dir():
        for candidate in folder.iterdir():
            match = pattern.match(candidate.name)
            if match:
                found[int(match.group(1))] = candidate
    if not found:
        raise MotionDataError(path, "<file>", f"shards {prefix}0{suffix}, {prefix}1{suffix}, ...", "none")
    if sorted(found) != list(range(len(found))):
        raise MotionDataError(path, "<file>", f"shards numbered 0..{len(found) - 1}", f"numbers {sorted(found)}")
    return [found[index] for index in range(len(found))]


def resolve_motion_file(
    path: PathLike, rank: Optional[int] = None, world_size: Optional[int] = None, cycle: int = 0
) -> Path:
    """``path`` itself, or for a file name containing ``slurmrank`` the shard this rank loads.

    ``rank``/``world_size`` default to :func:`distributed_rank_and_world_size`.
    """
    path = Path(path)
    if SHARD_TOKEN not in path.name:  # only the file name is a pattern, never its folders
        return path
    shards = find_shards(path)
    if rank is None or world_size is None:
        default_rank, default_world = distributed_rank_and_world_size()
        rank = default_rank if rank is None else rank
        world_size = default_world if world_size is None else world_size
    if not 0 <= rank < world_size:
        raise MotionDataError(path, "rank", f"0 ≤ rank < world size {world_size}", str(rank))
    return shards[shard_index(rank, world_size, len(shards), cycle)]
