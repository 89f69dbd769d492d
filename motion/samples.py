"""Fetch the three public AMASS sample clips the AMASS authors publish on GitHub.

Each file is verified against a pinned sha256 before it is given its final name: downloads go to
a temporary file beside the target and are renamed only when the hash matches, so a failed or
tampered download never leaves a file behind. Files already present with the right hash are not
downloaded again. A local copy (``local_copy``: the shared test fixtures, a folder made earlier)
is taken before the network: the bytes are pinned, so where they come from does not change the
result, and an offline machine with a copy needs no network. Uses only ``urllib`` from the
standard library.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

from motion.errors import MotionDataError
from motion.io_utils import PathLike, atomic_output, file_digest

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://raw.githubusercontent.com"
SAMPLES_SUBSET = "samples"


@dataclass(frozen=True)
class SampleClip:
    """One published sample: where it lives on GitHub, our file name for it, and its sha256."""

    owner: str
    repo: str
    branch: str
    path: str
    local_name: str
    sha256: str
    size: int  # bytes

    @property
    def url_path(self) -> str:
        """``<owner>/<repo>/<branch>/<path>``: the part of the URL after the host."""
        return f"{self.owner}/{self.repo}/{self.branch}/{self.path}"

    def url(self, base_url: str = DEFAULT_BASE_URL) -> str:
        return base_url.rstrip("/") + "/" + self.url_path


#: The sample clips (SMPL-H, 120 fps). Names follow AMASS's ``*_poses.npz`` convention.
SAMPLE_CLIPS = (
    SampleClip(
        "nghorbani", "amass", "master", "support_data/github_data/amass_sample.npz",
        "amass_sample_male_120fps_poses.npz",
        "b7bd737171d3ac9c7b5e6423db0aec40fe532a4dd0004deeb566f246ee8eddf6", 2031571,
    ),
    SampleClip(
        "nghorbani", "amass", "master", "support_data/github_data/dmpl_sample.npz",
        "dmpl_sample_female_120fps_poses.npz",
        "fe2456291863c950eeffd5f0c25a2102f2861ee14301367b16c13654dfaa9afa", 694366,
    ),
    SampleClip(
        "nghorbani", "human_body_prior", "master", "support_data/dowloads/amass_sample.npz",
        "hbp_sample_walk_female_120fps_poses.npz",
        "683975321ac32ffe600259cd000e42d338eb0637bb8c9ef92c1733dc582a79a1", 1127602,
    ),
)  # fmt: skip


class SampleDownloadError(OSError):
    """A sample could not be fetched (network down, HTTP error) after all retries."""


@dataclass(frozen=True)
class FetchedSample:
    path: Path
    url: str  # where it came from: the URL, or the local copy's path
    downloaded: bool  # False: already present with the pinned hash, nothing fetched
    copied: bool = False  # True: taken from a local copy, not the network


def _is_transient(error: BaseException) -> bool:
    """Worth retrying: connection problems, timeouts, server-side (5xx) and rate-limit (429) errors."""
    if isinstance(error, urllib.error.HTTPError):
        return error.code >= 500 or error.code in (408, 429)
    return isinstance(error, (urllib.error.URLError, socket.timeout, ConnectionError, http.client.HTTPException))


def _download_verified(clip: SampleClip, url: str, target: Path, timeout_s: float) -> None:
    """One attempt: stream ``url`` into a temp file beside ``target``; keep it only if the hash matches."""
    digest = hashlib.sha256()
    request = urllib.request.Request(url, headers={"User-Agent": "mimicflow-samples"})
    with atomic_output(target) as handle, urllib.request.urlopen(request, timeout=timeout_s) as response:
        for chunk in iter(lambda: response.read(1 << 16), b""):
            digest.update(chunk)
            handle.write(chunk)
        found = digest.hexdigest()
        if found != clip.sha256:
            # Raising inside atomic_output deletes the temp file: nothing is left behind.
            raise MotionDataError(f"{url} -> {target}", "sha256", clip.sha256, found)


def _copy_file(source: Path, target: Path) -> None:
    """``source`` to ``target`` through a temp file beside it and a rename."""
    with atomic_output(target) as handle, source.open("rb") as original:
        for chunk in iter(lambda: original.read(1 << 16), b""):
            handle.write(chunk)


def fetch_sample(
    clip: SampleClip,
    out_dir: PathLike,
    base_url: str = DEFAULT_BASE_URL,
    retries: int = 3,
    backoff_s: float = 1.0,
    timeout_s: float = 60.0,
    local_copy: Optional[PathLike] = None,
) -> FetchedSample:
    """Fetch one sample into ``out_dir`` unless it is already there with the pinned hash.

    ``local_copy``: a folder that may hold the clip under its local name; taken from there when
    it has the pinned sha256 (a missing folder or file is no error; a file with other bytes is
    logged and the clip downloaded). Transient failures are retried ``retries`` more times,
    waiting ``backoff_s``, 2·``backoff_s``, 4·``backoff_s``... between attempts; ``timeout_s``
    bounds each connect and read.

    Raises:
        MotionDataError: the downloaded bytes do not have the pinned sha256 (field ``'sha256'``).
        SampleDownloadError: the URL could not be fetched (after retries for transient errors).
    """
    target = Path(out_dir) / clip.local_name
    url = clip.url(base_url)
    if target.is_file() and file_digest(target, "sha256") == clip.sha256:
        return FetchedSample(target, url, downloaded=False)
    source = None if local_copy is None else Path(local_copy) / clip.local_name
    if source is not None and source.is_file():
        found = file_digest(source, "sha256")
        if found == clip.sha256:
            _copy_file(source, target)
            return FetchedSample(target, str(source), downloaded=True, copied=True)
        log.warning(f"{source}: sha256 {found}, not the pinned {clip.sha256}: downloading {url} instead")
    last_error: Optional[BaseException] = None
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff_s * 2 ** (attempt - 1))
        try:
            _download_verified(clip, url, target, timeout_s)
            return FetchedSample(target, url, downloaded=True)
        except (OSError, http.client.HTTPException) as error:
            last_error = error
            if not _is_transient(error):
                break
    attempts = attempt + 1
    raise SampleDownloadError(
        f"could not download {url} to {target} after {attempts} attempt(s): {type(last_error).__name__}: {last_error}"
    ) from last_error


def copy_sample_clips(out_dir: PathLike, source_dir: PathLike) -> List[FetchedSample]:
    """Take every clip of :data:`SAMPLE_CLIPS` from a local folder (a copy made earlier, or
    shared test fixtures) instead of GitHub: ``<source_dir>/<local_name>`` must have the pinned
    sha256; it is copied to ``<out_dir>/samples/`` through a temp file and a rename.

    Raises:
        MotionDataError: a clip missing from ``source_dir`` (field ``'file'``) or with other
            bytes than the pinned ones (field ``'sha256'``); nothing is written for it.
    """
    subset_dir = Path(out_dir) / SAMPLES_SUBSET
    os.makedirs(subset_dir, exist_ok=True)
    copied = []
    for clip in SAMPLE_CLIPS:
        source = Path(source_dir) / clip.local_name
        target = subset_dir / clip.local_name
        if target.is_file() and file_digest(target, "sha256") == clip.sha256:
            copied.append(FetchedSample(target, str(source), downloaded=False))
            continue
        if not source.is_file():
            raise MotionDataError(source, "file", f"the AMASS sample clip {clip.local_name}", "no such file")
        found = file_digest(source, "sha256")
        if found != clip.sha256:
            raise MotionDataError(source, "sha256", clip.sha256, found)
        _copy_file(source, target)
        copied.append(FetchedSample(target, str(source), downloaded=True, copied=True))
    return copied


def fetch_sample_clips(
    out_dir: PathLike,
    base_url: str = DEFAULT_BASE_URL,
    retries: int = 3,
    backoff_s: float = 1.0,
    timeout_s: float = 60.0,
    local_copy: Optional[PathLike] = None,
) -> List[FetchedSample]:
    """Fetch every clip of :data:`SAMPLE_CLIPS` into ``<out_dir>/samples/`` (see :func:`fetch_sample`),
    each from ``local_copy`` when that folder holds it with the pinned sha256.

    ``base_url`` replaces ``https://raw.githubusercontent.com``: the URL of a clip is
    ``base_url.rstrip('/') + '/<owner>/<repo>/<branch>/<path>'`` (mirrors, loopback tests).
    """
    subset_dir = Path(out_dir) / SAMPLES_SUBSET
    os.makedirs(subset_dir, exist_ok=True)
    return [
        fetch_sample(
            clip, subset_dir, base_url, retries=retries, backoff_s=backoff_s, timeout_s=timeout_s, local_copy=local_copy
        )
        for clip in SAMPLE_CLIPS
    ]
