"""``mimic checkpoint compact``: a smaller checkpoint to commit (resume) or ship (inference only)."""

from __future__ import annotations

import argparse
import os


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compact",
        help="write a smaller checkpoint: resumable without the episodes in flight, or inference-only",
        description="Write checkpoint FILE without the episodes in flight (each rank's physics snapshot and "
        "rollout): mimic train resumes from it with fresh episodes and the exact learning state. With "
        "--inference-only, keep only what mimic inference needs (the actor and its observation normaliser, "
        "config, counters, motion weights, lineage). The lineage record names the source checkpoint.",
    )
    parser.add_argument("checkpoint", metavar="FILE", help="checkpoint to compact")
    parser.add_argument("--output", "-o", default=None, help="where to write it (default: replace FILE)")
    parser.add_argument("--inference-only", action="store_true", help="no critic, optimisers or rank states")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from training.checkpoint_compact import compact_checkpoint

    target = args.output or args.checkpoint
    before = os.path.getsize(args.checkpoint)
    payload = compact_checkpoint(args.checkpoint, target, inference_only=args.inference_only)
    after = os.path.getsize(target)
    dropped = payload["lineage"]["compacted"][-1]["dropped"]
    print(
        f"{target}: {after / 2**20:.1f} MiB (was {before / 2**20:.1f} MiB); dropped "
        f"{', '.join(dropped) if dropped else 'nothing'}"
    )
    return 0
