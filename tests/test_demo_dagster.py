"""``scripts/demo_dagster.py`` (the Dagster half of ``make demo``): the code location's own jobs
on a persistent instance, as the UI then shows them. Real Dagster, real training subprocess;
the data and results roots point into a temporary folder (MIMIC_DATA_ROOT / MIMIC_RESULTS_ROOT)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_the_demo_materialises_the_chain_on_a_persistent_instance(amass_dir, tmp_path, monkeypatch):
    samples = tmp_path / "data" / "amass" / "samples"
    samples.mkdir(parents=True)
    for clip in amass_dir.glob("*.npz"):  # the fixtures are the public sample clips (same sha256)
        shutil.copy(clip, samples / clip.name)
    home = tmp_path / "dagster_home"
    home.mkdir()
    env = dict(os.environ, DAGSTER_HOME=str(home), MIMIC_DATA_ROOT=str(tmp_path / "data"),
               MIMIC_RESULTS_ROOT=str(tmp_path / "results"))  # fmt: skip
    done = subprocess.run([sys.executable, "scripts/demo_dagster.py"], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("dagster ")]
    assert [line.split(":")[0] for line in lines] == [
        "dagster amass_chain_job", "dagster training_job", "dagster evaluation_job"
    ]  # fmt: skip
    assert all(": success (run " in line for line in lines)
    # The evaluation's success-rate check: the 4-epoch smoke-run policy tracks no clip, so it falls
    # short of 0.8 as a warning that explains itself and names the shipped policy, not a red error.
    assert "  check evaluation success_rate: failed (warn)" in done.stdout.splitlines()
    assert "not a trained policy" in done.stdout and "data/pretrained/smpl_walk_jump/" in done.stdout
    # What the UI reads: the instance in DAGSTER_HOME holds the runs and every asset's latest event.
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    instance = dg.DagsterInstance.get()
    assert len(instance.get_runs()) == 3
    for name in ("amass_archives", "amass_motions", "motionlib_train", "motionlib_val", "motionlib_test",
                 "policy", "evaluation"):  # fmt: skip
        assert instance.get_latest_materialization_event(dg.AssetKey(name)) is not None, name
    checkpoint = tmp_path / "results" / "dagster_demo" / "last.ckpt"
    assert checkpoint.is_file()
    assert (tmp_path / "data" / "dagster" / "motionlib" / "amass_train.pt").is_file()
    # A newcomer's first hour: no warning lines (Dagster's own are fixed or filtered at the source),
    # and the samples' validation and test MotionLibs say they are train clips wherever reported.
    output = done.stdout + done.stderr
    assert "Warning" not in output and "WARNING" not in output, [
        line for line in output.splitlines() if "arning" in line
    ]
    label = "(train clips: no held-out data in the samples)"
    for name in ("motionlib_val", "motionlib_test"):
        event = instance.get_latest_materialization_event(dg.AssetKey(name))
        metadata = event.asset_materialization.metadata
        assert metadata["label"].value == label and metadata["held_out"].value is False, name
    train = instance.get_latest_materialization_event(dg.AssetKey("motionlib_train")).asset_materialization
    assert train.metadata["held_out"].value is True and "label" not in train.metadata
    check_key = dg.AssetCheckKey(dg.AssetKey("evaluation"), "success_rate")
    record = instance.event_log_storage.get_latest_asset_check_execution_by_key([check_key])[check_key]
    outcome = record.event.dagster_event.event_specific_data
    assert not outcome.passed and outcome.severity == dg.AssetCheckSeverity.WARN
    assert "data/pretrained/smpl_walk_jump/" in outcome.metadata["note"].value
    evaluation = instance.get_latest_materialization_event(dg.AssetKey("evaluation")).asset_materialization
    assert evaluation.metadata["validation/label"].value == label
    assert f"m {label}; wrote" in output  # the full-eval line in the run's log
