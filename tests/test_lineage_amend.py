"""`mimic lineage --amend-motion-lib`: re-recording a checkpoint's data after the same AMASS files
were converted again, on the checkpoint main wrote at ab52331 (converter version 1)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from motion.conversion import CONVERTER_VERSION
from training.lineage_files import locate_recorded

REPO = Path(__file__).resolve().parent.parent
OLD = REPO / "tests" / "fixtures" / "checkpoint_ab52331"
WALK = "SYNTHETIC_smpl_walk_100fps_poses"
OTHER = "SYNTHETIC_smplh_walk_120fps_poses"


def _mimic(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "mimic.cli", *[str(a) for a in args]]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, encoding="utf-8", timeout=300)


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory) -> Path:
    """The fixture checkpoint beside its clip converted again by today's converter, and another clip."""
    root = tmp_path_factory.mktemp("amend")
    shutil.copyfile(OLD / "last.ckpt", root / "last.ckpt")
    assert _mimic(root, "amass", "synthesize", "amass").returncode == 0
    assert _mimic(root, "amass", "convert", "amass", "motions", "--workers", "1", "--no-progress").returncode == 0
    for name in (WALK, OTHER):
        (root / f"{name}.yaml").write_text(f"motions:\n- file: SYNTHETIC/{name}.motion\n  weight: 1.0\n")
        packaged = _mimic(
            root, "motionlib", "package", "--motion-path", f"{name}.yaml", "--motion-root", "motions",
            "--output-file", f"{name}.pt", "--no-progress",
        )  # fmt: skip
        assert packaged.returncode == 0, packaged.stderr
    return root


def _strict(root: Path) -> subprocess.CompletedProcess:
    return _mimic(root, "lineage", "last.ckpt", "--strict", "--json")


def test_a_rebuilt_motion_lib_is_re_recorded_and_the_old_values_kept(rebuilt):
    before = torch.load(rebuilt / "last.ckpt", weights_only=True)["lineage"]
    assert before["motion_lib"]["converter_version"] == ["1"] and CONVERTER_VERSION != "1"
    assert _strict(rebuilt).returncode == 1  # the recorded MotionLib is not here, and ours has other bytes
    amended = _mimic(rebuilt, "lineage", "last.ckpt", "--amend-motion-lib", f"{WALK}.pt", "--reason", "converter 2")
    assert amended.returncode == 0, amended.stdout + amended.stderr
    assert f"was md5 {before['motion_file_md5']}" in amended.stdout
    assert "amended " in amended.stdout and ": converter 2" in amended.stdout  # the tree shows it
    report = json.loads(_strict(rebuilt).stdout)
    assert report["ok"], [c for c in report["checks"] if c["status"] != "ok"]
    kinds = {check["kind"]: check["status"] for check in report["checks"]}
    assert kinds["motion_lib"] == kinds["motion"] == kinds["amass"] == "ok"
    after = torch.load(rebuilt / "last.ckpt", weights_only=True)
    lineage = after["lineage"]
    assert lineage["motion_lib"]["converter_version"] == [CONVERTER_VERSION]
    assert lineage["motion_lib"]["source_md5"] == before["motion_lib"]["source_md5"]
    [amendment] = lineage["amendments"]
    assert amendment["reason"] == "converter 2"
    assert amendment["replaced"]["motion_file_md5"] == before["motion_file_md5"]
    assert amendment["replaced"]["motion_lib"] == before["motion_lib"]
    # Nothing but the record changed: the weights and counters are the fixture's.
    original = torch.load(OLD / "last.ckpt", weights_only=True)
    assert after["epoch"] == original["epoch"] and after["env_steps"] == original["step_count"]
    weights = original["model"]["agent"]["actor"]
    assert all(torch.equal(after["model"]["agent"]["actor"][key], value) for key, value in weights.items())


def test_a_motion_lib_of_other_clips_is_refused(rebuilt, tmp_path):
    checkpoint = tmp_path / "last.ckpt"
    shutil.copyfile(OLD / "last.ckpt", checkpoint)
    result = _mimic(rebuilt, "lineage", checkpoint, "--amend-motion-lib", f"{OTHER}.pt", "--reason", "x")
    assert result.returncode == 2
    assert f"{OTHER}.pt: field 'mimicflow.source_path': expected the same AMASS files" in result.stderr
    assert checkpoint.read_bytes() == (OLD / "last.ckpt").read_bytes()  # untouched


def test_an_amendment_needs_a_reason(rebuilt, tmp_path):
    checkpoint = tmp_path / "last.ckpt"
    shutil.copyfile(OLD / "last.ckpt", checkpoint)
    result = _mimic(rebuilt, "lineage", checkpoint, "--amend-motion-lib", f"{WALK}.pt")
    assert result.returncode == 2 and "needs a reason" in result.stderr


def test_recorded_relative_paths_resolve_in_the_current_checkout_first(tmp_path):
    old_checkout, new_checkout = tmp_path / "old", tmp_path / "new"
    for checkout in (old_checkout, new_checkout):
        (checkout / "data").mkdir(parents=True)
        (checkout / "data" / "lib.pt").write_text(checkout.name)
    found = locate_recorded("data/lib.pt", [new_checkout, old_checkout], old_checkout)
    assert found == new_checkout / "data" / "lib.pt"
    # An absolute path into the old checkout, now gone, is looked for in the new one.
    shutil.rmtree(old_checkout)
    found = locate_recorded(str(old_checkout / "data" / "lib.pt"), [new_checkout, old_checkout], old_checkout)
    assert found == new_checkout / "data" / "lib.pt"
