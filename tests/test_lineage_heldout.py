"""``mimic lineage --held-out``: a checkpoint's recorded training sources against held-out clips."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch

from training.lineage_heldout import held_out_md5s, trained_on_held_out

SHIPPED = "data/pretrained/smpl_walk_jump/last.ckpt"  # trained on two of the three AMASS sample clips


def test_a_policy_not_trained_on_the_held_out_clips_passes(repo_root: Path, accad_dir: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mimic.cli", "lineage", SHIPPED, "--held-out", str(accad_dir / "heldout")],
        cwd=repo_root, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "held out: none of the 10 held-out clips is among the 2 clips trained on (md5s)" in result.stdout


def test_a_policy_trained_on_a_held_out_clip_is_caught_by_md5(repo_root: Path, amass_dir: Path, tmp_path) -> None:
    lineage = torch.load(repo_root / SHIPPED, weights_only=True)["lineage"]
    # The jumps clip under another name is still the jumps clip.
    renamed = tmp_path / "holdout_clip_07.npz"
    renamed.write_bytes((amass_dir / "dmpl_sample_female_120fps_poses.npz").read_bytes())
    assert trained_on_held_out(lineage, held_out_md5s([renamed])) == [
        f"samples/dmpl_sample_female_120fps_poses.npz (= {renamed})"
    ]
    # The whole samples folder: the walk and the jumps were trained on, the seated clip was not.
    assert len(trained_on_held_out(lineage, held_out_md5s([amass_dir]))) == 2
    assert held_out_md5s([amass_dir]).keys() >= set(lineage["motion_lib"]["source_md5"])


def test_the_command_fails_naming_the_clips_trained_on(repo_root: Path, amass_dir: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mimic.cli", "lineage", SHIPPED, "--held-out", str(amass_dir)],
        cwd=repo_root, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 1
    assert "2 held-out clip(s) were trained on: samples/" in result.stderr
