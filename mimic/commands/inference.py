"""``mimic inference``: ProtoMotions-compatible policy inference and full evaluation."""

from __future__ import annotations

import argparse
import sys


def register_command(subparsers: argparse._SubParsersAction) -> None:
    from training.command_flags import INFERENCE_FLAGS, add_config_flags

    parser = subparsers.add_parser(
        "inference",
        help="run a policy: full evaluation of every motion (--full-eval), or continuously (viewer/headless)",
        description="Run a trained policy (--checkpoint) or a baseline (--agent oracle|zero|random). "
        "--full-eval runs every motion once from its start and writes <run>/eval/<timestamp>/.",
    )
    add = parser.add_argument
    add("--checkpoint", default=None, help="e.g. results/<name>/last.ckpt")
    add("--agent", default="policy", choices=["policy", "oracle", "zero", "random"],
        help="the checkpoint's policy (default) or a baseline that needs no checkpoint")  # fmt: skip
    add("--experiment-path", "--experiment_path", default=None,
        help="config for baselines (default training/experiments/mimic/mlp.py)")  # fmt: skip
    add_config_flags(parser, INFERENCE_FLAGS, "inference")
    add("--full-eval", "--full_eval", action="store_true", help="evaluate every motion once and write results")
    add("--max-frames", "--max_frames", type=int, default=None, help="full-eval: frames per motion (default all)")
    add("--headless", action="store_true", help="no viewer window")
    add("--steps", type=int, default=None,
        help="control steps without --full-eval (headless: 300; viewer: until the window closes)")  # fmt: skip
    add("--record", default=None, metavar="OUT.mp4", help="save a video of env 0 (headless run)")
    add("--output-dir", "--output_dir", default=None, help="full-eval results here instead of <run>/eval/<time>")
    add("--overrides", nargs="*", default=[], metavar="KEY=VALUE")
    add("--quiet", action="store_true")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from mimic.commands.train import import_isaacgym_first

    import_isaacgym_first(args.simulator)  # before any torch import (IsaacGym refuses to load after it)
    from evaluation.inference import DEFAULT_EXPERIMENT, InferenceOptions, run_inference
    from training.command_flags import INFERENCE_FLAGS, given_flag_values
    from training.overrides import OverrideError

    if args.record:
        from evaluation.rendering import configure_gl_backend

        configure_gl_backend()  # before anything imports mujoco
    options = InferenceOptions(
        checkpoint=args.checkpoint,
        agent=args.agent,
        experiment_path=args.experiment_path or DEFAULT_EXPERIMENT,
        flags=given_flag_values(args, INFERENCE_FLAGS),
        full_eval=args.full_eval,
        max_frames=args.max_frames,
        headless=args.headless,
        steps=args.steps,
        record=args.record,
        output_dir=args.output_dir,
        overrides=list(args.overrides),
        quiet=args.quiet,
    )
    try:
        return run_inference(options)
    # FileNotFoundError: no robot model; ImportError: a simulator backend that is not installed (says what to do)
    except (OverrideError, ValueError, FileNotFoundError, ImportError) as error:
        print(f"mimic inference: error: {error}", file=sys.stderr)
        return 2
