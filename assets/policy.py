"""``policy``: ``mimic train`` on the train MotionLib, in its own process, through dagster-pipes.

The subprocess may run another Python (IsaacGym needs 3.8: :class:`pipelines.resources.TrainingPythonResource`).
The trainer reports through dagster-pipes (training/pipes_reporting.py): one log line per epoch
and, at the end, the materialisation with the final metrics, the checkpoint's path and md5 (the
data version) and its lineage. Terminating the Dagster run interrupts the trainer (SIGINT), which
saves last.ckpt and exits. Training resumes like the CLI: the same experiment name continues
its run directory.
"""

from pathlib import Path

import dagster as dg
from pydantic import Field

from assets.hashing import output_md5
from assets.motionlibs import motionlib_train
from pipelines.resources import PathsResource, TrainingPythonResource


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
    context.log.info("running: " + " ".join(command))
    invocation = pipes_subprocess_client.run(
        context=context, command=command, cwd=training_python.working_directory, env={"PYTHONUNBUFFERED": "1"}
    )
    checkpoint = paths.results_dir / config.experiment_name / "last.ckpt"
    launch = {"command": dg.MetadataValue.text(" ".join(command)), "python": training_python.python_executable}
    reported = [
        r for r in invocation.get_results(implicit_materializations=False) if isinstance(r, dg.MaterializeResult)
    ]
    if reported:
        final = reported[-1]
        return dg.MaterializeResult(metadata={**(final.metadata or {}), **launch}, data_version=final.data_version)
    # The trainer did not report (its Python has no dagster-pipes): describe the checkpoint here.
    context.log.warning("the trainer reported no materialisation through dagster-pipes; hashing its checkpoint here")
    md5 = output_md5(checkpoint)
    return dg.MaterializeResult(
        metadata={**launch, "checkpoint": dg.MetadataValue.path(str(checkpoint)), "checkpoint_md5": md5},
        data_version=dg.DataVersion(md5),
    )
