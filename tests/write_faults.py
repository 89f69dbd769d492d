"""Outputs that cannot be written, for tests: a real small filesystem, or an injected raw file.

:func:`small_filesystem` mounts a tmpfs of a given size (root only; the test is skipped where
mounting is not allowed): a real full disk (ENOSPC) and, remounted read-only, a real EROFS.
Root ignores permissions and no quota is set up, so EACCES and EDQUOT come from
:class:`LimitedDisk` / :func:`denied` instead: raw files handed to the real write path through
``motion.io_utils.raw_opener``, the write helper's seam.
"""

from __future__ import annotations

import errno
import io
import os
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest


class SmallFilesystem:
    """A mounted tmpfs at ``path``; resize it or make it read-only, as an administrator would."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def remount(self, options: str) -> None:
        subprocess.run(["mount", "-o", f"remount,{options}", str(self.path)], check=True, capture_output=True)


@contextmanager
def small_filesystem(path: Path, size: str) -> Iterator[SmallFilesystem]:
    """A tmpfs of ``size`` (mount's syntax: ``700k``) at ``path``, unmounted afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root): {mounted.stderr.strip()}")
    try:
        yield SmallFilesystem(path)
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


class LimitedDisk:
    """Raw files that together hold at most ``capacity`` bytes; a write beyond fails with ``code``.

    A file whose write failed is not counted (the writer deletes it), so after ``capacity`` is
    raised ("space freed") a rerun can finish.
    """

    def __init__(self, capacity: int, code: int = errno.ENOSPC) -> None:
        self.capacity = capacity
        self.code = code
        self.used = 0
        self.failures = 0

    def __call__(self, fd: int) -> io.RawIOBase:
        return _LimitedFile(fd, self)


class _LimitedFile(io.FileIO):
    def __init__(self, fd: int, disk: LimitedDisk) -> None:
        super().__init__(fd, "wb")
        self.disk = disk
        self.written = 0
        self.failed = False

    def write(self, data: object) -> int:
        size = memoryview(data).nbytes  # type: ignore[arg-type]
        if self.disk.used + self.written + size > self.disk.capacity:
            self.failed = True
            self.disk.failures += 1
            raise OSError(self.disk.code, os.strerror(self.disk.code))
        written = super().write(data)  # type: ignore[arg-type]
        self.written += written or 0
        return written or 0

    def close(self) -> None:
        if not self.closed and not self.failed:
            self.disk.used += self.written
        super().close()


def denied(fd: int) -> io.RawIOBase:
    """A raw opener for a folder the process may not write in: opening fails with EACCES (the
    descriptor stays the caller's to close)."""
    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
