"""``mimic``: the command line. Each command is a thin driver over a library function.

Command modules live in :mod:`mimic.commands`; each exposes ``register(subparsers)`` that adds
its sub-commands to a group and sets ``handler`` on them. Heavy imports (torch, mujoco) happen
inside handlers so ``mimic --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Dict, List, Optional, Sequence, Tuple

from motion.console_logging import configure_console_logging
from motion.errors import InputError, OutputWriteError

#: Exit status when an output cannot be written (sysexits' EX_IOERR); bad input exits with 2.
EXIT_WRITE_ERROR = 74

#: group name → (help, command modules that add sub-commands to it)
COMMAND_GROUPS: Dict[str, Tuple[str, Tuple[str, ...]]] = {
    "amass": ("AMASS archives: download, stage, convert, fetch samples, synthesize clips",
              ("mimic.commands.amass_convert", "mimic.commands.amass_data", "mimic.commands.amass_download",
               "mimic.commands.amass_stage")),
    "motionlib": ("package, check and inspect MotionLib .pt files",
                  ("mimic.commands.motionlib", "mimic.commands.motionlib_check",
                   "mimic.commands.motionlib_difficulty")),
    "humanoid": ("build the SMPL humanoid MJCF", ("mimic.commands.humanoid",)),
    "checkpoint": ("compact checkpoints for committing or shipping", ("mimic.commands.checkpoint",)),
}  # fmt: skip

#: top-level commands (no sub-command): name → module exposing ``register_command(subparsers)``
TOP_LEVEL_COMMANDS: Dict[str, str] = {
    "train": "mimic.commands.train",
    "visualize": "mimic.commands.visualize",
    "inference": "mimic.commands.inference",
    "report": "mimic.commands.report",
    "lineage": "mimic.commands.lineage",
    "retarget": "mimic.commands.retarget",
}


def package_version() -> str:
    """The installed mimicflow distribution's version ("unknown" when run from an uninstalled checkout)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mimicflow")
    except PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mimic", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"mimicflow {package_version()}")
    groups = parser.add_subparsers(dest="group", metavar="<command>", required=True)
    for name, (help_text, modules) in COMMAND_GROUPS.items():
        group = groups.add_parser(name, help=help_text, description=help_text)
        commands = group.add_subparsers(dest="command", metavar="<subcommand>", required=True)
        for module_name in modules:
            importlib.import_module(module_name).register(commands)
    for module_name in TOP_LEVEL_COMMANDS.values():
        importlib.import_module(module_name).register_command(groups)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    configure_console_logging()  # the library's INFO lines to stdout, warnings to stderr
    try:
        result = args.handler(args)
    except InputError as error:  # bad motion data, checkpoint, config or results file
        print(f"mimic: error: {error}", file=sys.stderr)
        return 2
    except OutputWriteError as error:  # disk full, read-only, ...: the user's to fix, so one line
        print(f"mimic: error: {error}", file=sys.stderr)
        return EXIT_WRITE_ERROR
    except KeyboardInterrupt:
        print("mimic: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


def split_list(values: Optional[List[str]]) -> List[str]:
    """Flatten ``--flag a b --flag c,d`` style values into ``[a, b, c, d]``."""
    flat: List[str] = []
    for value in values or []:
        flat.extend(part for part in value.split(",") if part)
    return flat


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
