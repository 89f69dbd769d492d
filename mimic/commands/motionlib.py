"""``mimic motionlib package`` / ``mimic motionlib info``: build and inspect MotionLib ``.pt`` files."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Dict


def register(subparsers: argparse._SubParsersAction) -> None:
    package = subparsers.add_parser(
        "package",
        help="package .motion files into one MotionLib .pt",
        description="Package every .motion below a folder, or the entries of a ProtoMotions-style YAML "
        "motion config (file and weight are used), into one MotionLib .pt. Bad files are all "
        "reported at the end; nothing is written unless --skip-bad.",
    )
    package.add_argument("--motion-path", "--motion_path", required=True,
                         help="folder of .motion files, a YAML motion config, or one .motion file")  # fmt: skip
    package.add_argument("--output-file", "--output_file", required=True, help="the .pt to write")
    package.add_argument("--motion-root", "--motion_root", default=None,
                         help="base folder for relative YAML entries (default: the YAML's folder)")  # fmt: skip
    package.add_argument("--skip-bad", action="store_true",
                         help="write the good motions anyway (exit status is still 1 if any were bad)")  # fmt: skip
    package.add_argument("--no-progress", action="store_true", help="no progress bar")
    package.set_defaults(handler=run_package)

    info = subparsers.add_parser(
        "info",
        help="summarize a MotionLib .pt (ours or ProtoMotions')",
        description="Motions, frames, durations, fps, weights and hashes of a packaged MotionLib.",
    )
    info.add_argument("file", help="a MotionLib .pt")
    info.add_argument("--json", action="store_true", help="print everything as one JSON document")
    info.add_argument("--limit", type=int, default=20, help="motions listed in text output (default 20; 0: all)")
    info.set_defaults(handler=run_info)


def run_package(args: argparse.Namespace) -> int:
    from motion.motion_lib_packaging import MotionPackagingError, package_motion_lib

    try:
        result = package_motion_lib(
            args.motion_path,
            args.output_file,
            motion_root=args.motion_root,
            skip_bad=args.skip_bad,
            progress=not args.no_progress,
        )
    except MotionPackagingError as error:
        for failure in error.failures:
            print(f"BAD {failure}", file=sys.stderr)
        print(f"mimic: error: {len(error.failures)} bad .motion file(s); nothing written", file=sys.stderr)
        return 2
    for failure in result.failures:
        print(f"SKIPPED {failure}", file=sys.stderr)
    print(
        f"packaged {result.num_motions} motions ({result.num_frames} frames, {result.file_size / 2**20:.1f} MiB) "
        f"into {result.output_file} in {result.seconds:.1f} s"
        + (f"; {len(result.failures)} bad file(s) left out" if result.failures else "")
    )
    return 0 if result.ok else 1


def run_info(args: argparse.Namespace) -> int:
    from motion.motion_lib import summarize_motion_lib

    summary = summarize_motion_lib(args.file)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(_text(summary, args.limit))
    return 0


def _text(summary: Dict[str, Any], limit: int) -> str:
    lines = [
        f"{summary['file']}  md5 {summary['md5']}  {summary['size_bytes'] / 2**20:.1f} MiB",
        f"made by: {summary['created_by'] or summary['made_by']}"
        + (f" (format {summary['format_version']})" if summary["format_version"] is not None else ""),
        f"motions: {summary['num_motions']}   frames: {summary['num_frames']}   "
        f"duration: {summary['total_duration_s']:.1f} s ({summary['total_duration_s'] / 3600:.2f} h)",
    ]
    for index, params in enumerate(summary["conversion"]):
        lines.append(f"conversion parameters [{index}]: {json.dumps(params, sort_keys=True)}")
    motions = summary["motions"] if limit <= 0 else summary["motions"][:limit]
    lines.append(f"{'#':>5}  {'frames':>6}  {'seconds':>8}  {'fps':>5}  {'weight':>7}  {'source md5':<32}  file")
    for motion in motions:
        lines.append(
            f"{motion['index']:>5}  {motion['frames']:>6}  {motion['duration_s']:>8.3f}  {motion['fps']:>5}  "
            f"{motion['weight']:>7.3g}  {motion['source_md5'] or '-':<32}  {motion['file']}"
        )
    if len(motions) < len(summary["motions"]):
        lines.append(
            f"... {len(summary['motions']) - len(motions)} more (--limit 0 lists all, --json gives everything)"
        )
    return "\n".join(lines)
