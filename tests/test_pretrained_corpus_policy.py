"""The corpus policy shipped in data/pretrained/smpl_accad/: its lineage passes ``--strict`` once the
corpus is converted and packaged by the project's commands (as ``make demo`` does), and shows that
no held-out clip was trained on; its full-eval on the held-out clips is the one committed beside it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
PRETRAINED = REPO / "data" / "pretrained" / "smpl_accad"


def _mimic(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mimic.cli", *args], cwd=cwd, capture_output=True, text=True)


@pytest.fixture(scope="module")
def checkout_with_corpus(accad_dir, tmp_path_factory) -> Path:
    """A folder laid out like a checkout after ``make demo``'s corpus part."""
    root = tmp_path_factory.mktemp("checkout")
    for folder, subset in (("train", "accad_train"), ("heldout", "accad_heldout")):
        staged = _mimic(root, "amass", "stage", str(accad_dir / folder), subset, "data/amass")
        assert staged.returncode == 0, staged.stderr
    converted = _mimic(root, "amass", "convert", "data/amass", "data/motions/accad", "--subsets", "accad_train",
                       "accad_heldout", "--split", "accad_heldout=test", "--workers", "2", "--no-progress")  # fmt: skip
    assert converted.returncode == 0, converted.stderr
    for split, name in (("train", "accad_train"), ("test", "accad_heldout")):
        packaged = _mimic(root, "motionlib", "package", "--motion-path", f"data/motions/accad/{split}.yaml",
                          "--output-file", f"data/motionlib/{name}.pt")  # fmt: skip
        assert packaged.returncode == 0, packaged.stderr
    experiments = root / "training" / "experiments" / "mimic"
    experiments.mkdir(parents=True)
    for name in ("mlp.py", "mlp_cpu.py", "mlp_corpus_cpu.py"):
        shutil.copyfile(REPO / "training/experiments/mimic" / name, experiments / name)
    return root


def test_the_shipped_file_is_inference_only_and_small() -> None:
    path = PRETRAINED / "last.ckpt"
    payload = torch.load(path, weights_only=True)
    assert payload["extra"]["inference_only"] is True and payload["rank_states"] == []
    assert path.stat().st_size <= 8 * 2**20
    resume = torch.load(PRETRAINED / "resume" / "last.ckpt", weights_only=True)
    assert resume["epoch"] == payload["epoch"] and "actor_optimizer" in resume["model"]["agent"]
    assert all(state["env"] is None and state["rollout"] is None for state in resume["rank_states"])


def test_lineage_is_strict_and_no_held_out_clip_was_trained_on(checkout_with_corpus, accad_dir) -> None:
    result = _mimic(checkout_with_corpus, "lineage", "--strict", str(PRETRAINED / "last.ckpt"), "--held-out",
                    str(accad_dir / "heldout"))  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "held out: none of the 10 held-out clips is among the 27 clips trained on (md5s)" in result.stdout


def test_held_out_full_eval_is_the_committed_one(checkout_with_corpus, tmp_path) -> None:
    out = tmp_path / "eval"
    result = _mimic(
        checkout_with_corpus, "inference", "--checkpoint", str(PRETRAINED / "last.ckpt"), "--full-eval",
        "--num-envs", "10", "--headless", "--motion-file", "data/motionlib/accad_heldout.pt", "--output-dir", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    shipped = json.loads((PRETRAINED / "full_eval_heldout.json").read_text())
    assert summary["num_motions"] == 10 and summary["num_success"] == shipped["num_success"]
    assert summary["all"]["e_g_mpjpe"] == pytest.approx(shipped["all"]["e_g_mpjpe"], rel=1e-3)
