"""``policy``: ``mimic train`` on the train MotionLib, in its own process, through dagster-pipes.

The subprocess may run another Python (IsaacGym needs 3.8: :class:`pipelines.resources.TrainingPythonResource`).
The trainer reports through dagster-pipes (training/pipes_reporting.py): one log line per epoch
and, at the end, the materialisation with the final metrics, the checkpoint's path and md5 (the
data version) and its lineage. Terminating the Dagster run interrupts the trainer (SIGINT), which
saves last.ckpt and exits. Training resumes like the CLI: the same experiment name continues
its run directory.

dagster-pipes needs Python >= 3.10, so a training interpreter may lack it (IsaacGym's 3.8). The
asset asks that interpreter first (``python -c "import dagster_pipes"``); when the import
fails it runs the trainer as a plain subprocess, logs its output line by line, and then reads
the run directory: the same materialisation (metrics.csv's last row, the checkpoint's path,
md5 as data version, and its lineage) built on the Dagster side.
"""

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.errors import DagsterExecutionInterruptedError
from pydantic import Field

from assets.motionlibs import motionlib_train
from pipelines.resources import PathsResource, TrainingPythonResource
from training.run_layout import RunDir

#: How long the probe of the training interpreter may take (a cold conda env imports slowly).
PROBE_TIMEOUT_S = 120


class PolicyConfig(dg.Config):
    """``mimic train`` flags; small defaults (a CPU smoke run). 0 / empty: the experiment's value."""

    experiment_path: str = Field(default="training/experiments/mimic/mlp.py", description="experiment file")
    experiment_name: str = Field(default="dagster_policy", description="run directory: <results_root>/<name>/")
    robot_name: str = "smpl"
    simulator: str = Field(default="mujoco", description="mujoco, mjwarp or isaacgym (then a Python 3.8 env)")
    num_envs: int = 16
    max_epochs: int = 5
    batch_size: int = 0
    num_threads: int = 0
    seed: int = -1  # -1: the experiment's seed
    overrides: list[str] = Field(default=[], description='KEY=VALUE, e.g. "agent.num_steps=16"')


def train_command(config: PolicyConfig, python: TrainingPythonResource, motion_file: Path, results: Path) -> list[str]:
    arguments = [
        "train", "--experiment-path", config.experiment_path, "--experiment-name", config.experiment_name,
        "--robot-name", config.robot_name, "--simulator", config.simulator, "--motion-file", str(motion_file),
        "--num-envs", str(config.num_envs), "--max-epochs", str(config.max_epochs), "--results-dir", str(results),
    ]  # fmt: skip
    for flag, value in (("--batch-size", config.batch_size), ("--num-threads", config.num_threads)):
        if value > 0:
            arguments += [flag, str(value)]
    if config.seed >= 0:
        arguments += ["--seed", str(config.seed)]
    if config.overrides:
        arguments += ["--overrides", *config.overrides]
    return python.mimic_command(*arguments)


@dg.asset(
    deps=[motionlib_train],
    group_name="training",
    code_version="train-1",
    kinds={"pytorch", "mujoco"},
    description="PPO motion-imitation policy trained on motionlib_train (`mimic train`, launched with dagster-pipes); "
    "<results_root>/<experiment_name>/last.ckpt",
)
def policy(
    context: dg.AssetExecutionContext,
    config: PolicyConfig,
    paths: PathsResource,
    training_python: TrainingPythonResource,
    pipes_subprocess_client: dg.PipesSubprocessClient,
) -> dg.MaterializeResult:
    motion_file = paths.motionlib_file("train")
    if not motion_file.is_file():
        raise dg.Failure(f"no train MotionLib at {motion_file}: materialise motionlib_train first")
    command = train_command(config, training_python, motion_file, paths.results_dir)
    checkpoint = RunDir.for_experiment(paths.results_dir, config.experiment_name).last_checkpoint
    launch = {"command": dg.MetadataValue.text(" ".join(command)), "python": training_python.python_executable}
    cwd = training_python.working_directory
    if not imports_dagster_pipes(training_python.python_executable, cwd):
        context.log.warning(
            f"{training_python.python_executable} cannot import dagster_pipes: training without pipes, "
            "then reading the run directory"
        )
        context.log.info("running: " + " ".join(command))
        timeout = pipes_subprocess_client.termination_timeout_seconds
        run_logging_output(context, command, cwd, termination_timeout_s=timeout)
        return run_dir_materialisation(checkpoint, launch)
    context.log.info("running: " + " ".join(command))
    invocation = pipes_subprocess_client.run(context=context, command=command, cwd=cwd, env={"PYTHONUNBUFFERED": "1"})
    reported = [
        r for r in invocation.get_results(implicit_materializations=False) if isinstance(r, dg.MaterializeResult)
    ]
    if reported:
        final = reported[-1]
        return dg.MaterializeResult(metadata={**(final.metadata or {}), **launch}, data_version=final.data_version)
    context.log.warning("the trainer reported no materialisation through dagster-pipes; reading its run directory")
    return run_dir_materialisation(checkpoint, launch)


def imports_dagster_pipes(python: str, cwd: str) -> bool:
    """Whether ``python`` can import dagster_pipes (asked in a subprocess: it may be another env)."""
    probe = [python, "-c", "import dagster_pipes"]
    try:
        return subprocess.run(probe, cwd=cwd, capture_output=True, timeout=PROBE_TIMEOUT_S).returncode == 0
    except (OSError, subprocess.TimeoutExpired) as error:
        raise dg.Failure(f"the training Python {python} does not run: {error}") from error


def run_logging_output(
    context: dg.AssetExecutionContext, command: list[str], cwd: str, termination_timeout_s: float
) -> None:
    """Run ``command``, one Dagster log line per output line (stderr included); a terminated
    Dagster run sends SIGINT (the trainer saves last.ckpt) and waits, as the pipes client does."""
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        command, cwd=cwd, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    )
    tail: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            context.log.info(line.rstrip())
            tail = (tail + [line.rstrip()])[-20:]
        process.wait()
    except (DagsterExecutionInterruptedError, KeyboardInterrupt):
        context.log.info("execution interrupted, sending SIGINT to the trainer.")
        process.send_signal(signal.SIGINT)
        try:  # communicate, not wait: the trainer's last lines must not block on a full pipe
            remaining, _ = process.communicate(timeout=termination_timeout_s)
            for line in remaining.splitlines():
                context.log.info(line)
        except subprocess.TimeoutExpired:
            process.kill()
        raise
    if process.returncode != 0:
        raise dg.Failure(f"mimic train exited with status {process.returncode}", description="\n".join(tail))


def run_dir_materialisation(checkpoint: Path, launch: dict[str, Any]) -> dg.MaterializeResult:
    """The materialisation the trainer would have reported, read from its run directory."""
    from training.pipes_reporting import checkpoint_metadata

    if not checkpoint.is_file():
        raise dg.Failure(f"training wrote no checkpoint at {checkpoint}")
    metadata = {name: _metadata_value(entry) for name, entry in checkpoint_metadata(checkpoint, {}).items()}
    md5 = metadata["checkpoint_md5"]
    return dg.MaterializeResult(metadata={**metadata, **launch}, data_version=dg.DataVersion(md5))


def _metadata_value(entry: dict[str, Any]) -> Any:
    """A dagster-pipes ``{"raw_value", "type"}`` entry as Dagster metadata."""
    value, kind = entry["raw_value"], entry["type"]
    if kind == "path":
        return dg.MetadataValue.path(value)
    if kind == "json":
        return dg.MetadataValue.json(value)
    return value  # text, int, float: Dagster infers them
