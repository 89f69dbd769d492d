"""`dvc repro` of dvc.yaml + params.yaml in a temporary git + DVC repository, with the real dvc
(.tools/bin/dvc), the real `mimic` CLI and the real AMASS sample clips.

The repository gets copies of dvc.yaml, params.yaml, .gitignore and the code packages (the stages
run ``python -m mimic.cli`` from the repository root, and their code dependencies are files of
it). params.yaml is changed only where a test has to: ``python`` is this venv's interpreter, the
``fetch@samples`` stage downloads from a loopback HTTP server laid out like GitHub (serving the
fixture clips, so the real fetch stage runs, offline), and the budgets are tiny (4 envs, 64-unit
networks, 8 steps per epoch, 20 evaluated frames per motion). A second subset, ``SFU``, is one
the user brings (``dvc add``, no fetch stage), nested like a real AMASS archive
(``SFU/0005/*.npz``); SFU is a validation subset, so it exercises the per-subset conversion and
the split. The local remote is configured by the Makefile's own ``dvc-remote`` target.

Each test leaves the repository reproduced, so the tests do not depend on their order.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Dict, Iterator, List

import pytest
import torch
import yaml
from loopback_http import StaticFileServer

from motion.io_utils import file_digest
from motion.motion_file import load_motion
from motion.samples import SAMPLE_CLIPS

REPO_ROOT = Path(__file__).resolve().parent.parent
DVC = REPO_ROOT / ".tools" / "bin" / "dvc"
CODE_PACKAGES = ("motion", "mimic", "robots", "training", "evaluation")
RUN_NAME = "dvc_demo"
# The pipeline's edges (`dvc dag`): every package@<split> reads every converted subset.
EDGES = {
    ("data/amass/SFU.dvc", "convert@SFU"),  # the subset the user brought (`dvc add`)
    ("fetch@samples", "convert@samples"),
    ("convert@samples", "package@train"),
    ("convert@samples", "package@validation"),
    ("convert@SFU", "package@train"),
    ("convert@SFU", "package@validation"),
    ("package@train", "train"),
    ("package@train", "evaluate"),
    ("train", "evaluate"),
}
STAGES = {stage for edge in EDGES for stage in edge} - {"data/amass/SFU.dvc"}
SFU_CLIP = "SFU/0005/0005_Walking001_poses.npz"  # a copy of the walking sample clip
TINY_TRAIN = {
    "num-envs": 4,
    "batch-size": 16,
    "num-threads": 1,
    "max-epochs": 1,
    "overrides": ["agent.actor_units=[64,64]", "agent.critic_units=[64,64]", "agent.num_steps=8"],
}
TINY_EVALUATE = {"num-envs": 4, "num-threads": 1, "max-frames": 20}
STEPS_PER_EPOCH = 4 * 8  # envs x agent.num_steps
DVC_TIMEOUT_S = 300


def _run(command: List[str], cwd: Path, env: Dict[str, str], timeout: float = DVC_TIMEOUT_S) -> str:
    """Run ``command``; fail with its output unless it exits 0; return stdout + stderr."""
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(command)} exited {result.returncode}:\n{output[-6000:]}"
    return output


def _ran_stages(repro_output: str) -> List[str]:
    return re.findall(r"^Running stage '([^']+)':", repro_output, re.MULTILINE)


def _assert_dependency_order(ran: List[str]) -> None:
    for upstream, downstream in EDGES:
        if upstream in ran and downstream in ran:
            assert ran.index(upstream) < ran.index(downstream), (upstream, downstream, ran)


def _outdated_stages(pipeline: SimpleNamespace) -> set:
    """Stages `dvc status` reports as changed (their own deps, params or outs; not downstream)."""
    return set(json.loads(pipeline.dvc("status", "--json")))


def _edit_params(root: Path, edit) -> None:
    path = root / "params.yaml"
    params = yaml.safe_load(path.read_text())
    edit(params)
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _tracked_files(root: Path) -> List[Path]:
    """Every file DVC tracks: stage outputs in dvc.lock and `dvc add` outputs in *.dvc files."""
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    outs = [(root, out) for stage in lock["stages"].values() for out in stage.get("outs", [])]
    for pointer in (root / "data").rglob("*.dvc"):
        outs += [(pointer.parent, out) for out in yaml.safe_load(pointer.read_text())["outs"]]
    files = []
    for base, out in outs:
        path = base / out["path"]
        files += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return files


def _csv_epochs(path: Path) -> List[str]:
    with open(path, newline="") as handle:
        return [row["epoch"] for row in csv.DictReader(handle)]


def _dvc_environment(home: Path) -> Dict[str, str]:
    """The test's environment, with dvc's global/system config and site cache in ``home`` (so a
    user's own dvc config, e.g. a global default remote, cannot change what the test sees)."""
    env = dict(os.environ)
    for name in ("DVC_GLOBAL_CONFIG_DIR", "DVC_SYSTEM_CONFIG_DIR", "DVC_SITE_CACHE_DIR"):
        env[name] = str(home / name.lower())
    env["DVC_NO_ANALYTICS"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _make_pipeline_repo(root: Path, amass_dir: Path, base_url: str, remote: Path, env: Dict[str, str]) -> None:
    """git + dvc init; the pipeline, the code and the SFU subset; tiny params; the local remote."""
    root.mkdir()
    for name in ("dvc.yaml", "params.yaml", ".gitignore"):
        shutil.copyfile(REPO_ROOT / name, root / name)
    for package in CODE_PACKAGES:
        shutil.copytree(REPO_ROOT / package, root / package, ignore=shutil.ignore_patterns("__pycache__"))
    _run(["git", "init", "-q"], root, env)
    _run([str(DVC), "init", "-q"], root, env)
    sfu_clip = root / "data" / "amass" / SFU_CLIP
    sfu_clip.parent.mkdir(parents=True)
    shutil.copyfile(amass_dir / "hbp_sample_walk_female_120fps_poses.npz", sfu_clip)
    _run([str(DVC), "add", "-q", "data/amass/SFU"], root, env)

    def tiny(params: dict) -> None:
        params["python"] = sys.executable
        fetch = params["amass"]["fetch"]
        assert set(fetch) == {"samples"} and "--base-url https://raw.githubusercontent.com" in fetch["samples"]
        fetch["samples"] = f"amass samples data/amass --base-url {base_url}"
        params["amass"]["subsets"] = ["samples", "SFU"]
        params["package"]["splits"] = ["train", "validation"]
        params["train"]["args"].update(TINY_TRAIN)
        params["evaluate"]["args"].update(TINY_EVALUATE)

    _edit_params(root, tiny)
    # The Makefile's own step, twice: it must be idempotent.
    make = ["make", "--no-print-directory", "-s", "-C", str(root), "-f", str(REPO_ROOT / "Makefile"), "dvc-remote"]
    make += [f"DVC={DVC}", f"DVC_STAMP={REPO_ROOT / '.tools' / 'dvc' / '.stamp'}", f"DVC_REMOTE={remote}"]
    for _ in range(2):
        _run(make, REPO_ROOT, env)


@pytest.fixture(scope="module")
def pipeline(amass_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """A git + DVC repository with the project's pipeline and tiny budgets, reproduced once."""
    if not DVC.exists():
        message = f"{DVC} not found (run `make dvc-tool`)"
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail(f"CI must not skip the DVC pipeline test: {message}", pytrace=False)
        pytest.skip(message)
    base = tmp_path_factory.mktemp("dvc_pipeline")
    www = base / "www"
    for clip in SAMPLE_CLIPS:
        (www / clip.url_path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(amass_dir / clip.local_name, www / clip.url_path)
    server = StaticFileServer(www)  # files at <owner>/<repo>/<branch>/<path>, as GitHub serves them
    try:
        root, remote, env = base / "repo", base / "remote", _dvc_environment(base / "dvc_home")
        _make_pipeline_repo(root, amass_dir, server.base_url, remote, env)

        def dvc(*args: str) -> str:
            return _run([str(DVC), *args], root, env)

        first_repro = dvc("repro")
        yield SimpleNamespace(root=root, remote=remote, server=server, dvc=dvc, first_repro=first_repro)
    finally:
        server.close()


def test_first_repro_runs_every_stage_in_order(pipeline: SimpleNamespace) -> None:
    ran = _ran_stages(pipeline.first_repro)
    assert sorted(ran) == sorted(STAGES)
    _assert_dependency_order(ran)
    root = pipeline.root
    # fetch@samples downloaded the three clips from the loopback server, checked against the pins.
    assert sorted(pipeline.server.requests) == sorted("/" + clip.url_path for clip in SAMPLE_CLIPS)
    for clip in SAMPLE_CLIPS:
        assert file_digest(root / "data" / "amass" / "samples" / clip.local_name, "sha256") == clip.sha256
    # convert@<subset> labelled every clip with its subset folder's name (SFU, not 0005), so
    # package@<split> put the sample clips in train and the SFU clip in validation. The joined
    # YAMLs list them relative to data/dvc/motions (<subset folder>/<subset>/<path>.motion), DVC's
    # own folder: the .motion files under data/motions (make demo's, the shipped lineages') are not its.
    motions = root / "data" / "dvc" / "motions"
    assert not (root / "data" / "motions").exists()
    names = sorted(clip.local_name.replace(".npz", ".motion") for clip in SAMPLE_CLIPS)
    sfu_motion = "SFU/" + SFU_CLIP.replace(".npz", ".motion")
    expected = {"train": ["samples/samples/" + name for name in names], "validation": [sfu_motion]}
    for split, files in expected.items():
        joined = yaml.safe_load((root / "data" / "dvc" / "motionlib" / f"amass_{split}.yaml").read_text())
        assert sorted(entry["file"] for entry in joined["motions"]) == files
        assert (root / "data" / "dvc" / "motionlib" / f"amass_{split}.pt").is_file()
        for file in files:
            assert load_motion(motions / file)["mimicflow"]["split"] == split
    assert load_motion(motions / sfu_motion)["mimicflow"]["subset"] == "SFU"
    # train: the tiny budget (1 epoch of 4 envs x 8 steps) from params.yaml reached mimic train.
    run = root / "results" / RUN_NAME
    checkpoint = torch.load(run / "last.ckpt", weights_only=True)
    assert checkpoint["epoch"] == 1 and checkpoint["env_steps"] == STEPS_PER_EPOCH
    assert checkpoint["config"]["agent"]["actor_units"] == [64, 64]
    assert _csv_epochs(run / "metrics.csv") == ["1"]
    # evaluate: every motion of the MotionLib, for max-frames frames each.
    summary = json.loads((run / "eval" / "dvc" / "summary.json").read_text())
    assert summary["num_motions"] == 3 and summary["epoch"] == 1


def test_outputs_are_dvc_metrics_and_ignored_by_git(pipeline: SimpleNamespace) -> None:
    summary_path = f"results/{RUN_NAME}/eval/dvc/summary.json"
    summary = json.loads((pipeline.root / summary_path).read_text())
    shown = json.loads(pipeline.dvc("metrics", "show", "--json"))
    (workspace,) = shown.values()  # one revision: the workspace (keyed "" before the first commit)
    metrics = workspace["data"][summary_path]["data"]
    assert metrics["Eval/success_rate"] == summary["Eval/success_rate"]
    assert metrics["num_motions"] == 3
    # `dvc plots show`: the two training-curve plots of dvc.yaml (one point per epoch and column)
    # and the evaluation's images.
    epochs = len(_csv_epochs(pipeline.root / "results" / RUN_NAME / "metrics.csv"))
    rendered = pipeline.root.parent / "dvc_plots"
    plots = json.loads(pipeline.dvc("plots", "show", "--json", "-o", str(rendered)))["data"]
    for plot_id in ("training_reward", "training_losses"):
        (plot,) = plots[plot_id]
        assert plot["type"] == "vega" and len(plot["content"]["data"]["values"]) == 2 * epochs
    images = {Path(name).name for name, (plot,) in plots.items() if plot["type"] == "image"}
    assert images == {"error_histogram.png", "success_by_subset.png"}
    # Nothing the pipeline wrote shows up for git: data and results are DVC's.
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=pipeline.root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    untracked = [line[3:] for line in status.splitlines()]
    assert {"dvc.lock", "dvc.yaml", "data/amass/SFU.dvc"} <= set(untracked)
    assert not [path for path in untracked if path.startswith(("data/", "results/")) and path != "data/amass/SFU.dvc"]


def test_dag_is_the_chain(pipeline: SimpleNamespace) -> None:
    dot = pipeline.dvc("dag", "--dot")
    edges = set(re.findall(r'"([^"]+)" -> "([^"]+)"', dot))
    assert edges == EDGES


def test_second_repro_does_nothing(pipeline: SimpleNamespace) -> None:
    assert "Data and pipelines are up to date." in pipeline.dvc("status")
    again = pipeline.dvc("repro")
    assert _ran_stages(again) == []
    assert set(re.findall(r"Stage '([^']+)' didn't change, skipping", again)) == STAGES


def test_an_evaluation_param_reruns_only_evaluate(pipeline: SimpleNamespace) -> None:
    import pyarrow.parquet as pq

    frames = {}

    def fewer_frames(params: dict) -> None:
        frames["new"] = 12 if params["evaluate"]["args"]["max-frames"] != 12 else 16
        params["evaluate"]["args"]["max-frames"] = frames["new"]

    _edit_params(pipeline.root, fewer_frames)
    checkpoint_md5 = _md5(pipeline.root / "results" / RUN_NAME / "last.ckpt")
    assert _outdated_stages(pipeline) == {"evaluate"}
    assert _ran_stages(pipeline.dvc("repro")) == ["evaluate"]
    per_motion = pq.read_table(pipeline.root / "results" / RUN_NAME / "eval" / "dvc" / "per_motion.parquet")
    assert per_motion.column("frames").to_pylist() == [frames["new"]] * 3  # every clip is longer
    assert _md5(pipeline.root / "results" / RUN_NAME / "last.ckpt") == checkpoint_md5
    assert _outdated_stages(pipeline) == set()


def test_more_epochs_resume_training_then_reevaluate(pipeline: SimpleNamespace) -> None:
    run = pipeline.root / "results" / RUN_NAME
    before = torch.load(run / "last.ckpt", weights_only=True)["epoch"]

    def one_more_epoch(params: dict) -> None:
        params["train"]["args"]["max-epochs"] = before + 1

    _edit_params(pipeline.root, one_more_epoch)
    # Only train's own params changed; evaluate follows because train rewrites its checkpoint.
    assert _outdated_stages(pipeline) == {"train"}
    output = pipeline.dvc("repro")
    assert _ran_stages(output) == ["train", "evaluate"]
    # persist: true kept last.ckpt and metrics.csv, so mimic train resumed rather than restarted.
    assert "resuming from" in output
    checkpoint = torch.load(run / "last.ckpt", weights_only=True)
    assert checkpoint["epoch"] == before + 1 and checkpoint["env_steps"] == (before + 1) * STEPS_PER_EPOCH
    assert _csv_epochs(run / "metrics.csv") == [str(epoch) for epoch in range(1, before + 2)]
    assert json.loads((run / "eval" / "dvc" / "summary.json").read_text())["epoch"] == before + 1
    assert _outdated_stages(pipeline) == set()


def test_push_then_pull_restores_every_output(pipeline: SimpleNamespace) -> None:
    root = pipeline.root
    # `make dvc-remote` (run twice) left exactly one remote, the default, in .dvc/config.local.
    local_config = (root / ".dvc" / "config.local").read_text()
    assert local_config.count("[") == 2 and "remote = local-remote" in local_config
    assert f"url = {pipeline.remote}" in local_config
    assert pipeline.dvc("remote", "list").split() == ["local-remote", str(pipeline.remote), "(default)"]

    tracked = _tracked_files(root)
    # clips (3 + 1); per converted subset its .motion files + motions/train/validation/test.yaml
    # + its conversion.json stamp; a .yaml and a .pt per split; the run's 4 files; the
    # evaluation's 4 files and 2 plots
    assert len(tracked) == 4 + (3 + 5) + (1 + 5) + 2 * 2 + 4 + 4 + 2
    before = {path: _md5(path) for path in tracked}
    pipeline.dvc("push")
    assert any(path.is_file() for path in pipeline.remote.rglob("*"))
    for path in tracked:
        path.unlink()
    shutil.rmtree(root / ".dvc" / "cache")  # so the pull must come from the remote
    assert "deleted" in pipeline.dvc("status")
    pipeline.dvc("pull")
    assert {path: _md5(path) for path in tracked if path.is_file()} == before
    assert "Data and pipelines are up to date." in pipeline.dvc("status")
