"""Atomic writes, safe reads and content hashes shared by every reader and writer of project files.

Writes: :func:`atomic_output` (temp file + rename) turns the errors a user must fix (disk full,
quota, read-only filesystem, permissions) on the output into one
:class:`motion.errors.OutputWriteError` naming the output, and leaves no partial file.

Reads: :func:`open_regular_file` opens only regular files, so a FIFO, device or socket in an
input tree is refused instead of blocking the reader forever.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tempfile
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator, List, Optional, Union

from motion.errors import WRITE_ERRNOS, MotionDataError, OutputWriteError

#: The path type every module takes (imported from here, defined once).
PathLike = Union[str, Path]
#: Opens the raw file under a temp file's buffered writer, given its descriptor.
RawOpener = Callable[[int], io.RawIOBase]


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp creates files 0600; outputs should get the permissions a plain open() would give.
_FILE_MODE = 0o666 & ~_current_umask()


def _open_raw(fd: int) -> io.RawIOBase:
    return io.FileIO(fd, "wb")


_raw_opener: RawOpener = _open_raw


@contextmanager
def raw_opener(opener: RawOpener) -> Iterator[None]:
    """Open every atomic output's temp file through ``opener(fd)`` inside this block.

    The fault-injection seam for tests: errors a root test process cannot get from the OS
    (EACCES, EDQUOT) come from a raw file that raises them, through the real write path.
    """
    global _raw_opener
    previous, _raw_opener = _raw_opener, opener
    try:
        yield
    finally:
        _raw_opener = previous


class _TrackedWriter(io.BufferedWriter):
    """The temp file's writer: remembers every OSError its writes hit, so that an error raised by
    a serializer wrapping it (torch.save re-raises as RuntimeError) is still known as ours."""

    def __init__(self, raw: io.RawIOBase, errors: List[OSError]) -> None:
        super().__init__(raw)
        self.write_errors = errors

    def write(self, data: Any) -> int:
        try:
            return super().write(data)
        except OSError as error:
            self.write_errors.append(error)
            raise

    def flush(self) -> None:
        try:
            super().flush()
        except OSError as error:
            self.write_errors.append(error)
            raise


def _causes(error: BaseException) -> Iterator[BaseException]:
    """``error`` and everything chained to it (``__cause__`` / ``__context__``), each once."""
    seen, pending = set(), [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)


def _write_error(path: PathLike, error: BaseException, ours: List[OSError]) -> Optional[OutputWriteError]:
    """The user-facing error for ``error`` if it (or what it chains to) is one of ``ours``, the
    OSErrors of the output's own writes, with an errno the user must fix; else None."""
    for cause in _causes(error):
        if isinstance(cause, OutputWriteError):
            return cause
        if isinstance(cause, OSError) and cause.errno in WRITE_ERRNOS and any(cause is own for own in ours):
            translated = OutputWriteError(path, cause.errno, cause.strerror or "")
            translated.__cause__ = cause
            return translated
    return None


@contextmanager
def atomic_output(path: PathLike) -> Iterator[BinaryIO]:
    """Open a temporary file beside ``path``; rename it over ``path`` only on success.

    A crash or exception leaves any existing ``path`` untouched and removes the temp file,
    so readers never see a half-written file. Disk full, quota, read-only filesystem and
    permission errors of this output (also when a serializer wraps them) are raised as one
    :class:`OutputWriteError` naming ``path``; every other error propagates unchanged.
    """
    target = Path(path)
    ours: List[OSError] = []
    tmp_name = None
    try:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=str(target.parent))
            try:
                handle = _TrackedWriter(_raw_opener(fd), ours)
            except BaseException:
                with suppress(OSError):  # an opener that failed leaves the descriptor to us
                    os.close(fd)
                raise
        except OSError as error:
            ours.append(error)
            raise
        with handle:
            yield handle
            handle.flush()
            try:
                os.fsync(handle.fileno())  # delayed allocation: a full disk may only show here
            except OSError as error:
                ours.append(error)
                raise
        try:
            os.chmod(tmp_name, _FILE_MODE)
            os.replace(tmp_name, target)
        except OSError as error:
            ours.append(error)
            raise
    except BaseException as error:
        if tmp_name is not None:
            with suppress(OSError):  # best effort: on a filesystem gone read-only this fails too
                os.unlink(tmp_name)
        translated = _write_error(target, error, ours)
        if translated is None or translated is error:
            raise
        # Chained to the OSError: one line for users, the cause for debugging.
        raise translated from translated.__cause__


@contextmanager
def write_errors_named(path: PathLike) -> Iterator[None]:
    """For writes that cannot be atomic (appending to a log): raise disk full, quota, read-only
    and permission errors inside the block as an :class:`OutputWriteError` naming ``path``."""
    try:
        yield
    except OSError as error:
        if isinstance(error, OutputWriteError) or error.errno not in WRITE_ERRNOS:
            raise
        raise OutputWriteError(path, error.errno, error.strerror or "") from error


def atomic_torch_save(obj: Any, path: PathLike) -> None:
    """``torch.save`` through :func:`atomic_output`."""
    import torch

    with atomic_output(path) as handle:
        torch.save(obj, handle)


def atomic_write_text(text: str, path: PathLike) -> None:
    with atomic_output(path) as handle:
        handle.write(text.encode("utf-8"))


_FILE_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _not_regular(mode: int) -> Optional[str]:
    if stat.S_ISREG(mode):
        return None
    kind = next((name for test, name in _FILE_KINDS if test(mode)), "a special file")
    return f"{kind}, not a regular file"


def regular_file_problem(path: PathLike) -> Optional[str]:
    """None if ``path`` is (a link to) a regular file, else what it is instead ("no such file",
    "a FIFO (named pipe), not a regular file", ...). Never opens it."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "no such file"
    except OSError as error:  # a symlink loop, a path through a file, no permission
        return f"{type(error).__name__}: {error.strerror or error}"
    return _not_regular(mode)


def open_regular_file(path: PathLike, expected: str = "a regular file") -> BinaryIO:
    """Open ``path`` for binary reading if it is a regular file.

    A FIFO, socket, device or directory raises :class:`MotionDataError` (field ``<file>``) without
    being opened, so it cannot block. The file is then opened non-blocking and checked again on
    the open descriptor: a path swapped for a FIFO in between is still refused, never waited on.
    OSErrors (no such file, permissions) propagate unchanged.
    """
    mode = os.stat(path).st_mode
    problem = _not_regular(mode)
    if problem is not None:
        raise MotionDataError(path, "<file>", expected, problem)
    nonblocking = getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, os.O_RDONLY | nonblocking | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        problem = _not_regular(os.fstat(fd).st_mode)
        if problem is not None:
            raise MotionDataError(path, "<file>", expected, f"{problem} (replaced while opening)")
        if nonblocking:
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def file_digest(path: PathLike, algorithm: str, chunk_size: int = 1 << 20) -> str:
    """Hex digest of a file's bytes with ``algorithm`` (a :func:`hashlib.new` name).

    ``"md5"`` is the digest DVC records for a file; ``"sha256"`` pins downloads and experiment files.
    """
    digest = hashlib.new(algorithm)
    with open_regular_file(path) as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()
