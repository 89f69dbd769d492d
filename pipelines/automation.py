"""Jobs, the nightly evaluation schedule and the new-checkpoint sensor.

Every selection is built from asset objects (``AssetSelection.assets(...)``), never from a
selection string: string selections go through Dagster's ANTLR parser, which breaks when
another package pins antlr4 4.9 (dagster#27487).
"""

import os

import dagster as dg

from assets.amass import amass_archives, amass_motions
from assets.checkpoints import CheckpointStamp, newest_checkpoint
from assets.evaluation import evaluation, evaluation_run_config
from assets.g1 import G1_ASSETS
from assets.motionlibs import MOTIONLIB_ASSETS
from assets.policy import policy
from pipelines.resources import PathsResource

NIGHTLY_CRON = "0 2 * * *"
#: IANA name; the schedule's timezone comes from this environment variable when set.
NIGHTLY_TIMEZONE_ENV = "MIMIC_NIGHTLY_TIMEZONE"
NIGHTLY_SPLITS = ["test"]
#: New checkpoints are evaluated on validation (model selection); test is the nightly's.
SENSOR_SPLITS = ["validation"]
CHECKPOINT_TAG = "mimic/checkpoint"

amass_subset_job = dg.define_asset_job(
    "amass_subset_job",
    selection=dg.AssetSelection.assets(amass_archives, amass_motions),
    description="One AMASS subset (partition): fetch/stage its clips and convert them to .motion files.",
)
amass_chain_job = dg.define_asset_job(
    "amass_chain_job",
    selection=dg.AssetSelection.assets(amass_archives, amass_motions, *MOTIONLIB_ASSETS),
    description="A subset's clips → .motion files → the three split MotionLibs (pick the partition, e.g. samples).",
)
motionlib_job = dg.define_asset_job(
    "motionlib_job",
    selection=dg.AssetSelection.assets(*MOTIONLIB_ASSETS),
    description="Package the train/validation/test MotionLibs from every converted subset.",
)
training_job = dg.define_asset_job(
    "training_job", selection=dg.AssetSelection.assets(policy), description="Train the policy (mimic train)."
)
evaluation_job = dg.define_asset_job(
    "evaluation_job",
    selection=dg.AssetSelection.assets(evaluation),
    description="Full evaluation of a checkpoint: a new `evaluation` materialisation.",
)
g1_job = dg.define_asset_job(
    "g1_job",
    selection=dg.AssetSelection.assets(*G1_ASSETS),
    description="Retarget the train MotionLib to the Unitree G1: g1_motions + motionlib_g1 and the quality check "
    "(the G1 model from the g1_model resource, $MIMIC_G1_XML or mujoco-menagerie).",
)
JOBS = (amass_subset_job, amass_chain_job, motionlib_job, training_job, evaluation_job, g1_job)


def nightly_timezone() -> str:
    return os.environ.get(NIGHTLY_TIMEZONE_ENV, "").strip() or "UTC"


def _evaluation_request(newest: CheckpointStamp, splits: list[str], run_key: str | None) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=run_key, run_config=evaluation_run_config(newest.path, splits), tags={CHECKPOINT_TAG: newest.path}
    )


def make_nightly_evaluation_schedule(timezone: str = "UTC") -> dg.ScheduleDefinition:
    """At 02:00 in ``timezone``: evaluate the newest checkpoint under the results root on the test split."""

    @dg.schedule(
        name="nightly_evaluation",
        job=evaluation_job,
        cron_schedule=NIGHTLY_CRON,
        execution_timezone=timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Nightly full evaluation of the newest checkpoint on the test MotionLib ({NIGHTLY_CRON}, "
        f"{timezone}; set {NIGHTLY_TIMEZONE_ENV} to change the timezone).",
    )
    def nightly_evaluation(context: dg.ScheduleEvaluationContext, paths: PathsResource):
        newest = newest_checkpoint(paths.results_dir)
        if newest is None:
            return dg.SkipReason(f"no *.ckpt under {paths.results_dir} yet")
        return _evaluation_request(newest, NIGHTLY_SPLITS, run_key=None)

    return nightly_evaluation


@dg.sensor(
    name="new_checkpoint_evaluation",
    job=evaluation_job,
    minimum_interval_seconds=120,
    description="Evaluate (validation split) the newest checkpoint under the results root whenever a newer one "
    "appears. Cursor: the newest (mtime, path) seen.",
)
def new_checkpoint_evaluation(context: dg.SensorEvaluationContext, paths: PathsResource):
    seen = CheckpointStamp.from_cursor(context.cursor)
    newest = newest_checkpoint(paths.results_dir)
    if newest is None or (seen is not None and newest <= seen):
        return dg.SkipReason(f"no checkpoint newer than {seen.path if seen else 'none'} under {paths.results_dir}")
    request = _evaluation_request(newest, SENSOR_SPLITS, run_key=f"{newest.path}@{newest.mtime_ns}")
    return dg.SensorResult(run_requests=[request], cursor=newest.to_cursor())
