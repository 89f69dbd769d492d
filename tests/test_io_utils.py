"""Atomic writes (all-or-nothing, ordinary permissions, write errors named as one line) and safe reads."""

from __future__ import annotations

import errno
import os
import stat

import pytest
from fifo_guard import returns_within
from write_faults import LimitedDisk, denied, small_filesystem

from motion.errors import MotionDataError, OutputWriteError
from motion.io_utils import (
    atomic_output,
    atomic_torch_save,
    atomic_write_text,
    file_digest,
    raw_opener,
    regular_file_problem,
    write_errors_named,
)


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "out.txt"
    atomic_write_text("old", target)
    with pytest.raises(RuntimeError), atomic_output(target) as handle:
        handle.write(b"half of the new con")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_written_file_has_umask_permissions_and_md5(tmp_path):
    target = tmp_path / "sub" / "file.bin"
    with atomic_output(target) as handle:
        handle.write(b"abc")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask
    assert file_digest(target, "md5") == "900150983cd24fb0d6963f7d28e17f72"  # md5("abc")


# --- write errors the user must fix: one OutputWriteError naming the output, nothing partial ---


def _names(folder):
    return sorted(p.name for p in folder.iterdir())


def test_a_full_disk_is_one_error_naming_the_output_and_leaves_nothing_partial(tmp_path):
    """A real 200 KiB filesystem: torch.save's OSError + RuntimeError become one OutputWriteError."""
    import torch

    with small_filesystem(tmp_path / "disk", "200k") as disk:
        target = disk.path / "lib.pt"
        atomic_torch_save({"x": torch.zeros(10)}, target)
        before = target.read_bytes()
        with pytest.raises(OutputWriteError) as caught:
            atomic_torch_save({"x": torch.zeros(100_000)}, target)  # 400 kB
        error = caught.value
        assert error.errno == errno.ENOSPC and error.path == str(target)
        assert str(error) == (
            f"cannot write {target}: No space left on device (errno 28 ENOSPC): free space and rerun; "
            "finished files are kept"
        )
        assert isinstance(error.__cause__, OSError) and error.__cause__.errno == errno.ENOSPC
        assert _names(disk.path) == ["lib.pt"] and target.read_bytes() == before  # old file intact, no temp
        disk.remount("size=1m")  # space freed: the same write now succeeds
        atomic_torch_save({"x": torch.zeros(100_000)}, target)
        assert torch.load(target, weights_only=True)["x"].shape == (100_000,)


def test_a_read_only_filesystem_is_one_error_naming_the_output(tmp_path):
    with small_filesystem(tmp_path / "disk", "200k") as disk:
        atomic_write_text("kept", disk.path / "old.txt")
        disk.remount("ro")
        with pytest.raises(OutputWriteError) as caught:
            atomic_write_text("new", disk.path / "sub" / "new.txt")  # fails creating the folder
        assert caught.value.errno == errno.EROFS and caught.value.path == str(disk.path / "sub" / "new.txt")
        assert "Read-only file system (errno 30 EROFS): remount the filesystem read-write" in str(caught.value)
        with pytest.raises(OutputWriteError, match="EROFS"):
            atomic_write_text("new", disk.path / "old.txt")
        assert _names(disk.path) == ["old.txt"] and (disk.path / "old.txt").read_text() == "kept"


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_injected_write_failures_mid_file(tmp_path, code):
    """Through the write helper's seam: a raw file that fails after 1000 bytes, as a quota would."""
    import torch

    target = tmp_path / "out.pt"
    atomic_write_text("old", target)
    with raw_opener(LimitedDisk(1000, code)), pytest.raises(OutputWriteError) as caught:
        atomic_torch_save({"x": torch.arange(5000)}, target)
    assert caught.value.errno == code and caught.value.path == str(target)
    assert f"(errno {code} {errno.errorcode[code]})" in str(caught.value)
    assert _names(tmp_path) == ["out.pt"] and target.read_text() == "old"


def test_a_folder_without_write_permission(tmp_path):
    target = tmp_path / "out.motion"
    with raw_opener(denied), pytest.raises(OutputWriteError) as caught:
        atomic_write_text("x", target)
    assert caught.value.errno == errno.EACCES
    assert str(caught.value).startswith(f"cannot write {target}: Permission denied (errno 13 EACCES): make the folder")
    assert _names(tmp_path) == []


def test_errors_not_from_the_output_keep_their_type(tmp_path):
    """EACCES reading some other file inside the block is that file's problem, not the output's."""
    source_error = PermissionError(errno.EACCES, "Permission denied", "/elsewhere/source.npz")
    with pytest.raises(PermissionError) as caught, atomic_output(tmp_path / "out.bin") as handle:
        handle.write(b"partial")
        raise source_error
    assert caught.value is source_error and _names(tmp_path) == []


def test_appends_name_their_file_on_write_errors(tmp_path):
    with small_filesystem(tmp_path / "disk", "100k") as disk:
        log = disk.path / "metrics.csv"
        with pytest.raises(OutputWriteError) as caught, write_errors_named(log), open(log, "ab") as handle:
            handle.write(b"x" * 300_000)
            handle.flush()
        assert caught.value.errno == errno.ENOSPC and caught.value.path == str(log)


def test_only_regular_files_are_opened(tmp_path):
    fifo = tmp_path / "clip.npz"
    os.mkfifo(fifo)
    for path in (fifo, tmp_path):
        with pytest.raises(MotionDataError) as caught:
            returns_within(10.0, lambda path=path: file_digest(path, "md5"), fifo)
        assert caught.value.field == "<file>" and "not a regular file" in caught.value.found
    with pytest.raises(MotionDataError, match="a character device"):
        file_digest("/dev/zero", "md5")  # endless: would never finish hashing
    with pytest.raises(FileNotFoundError):
        file_digest(tmp_path / "missing", "md5")
    assert regular_file_problem(fifo) == "a FIFO (named pipe), not a regular file"
    assert regular_file_problem(tmp_path / "missing") == "no such file"
    os.symlink("loop", tmp_path / "loop")
    assert regular_file_problem(tmp_path / "loop").startswith("OSError: Too many levels of symbolic links")
