"""``mimic lineage --held-out``: a checkpoint's recorded training sources against held-out clips."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SHIPPED = "data/pretrained/smpl_walk_jump/last.ckpt"  # trained on two of the three AMASS sample clips


def _lineage(repo_root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mimic.cli", "lineage", SHIPPED, *args], cwd=repo_root,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def test_a_policy_not_trained_on_the_held_out_clips_passes(repo_root: Path, accad_dir: Path) -> None:
    result = _lineage(repo_root, "--held-out", str(accad_dir / "heldout"))
    assert result.returncode == 0, result.stderr
    assert "held out: none of the 10 held-out clips is among the 2 clips trained on (md5s)" in result.stdout


def test_a_policy_trained_on_a_held_out_clip_fails_naming_it(repo_root: Path, amass_dir: Path) -> None:
    result = _lineage(repo_root, "--held-out", str(amass_dir / "dmpl_sample_female_120fps_poses.npz"))
    assert result.returncode == 1
    assert "1 held-out clip(s) were trained on: samples/dmpl_sample_female_120fps_poses.npz" in result.stderr
    # The whole samples folder: the walk and the jumps were trained on, the seated clip was not.
    result = _lineage(repo_root, "--held-out", str(amass_dir))
    assert result.returncode == 1 and "2 held-out clip(s) were trained on" in result.stderr
