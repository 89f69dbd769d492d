"""The Dagster code location: it loads, every job/schedule/sensor resolves, selections come from
asset objects, output hashes equal DVC's, and the schedule and sensor request the right runs."""

from __future__ import annotations

import ast
import hashlib
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import pytest

from assets.checkpoints import CheckpointStamp
from assets.evaluation import evaluation
from pipelines.automation import JOBS, make_nightly_evaluation_schedule, new_checkpoint_evaluation
from pipelines.definitions import defs
from pipelines.resources import PathsResource
from training.dvc_records import directory_md5, output_md5

ASSET_NAMES = {
    "amass_archives", "amass_motions", "motionlib_train", "motionlib_val", "motionlib_test", "policy",
    "evaluation", "g1_motions", "motionlib_g1",
}  # fmt: skip


def test_definitions_load_and_every_job_schedule_sensor_resolves():
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    assert {key.to_user_string() for key in graph.get_all_asset_keys()} == ASSET_NAMES
    expected_jobs = {
        "amass_subset_job": {"amass_archives", "amass_motions"},
        "amass_chain_job": {"amass_archives", "amass_motions", "motionlib_train", "motionlib_val", "motionlib_test"},
        "motionlib_job": {"motionlib_train", "motionlib_val", "motionlib_test"},
        "training_job": {"policy"},
        "evaluation_job": {"evaluation"},
        "g1_job": {"g1_motions", "motionlib_g1"},
    }
    assert {job.name for job in JOBS} == set(expected_jobs)
    for name, assets in expected_jobs.items():
        job = defs.resolve_job_def(name)
        selected = {key.to_user_string() for key in job.asset_layer.asset_graph.executable_asset_keys}
        assert selected == assets, name
    # Checks run with their assets: the evaluation job carries the success-rate check.
    checks = defs.resolve_job_def("evaluation_job").asset_layer.asset_graph.asset_check_keys
    assert {check.name for check in checks} == {"success_rate"}
    schedule = defs.resolve_schedule_def("nightly_evaluation")
    assert schedule.cron_schedule == "0 2 * * *" and schedule.execution_timezone == "UTC"
    assert schedule.job_name == "evaluation_job"
    sensor = defs.resolve_sensor_def("new_checkpoint_evaluation")
    assert sensor.job_name == "evaluation_job"


def test_timezone_is_configurable():
    assert make_nightly_evaluation_schedule("Europe/Berlin").execution_timezone == "Europe/Berlin"


def test_every_asset_has_a_code_version_and_is_materialisable():
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        assert graph.get(key).code_version, key
        assert graph.get(key).is_materializable, key
    assert graph.get(dg.AssetKey("g1_motions")).parent_keys == {dg.AssetKey("motionlib_train")}


def test_selections_are_never_strings():
    """dagster#27487: no selection string anywhere in the code location (they need antlr)."""
    root = Path(__file__).resolve().parent.parent
    for path in sorted([*root.joinpath("pipelines").rglob("*.py"), *root.joinpath("assets").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call):
                for keyword in node.keywords:
                    if keyword.arg == "selection":
                        assert not isinstance(keyword.value, (ast.Constant, ast.JoinedStr, ast.List)), path
                name = getattr(node.func, "attr", "")
                assert name != "from_string", f"{path}:{node.lineno}: AssetSelection.from_string"


def test_directory_md5_is_dvcs(tmp_path):
    # The same three files as a `dvc add` run (DVC 3.67.1) that recorded md5 9c55594c...dir.
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_bytes(b"hello\n")
    (tmp_path / "sub" / "b.bin").write_bytes(b"x")
    (tmp_path / "sub" / "c.txt").write_bytes(b"zz\r\n")  # DVC 3 hashes raw bytes (no dos2unix)
    assert directory_md5(tmp_path) == "9c55594ca55919e4dd05e13a638d85c5.dir"
    assert output_md5(tmp_path / "a.txt") == "b1946ac92492d2347c6235b4d2611184" == hashlib.md5(b"hello\n").hexdigest()
    (tmp_path / "sub" / "b.bin").write_bytes(b"y")
    assert directory_md5(tmp_path) != "9c55594ca55919e4dd05e13a638d85c5.dir"
    with pytest.raises(FileNotFoundError, match="missing"):
        output_md5(tmp_path / "missing")


def _checkpoint(path: Path, mtime: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"ckpt")
    os.utime(path, (mtime, mtime))
    return path


def test_nightly_schedule_evaluates_the_newest_checkpoint_on_test(tmp_path):
    schedule = defs.resolve_schedule_def("nightly_evaluation")
    resources = {"paths": PathsResource(results_root=str(tmp_path))}
    tick = datetime(2026, 1, 2, 2, 0, tzinfo=timezone.utc)
    with dg.build_schedule_context(resources=resources, scheduled_execution_time=tick) as context:
        empty = schedule.evaluate_tick(context)
    assert not empty.run_requests and "no *.ckpt" in empty.skip_message

    _checkpoint(tmp_path / "old_run" / "last.ckpt", 1_700_000_000)
    newest = _checkpoint(tmp_path / "new_run" / "epoch_10.ckpt", 1_700_000_100)
    _checkpoint(tmp_path / "new_run" / ".last.ckpt.abc.tmp", 1_700_000_200)  # an atomic write in progress
    with dg.build_schedule_context(resources=resources, scheduled_execution_time=tick) as context:
        result = schedule.evaluate_tick(context)
    [request] = result.run_requests
    assert request.run_config == {"ops": {"evaluation": {"config": {"checkpoint": str(newest), "splits": ["test"]}}}}
    assert request.tags["mimic/checkpoint"] == str(newest)
    assert dg.validate_run_config(defs.resolve_job_def("evaluation_job"), request.run_config)


def test_sensor_requests_one_evaluation_per_new_checkpoint(tmp_path):
    sensor = defs.resolve_sensor_def("new_checkpoint_evaluation")
    assert sensor is new_checkpoint_evaluation
    resources = {"paths": PathsResource(results_root=str(tmp_path))}
    with dg.build_sensor_context(resources=resources) as context:
        assert not sensor.evaluate_tick(context).run_requests  # nothing yet: skip

    first = _checkpoint(tmp_path / "run" / "last.ckpt", 1_700_000_000)
    with dg.build_sensor_context(resources=resources) as context:
        result = sensor.evaluate_tick(context)
    [request] = result.run_requests
    assert request.run_config["ops"]["evaluation"]["config"] == {"checkpoint": str(first), "splits": ["validation"]}
    assert request.run_key == f"{first}@{1_700_000_000 * 10**9}"
    cursor = result.cursor
    assert CheckpointStamp.from_cursor(cursor) == CheckpointStamp(1_700_000_000 * 10**9, str(first))

    with dg.build_sensor_context(cursor=cursor, resources=resources) as context:
        again = sensor.evaluate_tick(context)
    assert not again.run_requests and "no checkpoint newer" in again.skip_message

    second = _checkpoint(tmp_path / "run" / "epoch_1000.ckpt", 1_700_000_500)
    with dg.build_sensor_context(cursor=cursor, resources=resources) as context:
        newer = sensor.evaluate_tick(context)
    [request] = newer.run_requests
    assert request.run_config["ops"]["evaluation"]["config"]["checkpoint"] == str(second)
    assert CheckpointStamp.from_cursor(newer.cursor).path == str(second)
    assert dg.validate_run_config(defs.resolve_job_def("evaluation_job"), request.run_config)


def test_evaluation_config_names_the_checkpoint_modes():
    fields = evaluation.op.config_schema.config_type.fields
    assert fields["checkpoint"].default_value == "" and fields["splits"].default_value == ["validation", "test"]


def test_workspace_yaml_loads_with_the_dagster_cli(repo_root, tmp_path):
    dagster = Path(sys.executable).with_name("dagster")
    result = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"], cwd=repo_root, capture_output=True,
        text=True, timeout=120, env={**os.environ, "DAGSTER_HOME": str(tmp_path)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Validation successful for code location mimicflow" in result.stderr + result.stdout
