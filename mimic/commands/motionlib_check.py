"""``mimic motionlib check``: the integrity checks of a MotionLib ``.pt`` (what Dagster's
``integrity`` asset checks run), one line per check; exit 1 when any fails."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    check = subparsers.add_parser(
        "check",
        help="integrity of a MotionLib .pt: finite, unit quaternions, feet on the ground, plausible speeds",
        description="Check a MotionLib .pt: its structure (keys, shapes, per-motion tables; a bad one is one "
        "error line, exit 2), then every value finite, grs/lrs unit quaternions, each motion's lowest body "
        "at its conversion's height offset, and body speeds under human-plausible limits. Prints each "
        "check's result; exit 1 when any fails.",
    )
    check.add_argument("files", nargs="+", metavar="FILE", help="MotionLib .pt files")
    # Defaults (None here, so torch is not imported for --help): MotionLibIntegrityConfig's.
    check.add_argument("--quaternion-tolerance", type=float, help="largest | |q| - 1 | (default 1e-3)")
    check.add_argument("--height-tolerance-m", type=float,
                       help="largest distance of a motion's lowest body from its height offset, m "
                       "(default 0.005)")  # fmt: skip
    check.add_argument("--max-body-speed-m-s", type=float, help="largest body speed, m/s (default 30)")
    check.add_argument(
        "--max-body-angular-speed-rad-s", type=float, help="largest body angular speed, rad/s (default 200)"
    )
    check.set_defaults(handler=run_check)


def run_check(args: argparse.Namespace) -> int:
    import dataclasses

    from motion.motion_lib_integrity import MotionLibIntegrityConfig, motion_lib_file_integrity

    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(MotionLibIntegrityConfig)}
    config = MotionLibIntegrityConfig(**{name: value for name, value in given.items() if value is not None})
    failed = 0
    for path in args.files:
        report = motion_lib_file_integrity(path, config)  # a file that is no MotionLib: MotionDataError, exit 2
        print(f"{path}: {report.num_motions} motions")
        for check in report.checks:
            state = "PASS" if check.passed else "FAIL"
            print(f"  {state} {check.name} [{check.field}]: expected {check.expected}, found {check.found}")
        for problem in report.problems:
            print(f"mimic: error: {path}: {problem}", file=sys.stderr)
        failed += not report.passed
    if failed:
        print(f"mimic: error: {failed} of {len(args.files)} MotionLib(s) failed the integrity checks", file=sys.stderr)
    return 1 if failed else 0
