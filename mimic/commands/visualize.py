"""``mimic visualize``: MotionLibs side by side on kinematic humanoids (ProtoMotions'
``examples/motion_libs_visualizer.py``), in MuJoCo's viewer or rendered offscreen to an mp4."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from typing import Any, Dict, Iterator, Optional


def register_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "visualize",
        help="play MotionLibs side by side (viewer, or --headless --output video.mp4)",
        description="Play motion k of every MotionLib at once, each on its own robot 1 m apart in x "
        "(e.g. an SMPL MotionLib beside its G1 retarget). "
        "Keys: R next motion, 1/2 playback speed x1.5 / /1.5, 3/4 jerk threshold x1.5 / /1.5. Bodies whose "
        "windowed normalised jerk exceeds the threshold are yellow, other markers red, reference contacts "
        "purple. Without a display use --headless --output video.mp4.",
    )
    add = parser.add_argument
    add("--motion-files", "--motion_files", nargs="+", required=True, metavar="PT", help="MotionLib .pt files")
    add("--robot", "--robot-name", "--robot_name", nargs="+", default="auto", metavar="ROBOT",
        help="one robot for all motion files or one per file (smpl, g1); auto (default) infers each file's "
        "robot from its bodies/DoFs per frame: 24/69 smpl, 30/29 g1")  # fmt: skip
    add("--robot-xml", "--robot_xml", default=None,
        help="G1 MJCF for g1 tracks (default: $MIMIC_G1_XML, else the mujoco-menagerie package's)")  # fmt: skip
    add("--simulator", default="mujoco", choices=["mujoco"], help="renderer/kinematics backend")
    add("--smoothness-threshold", "--smoothness_threshold", type=float, default=None,
        help="normalised jerk above which a body is highlighted (default 6500)")  # fmt: skip
    add("--window-sec", "--window_sec", type=float, default=None, help="jerk window in seconds (default 0.4)")
    add("--playback-speed", "--playback_speed", type=float, default=1.0, help="initial speed, 0.01..10")
    add("--motion-index", "--motion_index", type=int, default=0, help="motion index to start with")
    add("--headless", action="store_true", help="render offscreen into --output instead of opening a window")
    add("--output", default=None, help="video file to write (H.264 .mp4); implies --headless")
    add("--max-frames", "--max_frames", type=int, default=None,
        help="frames to render (default: the selected motion once); more than the motions hold end the "
        "video after every motion was shown once")  # fmt: skip
    add("--all-motions", "--all_motions", action="store_true",
        help="video: every motion once, in turn from --motion-index, each to its last frame")  # fmt: skip
    add("--width", type=int, default=640, help="video width in pixels (even)")
    add("--height", type=int, default=480, help="video height in pixels (even)")
    add("--grid", nargs="+", type=int, default=None, metavar="K",
        help="a grid video of these motion indices instead: give the reference MotionLib and the predicted one "
        "a full-eval wrote (--motion-files REF.pt PRED.pt); each tile shows one clip's reference beside its "
        "simulation (needs --output)")  # fmt: skip
    add("--columns", type=int, default=3, help="tiles per row of a --grid video")
    add("--eval-dir", default=None,
        help="with --grid: the full-eval folder whose per_motion.parquet labels each tile "
        "(tracked, E_g-mpjpe)")  # fmt: skip
    add("--json", action="store_true", help="print the result as one JSON line (for scripts) instead of a sentence")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from evaluation.rendering import RenderingBackendError, configure_gl_backend, has_display
    from evaluation.smoothness import DEFAULT_JERK_THRESHOLD, DEFAULT_WINDOW_S
    from motion.errors import MotionDataError
    from robots.g1 import G1ModelNotFoundError

    headless = args.headless or args.output is not None
    problem = None
    if headless and args.output is None:
        problem = "--headless needs --output video.mp4"
    elif not headless and not has_display():
        problem = "no display (DISPLAY is not set): use --headless --output video.mp4"
    elif args.max_frames is not None and args.max_frames < 1:
        problem = f"--max-frames must be ≥ 1, got {args.max_frames}"
    elif headless and (args.width < 2 or args.height < 2 or args.width % 2 or args.height % 2):
        problem = f"--width and --height must be even and ≥ 2 (H.264 yuv420p), got {args.width}x{args.height}"
    elif args.window_sec is not None and not args.window_sec > 0:
        problem = f"--window-sec must be positive, got {args.window_sec}"
    elif args.grid is not None and (args.output is None or len(args.motion_files) != 2 or args.columns < 1):
        problem = "--grid needs --output V.mp4, --columns ≥ 1 and two --motion-files: reference.pt predicted.pt"
    if problem:
        print(f"mimic visualize: error: {problem}", file=sys.stderr)
        return 2
    if args.grid is not None:
        return _grid(args)
    options = {
        "threshold": DEFAULT_JERK_THRESHOLD if args.smoothness_threshold is None else args.smoothness_threshold,
        "window_s": DEFAULT_WINDOW_S if args.window_sec is None else args.window_sec,
        "speed": args.playback_speed,
        "motion_index": args.motion_index,
    }
    stack = contextlib.ExitStack()
    try:
        configure_gl_backend()  # before anything imports mujoco
        from evaluation.visualizer import render_headless, run_interactive

        stack.enter_context(_g1_xml_from(args.robot_xml))
        if headless:
            result = render_headless(
                args.motion_files, args.robot, args.output, args.max_frames, args.width, args.height,
                all_motions=args.all_motions, **options,
            )  # fmt: skip
        else:
            result = run_interactive(args.motion_files, args.robot, args.max_frames, **options)
    except G1ModelNotFoundError as error:  # a usage error of this command (flag, variable or package missing)
        print(f"mimic visualize: error: {error}", file=sys.stderr)
        return 2
    except MotionDataError:
        raise  # mimic.cli reports bad input files (file, field, expected, found)
    except (RenderingBackendError, ValueError, FileNotFoundError) as error:
        print(f"mimic visualize: error: {error}", file=sys.stderr)
        return 2
    finally:
        stack.close()
    print(json.dumps(result) if args.json else describe_result(result))
    return 0


def describe_result(result: Dict[str, Any]) -> str:
    """The sentence a person reads after a video is written or the viewer is closed."""
    if "output" in result:  # headless
        indices = result["motion_indices"]
        motions = ("motion " if len(indices) == 1 else "motions ") + ", ".join(str(index) for index in indices)
        fewer = ""
        if result.get("requested_frames", result["frames"]) > result["frames"]:
            fewer = f" (of {result['requested_frames']} asked for: every motion shown once, no wrap to the first)"
        return (
            f"wrote {result['output']}: {result['frames']} frames{fewer}, {result['width']}x{result['height']} at "
            f"{result['video_fps']:g} fps ({result['frames'] / result['video_fps']:.1f} s; {motions}), "
            f"rendered in {result['seconds']:.1f} s ({result['render_fps']:.1f} frames/s)"
        )
    keys = f"; keys {' '.join(result['keys'])}" if result["keys"] else ""
    return (
        f"visualize: {result['frames']} frames shown; motion index {result['motion_index']}, "
        f"speed {result['speed']:.6g}, jerk threshold {result['threshold']:.6g}{keys}"
    )


@contextlib.contextmanager
def _g1_xml_from(robot_xml: Optional[str]) -> Iterator[None]:
    """Within the block, the G1 model is ``robot_xml`` (when given).

    The visualizer builds its robots by name, and a G1 built by name finds its model through
    ``$MIMIC_G1_XML``; setting the variable for the duration of the command (restored after, for
    in-process callers) hands ``--robot-xml`` to it without threading a path through the viewer.
    """
    from robots.g1 import G1_XML_ENV

    if not robot_xml:
        yield
        return
    previous = os.environ.get(G1_XML_ENV)
    os.environ[G1_XML_ENV] = robot_xml
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(G1_XML_ENV, None)
        else:
            os.environ[G1_XML_ENV] = previous


def _grid(args: argparse.Namespace) -> int:
    from evaluation.grid_video import render_grid
    from evaluation.rendering import configure_gl_backend

    configure_gl_backend()
    labels = _grid_labels(args.eval_dir, args.grid) if args.eval_dir else None
    result = render_grid(args.motion_files[0], args.motion_files[1], args.grid, args.output, labels=labels,
                         columns=args.columns)  # fmt: skip
    print(f"wrote {result['output']}: {len(args.grid)} clips, {result['width']}x{result['height']}, "
          f"{result['frames']} frames")  # fmt: skip
    return 0


def _grid_labels(eval_dir: str, indices: list) -> list:
    """One label per grid tile from a full-eval's per_motion.parquet: clip, tracked, E_g-mpjpe."""
    from pathlib import Path

    from evaluation.eval_outputs import read_per_motion_table

    rows = {int(row["motion_id"]): row for row in read_per_motion_table(Path(eval_dir) / "per_motion.parquet")}
    labels = []
    for index in indices:
        row = rows[int(index)]
        verdict = "tracked" if row["success"] else f"lost at frame {row['failure_frame']}"
        labels.append(f"{Path(str(row['file'])).stem[-40:]}: {verdict}, {float(row['e_g_mpjpe']):.0f} mm")
    return labels
