"""Fetching the public AMASS sample clips from a real loopback HTTP server laid out like GitHub."""

from __future__ import annotations

import argparse
import shutil
import socket
import time
from pathlib import Path
from typing import Iterator, Tuple

import pytest
from loopback_http import StaticFileServer

from mimic.commands import amass_data
from motion.errors import MotionDataError
from motion.io_utils import file_digest
from motion.samples import (
    SAMPLE_CLIPS,
    SampleDownloadError,
    copy_sample_clips,
    fetch_sample,
    fetch_sample_clips,
)

FAST = {"retries": 1, "backoff_s": 0.01, "timeout_s": 5.0}


def _Server(root: Path, delay_s: float = 0.0) -> StaticFileServer:
    """The static server, with the trailing slash the samples' base URL takes."""
    server = StaticFileServer(root, delay_s)
    server.base_url += "/"
    return server


@pytest.fixture()
def served(amass_dir: Path, tmp_path: Path) -> Iterator[Tuple[_Server, Path]]:
    """Copies of the fixture clips under ``<owner>/<repo>/<branch>/<path>``, served on loopback."""
    root = tmp_path / "www"
    for clip in SAMPLE_CLIPS:
        target = root / clip.url_path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(amass_dir / clip.local_name, target)
    server = _Server(root)
    try:
        yield server, root
    finally:
        server.close()


def test_pins_match_the_fixture_clips(amass_dir: Path) -> None:
    for clip in SAMPLE_CLIPS:
        path = amass_dir / clip.local_name
        assert file_digest(path, "sha256") == clip.sha256 and path.stat().st_size == clip.size
    urls = [clip.url() for clip in SAMPLE_CLIPS]
    assert urls[0] == (
        "https://raw.githubusercontent.com/nghorbani/amass/master/support_data/github_data/amass_sample.npz"
    )
    assert urls[2] == (
        "https://raw.githubusercontent.com/nghorbani/human_body_prior/master/support_data/dowloads/amass_sample.npz"
    )


def test_fetch_then_rerun_skips(served: Tuple[_Server, Path], tmp_path: Path) -> None:
    server, _ = served
    out = tmp_path / "amass"
    fetched = fetch_sample_clips(out, base_url=server.base_url, **FAST)
    assert [f.path.name for f in fetched] == [c.local_name for c in SAMPLE_CLIPS]
    assert all(f.downloaded and f.path.parent == out / "samples" for f in fetched)
    for clip, sample in zip(SAMPLE_CLIPS, fetched):
        assert file_digest(sample.path, "sha256") == clip.sha256
        assert sample.url == server.base_url.rstrip("/") + "/" + clip.url_path
    assert sorted(server.requests) == sorted("/" + c.url_path for c in SAMPLE_CLIPS)
    assert sorted(p.name for p in (out / "samples").iterdir()) == sorted(c.local_name for c in SAMPLE_CLIPS)

    again = fetch_sample_clips(out, base_url=server.base_url, **FAST)
    assert not any(f.downloaded for f in again)
    assert len(server.requests) == 3  # nothing fetched the second time


def test_damaged_local_copy_is_replaced(served: Tuple[_Server, Path], tmp_path: Path) -> None:
    server, _ = served
    clip = SAMPLE_CLIPS[1]
    stale = tmp_path / clip.local_name
    stale.write_bytes(b"half a download")
    result = fetch_sample(clip, tmp_path, base_url=server.base_url, **FAST)
    assert result.downloaded and file_digest(stale, "sha256") == clip.sha256


def test_tampered_file_is_rejected_and_not_kept(served: Tuple[_Server, Path], tmp_path: Path) -> None:
    server, root = served
    clip = SAMPLE_CLIPS[0]
    served_file = root / clip.url_path
    data = bytearray(served_file.read_bytes())
    data[len(data) // 2] ^= 0x01  # one byte changed
    served_file.write_bytes(bytes(data))
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(MotionDataError) as caught:
        fetch_sample(clip, out, base_url=server.base_url, **FAST)
    error = caught.value
    assert error.field == "sha256" and error.expected == clip.sha256
    assert error.found != clip.sha256 and len(error.found) == 64
    assert clip.url(server.base_url) in str(error) and clip.local_name in str(error)
    assert list(out.iterdir()) == []  # neither the file nor a temp file is left
    assert len(server.requests) == 1  # a hash mismatch is not retried


def test_missing_file_is_not_retried(served: Tuple[_Server, Path], tmp_path: Path) -> None:
    server, root = served
    clip = SAMPLE_CLIPS[2]
    (root / clip.url_path).unlink()
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(SampleDownloadError, match="404"):
        fetch_sample(clip, out, base_url=server.base_url, retries=3, backoff_s=0.01)
    assert len(server.requests) == 1
    assert list(out.iterdir()) == []


def test_server_down_fails_clearly_after_retries(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    start = time.monotonic()
    with pytest.raises(SampleDownloadError) as caught:
        fetch_sample_clips(tmp_path, base_url=base, retries=2, backoff_s=0.05, timeout_s=2.0)
    elapsed = time.monotonic() - start
    message = str(caught.value)
    assert f"{base}/{SAMPLE_CLIPS[0].url_path}" in message and "after 3 attempt(s)" in message
    assert "refused" in message.lower()
    assert elapsed >= 0.05 + 0.1  # it did back off between the attempts
    assert list((tmp_path / "samples").iterdir()) == []


def test_slow_server_times_out(amass_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "www"
    clip = SAMPLE_CLIPS[1]
    (root / clip.url_path).parent.mkdir(parents=True)
    shutil.copyfile(amass_dir / clip.local_name, root / clip.url_path)
    server = _Server(root, delay_s=1.0)
    try:
        with pytest.raises(SampleDownloadError, match="(?i)timed out"):
            fetch_sample(clip, tmp_path / "out", base_url=server.base_url, retries=1, backoff_s=0.01, timeout_s=0.2)
        assert len(server.requests) == 2  # the timeout counted as transient: retried once
    finally:
        server.close()


def test_samples_command(served: Tuple[_Server, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    server, _ = served
    parser = argparse.ArgumentParser()
    amass_data.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["samples", str(tmp_path / "amass"), "--base-url", server.base_url])
    assert args.handler(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all("downloaded" in line for line in lines)
    assert args.handler(args) == 0
    assert all("already present" in line for line in capsys.readouterr().out.splitlines())


def test_samples_from_a_local_folder_are_checked_and_copied(
    amass_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """``mimic amass samples DIR --from-dir F`` (offline machines with a copy of the clips)."""
    parser = argparse.ArgumentParser()
    amass_data.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["samples", str(tmp_path / "amass"), "--from-dir", str(amass_dir)])
    assert args.handler(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all("  copied  <- " in line for line in lines)
    for clip in SAMPLE_CLIPS:
        assert file_digest(tmp_path / "amass" / "samples" / clip.local_name, "sha256") == clip.sha256
    assert args.handler(args) == 0
    assert all("already present" in line for line in capsys.readouterr().out.splitlines())

    tampered = tmp_path / "tampered"
    shutil.copytree(amass_dir, tampered)
    name = SAMPLE_CLIPS[1].local_name
    with (tampered / name).open("ab") as handle:
        handle.write(b"x")
    with pytest.raises(MotionDataError, match=f"{name}.*sha256.*{SAMPLE_CLIPS[1].sha256}") as caught:
        copy_sample_clips(tmp_path / "out", tampered)
    assert caught.value.found == file_digest(tampered / name, "sha256")
    assert not (tmp_path / "out" / "samples" / name).exists()  # nothing written for a bad clip
    (tampered / name).unlink()
    with pytest.raises(MotionDataError, match="no such file"):
        copy_sample_clips(tmp_path / "out", tampered)
