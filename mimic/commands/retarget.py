"""``mimic retarget``: retarget an SMPL MotionLib to a robot (the Unitree G1) with a quality report."""

from __future__ import annotations

import argparse
import json
import sys


def register_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "retarget",
        help="retarget an SMPL MotionLib to the Unitree G1 (mink IK) and report its quality",
        description="Retarget every motion of an SMPL MotionLib .pt to the G1 by differential IK (mink), write "
        "one G1 .motion per motion, package them into --output-file, and write the quality report "
        "(<stem>.quality.parquet, <stem>.quality_summary.json) beside it. Bad motions are listed at the "
        "end (exit status 1) while the others complete. The G1 model comes from --robot-xml, the "
        "MIMIC_G1_XML environment variable, or the mujoco-menagerie package.",
    )
    parser.add_argument(
        "--motion-file", "--motion_file", required=True, help="SMPL MotionLib .pt (e.g. amass_train.pt)"
    )
    parser.add_argument("--robot", default="g1", choices=["g1"], help="target robot (default g1)")
    parser.add_argument("--output-file", "--output_file", required=True, help="G1 MotionLib .pt to write")
    parser.add_argument("--robot-xml", "--robot_xml", default=None, help="the G1 MJCF (g1_29dof.xml)")
    parser.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    parser.add_argument("--out-dir", "--out_dir", default=None,
                        help="folder for the per-motion G1 .motion files (default <output stem>_motions/)")  # fmt: skip
    parser.add_argument("--max-frames", type=int, default=0, help="retarget only the first N frames of each motion")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar / progress lines")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from retarget.batch import retarget_motion_lib
    from retarget.ik import RetargetParams

    report = retarget_motion_lib(
        args.motion_file,
        args.output_file,
        robot_xml=args.robot_xml,
        workers=args.workers,
        out_dir=args.out_dir,
        params=RetargetParams(max_frames=args.max_frames),
        progress=not args.no_progress,
    )
    summary = json.loads(report.report_files["summary"].read_text())["aggregate"]
    written = f"into {report.output_file}" if report.quality else "(nothing packaged)"
    print(
        f"retargeted {len(report.quality)} motions ({report.num_frames} frames) {written} in {report.seconds:.1f} s; "
        f"keypoint error {summary.get('keypoint_error_mean_mm', float('nan')):.1f} mm mean, "
        f"{summary.get('joint_limit_violations', 0)} joint-limit violations; "
        f"report {report.report_files['parquet']}"
    )
    for name, error in report.failures:
        print(f"BAD {name}: {error}", file=sys.stderr)
    if report.failures:
        print(f"mimic: error: {len(report.failures)} motion(s) could not be retargeted", file=sys.stderr)
    return 0 if report.ok else 1
