"""MotionLib integrity (motion/motion_lib_integrity.py) on a MotionLib of the real sample clips:
the library function, and `mimic motionlib check` as a subprocess accepting it and rejecting
corrupted copies with the file and the field named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from motion.batch_convert import convert_amass_tree
from motion.motion_lib_integrity import MotionLibIntegrityConfig, motion_lib_integrity
from motion.motion_lib_packaging import package_motion_lib


@pytest.fixture(scope="module")
def real_lib(amass_dir, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("integrity")
    assert convert_amass_tree(amass_dir, root / "motions", workers=1, progress=False).ok
    return package_motion_lib(root / "motions" / "motions.yaml", root / "amass.pt").output_file


def _mimic_check(repo_root: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "mimic.cli", "motionlib", "check", *args]
    return subprocess.run(command, cwd=repo_root, capture_output=True, text=True, timeout=120)


def _tampered(real_lib: Path, tmp_path: Path, tamper) -> Path:
    lib = torch.load(real_lib, weights_only=True)
    tamper(lib)
    path = tmp_path / "tampered.pt"
    torch.save(lib, path)
    return path


def test_integrity_flags_floating_motions_and_implausible_speeds(real_lib):
    lib = torch.load(real_lib, weights_only=True)
    start, count = int(lib["length_starts"][1]), int(lib["motion_num_frames"][1])
    lib["gts"][start : start + count, :, 2] += 0.1  # motion 1 floats 10 cm up
    lib["gvs"][0, 0] = torch.tensor([40.0, 0.0, 0.0])  # 40 m/s
    report = motion_lib_integrity(lib, MotionLibIntegrityConfig())
    assert report.lowest_body_height_m[1] == pytest.approx(0.115, abs=1e-6)
    assert len(report.problems) == 2
    assert "lowest body at 0.1150 m, expected 0.0150 m" in report.problems[0]
    assert report.problems[1] == "body speed 40.0 m/s above 30.0 m/s"


def test_every_check_is_reported_with_the_field_it_read(real_lib):
    report = motion_lib_integrity(torch.load(real_lib, weights_only=True))
    assert report.passed and report.problems == []
    names = [check.name for check in report.checks]
    assert names == ["finite", "quaternion_norm", "lowest_body_height", "body_speed", "body_angular_speed"]
    assert all(check.passed for check in report.checks)
    assert {check.name: check.field for check in report.checks}["body_speed"] == "gvs"


def test_cli_accepts_the_real_motionlib(real_lib, repo_root):
    result = _mimic_check(repo_root, str(real_lib))
    assert result.returncode == 0, result.stderr
    assert f"{real_lib}: 3 motions" in result.stdout
    assert result.stdout.count("  PASS ") == 5 and "FAIL" not in result.stdout
    assert result.stderr == ""


def test_cli_rejects_a_nan_naming_the_file_and_the_tensor(real_lib, repo_root, tmp_path):
    path = _tampered(real_lib, tmp_path, lambda lib: lib["gts"][10, 3].__setitem__(1, float("nan")))
    result = _mimic_check(repo_root, str(path))
    assert result.returncode == 1
    assert "  FAIL finite [" in result.stdout
    assert f"mimic: error: {path}: 1 non-finite values (NaN/inf) in gts 1" in result.stderr


def test_cli_thresholds_are_flags(real_lib, repo_root):
    result = _mimic_check(repo_root, str(real_lib), "--max-body-speed-m-s", "0.5")
    assert result.returncode == 1
    assert "  FAIL body_speed [gvs]: expected max |v| <= 0.5 m/s" in result.stdout
    assert f"mimic: error: {real_lib}: body speed" in result.stderr and "above 0.5 m/s" in result.stderr


@pytest.mark.parametrize(
    "tamper, field",
    [
        (lambda lib: lib["motion_num_frames"].__setitem__(0, lib["motion_num_frames"][0] + 1), "motion_num_frames"),
        (lambda lib: lib.__setitem__("positions", lib.pop("gts")), "gts"),
        (lambda lib: lib.__setitem__("grs", lib["grs"][:-1]), "grs"),
    ],
    ids=["inconsistent_lengths", "wrong_key", "short_tensor"],
)
def test_cli_rejects_a_malformed_motionlib_in_one_line(real_lib, repo_root, tmp_path, tamper, field):
    path = _tampered(real_lib, tmp_path, tamper)
    result = _mimic_check(repo_root, str(path))
    assert result.returncode == 2, result.stdout + result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith(f"mimic: error: {path}: field '{field}': expected ")


def test_cli_rejects_a_file_that_is_no_torch_file(repo_root, tmp_path):
    path = tmp_path / "not_a_motionlib.pt"
    path.write_text("hello")
    result = _mimic_check(repo_root, str(path))
    assert result.returncode == 2
    assert f"mimic: error: {path}: field '<file>'" in result.stderr
