"""The ``policy`` asset with a training Python that cannot import dagster_pipes (as IsaacGym's
Python 3.8 cannot): training runs as a plain subprocess and the materialisation comes from the
run directory.

The interpreter is this test's own Python behind a wrapper that puts a ``dagster_pipes`` package
first on PYTHONPATH whose import raises ImportError: both the asset's probe and the trainer see
a Python without dagster-pipes, exactly as in such an environment; nothing in the asset is told
to skip pipes. With ``MIMIC_TEST_PYTHON38`` set, a real Python 3.8 environment is used instead."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg
import pytest
import torch
from dagster_interrupt import interrupt_training_run

from assets.policy import imports_dagster_pipes, policy
from pipelines.definitions import defs
from pipelines.resources import PathsResource, TrainingPythonResource

SMALL = ["agent.actor_units=[64,64]", "agent.critic_units=[64,64]", "agent.num_steps=8"]
TINY = {"num_envs": 4, "max_epochs": 1, "batch_size": 16, "num_threads": 1, "overrides": SMALL}
REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def data_root(synthetic_motion_lib, tmp_path_factory):
    root = tmp_path_factory.mktemp("policy_fallback")
    libs = root / "data" / "dagster" / "motionlib"
    libs.mkdir(parents=True)
    shutil.copy(synthetic_motion_lib, libs / "amass_train.pt")
    return root


@pytest.fixture(scope="module")
def python_without_pipes(tmp_path_factory) -> Path:
    # A real Python 3.8 training environment where one exists (README, IsaacGym), e.g.
    # MIMIC_TEST_PYTHON38=.venv-isaacgym/bin/python; CI has none and uses the wrapper below.
    real = os.environ.get("MIMIC_TEST_PYTHON38", "").strip()
    if real:
        return Path(real).absolute()
    folder = tmp_path_factory.mktemp("no_pipes")
    hidden = folder / "hidden" / "dagster_pipes"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text('raise ImportError("dagster_pipes is not installed in this Python")\n')
    wrapper = folder / "python"
    wrapper.write_text(
        f'#!/bin/sh\nPYTHONPATH="{folder / "hidden"}${{PYTHONPATH:+:$PYTHONPATH}}" exec {sys.executable} "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper


def _resources(root: Path, python: Path) -> dict:
    paths = PathsResource(data_root=str(root / "data"), results_root=str(root / "results"))
    training_python = TrainingPythonResource(python_executable=str(python), working_directory=str(REPO_ROOT))
    return {**defs.resources, "paths": paths, "training_python": training_python}


def test_the_probe_tells_the_two_interpreters_apart(python_without_pipes):
    assert imports_dagster_pipes(sys.executable, str(REPO_ROOT))
    assert not imports_dagster_pipes(str(python_without_pipes), str(REPO_ROOT))


def test_materialisation_is_read_from_the_run_directory(data_root, python_without_pipes, synthetic_motion_lib):
    instance = dg.DagsterInstance.ephemeral()
    run_config = {"ops": {"policy": {"config": {**TINY, "experiment_name": "unpiped"}}}}
    result = dg.materialize(
        [policy], instance=instance, resources=_resources(data_root, python_without_pipes), run_config=run_config
    )
    [event] = result.asset_materializations_for_node("policy")
    meta = {key: value.value for key, value in event.metadata.items()}
    run = data_root / "results" / "unpiped"
    checkpoint = run / "last.ckpt"
    md5 = hashlib.md5(checkpoint.read_bytes()).hexdigest()
    assert meta["checkpoint"] == str(checkpoint) and meta["checkpoint_md5"] == md5
    assert event.tags["dagster/data_version"] == md5
    # 1 epoch of 4 envs x agent.num_steps=8 control steps.
    assert meta["epoch"] == 1 and meta["env_steps"] == 32
    with open(run / "metrics.csv", newline="") as handle:
        [row] = list(csv.DictReader(handle))
    assert meta["final/Train/episode_reward"] == float(row["Train/episode_reward"])
    assert meta["final/Train/fps"] == float(row["Train/fps"])
    saved_lineage = torch.load(checkpoint, weights_only=True)["lineage"]
    assert meta["lineage"] == json.loads(json.dumps(saved_lineage, default=str))
    assert hashlib.md5(Path(synthetic_motion_lib).read_bytes()).hexdigest() in json.dumps(meta["lineage"])
    assert meta["python"] == str(python_without_pipes)
    # the checkpoint was written by the training interpreter (3.8 when MIMIC_TEST_PYTHON38 is set)
    probe = [str(python_without_pipes), "-c", "import platform; print(platform.python_version())"]
    assert saved_lineage["packages"]["python"] == subprocess.run(probe, capture_output=True, text=True).stdout.strip()
    # The trainer's own output, line by line, is the run's log (no pipes messages).
    messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert any("cannot import dagster_pipes: training without pipes" in message for message in messages)
    assert any(message.startswith("epoch      1 |") and "env-steps/s" in message for message in messages)
    assert any(message.startswith("run unpiped: 1 epochs, 32 env steps") for message in messages)


def test_terminating_the_run_interrupts_the_plain_subprocess(data_root, python_without_pipes, tmp_path):
    script = tmp_path / "run_policy.py"
    script.write_text(
        textwrap.dedent(f"""
        import dagster as dg
        from assets.policy import policy
        from pipelines.definitions import defs
        from pipelines.resources import PathsResource, TrainingPythonResource
        paths = PathsResource(data_root={str(data_root / "data")!r}, results_root={str(tmp_path / "results")!r})
        python = TrainingPythonResource(python_executable={str(python_without_pipes)!r})
        config = {dict(TINY, max_epochs=100000, experiment_name="endless")!r}
        resources = {{**defs.resources, "paths": paths, "training_python": python}}
        result = dg.materialize([policy], resources=resources, raise_on_error=False,
                                run_config={{"ops": {{"policy": {{"config": config}}}}}})
        print("RUN SUCCESS", result.success)
    """)
    )
    run = tmp_path / "results" / "endless"
    output, trainer_pid = interrupt_training_run(script, run, REPO_ROOT)
    assert "RUN SUCCESS False" in output
    assert "execution interrupted, sending SIGINT to the trainer." in output
    assert "interrupted at epoch" in output  # the trainer's last words reached the Dagster log
    with pytest.raises(ProcessLookupError):
        os.kill(trainer_pid, 0)  # the trainer is gone
    epochs = len((run / "metrics.csv").read_text().splitlines()) - 1
    assert 2 <= epochs < 100000
    # The trainer handled SIGINT: it saved last.ckpt at the epoch it reached.
    assert torch.load(run / "last.ckpt", weights_only=True)["epoch"] == epochs
