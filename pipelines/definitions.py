"""``defs``: the mimicflow Dagster code location (loaded through workspace.yaml).

Graph: amass_archives → amass_motions (one partition per AMASS subset, plus ``samples``) →
motionlib_train / motionlib_val / motionlib_test → policy → evaluation; motionlib_train →
g1_motions → motionlib_g1 (retargeting to the Unitree G1, one computation).

Environment read at load time: ``AMASS_USERNAME`` / ``AMASS_PASSWORD`` (download mode; passed as
``dagster.EnvVar`` so their values are never shown), ``MIMIC_G1_XML`` (the G1 MJCF that
retargeting targets; the ``g1_model`` resource's default), ``MIMIC_TRAIN_PYTHON`` (the interpreter
for ``mimic train`` / ``mimic inference``, e.g. an IsaacGym Python 3.8), ``MIMIC_NIGHTLY_TIMEZONE``
(the nightly schedule's timezone, default UTC), ``MIMIC_DATA_ROOT`` / ``MIMIC_RESULTS_ROOT`` (the
``paths`` resource's folders, default ``data`` / ``results`` in the repository).
"""

import os
import sys
import warnings

import dagster as dg

from assets.amass import amass_archives, amass_motions
from assets.checks import MOTIONLIB_INTEGRITY_CHECKS, evaluation_success_rate
from assets.evaluation import evaluation
from assets.g1 import G1_ASSETS, G1_CHECKS
from assets.motionlibs import MOTIONLIB_ASSETS
from assets.policy import policy
from pipelines.automation import JOBS, make_nightly_evaluation_schedule, new_checkpoint_evaluation, nightly_timezone
from pipelines.resources import (
    REPO_ROOT,
    AmassCredentialsResource,
    G1ModelResource,
    PathsResource,
    TrainingPythonResource,
)

# Dagster's own PipesSubprocessClient reads a preview-marked property of its message reader when
# every session opens (dagster 1.13), so each training and evaluation run printed a
# PreviewWarning about Dagster's internals that no user of this code location can act on.
warnings.filterwarnings(
    "ignore", message=r"Function `PipesMessageReader\.expected_writer_count` is currently in preview",
    category=dg.PreviewWarning,
)  # fmt: skip


def amass_credentials_from_env() -> AmassCredentialsResource:
    """EnvVar-backed credentials when both variables are set; else empty (download mode then
    fails with a message saying what to set), so runs that never download do not need them."""
    if os.environ.get("AMASS_USERNAME") and os.environ.get("AMASS_PASSWORD"):
        return AmassCredentialsResource(username=dg.EnvVar("AMASS_USERNAME"), password=dg.EnvVar("AMASS_PASSWORD"))
    return AmassCredentialsResource()


def build_resources() -> dict[str, object]:
    return {
        "paths": PathsResource(
            data_root=os.environ.get("MIMIC_DATA_ROOT", "").strip() or "data",
            results_root=os.environ.get("MIMIC_RESULTS_ROOT", "").strip() or "results",
        ),
        "training_python": TrainingPythonResource(
            python_executable=os.environ.get("MIMIC_TRAIN_PYTHON", "").strip() or sys.executable,
            working_directory=str(REPO_ROOT),
        ),
        "amass_credentials": amass_credentials_from_env(),
        "g1_model": G1ModelResource(robot_xml=os.environ.get("MIMIC_G1_XML", "").strip()),
        # forward_termination: terminating the run interrupts the trainer (it saves last.ckpt).
        "pipes_subprocess_client": dg.PipesSubprocessClient(cwd=str(REPO_ROOT), forward_termination=True),
    }


defs = dg.Definitions(
    assets=[amass_archives, amass_motions, *MOTIONLIB_ASSETS, policy, evaluation, *G1_ASSETS],
    asset_checks=[*MOTIONLIB_INTEGRITY_CHECKS, evaluation_success_rate, *G1_CHECKS],
    jobs=list(JOBS),
    schedules=[make_nightly_evaluation_schedule(nightly_timezone())],
    sensors=[new_checkpoint_evaluation],
    resources=build_resources(),
)
