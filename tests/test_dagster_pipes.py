"""policy and evaluation run `mimic train` / `mimic inference` as subprocesses through
dagster-pipes: metrics stream into the run, the trainer reports the materialisation, another
Python can be configured, and terminating the run stops training (with a saved checkpoint).
A training Python without dagster-pipes: tests/test_dagster_policy_fallback.py."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import sys
import textwrap
from pathlib import Path

import dagster as dg
import pytest
import torch
from dagster_interrupt import interrupt_training_run

from assets.checks import evaluation_success_rate
from assets.evaluation import evaluation
from assets.policy import policy
from pipelines.definitions import defs
from pipelines.resources import PathsResource, TrainingPythonResource
from training import pipes_reporting

SMALL = ["agent.actor_units=[64,64]", "agent.critic_units=[64,64]", "agent.num_steps=8"]
TINY = {"num_envs": 4, "max_epochs": 1, "batch_size": 16, "num_threads": 1, "overrides": SMALL}


@pytest.fixture(scope="module")
def data_root(synthetic_motion_lib, tmp_path_factory):
    """A data root whose train and test MotionLibs are the synthetic clips' MotionLib."""
    root = tmp_path_factory.mktemp("dagster_pipes")
    libs = root / "data" / "dagster" / "motionlib"
    libs.mkdir(parents=True)
    for split in ("train", "test"):
        shutil.copy(synthetic_motion_lib, libs / f"amass_{split}.pt")
    return root


def _resources(root: Path, **python) -> dict:
    paths = PathsResource(data_root=str(root / "data"), results_root=str(root / "results"))
    resources = {**defs.resources, "paths": paths}
    if python:
        resources["training_python"] = TrainingPythonResource(**python)
    return resources


def _metadata(result, node):
    [event] = result.asset_materializations_for_node(node)
    return {key: value.value for key, value in event.metadata.items()} | {"tags": event.tags}


def _last_row(path: Path) -> dict:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))[-1]


@pytest.fixture(scope="module")
def trained(data_root):
    instance = dg.DagsterInstance.ephemeral()
    run_config = {"ops": {"policy": {"config": {**TINY, "experiment_name": "piped"}}}}
    result = dg.materialize([policy], instance=instance, resources=_resources(data_root), run_config=run_config)
    return instance, result


def test_policy_materialisation_is_reported_by_the_trainer(trained, data_root, synthetic_motion_lib):
    instance, result = trained
    meta = _metadata(result, "policy")
    checkpoint = data_root / "results" / "piped" / "last.ckpt"
    assert meta["checkpoint"] == str(checkpoint)
    assert meta["checkpoint_md5"] == hashlib.md5(checkpoint.read_bytes()).hexdigest()
    assert meta["tags"]["dagster/data_version"] == meta["checkpoint_md5"]
    assert meta["tags"]["dagster/code_version"] == "train-1"
    # 1 epoch of 4 envs × agent.num_steps=8 control steps.
    assert meta["epoch"] == 1 and meta["env_steps"] == 32
    row = _last_row(data_root / "results" / "piped" / "metrics.csv")
    assert meta["final/Train/episode_reward"] == pytest.approx(float(row["Train/episode_reward"]), rel=1e-6)
    lineage = meta["lineage"]
    assert lineage == json.loads(json.dumps(torch.load(checkpoint, weights_only=True)["lineage"], default=str))
    motion_md5 = hashlib.md5(Path(synthetic_motion_lib).read_bytes()).hexdigest()
    assert motion_md5 in json.dumps(lineage)
    assert "-m mimic.cli train" in meta["command"] and meta["python"] == sys.executable
    # The trainer's per-epoch line arrived through pipes as a log message of the run.
    messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert any(message.startswith("epoch 1 | env_steps 32 | Train/episode_reward") for message in messages)


def test_evaluation_runs_full_eval_and_attaches_metrics_and_plots(trained, data_root, synthetic_motion_lib):
    instance, _ = trained
    config = {"splits": ["test"], "max_frames": 10, "num_envs": 4}
    result = dg.materialize(
        [policy, evaluation], selection=dg.AssetSelection.assets(evaluation), instance=instance,
        resources=_resources(data_root), run_config={"ops": {"evaluation": {"config": config}}},
    )  # fmt: skip
    meta = _metadata(result, "evaluation")
    checkpoint = data_root / "results" / "piped" / "last.ckpt"  # the policy asset's checkpoint
    assert meta["checkpoint"] == str(checkpoint)
    out = Path(meta["path"])
    assert out == checkpoint.parent / "eval" / f"dagster-{result.run_id[:8]}"
    summary = json.loads((out / "test" / "summary.json").read_text())
    num_motions = len(torch.load(synthetic_motion_lib, weights_only=True)["motion_files"])
    assert meta["test/num_motions"] == summary["num_motions"] == num_motions
    assert meta["test/success_rate"] == summary["Eval/success_rate"]
    assert meta["test/gt_err"] == summary["all"]["gt_err"]
    assert meta["test/plot_error_histogram"] == str(out / "test" / "plots" / "error_histogram.png")
    assert meta["test/plots"].count("](data:image/png;base64,iVBORw0KGgo") == 2  # both PNGs inline
    assert meta["md5"] == meta["tags"]["dagster/data_version"] and meta["md5"].endswith(".dir")

    def check(min_rate, **extra):
        run = dg.materialize(
            [evaluation, evaluation_success_rate], selection=dg.AssetSelection.checks(evaluation_success_rate),
            instance=instance, resources=_resources(data_root),
            run_config={"ops": {"evaluation_success_rate": {"config": {"min_success_rate": min_rate, **extra}}}},
        )  # fmt: skip
        [outcome] = run.get_asset_check_evaluations()
        return outcome

    assert check(0.0).passed
    failing = check(1.01)  # no success rate exceeds 1
    assert not failing.passed and failing.metadata["test/success_rate"].value == summary["Eval/success_rate"]
    assert failing.severity == dg.AssetCheckSeverity.ERROR and "note" not in failing.metadata
    # A policy not meant to pass (make demo's smoke run): below the threshold is a warning that says why.
    warned = check(1.01, severity="warn", note="a 4-epoch smoke run")
    assert not warned.passed and warned.severity == dg.AssetCheckSeverity.WARN
    assert warned.description == "a 4-epoch smoke run" and warned.metadata["note"].value == "a 4-epoch smoke run"


def test_terminating_the_run_interrupts_training(data_root, tmp_path):
    """Interrupting the Dagster run (as a termination does) sends SIGINT to the trainer, which saves
    last.ckpt at the epoch it reached and exits; the run fails."""
    script = tmp_path / "run_policy.py"
    script.write_text(
        textwrap.dedent(f"""
        import dagster as dg
        from assets.policy import policy
        from pipelines.definitions import defs
        from pipelines.resources import PathsResource
        paths = PathsResource(data_root={str(data_root / "data")!r}, results_root={str(tmp_path / "results")!r})
        config = {dict(TINY, max_epochs=100000, experiment_name="endless")!r}
        result = dg.materialize([policy], resources={{**defs.resources, "paths": paths}}, raise_on_error=False,
                                run_config={{"ops": {{"policy": {{"config": config}}}}}})
        print("RUN SUCCESS", result.success)
    """)
    )
    run = tmp_path / "results" / "endless"
    output, trainer_pid = interrupt_training_run(script, run, Path(__file__).resolve().parent.parent)
    assert "RUN SUCCESS False" in output
    assert "[pipes] execution interrupted, sending SIGINT to subprocess." in output
    assert "interrupted at epoch" in output
    with pytest.raises(ProcessLookupError):
        os.kill(trainer_pid, 0)  # the trainer is gone
    epochs = len((run / "metrics.csv").read_text().splitlines()) - 1
    assert 2 <= epochs < 100000
    assert torch.load(run / "last.ckpt", weights_only=True)["epoch"] == epochs


def test_pipes_reporting_is_inert_outside_dagster(monkeypatch):
    for name in pipes_reporting.PIPES_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    assert not pipes_reporting.launched_by_dagster()
    assert pipes_reporting.launched_by_dagster({"DAGSTER_PIPES_CONTEXT": "x", "DAGSTER_PIPES_MESSAGES": "y"})
    assert not pipes_reporting.launched_by_dagster({"DAGSTER_PIPES_CONTEXT": "x"})
    pipes_reporting.report_epoch({"epoch": 1})
    pipes_reporting.report_final_checkpoint("/nonexistent/last.ckpt")  # no-op: never opened
    assert pipes_reporting._session is None


def test_epoch_line_lists_headline_metrics_in_order():
    metrics = {"env/termination_rate": 0.5, "epoch": 3, "env_steps": 96, "Train/episode_reward": torch.tensor(-0.2263),
               "Train/fps": float("nan"), "other": "text"}  # fmt: skip
    line = pipes_reporting.epoch_line(metrics)
    assert line == "epoch 3 | env_steps 96 | Train/episode_reward -0.2263 | env/termination_rate 0.5"
