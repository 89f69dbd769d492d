"""`mimic lineage <checkpoint>`: where a checkpoint came from, checked against the files on disk."""

from __future__ import annotations

import argparse
import json
import sys


def register_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "lineage",
        help="show and check which motion files, AMASS files, config and code made a checkpoint",
        description="Print a checkpoint's lineage as a tree (checkpoint → config → MotionLib → .motion files → "
        "AMASS files), re-hashing every recorded file and comparing with dvc.lock. ✓ matches, ✗ changed or "
        "missing, · could not be checked.",
    )
    parser.add_argument("checkpoint", help="a checkpoint written by mimic train, e.g. results/<name>/last.ckpt")
    parser.add_argument("--strict", action="store_true", help="exit 1 when any hash mismatches or a file is missing")
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead of the tree")
    parser.add_argument(
        "--amass-root", default=None, help="AMASS folder the motions were converted from (default: looked for)"
    )
    parser.add_argument(
        "--dvc-lock", default=None, help="dvc.lock to compare with (default: found beside the MotionLib or here)"
    )
    parser.add_argument(
        "--amend-motion-lib", default=None, metavar="REBUILT.pt",
        help="re-record the checkpoint's MotionLib (and .motion md5s) from this MotionLib, rebuilt from the "
        "same AMASS files with the same conversion parameters; the old values stay in the record",
    )  # fmt: skip
    parser.add_argument("--reason", default="", help="why, with --amend-motion-lib (stored in the record)")
    parser.add_argument(
        "--held-out", nargs="+", default=None, metavar="PATH",
        help="held-out clips (folders of .npz, a MotionLib .pt, files): fail unless none of them is among the "
        "AMASS sources the checkpoint was trained on (compared by md5)",
    )  # fmt: skip
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from training.lineage_check import verify_lineage
    from training.lineage_tree import render_tree

    if args.amend_motion_lib:
        from training.lineage_amend import amend_motion_lib

        try:
            amendment = amend_motion_lib(args.checkpoint, args.amend_motion_lib, args.reason)
        except ValueError as error:  # other AMASS files, other parameters, no reason: nothing written
            print(f"mimic lineage: error: {error}", file=sys.stderr)
            return 2
        was = amendment["replaced"]["motion_file_md5"]
        print(f"mimic lineage: amended {args.checkpoint}: MotionLib {args.amend_motion_lib} (was md5 {was})")
    report = verify_lineage(args.checkpoint, dvc_lock=args.dvc_lock, amass_root=args.amass_root)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        text = render_tree(report)
        encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
        try:
            text.encode(encoding)
        except UnicodeEncodeError:  # a terminal without ✓ ✗ │ ├
            text = render_tree(report, ascii_only=True).encode(encoding, "replace").decode(encoding)
        print(text)
    if args.held_out and not _held_out_clean(args.checkpoint, args.held_out):
        return 1
    if args.strict and not report.ok:
        names = ", ".join(f"{check.item} ({check.status})" for check in report.failures)
        print(f"mimic lineage: {len(report.failures)} problem(s): {names}", file=sys.stderr)
        return 1
    return 0


def _held_out_clean(checkpoint: str, paths: list) -> bool:
    """Print whether the checkpoint's training sources include a held-out clip; True when none."""
    from training.checkpoint import load_checkpoint
    from training.lineage_heldout import held_out_md5s, trained_on_held_out

    held_out = held_out_md5s(paths)
    lineage = load_checkpoint(checkpoint).get("lineage") or {}
    trained = len((lineage.get("motion_lib") or {}).get("source_md5") or [])
    overlap = trained_on_held_out(lineage, held_out)
    if overlap:
        print(f"mimic lineage: {len(overlap)} held-out clip(s) were trained on: {'; '.join(overlap)}", file=sys.stderr)
        return False
    print(f"held out: none of the {len(held_out)} held-out clips is among the {trained} clips trained on (md5s)")
    return True
