"""A real mixed SMPL-H / SMPL-X corpus through conversion: held-out folders as their own split,
and capture glitches reported as what they are (kept in the data, named in the report)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from motion.batch_convert import TREE_STAMP, convert_amass_tree
from motion.capture_glitches import GLITCH_EXCESS, root_jumps
from motion.errors import MotionDataError


def _entries(path: Path) -> list:
    return [entry["file"] for entry in (yaml.safe_load(path.read_text()) or {}).get("motions") or []]


def test_split_map_puts_heldout_clips_in_the_test_split_only(accad_motions: Path) -> None:
    train, test = _entries(accad_motions / "train.yaml"), _entries(accad_motions / "test.yaml")
    assert len(train) == 27 and len(test) == 10
    assert all(f.startswith("train/") for f in train) and all(f.startswith("heldout/") for f in test)
    assert _entries(accad_motions / "validation.yaml") == []
    metadata = torch.load(accad_motions / test[0], weights_only=True)["mimicflow"]
    assert metadata["split"] == "test" and metadata["subset"] == "heldout"
    # Both body models are in the corpus and both converted.
    models = {torch.load(accad_motions / f, weights_only=True)["mimicflow"]["model_type"] for f in train + test}
    assert len(models) == 2, models
    assert '"split_of": {"heldout": "test"}' in (accad_motions / TREE_STAMP).read_text()


def test_the_two_documented_glitches_are_reported_and_no_other(accad_dir: Path, tmp_path: Path) -> None:
    report = convert_amass_tree(accad_dir, tmp_path / "out", subsets=["train"], workers=1, progress=False)
    assert report.ok
    glitched = sorted(Path(source).name for source, _ in report.notes)
    assert glitched == [
        "leo21468_retarget-test__Male2Running_c3d__C7_-_run_backwards_t2_stageii.npz",
        "luni1024_Style-Transfer-UI__Male2Running_c3d__C11_-_run_turn_left_90_poses.npz",
    ]
    summary = report.summary()
    assert "2 clip(s) converted with data problems kept as captured" in summary
    assert "the root jumps 11.9 cm between source frames 8 and 9" in summary
    # The glitch stays in the data and is recorded in the clip's metadata (frame, step m, local m).
    motion = next((tmp_path / "out").rglob("*run_turn_left_90_poses.motion"))
    frame, step, local = torch.load(motion, weights_only=True)["mimicflow"]["capture_glitches"][0]
    assert frame == 8 and step == pytest.approx(0.1188, abs=5e-4) and step - local > GLITCH_EXCESS
    clean = next((tmp_path / "out").rglob("*Sprint1_stageii.motion"))
    assert "capture_glitches" not in torch.load(clean, weights_only=True)["mimicflow"]


def test_root_jumps_finds_a_planted_teleport_in_a_smooth_walk() -> None:
    t = np.arange(240) / 120.0
    trans = np.stack([1.2 * t, 0.05 * np.sin(4 * t), 0.9 + 0.02 * np.sin(12 * t)], axis=1)
    assert root_jumps(trans, 120.0) == []
    trans[100:, 0] += 0.08  # an 8 cm step between frames 99 and 100
    [jump] = root_jumps(trans, 120.0)
    assert jump.frame == 99 and jump.step == pytest.approx(0.09, abs=2e-3)
    assert jump.seconds == pytest.approx(99 / 120.0)


def test_a_bad_split_is_one_error_naming_the_subset(accad_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(MotionDataError, match=r"split_of.*'heldout'.*'holdout'"):
        convert_amass_tree(accad_dir, tmp_path, split_of={"heldout": "holdout"}, progress=False)
    result = subprocess.run(
        [sys.executable, "-m", "mimic.cli", "amass", "convert", str(accad_dir), str(tmp_path), "--split", "heldout"],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "expected SUBSET=SPLIT" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
