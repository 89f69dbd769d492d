"""The DVC pipeline's fetch stage offline, with the real dvc (.tools/bin/dvc) and the real `mimic`:
it takes the sample clips from the shared fixtures beside the checkout (params.yaml's
``--local-copy ../shared/fixtures/amass``), and a fetch that fails leaves the clips already there
in place (``persist: true``).

Before, `make repro` after `make demo` on a machine without network emptied data/amass/samples
(DVC deletes a stage's outputs before running it), then failed with a URLError, ignoring the
fixtures the demo had used. Only ``fetch@samples`` runs here (the whole chain is
tests/test_dvc_pipeline.py's); "offline" is a loopback server that has no file (404).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from loopback_http import StaticFileServer
from test_dvc_pipeline import CODE_PACKAGES, DVC, DVC_TIMEOUT_S, REPO_ROOT, _dvc_environment

from motion.io_utils import file_digest
from motion.samples import SAMPLE_CLIPS

GITHUB = "--base-url https://raw.githubusercontent.com"


def _dvc(root: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    command = [str(DVC), *args]
    return subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=DVC_TIMEOUT_S)


def test_fetch_uses_the_shared_fixtures_offline_and_never_deletes_the_clips(amass_dir: Path, tmp_path: Path) -> None:
    if not DVC.exists():
        pytest.skip(f"{DVC} not found (run `make dvc-tool`)")
    root, env = tmp_path / "checkout", _dvc_environment(tmp_path / "dvc_home")
    root.mkdir()
    for name in ("dvc.yaml", "params.yaml", ".gitignore"):
        shutil.copyfile(REPO_ROOT / name, root / name)
    for package in CODE_PACKAGES:  # `python -m mimic.cli` from the checkout runs the checkout's code
        shutil.copytree(REPO_ROOT / package, root / package, ignore=shutil.ignore_patterns("__pycache__"))
    for command in (["git", "init", "-q"], [str(DVC), "init", "-q"]):
        subprocess.run(command, cwd=root, env=env, check=True, capture_output=True)
    (tmp_path / "www").mkdir()
    offline = StaticFileServer(tmp_path / "www")  # serves nothing: every clip is a 404, at once
    try:
        params = yaml.safe_load((root / "params.yaml").read_text())
        fetch = params["amass"]["fetch"]["samples"]
        # The shipped command: the shared fixtures beside the checkout first, then GitHub.
        assert fetch == f"amass samples data/amass --local-copy ../shared/fixtures/amass {GITHUB}"
        params["python"] = sys.executable
        params["amass"]["fetch"]["samples"] = fetch.replace(GITHUB, f"--base-url {offline.base_url}")
        (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

        # As `make demo` leaves them, bar one clip (so this fetch must fail): no shared copy, no network.
        samples = root / "data" / "amass" / "samples"
        samples.mkdir(parents=True)
        kept = SAMPLE_CLIPS[:2]
        for clip in kept:
            shutil.copyfile(amass_dir / clip.local_name, samples / clip.local_name)
        failed = _dvc(root, env, "repro", "fetch@samples")
        assert failed.returncode != 0, failed.stdout + failed.stderr
        # DVC used to delete data/amass/samples before running the stage: the clips were gone.
        assert sorted(path.name for path in samples.iterdir()) == sorted(clip.local_name for clip in kept)
        for clip in kept:
            assert file_digest(samples / clip.local_name, "sha256") == clip.sha256
        assert f"/{SAMPLE_CLIPS[2].url_path}" in failed.stdout + failed.stderr  # the one it could not get: 404

        # A checkout with ../shared beside it, still offline: the fetch takes the shared fixtures.
        shared = tmp_path / "shared" / "fixtures" / "amass"
        shutil.copytree(amass_dir, shared)
        done = _dvc(root, env, "repro", "fetch@samples")
        assert done.returncode == 0, done.stdout + done.stderr
        assert offline.requests == [f"/{SAMPLE_CLIPS[2].url_path}"]  # only the failed attempt's
        for clip in SAMPLE_CLIPS:
            assert file_digest(samples / clip.local_name, "sha256") == clip.sha256
        assert f"copied  <- {Path('../shared/fixtures/amass') / SAMPLE_CLIPS[2].local_name}" in done.stdout
        assert "didn't change" in _dvc(root, env, "repro", "fetch@samples").stdout  # recorded in dvc.lock
    finally:
        offline.close()
