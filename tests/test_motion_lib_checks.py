"""Hostile MotionLibs and ``.motion`` files: each refused with one error naming the file and the key
(motion/motion_lib_checks.py, the packaging guard), and a full disk while packaging is one line."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List

import pytest
import torch
from fifo_guard import returns_within
from write_faults import small_filesystem

from mimic.cli import main as mimic_main
from motion.errors import MotionDataError
from motion.motion_file import save_motion
from motion.motion_lib import MotionLib
from motion.motion_lib_packaging import build_motion_lib, find_motion_sources, package_motion_lib
from motion.synthetic import random_motion


@pytest.fixture(scope="module")
def three_motions(tmp_path_factory: pytest.TempPathFactory) -> List[Path]:
    """Three valid motions of 23, 7 and 40 frames at 30, 60 and 25 fps (70 frames in all)."""
    folder = tmp_path_factory.mktemp("motions")
    paths = []
    for seed, (name, frames, fps) in enumerate(
        (("a/walk.motion", 23, 30), ("b/run.motion", 7, 60), ("c/jump.motion", 40, 25))
    ):
        paths.append(folder / name)
        save_motion(random_motion(frames, seed, fps), paths[-1])
    return paths


def _library(three_motions: List[Path]) -> Dict[str, Any]:
    data, _ = build_motion_lib(find_motion_sources(three_motions))
    return data


@pytest.mark.parametrize(
    ("change", "field", "found"),
    [
        (lambda d: d["gts"].__setitem__((5, 3, 1), float("nan")), "gts", "NaN or inf at frame 5"),
        (lambda d: d["lrs"].__setitem__((69, 0, 0), float("inf")), "lrs", "NaN or inf at frame 69"),
        (lambda d: d["dvs"].__setitem__((0, 0), float("-inf")), "dvs", "NaN or inf at frame 0"),
        (lambda d: d.update(motion_dt=torch.tensor([1 / 30, float("inf"), 1 / 25])), "motion_dt", "[inf]"),
        (lambda d: d.update(motion_dt=torch.tensor([1 / 30, 1 / 7919, 1 / 25])), "motion_dt", "0.000126"),
        (lambda d: d.update(motion_lengths=torch.tensor([0.7, float("nan"), 1.5])), "motion_lengths", "nan"),
        (lambda d: d.update(motion_num_frames=torch.tensor([23.0, 7.0, 40.0])), "motion_num_frames", "float32"),
        (lambda d: d.update(motion_files=7), "motion_files", "int"),
        (lambda d: d.update(mimicflow=["not", "a", "dict"]), "mimicflow", "list"),
        (lambda d: d.update(gts=torch.zeros(1, 1, 3).expand(70, 24, 3)), "gts", "strides (0, 0, 1)"),
        (lambda d: d.update(contacts="yes"), "contacts", "str"),
    ],
)
def test_hostile_library_fields_are_named(tmp_path: Path, three_motions: List[Path], change, field, found) -> None:
    data = _library(three_motions)
    change(data)
    path = tmp_path / "hostile.pt"
    torch.save(data, path)
    with pytest.raises(MotionDataError) as caught:
        MotionLib.from_file(path)
    assert caught.value.path == str(path) and caught.value.field == field, caught.value
    assert found in caught.value.found, caught.value.found


def test_packaging_reports_every_hostile_motion_and_keeps_the_good_ones(tmp_path: Path) -> None:
    folder = tmp_path / "motions"
    good = folder / "good.motion"
    save_motion(random_motion(9, 0, 30), good)
    fast = random_motion(5, 1, 30)
    fast["fps"] = 7919
    torch.save(fast, folder / "fast.motion")
    expanded = dict(random_motion(5, 2, 30), dof_pos=torch.zeros(1, 1).expand(5, 69))
    torch.save(expanded, folder / "expanded.motion")
    torch.save([1, 2, 3], folder / "list.motion")
    os.mkfifo(folder / "x.motion")
    result = returns_within(
        60.0, lambda: package_motion_lib(folder, tmp_path / "lib.pt", skip_bad=True), folder / "x.motion"
    )
    assert result.num_motions == 1 and MotionLib.from_file(result.output_file).motion_files == (str(good),)
    found = {Path(failure.path).name: (failure.field, failure.found) for failure in result.failures}
    assert found == {
        "fast.motion": ("fps", "7919"),
        "expanded.motion": ("dof_pos", "strides (0, 0)"),
        "list.motion": ("<file>", "list"),
        "x.motion": ("<file>", "a FIFO (named pipe), not a regular file"),
    }


def test_package_command_on_a_full_disk_is_one_line(tmp_path: Path, three_motions: List[Path], capsys) -> None:
    from mimic.cli import EXIT_WRITE_ERROR

    with small_filesystem(tmp_path / "disk", "40k") as disk:
        output = disk.path / "lib.pt"
        command = ["motionlib", "package", "--motion-path", str(three_motions[0].parent.parent)]
        command += ["--output-file", str(output), "--no-progress"]
        capsys.readouterr()
        assert mimic_main(command) == EXIT_WRITE_ERROR
        assert capsys.readouterr().err.strip().splitlines() == [
            f"mimic: error: cannot write {output}: No space left on device (errno 28 ENOSPC): free space and rerun; "
            "finished files are kept"
        ]
        assert list(disk.path.iterdir()) == []  # no partial file, no temp file
        disk.remount("size=400k")
        assert mimic_main(command) == 0 and MotionLib.from_file(output).num_motions == 3
