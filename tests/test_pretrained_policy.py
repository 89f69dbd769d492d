"""The policy shipped in data/pretrained/smpl_walk_jump/: it tracks both real clips it was trained
on to their end under the user's ``mimic inference --full-eval``, and ``mimic lineage --strict``
accepts it once its MotionLib is rebuilt from the AMASS sample clips (as ``make demo`` does)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PRETRAINED = REPO / "data" / "pretrained" / "smpl_walk_jump"
CLIPS = ("hbp_sample_walk_female_120fps_poses", "dmpl_sample_female_120fps_poses")


def _mimic(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mimic.cli", *args], cwd=cwd, capture_output=True, text=True)


@pytest.fixture(scope="module")
def checkout_with_data(amass_dir, tmp_path_factory) -> Path:
    """A folder laid out like a checkout after ``make demo``: the sample clips, their .motion
    files and the walk+jumps MotionLib, made by the project's commands."""
    root = tmp_path_factory.mktemp("checkout")
    samples = root / "data" / "amass" / "samples"
    samples.mkdir(parents=True)
    for name in CLIPS:
        shutil.copyfile(amass_dir / f"{name}.npz", samples / f"{name}.npz")
    assert _mimic(root, "amass", "convert", "data/amass", "data/motions").returncode == 0
    (root / "data" / "motions" / "walk_jump.yaml").write_text(
        "motions:\n" + "".join(f"- file: samples/{name}.motion\n  weight: 1.0\n" for name in CLIPS)
    )
    packaged = _mimic(
        root, "motionlib", "package", "--motion-path", "data/motions/walk_jump.yaml",
        "--output-file", "data/motionlib/walk_jump.pt",
    )  # fmt: skip
    assert packaged.returncode == 0, packaged.stderr
    experiments = root / "training" / "experiments" / "mimic"
    experiments.mkdir(parents=True)
    shutil.copyfile(REPO / "training/experiments/mimic/mlp_cpu.py", experiments / "mlp_cpu.py")
    return root


def test_the_shipped_policy_tracks_both_clips_to_their_end(checkout_with_data, tmp_path):
    out = tmp_path / "eval"
    result = _mimic(
        checkout_with_data, "inference", "--checkpoint", str(PRETRAINED / "last.ckpt"), "--full-eval",
        "--num-envs", "2", "--headless", "--motion-file", "data/motionlib/walk_jump.pt", "--output-dir", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["num_motions"] == 2 and summary["Eval/success_rate"] == 1.0, summary["all"]
    # The committed summary is what this evaluation gives (the evaluation is deterministic).
    shipped = json.loads((PRETRAINED / "full_eval_summary.json").read_text())
    assert summary["all"]["e_g_mpjpe"] == pytest.approx(shipped["all"]["e_g_mpjpe"], rel=1e-3)


def test_lineage_strict_accepts_the_shipped_policy(checkout_with_data):
    result = _mimic(checkout_with_data, "lineage", "--strict", "--json", str(PRETRAINED / "last.ckpt"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    report = json.loads(result.stdout)
    kinds = {check["kind"]: check["status"] for check in report["checks"]}
    assert kinds["motion_lib"] == kinds["experiment"] == kinds["experiment_copy"] == "ok"
    assert sum(check["kind"] == "amass" and check["status"] == "ok" for check in report["checks"]) == 2
