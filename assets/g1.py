"""``g1_motions`` and ``motionlib_g1``: the training MotionLib retargeted to the Unitree G1 (stage [5/6]).

One computation makes both (a multi-asset), because :func:`retarget.batch.retarget_motion_lib`
writes them in one pass, exactly as ``mimic retarget --motion-file amass_train.pt --robot g1
--output-file g1_train.pt`` (and the DVC ``retarget@train`` stage) does:

- ``g1_motions``: one G1 ``.motion`` per motion, ``<data_root>/dagster/g1_motions/train/``, with
  the quality report (``g1_train.quality.parquet`` + ``g1_train.quality_summary.json`` beside the
  MotionLib). Metadata: the aggregate quality; data version: the folder's DVC ``.dir`` md5.
- ``motionlib_g1``: those motions packaged, ``<data_root>/dagster/motionlib/g1_train.pt``;
  data version: its md5.

Only the train split is retargeted: G1 training reads it, and retargeting costs about an hour
per 3.7 M frames on 16 cores, so validation/test are left for when a G1 evaluation needs them.

The ``quality`` check reads the summary JSON, so it can be rerun on its own.
"""

import json
import shutil
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from assets.motionlibs import motionlib_train
from pipelines.resources import G1ModelResource, PathsResource
from retarget.quality import METRIC_COLUMNS, QualityThresholds, quality_problems
from training.dvc_records import output_md5

#: The SMPL split retargeted (see the module docstring).
G1_SPLIT = "train"
G1_MOTIONS_KEY = dg.AssetKey("g1_motions")
MOTIONLIB_G1_KEY = dg.AssetKey("motionlib_g1")
# Bump when what the assets compute changes (retarget/ library or this wrapper).
CODE_VERSION = "g1-retarget-v1"


class G1RetargetConfig(dg.Config):
    robot_xml: str = Field(default="", description="G1 MJCF path ('' = the g1_model resource's)")
    workers: int = Field(default=1, description="retargeting processes")
    max_frames: int | None = Field(default=None, description="retarget only the first N frames (None: all)")


def quality_summary_file(paths: PathsResource) -> Path:
    output = paths.g1_motionlib_file(G1_SPLIT)
    return output.with_name(f"{output.stem}.quality_summary.json")


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            G1_MOTIONS_KEY,
            deps=[motionlib_train],
            group_name="retargeting",
            code_version=CODE_VERSION,
            kinds={"mujoco"},
            description="The train MotionLib's motions retargeted to the Unitree G1 (mink IK, `mimic retarget`): "
            "one G1 .motion each under <data_root>/dagster/g1_motions/train/, with the quality report.",
        ),
        dg.AssetSpec(
            MOTIONLIB_G1_KEY,
            deps=[G1_MOTIONS_KEY],
            group_name="retargeting",
            code_version=CODE_VERSION,
            kinds={"pytorch"},
            description="The G1 motions packaged as a MotionLib (`mimic train --robot-name g1 --motion-file`): "
            "<data_root>/dagster/motionlib/g1_train.pt.",
        ),
    ],
    can_subset=False,
)
def g1_retargeting(
    context: dg.AssetExecutionContext, config: G1RetargetConfig, paths: PathsResource, g1_model: G1ModelResource
):
    from retarget.batch import retarget_motion_lib
    from retarget.ik import RetargetParams

    source = paths.motionlib_file(G1_SPLIT)
    if not source.is_file():
        raise dg.Failure(f"no SMPL MotionLib at {source}: materialise motionlib_train first")
    output = paths.g1_motionlib_file(G1_SPLIT)
    motions_dir = paths.g1_motions_dir(G1_SPLIT)
    # The folder's md5 is the data version: motions of an earlier, larger run must not linger.
    shutil.rmtree(motions_dir, ignore_errors=True)
    report = retarget_motion_lib(
        source,
        output,
        robot_xml=g1_model.xml_path(config.robot_xml),
        workers=config.workers,
        out_dir=motions_dir,
        params=RetargetParams(max_frames=config.max_frames or 0),
    )
    for name, error in report.failures:
        context.log.warning(f"could not retarget {name}: {error}")
    if not report.quality:
        raise dg.Failure(f"no motion of {source} could be retargeted; first error: {report.failures[0][1]}")
    summary = json.loads(report.report_files["summary"].read_text())
    aggregate = summary["aggregate"]
    context.log.info(
        f"retargeted {aggregate['num_motions']} motions ({aggregate['num_frames']} frames) in {report.seconds:.1f} s; "
        f"keypoint error {aggregate['keypoint_error_mean_mm']:.1f} mm mean, "
        f"{aggregate['joint_limit_violations']} joint-limit violations"
    )
    motions_md5, library_md5 = output_md5(motions_dir), output_md5(output)
    quality: dict[str, Any] = {key: aggregate[key] for key in METRIC_COLUMNS}
    yield dg.MaterializeResult(
        asset_key=G1_MOTIONS_KEY,
        metadata={
            "path": dg.MetadataValue.path(str(motions_dir)),
            "md5": motions_md5,
            "source_motionlib": dg.MetadataValue.path(str(source)),
            "robot_xml": dg.MetadataValue.path(str(summary["robot_xml"])),
            "num_motions": aggregate["num_motions"],
            "num_frames": aggregate["num_frames"],
            **quality,
            "failed_motions": dg.MetadataValue.json(summary["failures"]),
            "quality_parquet": dg.MetadataValue.path(str(report.report_files["parquet"])),
            "quality_summary": dg.MetadataValue.path(str(report.report_files["summary"])),
            "seconds": report.seconds,
            "retarget_params": dg.MetadataValue.json(summary["params"]),
        },
        data_version=dg.DataVersion(motions_md5),
    )
    yield dg.MaterializeResult(
        asset_key=MOTIONLIB_G1_KEY,
        metadata={
            "path": dg.MetadataValue.path(str(output)),
            "md5": library_md5,
            "num_motions": aggregate["num_motions"],
            "num_frames": aggregate["num_frames"],
            "size_bytes": output.stat().st_size,
        },
        data_version=dg.DataVersion(library_md5),
    )


class G1QualityConfig(dg.Config):
    """The Dagster run config of :class:`retarget.quality.QualityThresholds`."""

    min_foot_height_mm: float = Field(
        default=QualityThresholds().min_foot_height_mm, description="lowest allowed sole point over all motions (mm)"
    )


@dg.asset_check(
    asset=G1_MOTIONS_KEY,
    name="quality",
    description="no joint-limit violation, feet never below -5 mm, no motion that failed to retarget",
)
def g1_quality(config: G1QualityConfig, paths: PathsResource) -> dg.AssetCheckResult:
    path = quality_summary_file(paths)
    if not path.is_file():
        return dg.AssetCheckResult(
            passed=False, metadata={"reason": f"no quality summary at {path}: materialise g1_motions"}
        )
    summary = json.loads(path.read_text())
    aggregate = summary["aggregate"]
    problems = quality_problems(summary, QualityThresholds(min_foot_height_mm=config.min_foot_height_mm))
    return dg.AssetCheckResult(
        passed=not problems,
        metadata={
            "quality_summary": dg.MetadataValue.path(str(path)),
            "joint_limit_violations": aggregate["joint_limit_violations"],
            "min_foot_height_mm": aggregate["min_foot_height_mm"],
            "min_foot_height_limit_mm": config.min_foot_height_mm,
            "failed_motions": len(summary["failures"]),
            "problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in problems) or "none"),
        },
    )


G1_ASSETS = (g1_retargeting,)
G1_CHECKS = (g1_quality,)
