"""``mimic amass stage``: put a subset's clips you already have (a folder or an archive) at
``<amass_root>/<subset>/``, as the Dagster ``amass_archives`` asset does in local mode."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    stage = subparsers.add_parser(
        "stage",
        help="link a local folder of clips, or extract an archive, to <amass_root>/<subset>/",
        description="Make AMASS_ROOT/SUBSET hold the subset's clips from SOURCE: the subset's folder of .npz "
        "clips, an AMASS root holding SUBSET/, a folder holding SUBSET.tar.bz2 (or .tbz2, .tar.gz, .tgz, "
        ".tar.xz, .tar), or the archive itself. A folder is linked (no copy); an archive is extracted "
        "safely (no absolute paths, '..' or links leaving AMASS_ROOT), replacing an earlier SUBSET/.",
    )
    stage.add_argument("source", type=Path, metavar="SOURCE",
                       help="folder of clips, AMASS root, folder holding the archive, or the archive")  # fmt: skip
    stage.add_argument("subset", metavar="SUBSET",
                       help="the AMASS subset name (e.g. CMU, SFU): the folder's name under AMASS_ROOT")  # fmt: skip
    stage.add_argument("amass_root", type=Path, metavar="AMASS_ROOT",
                       help="the AMASS root the subset goes into (e.g. data/amass)")  # fmt: skip
    stage.set_defaults(handler=run_stage)


def run_stage(args: argparse.Namespace) -> int:
    from motion.amass_staging import require_clips, stage_local_subset

    def warn(line: str) -> None:
        print(f"mimic: warning: {line}", file=sys.stderr)

    how = stage_local_subset(args.source, args.subset, args.amass_root, warn)  # bad input: MotionDataError, exit 2
    target = args.amass_root / args.subset
    clips = require_clips(target)
    print(f"{args.subset}: {len(clips)} clips at {target} ({how})")
    return 0
