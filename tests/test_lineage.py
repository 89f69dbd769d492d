"""Checkpoint lineage: what `mimic train` records, and `mimic lineage` catching changed files."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
from contextlib import contextmanager
from datetime import datetime
from importlib.metadata import version
from pathlib import Path

import pytest
import torch

from training.checkpoint import check_plain_data
from training.config import ExperimentConfig
from training.dvc_records import dvc_recorded_md5
from training.lineage_check import LineageCheck, LineageReport, verify_lineage
from training.lineage_tree import render_tree
from training.overrides import config_from_dict, config_hash

SMALL = ["agent.actor_units=[64,64]", "agent.critic_units=[64,64]", "agent.num_steps=8"]
NAMES = [
    "SYNTHETIC_smpl_walk_100fps_poses",
    "SYNTHETIC_smplh_standing_120fps_poses",
    "SYNTHETIC_smplh_walk_120fps_poses",
    "SYNTHETIC_smplx_walk_60fps_stageii",
]


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _train(repo_root, results, motion_file, experiment, name, *extra):
    command = [sys.executable, "-m", "mimic.cli", "train", "--robot-name", "smpl", "--simulator", "mujoco"]
    command += ["--experiment-path", str(experiment), "--experiment-name", name, "--motion-file", str(motion_file)]
    command += ["--num-envs", "4", "--batch-size", "16", "--num-threads", "1", "--results-dir", str(results)]
    command += [*extra, "--overrides", *SMALL]
    result = subprocess.run(command, cwd=repo_root, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result


def _lineage_cli(repo_root, *args):
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    command = [sys.executable, "-m", "mimic.cli", "lineage", *[str(a) for a in args]]
    return subprocess.run(
        command, cwd=repo_root, capture_output=True, text=True, encoding="utf-8", env=env, timeout=120
    )


@contextmanager
def _appended(path: Path, extra: bytes):
    """``path`` with ``extra`` appended for the duration of the block."""
    original = path.read_bytes()
    path.write_bytes(original + extra)
    try:
        yield
    finally:
        path.write_bytes(original)


@pytest.fixture(scope="module")
def trained(repo_root, synthetic_motion_lib, tmp_path_factory):
    """One epoch trained on a private copy of the synthetic AMASS clips, .motion files and MotionLib."""
    from motion.motion_lib_packaging import package_motion_lib

    root = tmp_path_factory.mktemp("lineage")
    data = root / "data"
    for folder in ("amass", "motions"):
        shutil.copytree(synthetic_motion_lib.parent / folder, data / folder)
    package_motion_lib(data / "motions", data / "lib.pt")
    experiment = root / "mlp.py"
    shutil.copyfile(repo_root / "training/experiments/mimic/mlp.py", experiment)
    results = root / "results"
    _train(repo_root, results, data / "lib.pt", experiment, "run", "--max-epochs", "1")
    return {"data": data, "lib": data / "lib.pt", "experiment": experiment, "results": results,
            "checkpoint": results / "run" / "last.ckpt"}  # fmt: skip


def test_checkpoint_embeds_every_lineage_field(trained, repo_root):
    checkpoint = torch.load(trained["checkpoint"], weights_only=True)
    lineage = checkpoint["lineage"]
    check_plain_data(lineage, "lineage")
    data = trained["data"]
    motions = [data / "motions" / "SYNTHETIC" / f"{name}.motion" for name in NAMES]
    sources = [f"SYNTHETIC/{name}.npz" for name in NAMES]
    assert lineage["format_version"] == 1
    assert datetime.fromisoformat(lineage["created"]).tzinfo is not None
    assert lineage["overrides"] == SMALL
    assert lineage["experiment_file"] == str(trained["experiment"])
    assert lineage["experiment_sha256"] == hashlib.sha256(trained["experiment"].read_bytes()).hexdigest()
    assert lineage["start_mode"] == "fresh" and lineage["parent_checkpoint"] is None
    assert lineage["config"] == checkpoint["config"]
    assert lineage["config"]["agent"]["actor_units"] == [64, 64] and lineage["config"]["num_envs"] == 4
    recomputed = config_hash(config_from_dict(ExperimentConfig, lineage["config"]))
    assert lineage["config_hash"] == recomputed == checkpoint["config_hash"]
    assert lineage["motion_file"] == str(trained["lib"]) and lineage["motion_file_md5"] == _md5(trained["lib"])
    contents = lineage["motion_lib"]
    assert contents["num_motions"] == 4
    assert contents["motion_files"] == [str(path) for path in motions]
    assert contents["motion_md5"] == [_md5(path) for path in motions]
    assert contents["source_path"] == sources
    assert contents["source_md5"] == [_md5(data / "amass" / source) for source in sources]
    assert contents["subset"] == ["SYNTHETIC"] * 4 and len(contents["conversion"]) == 1
    assert lineage["working_dir"] == str(repo_root)
    head = subprocess.run(["git", "-C", str(repo_root), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode == 0:
        assert lineage["git_commit"] == head.stdout.strip() and isinstance(lineage["git_dirty"], bool)
    else:
        assert lineage["git_commit"] is None and lineage["git_dirty"] is None
    assert lineage["packages"] == {
        "python": platform.python_version(),
        "torch": version("torch"),
        "numpy": version("numpy"),
        "mujoco": version("mujoco"),
        "mimicflow": version("mimicflow"),
    }
    assert lineage["simulator"] == "mujoco" and lineage["seed"] == checkpoint["config"]["seed"]


def test_tree_of_an_untouched_run_passes_strict(trained, repo_root):
    result = _lineage_cli(repo_root, trained["checkpoint"], "--strict")
    assert result.returncode == 0, result.stdout + result.stderr
    tree = result.stdout
    assert tree.startswith(f"checkpoint {trained['checkpoint']}  (epoch 1, written ")
    assert f"✓ MotionLib (4 motions) {trained['lib']}  [{_md5(trained['lib'])[:12]}]" in tree
    for name in NAMES:
        motion = trained["data"] / "motions" / "SYNTHETIC" / f"{name}.motion"
        assert f"✓ {motion}  [{_md5(motion)[:12]}]" in tree
        assert f"✓ AMASS SYNTHETIC/{name}.npz" in tree  # found: data/amass beside the MotionLib
    assert f"✓ experiment file {trained['experiment']}" in tree
    # 2 config + 2 experiment + MotionLib + 4 motions + 4 sources = 13 ok; parent and 2 dvc.lock skipped
    last = "16 checks: 13 ok, 0 mismatch, 0 missing, 3 skipped, 0 unchecked — all recorded hashes match"
    assert tree.splitlines()[-1] == last


def test_strict_fails_when_a_recorded_hash_could_not_be_checked(trained, repo_root):
    """Without the AMASS files (a DVC fetch had emptied data/amass), --strict used to exit 0 with
    "all recorded hashes match", the AMASS checks "skipped". Recorded hashes that could not be
    checked are now "unchecked": listed, counted, and --strict fails naming them."""
    amass = trained["data"] / "amass"
    hidden = trained["data"] / "amass_elsewhere"
    amass.rename(hidden)
    try:
        strict = _lineage_cli(repo_root, trained["checkpoint"], "--strict")
        plain = _lineage_cli(repo_root, trained["checkpoint"])
        report = verify_lineage(trained["checkpoint"])
        given = verify_lineage(trained["checkpoint"], amass_root=hidden)
    finally:
        hidden.rename(amass)
    assert strict.returncode == 1 and plain.returncode == 0
    assert report.ok and not report.verified and report.amass_root is None
    assert [(c.kind, c.status) for c in report.unchecked] == [("amass", "unchecked")] * 4
    counts = "16 checks: 9 ok, 0 mismatch, 0 missing, 3 skipped, 4 unchecked"
    last = f"{counts} — 4 recorded hash(es) not checked, the others match"
    assert strict.stdout.splitlines()[-1] == plain.stdout.splitlines()[-1] == last
    source = f"SYNTHETIC/{NAMES[0]}.npz"
    recorded = _md5(amass / source)[:12]
    note = "AMASS root not found: pass --amass-root"
    assert f"? AMASS {source}  NOT CHECKED: recorded {recorded}; {note}" in strict.stdout
    (line,) = strict.stderr.strip().splitlines()
    assert line == (
        f"mimic lineage: --strict: 4 recorded hash(es) not checked ({note}): "
        f"{source}, SYNTHETIC/{NAMES[1]}.npz, SYNTHETIC/{NAMES[2]}.npz and 1 more"
    )
    assert given.verified  # --amass-root names where they are: every hash checked again


def test_changed_motion_file_fails_strict_and_is_named(trained, repo_root):
    motion = trained["data"] / "motions" / "SYNTHETIC" / f"{NAMES[2]}.motion"
    recorded = _md5(motion)
    with _appended(motion, b"\0"):
        changed = hashlib.md5(motion.read_bytes()).hexdigest()
        result = _lineage_cli(repo_root, trained["checkpoint"], "--strict")
        report = verify_lineage(trained["checkpoint"])
    assert result.returncode == 1
    assert f"1 problem(s): {motion} (mismatch)" in result.stderr
    assert f"✗ {motion}  MISMATCH: recorded {recorded[:12]}, found {changed[:12]}" in result.stdout
    (failure,) = report.failures
    assert (failure.kind, failure.item, failure.expected, failure.found) == ("motion", str(motion), recorded, changed)
    assert failure.index == 2
    assert verify_lineage(trained["checkpoint"]).ok  # restored: matches again


def test_changed_amass_source_and_wrong_amass_root(trained, tmp_path):
    source = trained["data"] / "amass" / "SYNTHETIC" / f"{NAMES[0]}.npz"
    with _appended(source, b"x"):
        report = verify_lineage(trained["checkpoint"])
    assert [(c.kind, c.item, c.status) for c in report.failures] == [("amass", f"SYNTHETIC/{NAMES[0]}.npz", "mismatch")]
    assert report.amass_root == str(trained["data"] / "amass")
    elsewhere = verify_lineage(trained["checkpoint"], amass_root=tmp_path)
    assert [c.status for c in elsewhere.checks if c.kind == "amass"] == ["missing"] * 4


def test_changed_experiment_copy_and_config_are_mismatches(trained):
    run = trained["checkpoint"].parent
    with _appended(run / "experiment_config.py", b"# edited\n"):
        report = verify_lineage(trained["checkpoint"])
    assert [(c.kind, c.status) for c in report.failures] == [("experiment_copy", "mismatch")]

    payload = torch.load(trained["checkpoint"], weights_only=True)
    recorded = payload["config_hash"]
    payload["config"]["seed"] = payload["config"]["seed"] + 1  # a config that did not make these weights
    torch.save(payload, run / "tampered.ckpt")
    report = verify_lineage(run / "tampered.ckpt")
    (failure,) = report.failures
    assert (failure.kind, failure.status, failure.expected) == ("checkpoint_config", "mismatch", recorded)
    assert failure.found == config_hash(config_from_dict(ExperimentConfig, payload["config"])) != recorded

    payload = torch.load(trained["checkpoint"], weights_only=True)
    payload["lineage"]["config"]["agent"]["actor_units"] = [128, 128]
    torch.save(payload, run / "tampered.ckpt")
    assert [(c.kind, c.status) for c in verify_lineage(run / "tampered.ckpt").failures] == [("config", "mismatch")]
    (run / "tampered.ckpt").unlink()


def test_json_lists_every_check(trained, repo_root):
    result = _lineage_cli(repo_root, trained["checkpoint"], "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["epoch"] == 1
    assert report["counts"] == {"ok": 13, "mismatch": 0, "missing": 0, "skipped": 3, "unchecked": 0}
    assert report["verified"] is True
    kinds = [check["kind"] for check in report["checks"]]
    assert kinds == ["config", "checkpoint_config", "experiment", "experiment_copy", "motion_lib", "dvc_motion_lib",
                     "dvc_checkpoint"] + ["motion", "amass"] * 4 + ["parent"]  # fmt: skip
    motion = next(check for check in report["checks"] if check["kind"] == "motion")
    assert set(motion) == {"kind", "item", "expected", "found", "status", "note", "index"}
    assert report["lineage"]["motion_file_md5"] == _md5(trained["lib"])


def test_dvc_lock_records_are_compared(trained, repo_root):
    data, lib = trained["data"], trained["lib"]
    motion = data / "motions" / "SYNTHETIC" / f"{NAMES[1]}.motion"
    lock = data / "dvc.lock"
    listing = data / ".dvc" / "cache" / "files" / "md5" / "ab" / "cdef0123456789abcdef0123456789.dir"
    listing.parent.mkdir(parents=True)
    listing.write_text(json.dumps([{"md5": _md5(motion), "relpath": f"SYNTHETIC/{NAMES[1]}.motion"}]))
    body = (
        "schema: '2.0'\nstages:\n  convert:\n    outs:\n    - path: motions\n      hash: md5\n"
        "      md5: abcdef0123456789abcdef0123456789.dir\n  package:\n    outs:\n    - path: lib.pt\n"
        "      hash: md5\n      md5: {md5}\n      size: 1\n"
    )
    try:
        lock.write_text(body.format(md5=_md5(lib)))
        report = verify_lineage(trained["checkpoint"])  # dvc.lock found beside the MotionLib
        assert report.ok and report.dvc_lock == str(lock)
        (entry,) = [check for check in report.checks if check.kind == "dvc_motion_lib"]
        assert (entry.status, entry.found) == ("ok", _md5(lib)) and "stage package outs" in entry.note
        assert dvc_recorded_md5(lock, motion) == (_md5(motion), "stage convert outs (motions/)")

        lock.write_text(body.format(md5="f" * 32))
        result = _lineage_cli(repo_root, trained["checkpoint"], "--strict")
        assert result.returncode == 1 and f"{lib} (mismatch)" in result.stderr
        assert f"✗ dvc.lock entry for {lib}  MISMATCH: recorded {_md5(lib)[:12]}, found ffffffffffff" in result.stdout

        other = data / "motions" / "dvc.lock"  # names with --dvc-lock, but lib.pt is not in it
        other.write_text("schema: '2.0'\nstages: {}\n")
        report = verify_lineage(trained["checkpoint"], dvc_lock=other)
        assert [(c.kind, c.status) for c in report.failures] == [("dvc_motion_lib", "missing")]
        other.unlink()
    finally:
        lock.unlink()
        shutil.rmtree(data / ".dvc")


def test_warm_start_and_resume_name_their_parent(trained, repo_root):
    parent = trained["checkpoint"]
    parent_md5 = _md5(parent)
    _train(repo_root, trained["results"], trained["lib"], trained["experiment"], "warm", "--max-epochs", "1",
           "--checkpoint", str(parent))  # fmt: skip
    warm = trained["results"] / "warm" / "last.ckpt"
    lineage = torch.load(warm, weights_only=True)["lineage"]
    assert lineage["start_mode"] == "warm_start"
    assert lineage["parent_checkpoint"] == {"path": str(parent), "md5": parent_md5, "start_mode": "warm_start"}
    (check,) = [c for c in verify_lineage(warm).checks if c.kind == "parent"]
    assert (check.item, check.status, check.found) == (str(parent), "ok", parent_md5)

    warm_md5 = _md5(warm)
    result = _train(repo_root, trained["results"], trained["lib"], trained["experiment"], "warm", "--max-epochs", "2")
    assert "resuming from" in result.stdout
    lineage = torch.load(warm, weights_only=True)["lineage"]
    assert lineage["start_mode"] == "resume"
    assert lineage["parent_checkpoint"] == {"path": str(warm), "md5": warm_md5, "start_mode": "resume"}
    report = verify_lineage(warm)
    (check,) = [c for c in report.checks if c.kind == "parent"]
    assert check.status == "skipped" and "overwritten by the resumed run" in check.note  # last.ckpt was rewritten
    assert report.ok
    tree = render_tree(report)
    assert f"· parent checkpoint {warm}  (skipped: last.ckpt was overwritten" in tree


def test_tree_lists_ten_motions_and_every_failing_one():
    checks = [LineageCheck("motion", f"m{i:02d}.motion", "a" * 32, "a" * 32, "ok", index=i) for i in range(25)]
    checks[20] = LineageCheck("motion", "m20.motion", "a" * 32, "b" * 32, "mismatch", index=20)
    report = LineageReport("x.ckpt", 3, {"motion_lib": {"num_motions": 25}}, checks)
    tree = render_tree(report)
    shown = [f"m{i:02d}.motion" for i in range(25) if f"{i:02d}.motion" in tree]
    assert shown == [f"m{i:02d}.motion" for i in range(10)] + ["m20.motion"]
    assert "✗ m20.motion  MISMATCH: recorded aaaaaaaaaaaa, found bbbbbbbbbbbb" in tree
    assert "… 14 more .motion files (their checks with their sources: 14 ok)" in tree
    assert tree.splitlines()[-1] == "25 checks: 24 ok, 1 mismatch, 0 missing, 0 skipped, 0 unchecked — 1 problem(s)"
    ascii_tree = render_tree(report, ascii_only=True)
    assert ascii_tree.isascii() and "XX m20.motion" in ascii_tree and "`-- ... 14 more" in ascii_tree


def test_absolute_paths_of_a_moved_checkout_are_found_relative_to_the_new_one(tmp_path):
    """A run records absolute paths inside its working directory; cloned elsewhere, the same
    files are looked for at the same place below the other bases (e.g. the current folder)."""
    from training.lineage_files import locate_recorded

    (tmp_path / "training").mkdir()
    (tmp_path / "training" / "exp.py").write_text("x = 1\n")
    gone = tmp_path / "gone-checkout"
    found = locate_recorded(str(gone / "training" / "exp.py"), [gone, tmp_path])
    assert found == tmp_path / "training" / "exp.py"
    # Outside the old working directory nothing is guessed: the recorded path stays as it was.
    assert locate_recorded("/elsewhere/exp.py", [gone, tmp_path]) == Path("/elsewhere/exp.py")


def test_the_clones_copy_wins_over_the_authors_absolute_path_when_both_exist(tmp_path):
    """The shipped lineage records the author's absolute paths; on a machine where that checkout
    also exists (the author's own, or a second clone), `mimic lineage` run in a clone checks the
    clone's files."""
    from training.lineage_files import locate_recorded

    author, clone = tmp_path / "author", tmp_path / "clone"
    for checkout in (author, clone):
        (checkout / "data" / "motionlib").mkdir(parents=True)
        (checkout / "data" / "motionlib" / "lib.pt").write_text(checkout.name)
    recorded = str(author / "data" / "motionlib" / "lib.pt")
    assert locate_recorded(recorded, [clone, author], author) == clone / "data" / "motionlib" / "lib.pt"
    # Without a copy in the clone, the recorded file is checked where it is.
    (clone / "data" / "motionlib" / "lib.pt").unlink()
    assert locate_recorded(recorded, [clone, author], author) == author / "data" / "motionlib" / "lib.pt"
    assert locate_recorded(recorded, [clone], author) == author / "data" / "motionlib" / "lib.pt"
