"""``make gpu-check`` (scripts/gpu_check.py) where there is no GPU, and the pieces of its record."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import tomllib
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "scripts"))

import gpu_check  # noqa: E402


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: gpu-check would run for minutes")
def test_without_cuda_it_says_so_installs_nothing_and_exits_0(repo_root, tmp_path):
    result = subprocess.run([sys.executable, "scripts/gpu_check.py", "--out", str(tmp_path)], cwd=repo_root,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    record_line, summary = result.stdout.strip().splitlines()
    record = json.loads(record_line)
    assert record["check"] == "gpu_check" and "CUDA" in record["skipped"]
    assert summary.startswith("gpu-check: skipped: ") and "nothing installed or run" in summary
    assert not any(tmp_path.iterdir())  # no results folder, no download


def test_it_installs_exactly_the_mjwarp_extra(repo_root):
    with (repo_root / "pyproject.toml").open("rb") as handle:
        extra = tomllib.load(handle)["project"]["optional-dependencies"]["mjwarp"]
    assert gpu_check.mjwarp_extra() == extra
    assert sorted(f"{name}=={pin}" for name, pin in gpu_check.WARP_PINS.items()) == sorted(
        requirement.replace("mujoco-warp", "mujoco_warp").replace("warp-lang", "warp") for requirement in extra
    )


def test_test_counts_and_failures_come_from_pytests_junit_file(repo_root, tmp_path):
    junit = tmp_path / "tests.xml"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}"]
    command += ["tests/test_mimic_test_device.py", "-k", "parse or cpu_is_always or bit_identity"]
    subprocess.run(command, cwd=repo_root, capture_output=True, text=True, timeout=300, check=True)
    counts = gpu_check.junit_counts(junit)
    assert (counts["tests"], counts["passed"], counts["failures"], counts["errors"]) == (3, 3, 0, 0)
    assert counts["failed"] == [] and counts["seconds"] > 0


def test_record_pieces_are_read_from_the_stage_logs():
    text = 'noise\n{"benchmark": "gpu_scale", "results": [1]}\n{"other": 2}\nsummary line\n'
    assert gpu_check.last_json(text, "results") == {"benchmark": "gpu_scale", "results": [1]}
    assert gpu_check.last_json(text, "final") is None
    printed = "repeat deviation on cuda:0: {'pos': 2.4e-07, 'contact': 0.5}"
    (match,) = gpu_check.DEVIATION_LINE.findall(printed)
    assert gpu_check._parse_deviation(match) == {"pos": 2.4e-07, "contact": 0.5}
    record = {
        "machine": {"gpu": "NVIDIA H200"}, "seconds": 540.0,
        "stages": {
            "install": {"status": 0}, "kernels": {"status": 0, "first_use_seconds": 104.2},
            "tests": {"status": 1, "passed": 60, "failures": 1, "errors": 0, "skipped": 3},
            "bench": {"status": 0, "record": {"results": [{"simulator": "mjwarp", "num_envs": 8192,
                      "env_steps_per_s": 207000, "train_env_steps_per_s": 107000}]}},
            "learning": {"status": 0, "record": {"final": {"success_rate": 0.5, "e_g_mpjpe_mm": 212.4}}},
        },
    }  # fmt: skip
    assert gpu_check.summary_line(record) == (
        "gpu-check on NVIDIA H200 in 9.0 min; kernels ready in 104 s; tests 60 passed, 1 failed, 0 errors, "
        "3 skipped; 8192 envs: env 207,000, training 107,000 env-steps/s; GPU recipe full-eval success 0.50, "
        "E_g-mpjpe 212 mm; failed stages: tests"
    )
