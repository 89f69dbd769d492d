"""Download AMASS per-dataset archives (registered users only) and extract them safely.

AMASS serves its archives to registered users who POST ``username`` and ``password`` to
``download.php``. Wrong credentials (or a dataset whose licence the user has not accepted) do
not give an HTTP error: the server answers 200 with its HTML login page, so every response is
checked for HTML before a byte of it is kept.

Downloads stream into ``<archive>.part`` and resume from its size with an HTTP ``Range``
request, on a retry and on a rerun after a crash; the part file is renamed to its final name
only when its size matches what the server announced and it starts with the bzip2 magic.
Extraction checks every member before writing anything (no absolute paths, no ``..``, no links
leaving the target, no device files) and unpacks into a staging folder that is renamed into
place. The password never appears in an error message, a ``repr`` or a returned value.
Standard library only (``urllib``), so it runs in any Python >= 3.8 environment.
"""

from __future__ import annotations

import http.client
import json
import os
import posixpath
import re
import shutil
import socket
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from motion.errors import MotionDataError
from motion.io_utils import PathLike, atomic_write_text, file_digest

DEFAULT_BASE_URL = "https://download.is.tue.mpg.de"
DEFAULT_MODEL = "smplh/gender_specific/mosh_results"
REGISTRATION_URL = "https://amass.is.tue.mpg.de"
USERNAME_VARIABLE = "AMASS_USERNAME"
PASSWORD_VARIABLE = "AMASS_PASSWORD"
BZIP2_MAGIC = b"BZh"

# Subset and model path segments as AMASS spells them (CMU, BMLmovi, DFaust_67, mosh_results):
# no '/', no leading dot, nothing that could turn the sfile parameter into another path.
_SAFE_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)\s*$")


class AmassDownloadError(OSError):
    """An archive could not be fetched: HTTP error, or network failures after every retry."""


class AmassAuthError(AmassDownloadError):
    """The AMASS server refused the credentials (or none were given)."""


@dataclass(frozen=True)
class AmassCredentials:
    """An AMASS account. ``repr`` shows the user name only."""

    username: str
    password: str = field(repr=False)

    def __repr__(self) -> str:
        return f"AmassCredentials(username={self.username!r}, password=<hidden>)"

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None) -> AmassCredentials:
        """Read ``AMASS_USERNAME`` and ``AMASS_PASSWORD`` (from ``os.environ`` by default)."""
        env = os.environ if environ is None else environ
        username, password = env.get(USERNAME_VARIABLE, ""), env.get(PASSWORD_VARIABLE, "")
        missing = [name for name, value in ((USERNAME_VARIABLE, username), (PASSWORD_VARIABLE, password)) if not value]
        if missing:
            raise AmassAuthError(
                f"AMASS credentials missing: set {USERNAME_VARIABLE} and {PASSWORD_VARIABLE} "
                f"(not set: {', '.join(missing)}); register and accept the licences at {REGISTRATION_URL}"
            )
        return cls(username, password)


@dataclass(frozen=True)
class DownloadResult:
    path: Path  # the final archive
    size: int  # bytes
    md5: str  # hex md5 of the final file (the digest DVC records)
    resumed: bool  # some bytes came from an earlier, interrupted transfer (HTTP Range)
    attempts: int  # HTTP requests made, 1 when nothing went wrong


def amass_archive_url(subset: str, model: str = DEFAULT_MODEL, base_url: str = DEFAULT_BASE_URL) -> str:
    """The download URL of one AMASS subset archive, e.g. ``CMU`` for ``smplh/gender_specific/mosh_results``."""
    if not _SAFE_SEGMENT.match(subset):
        raise ValueError(f"AMASS subset name {subset!r}: expected letters, digits, '_', '-', '.' (e.g. 'CMU')")
    segments = model.strip("/").split("/")
    if not all(_SAFE_SEGMENT.match(segment) for segment in segments):
        raise ValueError(f"AMASS model {model!r}: expected a path like {DEFAULT_MODEL!r}")
    sfile = f"amass_per_dataset/{'/'.join(segments)}/{subset}.tar.bz2"
    return f"{base_url.rstrip('/')}/download.php?domain=amass&resume=1&sfile={urllib.parse.quote(sfile, safe='/')}"


# --- download ------------------------------------------------------------------------------


class _Retry(Exception):
    """This attempt failed in a way a new request (resuming the part file) can fix."""


def _is_transient(error: BaseException) -> bool:
    """Worth another request: connection problems, timeouts, short reads, 5xx, 408 and 429."""
    if isinstance(error, _Retry):
        return True
    if isinstance(error, urllib.error.HTTPError):
        return error.code >= 500 or error.code in (408, 429)
    return isinstance(error, (urllib.error.URLError, socket.timeout, ConnectionError, http.client.HTTPException))


def _looks_like_html(head: bytes) -> bool:
    start = head[:512].lstrip().lower()
    return start.startswith((b"<!doctype", b"<html")) or b"<html" in start[:64]


def _rejected(url: str, credentials: AmassCredentials, what: str) -> AmassAuthError:
    return AmassAuthError(
        f"{url}: AMASS rejected the credentials of user {credentials.username!r} ({what} instead of the archive). "
        f"Check {USERNAME_VARIABLE}/{PASSWORD_VARIABLE} and that the licence of this dataset is accepted "
        f"at {REGISTRATION_URL}"
    )


def _parse_content_range(value: Optional[str]) -> Optional[List[Optional[int]]]:
    """``'bytes 100-199/200'`` → ``[100, 199, 200]``; ``'bytes */200'`` → ``[None, None, 200]``."""
    match = _CONTENT_RANGE.match(value or "")
    if not match:
        return None
    start, end, total = match.groups()
    return [None if v in (None, "*") else int(v) for v in (start, end, total)]


def _transfer(
    url: str,
    credentials: AmassCredentials,
    part: Path,
    timeout_s: float,
    chunk: int,
    progress: Optional[Callable[[int, Optional[int]], None]],
) -> Tuple[Optional[int], bool]:
    """One POST request appending to (or restarting) ``part``.

    Returns the total size the server announced (None if it did not) and whether the bytes
    already in ``part`` were kept. Raises ``_Retry`` or a transient network error when another
    request should continue.
    """
    offset = part.stat().st_size if part.exists() else 0
    body = urllib.parse.urlencode({"username": credentials.username, "password": credentials.password}).encode()
    headers = {"User-Agent": "mimicflow-amass-download", "Content-Type": "application/x-www-form-urlencoded"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        response = urllib.request.urlopen(request, timeout=timeout_s)
    except urllib.error.HTTPError as error:
        content_range = _parse_content_range(error.headers.get("Content-Range") if error.headers else None)
        error.close()
        if error.code == 416 and offset:
            if content_range and content_range[2] == offset:
                return offset, True  # the part file already holds the whole archive (crash before the rename)
            part.unlink()
            raise _Retry(f"HTTP 416 for a part file of {offset} bytes; restarting from byte 0") from None
        if error.code in (401, 403):
            raise _rejected(url, credentials, f"HTTP {error.code}") from None
        raise
    with response:
        status = response.status
        content_type = (response.headers.get("Content-Type") or "").lower()
        if "text/html" in content_type:
            raise _rejected(url, credentials, f"an HTML page ({content_type})")
        if status == 206:
            content_range = _parse_content_range(response.headers.get("Content-Range"))
            if not content_range or content_range[0] != offset:
                part.unlink()
                raise _Retry(f"HTTP 206 with Content-Range {response.headers.get('Content-Range')!r} for byte {offset}")
            total = content_range[2]
            mode = "ab"
        elif status == 200:
            # A 200 to a Range request: the server sends the whole file again, so start over.
            length = response.headers.get("Content-Length")
            total, offset, mode = (int(length) if length and length.isdigit() else None), 0, "wb"
        else:
            raise AmassDownloadError(f"{url}: unexpected HTTP {status} {response.reason}")
        head = response.read(max(chunk, 512))
        if mode == "wb" and _looks_like_html(head):
            raise _rejected(url, credentials, "an HTML page")
        received = offset
        with open(part, mode) as handle:
            data = head
            while data:
                handle.write(data)
                received += len(data)
                if progress is not None:
                    progress(received, total)
                data = response.read(chunk)
    return total, mode == "ab" and offset > 0


def download_archive(
    url: str,
    credentials: AmassCredentials,
    dest: Path,
    retries: int = 5,
    backoff_s: float = 1.0,
    timeout_s: float = 60,
    chunk: int = 1 << 20,
    sleep: Callable[[float], Any] = time.sleep,
    progress: Optional[Callable[[int, Optional[int]], None]] = None,
) -> DownloadResult:
    """Fetch one archive to ``dest`` through ``dest.part``, resuming an earlier part file.

    Transient failures (connection errors, timeouts, 5xx, transfers cut short) are retried up to
    ``retries`` more times, waiting ``backoff_s``, 2·``backoff_s``, 4·``backoff_s``... (seconds)
    before each; each retry resumes from the bytes already on disk. ``timeout_s`` bounds each
    connect and read; ``chunk`` is the read size in bytes; ``progress(bytes_so_far, total)`` is
    called after every chunk (``total`` is None when the server does not say).

    Raises:
        AmassAuthError: the server answered with its login page (or 401/403).
        AmassDownloadError: an HTTP error, or transient failures on every attempt.
        MotionDataError: the complete file is not a bzip2 archive, or is longer than announced.
    """
    dest = Path(dest)
    part = dest.with_suffix(dest.suffix + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    last_error: Optional[BaseException] = None
    for attempt in range(1, retries + 2):
        if attempt > 1:
            sleep(backoff_s * 2 ** (attempt - 2))
        try:
            # resumed: the finished file holds bytes of an earlier transfer (this run's or a crashed one's)
            total, resumed = _transfer(url, credentials, part, timeout_s, chunk, progress)
            size = part.stat().st_size if part.exists() else 0
            if total is not None and size < total:
                raise _Retry(f"transfer ended after {size} of {total} bytes")
        except (OSError, http.client.HTTPException, _Retry) as error:
            if isinstance(error, AmassDownloadError) or not _is_transient(error):
                if isinstance(error, urllib.error.HTTPError):
                    raise AmassDownloadError(f"{url}: HTTP {error.code} {error.reason}") from None
                raise
            last_error = error
            continue
        if total is not None and size > total:
            part.unlink()
            raise MotionDataError(f"{url} -> {part}", "size", f"{total} bytes (Content-Length)", f"{size} bytes")
        return _finish(url, part, dest, size, resumed, attempt)
    raise AmassDownloadError(
        f"could not download {url} to {dest} after {retries + 1} attempt(s): {type(last_error).__name__}: {last_error}"
    )


def _finish(url: str, part: Path, dest: Path, size: int, resumed: bool, attempts: int) -> DownloadResult:
    """Check the magic bytes of a complete part file, rename it to ``dest`` and hash it."""
    with open(part, "rb") as handle:
        head = handle.read(512)
    if not head.startswith(BZIP2_MAGIC):
        part.unlink()
        found = "an HTML page" if _looks_like_html(head) else repr(head[:16])
        raise MotionDataError(f"{url} -> {dest}", "magic", f"a bzip2 archive starting with {BZIP2_MAGIC!r}", found)
    os.replace(part, dest)
    return DownloadResult(dest, size, file_digest(dest, "md5"), resumed, attempts)


# --- extraction ----------------------------------------------------------------------------

_DEVICE_KINDS = ((tarfile.TarInfo.ischr, "a character device"), (tarfile.TarInfo.isblk, "a block device"),
                 (tarfile.TarInfo.isfifo, "a FIFO"))  # fmt: skip


def _is_absolute(name: str) -> bool:
    return name.startswith(("/", "\\")) or bool(re.match(r"^[A-Za-z]:", name))


def _leaves_root(relative: str) -> bool:
    """True for a normalised relative POSIX path that climbs out of its root (``..`` or ``../x``)."""
    return relative == ".." or relative.startswith("../")


def _check_members(archive: Path, members: List[tarfile.TarInfo]) -> None:
    """Raise MotionDataError for the first member that could write or point outside the target."""
    symlinks = {posixpath.normpath(m.name) for m in members if m.issym()}
    regular_files = {posixpath.normpath(m.name) for m in members if m.isreg()}
    for member in members:
        name = member.name
        if _is_absolute(name):
            raise MotionDataError(archive, name, "a relative path inside the target folder", "an absolute path")
        if ".." in re.split(r"[/\\]", name):
            raise MotionDataError(archive, name, "a path without '..' components", "a '..' component")
        for is_kind, kind in _DEVICE_KINDS:
            if is_kind(member):
                raise MotionDataError(archive, name, "a regular file, directory or link", kind)
        if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
            raise MotionDataError(archive, name, "a regular file, directory or link", f"tar type {member.type!r}")
        normalised = posixpath.normpath(name)
        # A member written below a symlink of the archive lands wherever that link points.
        parent = posixpath.dirname(normalised)
        while parent:
            if parent in symlinks:
                raise MotionDataError(archive, name, "a path that goes through no symlink", f"symlink '{parent}'")
            parent = posixpath.dirname(parent)
        if member.issym() or member.islnk():
            link = member.linkname
            # Symlinks resolve from their own folder, hard links from the archive root.
            base = posixpath.dirname(normalised) if member.issym() else ""
            kind = "symlink" if member.issym() else "hard link"
            if _is_absolute(link) or _leaves_root(posixpath.normpath(posixpath.join(base, link))):
                raise MotionDataError(archive, name, "a link inside the target folder", f"{kind} to {link!r}")
            if member.islnk() and posixpath.normpath(link) not in regular_files:
                raise MotionDataError(archive, name, "a hard link to a file of the archive", f"hard link to {link!r}")


def _check_extracted_symlinks(archive: Path, members: List[tarfile.TarInfo], staging: Path) -> None:
    """Chains of symlinks (``a -> .``, ``d/y -> ../a/..``) can leave the folder although each looks inside."""
    root = os.path.realpath(staging)
    for member in members:
        if member.issym():
            resolved = os.path.realpath(staging / posixpath.normpath(member.name))
            if resolved != root and not resolved.startswith(root + os.sep):
                found = f"symlink to {member.linkname!r} that resolves outside it through other links"
                raise MotionDataError(archive, member.name, "a link inside the target folder", found)


def _install(staging: Path, target: Path) -> None:
    """Move each top-level entry of ``staging`` into ``target``, replacing entries of the same name."""
    target.mkdir(parents=True, exist_ok=True)
    replaced = Path(tempfile.mkdtemp(prefix=f".{target.name}.replaced-", dir=str(staging.parent)))
    try:
        for entry in sorted(staging.iterdir()):
            final = target / entry.name
            if final.exists() or final.is_symlink():
                os.replace(str(final), str(replaced / entry.name))
            os.replace(str(entry), str(final))
    finally:
        shutil.rmtree(replaced, ignore_errors=True)


def extract_archive(archive: Path, target: Path) -> List[Path]:
    """Unpack a tar archive (any compression) into ``target``; returns the paths of its non-directory members.

    Every member is checked before anything is written: no absolute paths, no ``..``, no
    symlinks or hard links pointing outside ``target``, no member below a symlink, no device
    files. The archive is unpacked into a staging folder beside ``target`` and each top-level
    entry is then renamed into ``target`` (replacing an entry of the same name), so readers see
    an AMASS subset folder either complete or not at all.

    Raises:
        MotionDataError: an unsafe member (field = member name; nothing is extracted), or an
            unreadable archive (field ``'archive'``).
    """
    archive, target = Path(archive), Path(target)
    parent = target.absolute().parent
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            _check_members(archive, members)
            parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.extract-", dir=str(parent)))
            try:
                if hasattr(tarfile, "data_filter"):  # Python >= 3.8.17/3.11.4: a second line of defence
                    tar.extractall(str(staging), members, filter="data")
                else:
                    tar.extractall(str(staging), members)
                _check_extracted_symlinks(archive, members, staging)
                _install(staging, target)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    except tarfile.TarError as error:
        member = getattr(error, "tarinfo", None)  # tarfile.FilterError names the member
        field_name = member.name if member is not None else "archive"
        raise MotionDataError(
            archive, field_name, "a readable, safe tar archive", f"{type(error).__name__}: {error}"
        ) from None
    except EOFError as error:
        raise MotionDataError(archive, "archive", "a complete compressed tar archive", f"truncated ({error})") from None
    except OSError as error:
        if error.errno is not None:  # a file-system error (disk full, permissions), not bad data
            raise
        raise MotionDataError(archive, "archive", "a valid compressed tar archive", str(error)) from None
    return [target / posixpath.normpath(member.name) for member in members if not member.isdir()]


# --- one subset, end to end ----------------------------------------------------------------


def subset_archive_path(out_dir: PathLike, subset: str, model: str = DEFAULT_MODEL) -> Path:
    """``<out_dir>/archives/<model>/<subset>.tar.bz2``, mirroring the server's layout."""
    return Path(out_dir, "archives", *model.strip("/").split("/"), f"{subset}.tar.bz2")


def _recorded_md5(archive: Path) -> Optional[str]:
    sidecar = archive.with_name(archive.name + ".md5")
    if not (archive.is_file() and sidecar.is_file()):
        return None
    words = sidecar.read_text().split()
    return words[0] if words else None


def _read_marker(marker: Path) -> Dict[str, Any]:
    try:
        return json.loads(marker.read_text())
    except (OSError, ValueError):
        return {}


def download_subset(
    subset: str,
    out_dir: PathLike,
    credentials: AmassCredentials,
    model: str = DEFAULT_MODEL,
    base_url: str = DEFAULT_BASE_URL,
    extract: bool = True,
    retries: int = 5,
    backoff_s: float = 1.0,
    timeout_s: float = 60,
    sleep: Callable[[float], Any] = time.sleep,
    progress: Optional[Callable[[int, Optional[int]], None]] = None,
) -> Dict[str, Any]:
    """Download one subset archive into ``<out_dir>/archives/...`` and extract it into ``out_dir``.

    The archive's md5 is written beside it (``<archive>.md5``, ``md5sum -c`` format); an archive
    whose md5 still matches that record is not downloaded again, and one already extracted
    (``<archive>.extracted.json``) is not extracted again. Returns JSON-ready facts about the
    subset (no credentials): ``subset``, ``model``, ``url``, ``archive``, ``size`` (bytes),
    ``md5``, ``downloaded``, ``resumed``, ``attempts``, ``extracted``, ``extracted_to``,
    ``top_level`` (entries the archive put in ``out_dir``) and ``files`` (their file count).
    """
    url = amass_archive_url(subset, model, base_url)
    archive = subset_archive_path(out_dir, subset, model)
    recorded = _recorded_md5(archive)
    if recorded is not None and recorded == file_digest(archive, "md5"):
        size, md5, downloaded, resumed, attempts = archive.stat().st_size, recorded, False, False, 0
    else:
        result = download_archive(url, credentials, archive, retries, backoff_s, timeout_s, sleep=sleep,
                                  progress=progress)  # fmt: skip
        atomic_write_text(f"{result.md5}  {archive.name}\n", archive.with_name(archive.name + ".md5"))
        size, md5, downloaded, resumed, attempts = result.size, result.md5, True, result.resumed, result.attempts
    facts: Dict[str, Any] = {
        "subset": subset, "model": model, "url": url, "archive": str(archive), "size": size, "md5": md5,
        "downloaded": downloaded, "resumed": resumed, "attempts": attempts,
        "extracted": False, "extracted_to": None, "top_level": [], "files": 0,
    }  # fmt: skip
    if not extract:
        return facts
    target = Path(out_dir)
    marker_path = archive.with_name(archive.name + ".extracted.json")
    marker = _read_marker(marker_path)
    top_level = marker.get("top_level") or []
    already = (
        marker.get("md5") == md5
        and marker.get("target") == str(target.absolute())
        and all((target / name).exists() for name in top_level)
    )
    if already:
        files = int(marker.get("files", 0))
    else:
        extracted = extract_archive(archive, target)
        top_level = sorted({path.relative_to(target).parts[0] for path in extracted})
        files = len(extracted)
        marker = {"md5": md5, "target": str(target.absolute()), "top_level": top_level, "files": files}
        atomic_write_text(json.dumps(marker, indent=1) + "\n", marker_path)
    facts.update(extracted=not already, extracted_to=str(target), top_level=top_level, files=files)
    return facts
