"""`mimic amass stage SOURCE SUBSET AMASS_ROOT` (motion/amass_staging.py, what Dagster's
amass_archives runs in local mode) from a folder of the real sample clips and from an archive."""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

import pytest


def _stage(repo_root: Path, *args: Path | str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "mimic.cli", "amass", "stage", *map(str, args)]
    return subprocess.run(command, cwd=repo_root, capture_output=True, text=True, timeout=120)


def _clip_names(amass_dir: Path) -> list[str]:
    return sorted(clip.name for clip in amass_dir.glob("*.npz"))


def test_a_folder_is_linked(amass_dir, repo_root, tmp_path):
    root = tmp_path / "amass"
    result = _stage(repo_root, amass_dir, "samples", root)
    assert result.returncode == 0, result.stderr
    target = root / "samples"
    assert target.is_symlink() and target.resolve() == amass_dir.resolve()
    assert result.stdout.strip() == f"samples: 3 clips at {target} (linked to {amass_dir.resolve()})"
    # Again: already in place, nothing changes.
    again = _stage(repo_root, amass_dir, "samples", root)
    assert again.returncode == 0 and "in place at" in again.stdout


@pytest.mark.parametrize("given", ["archive", "folder holding the archive"])
def test_an_archive_is_extracted(amass_dir, repo_root, tmp_path, given):
    archive = tmp_path / "downloads" / "SFU.tar.bz2"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:bz2") as tar:  # as AMASS ships it: one top folder, subject folders
        for clip in sorted(amass_dir.glob("*.npz")):
            tar.add(clip, arcname=f"SFU/0005/{clip.name}")
    root = tmp_path / "amass"
    result = _stage(repo_root, archive if given == "archive" else archive.parent, "SFU", root)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"SFU: 3 clips at {root / 'SFU'} (extracted {archive})"
    assert sorted(p.name for p in (root / "SFU" / "0005").iterdir()) == _clip_names(amass_dir)
    assert not (root / "SFU").is_symlink()


def test_an_archive_of_another_subset_is_refused_in_one_line(amass_dir, repo_root, tmp_path):
    archive = tmp_path / "KIT.tar.bz2"
    with tarfile.open(archive, "w:bz2") as tar:
        tar.add(next(amass_dir.glob("*.npz")), arcname="KIT/3/clip_poses.npz")
    result = _stage(repo_root, archive, "SFU", tmp_path / "amass")
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"mimic: error: {archive}: field '<archive>': expected one top folder 'SFU/'")


def test_a_missing_source_or_a_folder_without_clips_is_refused(repo_root, tmp_path):
    missing = _stage(repo_root, tmp_path / "nowhere", "CMU", tmp_path / "amass")
    assert missing.returncode == 2 and "field 'local_path': expected an existing folder or archive" in missing.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    result = _stage(repo_root, empty, "CMU", tmp_path / "amass")
    assert result.returncode == 2 and "expected AMASS clips (*_poses.npz or *_stageii.npz) below it" in result.stderr
    assert not (tmp_path / "amass" / "CMU").exists()
