"""``mimic motionlib package`` / ``mimic motionlib info``: build and inspect MotionLib ``.pt`` files."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Dict, List, Optional

#: ``--split`` choices: motion.motion_config.SPLITS and the alias ``val`` (not imported: keeps ``--help`` light).
SPLIT_CHOICES = ("train", "validation", "test", "val")


def register(subparsers: argparse._SubParsersAction) -> None:
    package = subparsers.add_parser(
        "package",
        help="package .motion files into one MotionLib .pt",
        description="Package every .motion below a folder, or the entries of a ProtoMotions-style YAML "
        "motion config (file and weight are used), into one MotionLib .pt. Or, with --split, one AMASS "
        "split of every subset `mimic amass convert` wrote below --motion-root (<root>/<subset>/<split>.yaml), "
        "joined into <output>.yaml beside the .pt, with motion_files relative to the .pt's folder (what "
        "DVC's package stage and Dagster's motionlib assets do). Bad files are all reported at the end; "
        "nothing is written unless --skip-bad.",
    )
    source = package.add_mutually_exclusive_group(required=True)
    source.add_argument("--motion-path", "--motion_path",
                        help="folder of .motion files, a YAML motion config, or one .motion file")  # fmt: skip
    source.add_argument("--split", choices=SPLIT_CHOICES,
                        help="package this split of the converted subsets below --motion-root")  # fmt: skip
    package.add_argument("--output-file", "--output_file", required=True, help="the .pt to write")
    package.add_argument("--motion-root", "--motion_root", default=None,
                         help="base folder for relative YAML entries (default: the YAML's folder); with --split "
                         "(required): the folder of converted subsets")  # fmt: skip
    package.add_argument("--subsets", nargs="+", default=None, metavar="SUBSET",
                         help="with --split: only these subset folders, in this order "
                         "(default: every one, sorted)")  # fmt: skip
    package.add_argument("--subsets-from", default=None, metavar="YAML:KEY",
                         help="with --split: the subset list from a YAML file's dotted key, e.g. "
                         "params.yaml:amass.subsets (DVC's params)")  # fmt: skip
    package.add_argument("--empty-split-uses-train", action="store_true",
                         help="with --split: package the train split when no subset belongs to the split "
                         "(said loudly)")  # fmt: skip
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
        if args.split is not None:
            result = _package_split(args)
        else:
            for flag, value in (("--subsets", args.subsets), ("--subsets-from", args.subsets_from),
                                ("--empty-split-uses-train", args.empty_split_uses_train or None)):  # fmt: skip
                if value is not None:
                    print(f"mimic: error: {flag} needs --split", file=sys.stderr)
                    return 2
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


def _package_split(args: argparse.Namespace) -> Any:
    """``--split``: :func:`motion.motion_lib_splits.package_split`; returns its PackagingResult."""
    from motion.errors import MotionDataError
    from motion.motion_lib_splits import package_split

    if args.motion_root is None:
        raise MotionDataError("<command line>", "--motion-root", "the folder of converted subsets", "none")
    if args.subsets is not None and args.subsets_from is not None:
        raise MotionDataError("<command line>", "--subsets", "either --subsets or --subsets-from", "both")
    subsets = args.subsets if args.subsets_from is None else _subsets_from(args.subsets_from)
    result = package_split(
        args.motion_root, args.split, args.output_file, subsets=subsets,
        empty_split_uses_train=args.empty_split_uses_train, skip_bad=args.skip_bad, progress=not args.no_progress,
        log_info=print,
    )  # fmt: skip
    print(
        f"{result.split}: {result.packaged_split} split of subsets {', '.join(result.subsets)}"
        f"{' ' + result.label if result.label else ''}; motion config {result.motion_config}"
    )
    return result.packaging


def _subsets_from(spec: str) -> List[str]:
    """The list of subset names at ``FILE:dotted.key`` of a YAML file."""
    import yaml

    from motion.errors import MotionDataError

    path, _, key = spec.rpartition(":")
    if not path or not key:
        raise MotionDataError("<command line>", "--subsets-from", "YAML:KEY (e.g. params.yaml:amass.subsets)", spec)
    try:
        with open(path, encoding="utf-8") as handle:
            value: Optional[Any] = yaml.safe_load(handle)
    except (OSError, yaml.YAMLError) as error:
        raise MotionDataError(path, "<file>", "a readable YAML file", str(error).splitlines()[0]) from None
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if not isinstance(value, list) or not value or not all(isinstance(name, str) and name for name in value):
        raise MotionDataError(path, key, "a non-empty list of subset names", repr(value)[:200])
    return value


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
