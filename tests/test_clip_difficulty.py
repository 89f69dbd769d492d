"""``mimic motionlib difficulty`` on the real 27-clip train corpus: what each clip demands and how
long the oracle and an untrained policy last, before any training."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from motion.motion_lib_packaging import package_motion_lib


@pytest.fixture(scope="module")
def difficulty(accad_motions: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("difficulty")
    package_motion_lib(accad_motions / "train.yaml", out / "train.pt", progress=False)
    result = subprocess.run(
        [sys.executable, "-m", "mimic.cli", "motionlib", "difficulty", str(out / "train.pt"),
         "--json", str(out / "rows.json")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return {"rows": json.loads((out / "rows.json").read_text()), "stdout": result.stdout}


def _row(rows: list, fragment: str) -> dict:
    [row] = [row for row in rows if row["clip"].endswith(fragment)]
    return row


def test_demands_name_the_data_problems(difficulty: dict) -> None:
    rows = difficulty["rows"]
    assert len(rows) == 27
    glitched = sorted(row["clip"] for row in rows if row["capture_glitches"])
    assert len(glitched) == 2
    assert glitched[0].endswith("C7___run_backwards_t2_stageii")
    assert glitched[1].endswith("C11___run_turn_left_90_poses")
    assert _row(rows, "run_turn_left_90_poses")["capture_glitches"] == 1
    # A crawl is on hands and knees nearly throughout; a walk never touches with more than its feet.
    assert _row(rows, "A11__Crawl_poses")["non_foot_contact_seconds"] > 12.0
    assert _row(rows, "Female1Walking_c3d__B3___walk1_poses")["non_foot_contact_seconds"] == 0.0
    assert (
        _row(rows, "Sprint1_stageii")["peak_root_speed"] > 3.0 > _row(rows, "A5___pick_up_box_poses")["peak_root_speed"]
    )
    # The cartwheel's capture floats: its lowest body sits >10 cm above the floor most of the clip.
    assert (
        _row(rows, "D6__CartWheel_poses")["median_lowest_body"]
        > 0.1
        > _row(rows, "Female1Walking_c3d__B3___walk1_poses")["median_lowest_body"]
    )


def test_nothing_that_learned_nothing_lasts_a_dynamic_clip(difficulty: dict) -> None:
    rows = difficulty["rows"]
    for name in ("s009__Sprint1_stageii", "Male2Running_c3d__C3___run_poses", "Female1Walking_c3d__B3___walk1_poses"):
        row = _row(rows, name)
        assert not row["oracle_to_end"] and row["oracle_seconds"] < 1.5, row
        assert not row["untrained_to_end"] and row["untrained_seconds"] < 1.5, row
    assert "27 clips; lasted to the end: oracle 0, untrained 0" in difficulty["stdout"]
    assert "| clip | s | peak root speed (m/s) |" in difficulty["stdout"]
