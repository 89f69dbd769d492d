"""``mimic train``: ProtoMotions-compatible training command (same flags), plus baseline agents."""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import Optional


def register_command(subparsers: argparse._SubParsersAction) -> None:
    from training.command_flags import TRAIN_FLAGS, add_config_flags

    parser = subparsers.add_parser(
        "train",
        help="train a motion-imitation policy (PPO) on a MotionLib",
        description="Train (or resume: rerun the same command) a PPO mimic policy. Flags match ProtoMotions'; "
        "--agent oracle|zero|random runs a baseline instead of training.",
    )
    add = parser.add_argument
    add("--experiment-path", "--experiment_path", required=True, help="e.g. training/experiments/mimic/mlp.py")
    add("--experiment-name", "--experiment_name", required=True, help="run directory: results/<name>/")
    add_config_flags(parser, TRAIN_FLAGS, "train")
    add("--nodes", type=int, default=1, help="nodes of a torchrun run (outside torchrun: prints its command)")
    add("--overrides", nargs="*", default=[], metavar="KEY=VALUE", help='e.g. "agent.num_mini_epochs=4"')
    add("--checkpoint", default=None, help="warm start from these weights (ignored when resuming)")
    add("--use-wandb", "--use_wandb", action="store_true", help="log to Weights & Biases (offline without a key)")
    add("--results-dir", default="results")
    add("--agent", default="ppo", choices=["ppo", "oracle", "zero", "random"])
    add("--baseline-seconds", type=float, default=10.0, help="simulated seconds for --agent oracle|zero|random")
    add("--quiet", action="store_true", help="no per-epoch progress line")
    parser.set_defaults(handler=run)


def import_isaacgym_first(simulator: Optional[str]) -> None:
    """For ``--simulator isaacgym``: import IsaacGym now, before anything imports torch.

    IsaacGym refuses to load once torch is imported, and every ``training`` module imports torch,
    so this must run before the first of them. If the import fails, nothing is raised here: the
    backend raises the explanatory error (how to install IsaacGym Preview 4, Python 3.8) when the
    simulator is created. ``torch.multiprocessing`` ranks (``--ngpu`` > 1) import torch before
    any of our code runs; start IsaacGym ranks with torchrun instead (each is a fresh ``mimic``).
    """
    if simulator != "isaacgym" or "isaacgym.gymapi" in sys.modules:
        return
    # Any failure (not installed, wrong Python, missing libpython3.8) is reported with instructions
    # by training.simulator.isaacgym_backend when the simulator is created.
    with contextlib.suppress(Exception):
        from isaacgym import gymapi, gymtorch  # noqa: F401  (gymapi refuses to load after torch)


def run(args: argparse.Namespace) -> int:
    import_isaacgym_first(args.simulator)  # before any torch import
    from evaluation.training_evaluation import run_training_evaluation
    from training.command_flags import TRAIN_FLAGS, given_flag_values
    from training.overrides import OverrideError
    from training.trainer import TrainOptions, train

    options = TrainOptions(
        experiment_path=args.experiment_path,
        experiment_name=args.experiment_name,
        flags=given_flag_values(args, TRAIN_FLAGS),
        overrides=list(args.overrides),
        results_dir=args.results_dir,
        checkpoint=args.checkpoint,
        use_wandb=args.use_wandb,
        quiet=args.quiet,
        nodes=args.nodes,
        periodic_evaluation=run_training_evaluation,
    )
    try:
        if args.agent != "ppo":
            from training.baseline_run import run_baseline_command

            return run_baseline_command(options, args.agent, args.baseline_seconds)
        return train(options)
    # FileNotFoundError: no robot model; ImportError: a simulator backend that is not installed (says what to do)
    except (OverrideError, ValueError, FileNotFoundError, ImportError) as error:
        print(f"mimic train: error: {error}", file=sys.stderr)
        return 2
