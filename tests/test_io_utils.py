"""Atomic writes: all-or-nothing, never a partial file, ordinary permissions."""

from __future__ import annotations

import os
import stat

import pytest

from motion.io_utils import atomic_output, atomic_write_text, file_md5


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
    assert file_md5(target) == "900150983cd24fb0d6963f7d28e17f72"  # md5("abc")
