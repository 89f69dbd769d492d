"""g1_motions + motionlib_g1 materialised in-process (ephemeral instance) from a MotionLib of the
three real AMASS sample clips, retargeted to the real G1 model over their first 30 frames.

The metadata must repeat the quality summary JSON the retargeting wrote, the data versions must
be the md5 of the outputs (DVC's scheme: the motions folder's ``.dir`` hash, the MotionLib's file
md5), and the quality check passes (0 joint-limit violations, feet above -5 mm) on the real
clips and fails on a summary with a violation.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import dagster as dg
import pytest
import torch

from assets.g1 import G1_ASSETS, G1_CHECKS, g1_quality
from motion.motion_lib import MotionLib
from pipelines.automation import JOBS
from pipelines.definitions import defs
from pipelines.resources import G1ModelResource, PathsResource
from retarget.quality import METRIC_COLUMNS

FRAMES = 30
# 120 fps clips converted to 30 fps: 2751, 235 and 1486 frames become 688, 59 and 372; the first
# 30 of each are retargeted (the dmpl clip is the shortest but still longer than 30 frames).
EXPECTED_FRAMES = 3 * FRAMES


def _dvc_dir_md5(root: Path) -> str:
    """DVC 3's directory hash, written out independently of training.dvc_records."""
    files = sorted(p for p in root.rglob("*") if p.is_file())
    manifest = [
        {"md5": hashlib.md5(p.read_bytes()).hexdigest(), "relpath": p.relative_to(root).as_posix()} for p in files
    ]
    return hashlib.md5(json.dumps(manifest, sort_keys=True).encode()).hexdigest() + ".dir"


def _resources(data_root: Path, g1_xml: Path | str = "") -> dict:
    return {
        **defs.resources,
        "paths": PathsResource(data_root=str(data_root), results_root=str(data_root / "results")),
        "g1_model": G1ModelResource(robot_xml=str(g1_xml)),
    }


@pytest.fixture(scope="module")
def retargeted(amass_dir, g1_xml, tmp_path_factory):
    """The real clips packaged where motionlib_train puts them, then the g1_job's assets and check."""
    from motion.batch_convert import convert_amass_tree

    root = tmp_path_factory.mktemp("dagster_g1")
    assert convert_amass_tree(amass_dir, root / "motions", progress=False).ok
    data = root / "data"
    paths = PathsResource(data_root=str(data))
    paths.motionlib_file("train").parent.mkdir(parents=True)
    MotionLib.from_motion_files(sorted((root / "motions").rglob("*.motion"))).save(paths.motionlib_file("train"))
    result = dg.materialize(
        [*G1_ASSETS, *G1_CHECKS],
        instance=dg.DagsterInstance.ephemeral(),
        resources=_resources(data, g1_xml),
        run_config={"ops": {"g1_retargeting": {"config": {"max_frames": FRAMES, "workers": 1}}}},
    )
    return {"result": result, "paths": paths, "data": data}


def _materialisations(result: dg.ExecuteInProcessResult) -> dict:
    return {event.asset_key.to_user_string(): event for event in result.get_asset_materialization_events()}


def test_metadata_is_the_quality_summary(retargeted):
    assert retargeted["result"].success
    paths = retargeted["paths"]
    summary_file = paths.g1_motionlib_file("train").with_name("g1_train.quality_summary.json")
    summary = json.loads(summary_file.read_text())
    aggregate = summary["aggregate"]
    assert aggregate["num_motions"] == 3 and aggregate["num_frames"] == EXPECTED_FRAMES
    event = _materialisations(retargeted["result"])["g1_motions"].event_specific_data.materialization
    metadata = {key: value.value for key, value in event.metadata.items()}
    assert metadata["num_motions"] == 3 and metadata["num_frames"] == EXPECTED_FRAMES
    for key in METRIC_COLUMNS:
        assert metadata[key] == aggregate[key], key
    assert metadata["joint_limit_violations"] == 0
    assert metadata["min_foot_height_mm"] >= -5.0
    assert metadata["failed_motions"] == []
    parquet = Path(metadata["quality_parquet"])
    assert parquet == paths.g1_motionlib_file("train").with_name("g1_train.quality.parquet")
    import pyarrow.parquet as pq

    table = pq.read_table(parquet)
    assert table.column("num_frames").to_pylist() == [FRAMES] * 3
    assert max(table.column("keypoint_error_max_mm").to_pylist()) == metadata["keypoint_error_max_mm"]


def test_data_versions_are_the_md5_of_the_outputs(retargeted):
    paths = retargeted["paths"]
    events = _materialisations(retargeted["result"])
    motions_dir, library = paths.g1_motions_dir("train"), paths.g1_motionlib_file("train")
    assert len(list(motions_dir.glob("*.motion"))) == 3
    motions = events["g1_motions"].event_specific_data.materialization
    packaged = events["motionlib_g1"].event_specific_data.materialization
    assert motions.tags["dagster/data_version"] == _dvc_dir_md5(motions_dir) == motions.metadata["md5"].value
    assert packaged.tags["dagster/data_version"] == hashlib.md5(library.read_bytes()).hexdigest()
    assert packaged.metadata["num_frames"].value == EXPECTED_FRAMES


def test_the_g1_motionlib_loads_and_samples(retargeted):
    library = MotionLib.from_file(retargeted["paths"].g1_motionlib_file("train"))
    assert library.num_motions == 3
    assert library.gts.shape[0] == EXPECTED_FRAMES
    assert torch.isfinite(library.gts).all()


def test_quality_check_passes_on_the_real_clips_and_fails_on_a_violation(retargeted, tmp_path):
    [check] = retargeted["result"].get_asset_check_evaluations()
    assert check.check_name == "quality" and check.passed
    assert check.metadata["joint_limit_violations"].value == 0
    # The same check on a summary with one violation and a foot 6 mm under ground.
    paths = PathsResource(data_root=str(tmp_path))
    summary_file = paths.g1_motionlib_file("train").with_name("g1_train.quality_summary.json")
    summary_file.parent.mkdir(parents=True)
    bad = {"aggregate": {"joint_limit_violations": 1, "min_foot_height_mm": -6.0}, "failures": []}
    summary_file.write_text(json.dumps(bad))
    evaluation = dg.materialize(
        [dg.AssetSpec("g1_motions"), g1_quality],
        selection=dg.AssetSelection.checks(g1_quality),
        instance=dg.DagsterInstance.ephemeral(),
        resources={"paths": paths},
        raise_on_error=False,
    ).get_asset_check_evaluations()
    [failed] = evaluation
    assert not failed.passed
    assert "1 joint-limit violations" in failed.metadata["problems"].value
    assert "-6.0 mm" in failed.metadata["problems"].value


def test_a_missing_g1_model_fails_with_what_to_set(tmp_path, monkeypatch):
    monkeypatch.delenv("MIMIC_G1_XML", raising=False)
    paths = PathsResource(data_root=str(tmp_path))
    paths.motionlib_file("train").parent.mkdir(parents=True)
    paths.motionlib_file("train").write_bytes(b"")  # never read: the model is resolved first
    result = dg.materialize(
        [*G1_ASSETS],
        instance=dg.DagsterInstance.ephemeral(),
        resources=_resources(tmp_path, tmp_path / "no_g1.xml"),
        raise_on_error=False,
    )
    assert not result.success
    [failure] = [event for event in result.all_events if event.is_step_failure]
    message = failure.step_failure_data.error.cause.message  # the library's MotionDataError
    assert "no_g1.xml" in message and "no such file" in message


def test_definitions_validate_and_every_job_resolves():
    dg.Definitions.validate_loadable(defs)
    for job in JOBS:
        assert defs.resolve_job_def(job.name).name == job.name
    g1_job = defs.resolve_job_def("g1_job")
    graph = g1_job.asset_layer.asset_graph
    assert {key.to_user_string() for key in graph.executable_asset_keys} == {"g1_motions", "motionlib_g1"}
    assert {check.name for check in graph.asset_check_keys} == {"quality"}
    full = defs.resolve_asset_graph()
    assert full.get(dg.AssetKey("g1_motions")).parent_keys == {dg.AssetKey("motionlib_train")}
    assert dg.AssetKey("g1_motions") in full.get(dg.AssetKey("motionlib_g1")).parent_keys
    assert full.get(dg.AssetKey("motionlib_g1")).code_version == full.get(dg.AssetKey("g1_motions")).code_version


def test_the_asset_writes_what_the_dvc_stage_command_writes(retargeted, g1_xml, tmp_path):
    """`mimic retarget` as dvc.yaml's retarget stage runs it, on the same MotionLib: same quality, same motions."""
    from mimic.cli import main as mimic_main

    paths = retargeted["paths"]
    output = tmp_path / "g1_train.pt"
    status = mimic_main(
        ["retarget", "--motion-file", str(paths.motionlib_file("train")), "--robot", "g1", "--output-file",
         str(output), "--out-dir", str(tmp_path / "g1_train_motions"), "--workers", "1", "--max-frames",
         str(FRAMES), "--robot-xml", str(g1_xml)]
    )  # fmt: skip
    assert status == 0
    cli = json.loads((tmp_path / "g1_train.quality_summary.json").read_text())["aggregate"]
    asset = json.loads(paths.g1_motionlib_file("train").with_name("g1_train.quality_summary.json").read_text())
    assert cli == asset["aggregate"]
    ours, theirs = MotionLib.from_file(paths.g1_motionlib_file("train")), MotionLib.from_file(output)
    assert torch.equal(ours.gts, theirs.gts) and torch.equal(ours.dps, theirs.dps)
