"""The command-line flags that are shortcuts for config fields, for `mimic train` and `mimic inference`.

One table: each flag names the config field it sets, its Python type and its help for each command
that has it. argparse parses the value to that type and :func:`apply_flag_values` sets it on the
config as that typed value (type-checked by :func:`training.overrides.set_value`), so a value is
never turned back into ``key=value`` text and parsed a second time. ``--overrides`` stays the
general way to set any other field.

Flag names are ProtoMotions' (``--num-envs``); the underscore spelling (``--num_envs``) is accepted
too, as their scripts use it. Torch-free: the CLI builds its parsers from this before importing
anything heavy.
"""

from __future__ import annotations

import argparse
import copy
from dataclasses import dataclass
from typing import Any, List, Mapping, Optional, Sequence, Tuple


@dataclass(frozen=True)
class ConfigFlag:
    """``--<dest>`` sets ``config_key`` (a dotted path into :class:`training.config.ExperimentConfig`)."""

    dest: str
    config_key: str
    type: type
    train_help: Optional[str]  # None: not a `mimic train` flag
    inference_help: Optional[str] = None  # None: not a `mimic inference` flag
    metavar: Optional[str] = None

    @property
    def option(self) -> str:
        return "--" + self.dest.replace("_", "-")

    @property
    def spellings(self) -> Tuple[str, ...]:
        underscored = "--" + self.dest
        return (self.option,) if underscored == self.option else (self.option, underscored)


_G1_XML_DEFAULT = "$MIMIC_G1_XML, else the mujoco-menagerie package's"

CONFIG_FLAGS: Tuple[ConfigFlag, ...] = (
    ConfigFlag(
        "robot_name",
        "robot_name",
        str,
        "robot (default from the experiment: smpl)",
        "robot: smpl, g1 (default: the checkpoint's; given with a checkpoint, it must be the checkpoint's)",
    ),
    ConfigFlag(
        "robot_xml",
        "robot_xml",
        str,
        f"robot MJCF for g1 (default: {_G1_XML_DEFAULT})",
        f"robot MJCF for g1 (default: the checkpoint's, else {_G1_XML_DEFAULT})",
    ),
    ConfigFlag(
        "simulator",
        "simulator",
        str,
        "physics backend: mujoco (default), mjwarp, isaacgym",
        "physics backend (default: the checkpoint's)",
    ),
    ConfigFlag(
        "device",
        "device",
        str,
        "auto (default: mjwarp/isaacgym on this rank's GPU if any), cpu, cuda, cuda:k",
        "auto, cpu, cuda, cuda:k (default: the checkpoint's)",
    ),
    ConfigFlag(
        "motion_file",
        "motion_file",
        str,
        "MotionLib .pt (a path with 'slurmrank' is sharded)",
        "MotionLib .pt (default: the training one)",
    ),
    ConfigFlag("num_envs", "num_envs", int, "environments per rank", "parallel envs (full-eval batches of this many)"),
    ConfigFlag("batch_size", "agent.batch_size", int, "PPO minibatch size per rank"),
    ConfigFlag("ngpu", "ngpu", int, "data-parallel ranks (processes) on this machine"),
    ConfigFlag("seed", "seed", int, "seed of this run (rank r uses seed + r)"),
    ConfigFlag(
        "num_threads",
        "num_threads",
        int,
        "CPU simulator threads per rank (default: cores / ranks)",
        "CPU simulator threads",
    ),
    ConfigFlag("training_max_steps", "agent.training_max_steps", int, "total env steps"),
    ConfigFlag("max_epochs", "agent.max_epochs", int, "stop after this many epochs"),
)

TRAIN_FLAGS: Tuple[ConfigFlag, ...] = tuple(flag for flag in CONFIG_FLAGS if flag.train_help is not None)
INFERENCE_FLAGS: Tuple[ConfigFlag, ...] = tuple(flag for flag in CONFIG_FLAGS if flag.inference_help is not None)


def flag_by_dest(dest: str) -> ConfigFlag:
    for flag in CONFIG_FLAGS:
        if flag.dest == dest:
            return flag
    raise KeyError(f"no config flag --{dest}; known: {', '.join(flag.dest for flag in CONFIG_FLAGS)}")


def add_config_flags(parser: argparse.ArgumentParser, flags: Sequence[ConfigFlag], command: str) -> None:
    """Add ``flags`` to ``parser`` with ``command``'s help ("train" or "inference"); default None = not given."""
    for flag in flags:
        text = flag.train_help if command == "train" else flag.inference_help
        parser.add_argument(*flag.spellings, dest=flag.dest, type=flag.type, default=None, help=text)


def given_flag_values(args: argparse.Namespace, flags: Sequence[ConfigFlag]) -> dict:
    """``{dest: value}`` of the ``flags`` given on the command line (None means not given)."""
    return {flag.dest: getattr(args, flag.dest) for flag in flags if getattr(args, flag.dest, None) is not None}


def apply_flag_values(config: Any, flags: Sequence[ConfigFlag], values: Mapping[str, Any]) -> Any:
    """A copy of ``config`` with each given flag's typed value set on its field (None: left alone).

    Raises :class:`training.overrides.OverrideError` for a value of the wrong type, and
    ``KeyError`` for a dest that is not one of ``flags`` (a caller's bug, not a user's).
    """
    from training.overrides import set_value

    known = {flag.dest: flag for flag in flags}
    result = copy.deepcopy(config)
    for dest, value in values.items():
        if dest not in known:
            raise KeyError(f"--{dest} is not one of this command's config flags")
        if value is not None:
            set_value(result, known[dest].config_key, value)
    return result


def flag_arguments(flags: Sequence[ConfigFlag], values: Mapping[str, Any]) -> List[str]:
    """Command-line arguments that give ``values`` again (e.g. for a torchrun command line)."""
    arguments: List[str] = []
    for flag in flags:
        value = values.get(flag.dest)
        if value is not None:
            arguments += [flag.option, str(value)]
    return arguments
