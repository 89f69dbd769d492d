"""``evaluation``: full evaluation (``mimic inference --full-eval``) of a checkpoint on the
validation and/or test MotionLibs, each split in its own process through dagster-pipes.

Outputs: ``<checkpoint folder>/eval/dagster-<run id[:8]>/<split>/`` (summary.json,
per_motion.parquet, failed_motions.txt, plots/). Metadata: per split the success rate, the mean
of every metric, the plots (paths, and the images inline as markdown); the md5 of the output
folder (DVC's scheme) is the data version.
"""

import base64
import json
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from assets.checkpoints import newest_checkpoint
from assets.motionlibs import motionlib_test, motionlib_val
from assets.policy import policy
from pipelines.resources import PathsResource, TrainingPythonResource
from training.dvc_records import output_md5
from training.run_layout import PLOTS_DIR, RunDir

#: the checkpoint config values that are not paths
POLICY_CHECKPOINT, NEWEST_CHECKPOINT = "", "newest"
PLOTS = ("error_histogram", "success_by_subset")


class EvaluationConfig(dg.Config):
    checkpoint: str = Field(
        default=POLICY_CHECKPOINT,
        description="'' = the policy asset's latest checkpoint; 'newest' = the newest *.ckpt under the results root; "
        "else a checkpoint path",
    )
    splits: list[str] = Field(default=["validation", "test"], description="MotionLib splits to evaluate on")
    num_envs: int = Field(default=0, description="parallel envs (0: the checkpoint's)")
    max_frames: int = Field(default=0, description="frames per motion (0: all)")
    num_threads: int = Field(default=0, description="simulator threads (0: default)")


def evaluation_run_config(checkpoint: str, splits: list[str]) -> dict[str, Any]:
    """Run config of ``evaluation_job`` evaluating ``checkpoint`` on ``splits`` (schedules, sensors)."""
    return {"ops": {"evaluation": {"config": {"checkpoint": checkpoint, "splits": list(splits)}}}}


def resolve_checkpoint(context: dg.AssetExecutionContext, config: EvaluationConfig, paths: PathsResource) -> Path:
    if config.checkpoint == NEWEST_CHECKPOINT:
        newest = newest_checkpoint(paths.results_dir)
        if newest is None:
            raise dg.Failure(f"checkpoint 'newest': no *.ckpt under {paths.results_dir}")
        return Path(newest.path)
    if config.checkpoint != POLICY_CHECKPOINT:
        return Path(config.checkpoint).expanduser().resolve()
    event = context.instance.get_latest_materialization_event(policy.key)
    entry = event.asset_materialization.metadata.get("checkpoint") if event and event.asset_materialization else None
    if entry is None:
        raise dg.Failure("no checkpoint: materialise `policy` first, or set config checkpoint (a path or 'newest')")
    return Path(str(entry.value))


def _plots_markdown(plots: dict[str, Path]) -> str:
    """The PNGs inline (data URIs), so the asset page shows them without a file server."""
    parts = []
    for name, path in plots.items():
        encoded = base64.b64encode(path.read_bytes()).decode("ascii")
        parts.append(f"**{name}**\n\n![{name}](data:image/png;base64,{encoded})")
    return "\n\n".join(parts)


def split_metadata(split: str, out_dir: Path) -> dict[str, Any]:
    """Metadata entries ``<split>/...`` from one full-eval output folder."""
    summary = json.loads((out_dir / "summary.json").read_text())
    metadata: dict[str, Any] = {
        f"{split}/success_rate": float(summary["Eval/success_rate"]),
        f"{split}/num_motions": int(summary["num_motions"]),
        f"{split}/num_success": int(summary["num_success"]),
        f"{split}/motion_file_md5": str(summary.get("motion_file_md5", "")),
        # "(train clips: no held-out data in ...)" when the split's MotionLib stands in with train clips
        f"{split}/held_out": not summary.get("motion_lib_label"),
        **({f"{split}/label": summary["motion_lib_label"]} if summary.get("motion_lib_label") else {}),
    }
    for name, value in summary["all"].items():
        if value is not None:
            metadata[f"{split}/{name}"] = float(value)
    plots = {name: out_dir / PLOTS_DIR / f"{name}.png" for name in PLOTS}
    plots = {name: path for name, path in plots.items() if path.is_file()}
    for name, path in plots.items():
        metadata[f"{split}/plot_{name}"] = dg.MetadataValue.path(str(path))
    if plots:
        metadata[f"{split}/plots"] = dg.MetadataValue.md(_plots_markdown(plots))
    return metadata


def inference_command(
    config: EvaluationConfig, python: TrainingPythonResource, checkpoint: Path, motion_file: Path, out_dir: Path
) -> list[str]:
    arguments = [
        "inference", "--checkpoint", str(checkpoint), "--full-eval", "--motion-file", str(motion_file),
        "--output-dir", str(out_dir),
    ]  # fmt: skip
    for flag, value in (("--num-envs", config.num_envs), ("--max-frames", config.max_frames)):
        if value > 0:
            arguments += [flag, str(value)]
    if config.num_threads > 0:
        arguments += ["--num-threads", str(config.num_threads)]
    return python.mimic_command(*arguments)


@dg.asset(
    deps=[policy, motionlib_val, motionlib_test],
    group_name="evaluation",
    code_version="full-eval-1",
    kinds={"mujoco"},
    description="Full evaluation (`mimic inference --full-eval`) of a checkpoint on the validation/test MotionLibs: "
    "success rate and metrics as metadata, plots attached.",
)
def evaluation(
    context: dg.AssetExecutionContext,
    config: EvaluationConfig,
    paths: PathsResource,
    training_python: TrainingPythonResource,
    pipes_subprocess_client: dg.PipesSubprocessClient,
) -> dg.MaterializeResult:
    checkpoint = resolve_checkpoint(context, config, paths)
    if not checkpoint.is_file():
        raise dg.Failure(f"checkpoint {checkpoint} does not exist")
    root = RunDir(checkpoint.parent).eval_root / f"dagster-{context.run.run_id[:8]}"
    metadata: dict[str, Any] = {"checkpoint": dg.MetadataValue.path(str(checkpoint))}
    metadata["checkpoint_md5"] = output_md5(checkpoint)
    for split in config.splits:
        motion_file = paths.motionlib_file(split)
        if not motion_file.is_file():
            raise dg.Failure(f"no {split} MotionLib at {motion_file}: materialise its motionlib asset first")
        out_dir = root / split
        command = inference_command(config, training_python, checkpoint, motion_file, out_dir)
        context.log.info("running: " + " ".join(command))
        pipes_subprocess_client.run(context=context, command=command, cwd=training_python.working_directory)
        metadata.update(split_metadata(split, out_dir))
    md5 = output_md5(root)
    metadata.update(
        {"path": dg.MetadataValue.path(str(root)), "md5": md5, "splits": dg.MetadataValue.json(config.splits)}
    )
    return dg.MaterializeResult(metadata=metadata, data_version=dg.DataVersion(md5))
