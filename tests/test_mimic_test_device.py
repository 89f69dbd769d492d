"""MIMIC_TEST_DEVICE: which device the ``device``-marked suites run on, and what happens without it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from device_under_test import CUDA_REPEAT_TOLERANCE, assert_repeatable, missing_device_reason, parse_test_device


def test_device_names_parse_and_bad_ones_are_named():
    assert parse_test_device("cpu") == torch.device("cpu")
    assert parse_test_device(" CUDA ") == torch.device("cuda", 0)
    assert parse_test_device("cuda:1") == torch.device("cuda", 1)
    for bad in ("gpu", "tpu", "cuda:x", "cpu:1", ""):
        with pytest.raises(ValueError, match=f"MIMIC_TEST_DEVICE: expected 'cpu', 'cuda' or 'cuda:k', found {bad!r}"):
            parse_test_device(bad)


def test_cpu_is_always_there():
    assert missing_device_reason(torch.device("cpu")) == ""


def test_bit_identity_on_the_cpu_tolerance_on_cuda():
    one = {"pos": [torch.tensor([1.0, 2.0], dtype=torch.float64)]}
    close = {"pos": [torch.tensor([1.0, 2.0 + 5e-5], dtype=torch.float64)]}
    with pytest.raises(AssertionError):
        assert_repeatable(one, close, bit_identical=True)
    assert assert_repeatable(one, close, bit_identical=False)["pos"] == pytest.approx(5e-5)
    far = {"pos": [torch.tensor([1.0, 2.0 + 2 * CUDA_REPEAT_TOLERANCE["pos"]], dtype=torch.float64)]}
    with pytest.raises(AssertionError):
        assert_repeatable(one, far, bit_identical=False)


def _pytest(repo_root, device, *args):
    environment = dict(os.environ, MIMIC_TEST_DEVICE=device, PYTHONPATH=str(repo_root))
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
    return subprocess.run(command, cwd=repo_root, env=environment, capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: the skip path cannot be seen")
def test_cuda_without_cuda_skips_the_device_suites_naming_cuda(repo_root):
    result = _pytest(repo_root, "cuda", "-rs", "-m", "device", "tests/test_simulator_conformance.py",
                     "-k", "free_fall")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "MIMIC_TEST_DEVICE=cuda:0 asks for CUDA, but torch sees no CUDA device" in result.stdout
    assert " passed" not in result.stdout  # nothing ran on the CPU in its place


def test_a_bad_device_stops_the_session_with_one_line(repo_root):
    result = _pytest(repo_root, "tpu", "tests/test_mimic_test_device.py")
    assert result.returncode == 4  # pytest's usage error
    assert "ERROR: MIMIC_TEST_DEVICE: expected 'cpu', 'cuda' or 'cuda:k', found 'tpu'" in result.stderr
    assert "Traceback" not in result.stderr
