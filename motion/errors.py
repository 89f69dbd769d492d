"""The project's user-facing error types, each printed by the ``mimic`` CLI as one line.

:class:`InputError`: bad input, naming the file, the field, what was expected and what was found;
one subclass per kind of input, so a batch job catches exactly the kind it reads:

- :class:`MotionDataError`: motion data (AMASS files and archives, ``.motion`` files, MotionLibs,
  robot model files);
- :class:`CheckpointError`: checkpoints and run folders;
- :class:`ConfigError`: experiment files and config values;
- :class:`ResultsFileError`: evaluation and training result files (summary.json,
  per_motion.parquet, metrics.csv).

:class:`OutputWriteError`: an output that the machine refuses to store (disk full, quota,
read-only filesystem, permissions).
"""

from __future__ import annotations

import errno as errno_codes
import os
from pathlib import Path
from typing import Any, Dict, Tuple, Union


class InputError(ValueError):
    """Bad input: names the file, the field, what was expected and what was found."""

    def __init__(self, path: Union[str, Path], field: str, expected: str, found: str) -> None:
        self.path = str(path)
        self.field = field
        self.expected = expected
        self.found = found
        super().__init__(f"{self.path}: field '{field}': expected {expected}, found {found}")

    def __reduce__(self) -> Tuple[Any, ...]:
        # Raised in worker processes too: rebuild from our own arguments, not ValueError's.
        return (type(self), (self.path, self.field, self.expected, self.found))


class MotionDataError(InputError):
    """Bad motion data. Batch conversion and packaging catch exactly this type to record a
    failed file and carry on."""


class CheckpointError(InputError):
    """A checkpoint (or run folder) that cannot be used: unreadable, wrong layout, bad values."""


class ConfigError(InputError):
    """An experiment file or config value that cannot be used."""


class ResultsFileError(InputError):
    """A result file written by evaluation or training (summary.json, per_motion.parquet,
    metrics.csv) that cannot be read back."""


#: errno → what the user has to do; only these errors are the user's to fix (others are bugs or
#: per-file problems and keep their own type).
_WRITE_ERROR_ADVICE: Dict[int, str] = {
    code: advice
    for name, advice in (
        ("ENOSPC", "free space"),
        ("EDQUOT", "free space or raise the disk quota"),
        ("EROFS", "remount the filesystem read-write or choose another output"),
        ("EACCES", "make the folder writable or choose another output"),
        ("EPERM", "make the folder writable or choose another output"),
    )
    for code in (getattr(errno_codes, name, None),)
    if code is not None
}
#: The errno values :class:`OutputWriteError` stands for.
WRITE_ERRNOS: Tuple[int, ...] = tuple(_WRITE_ERROR_ADVICE)


class OutputWriteError(OSError):
    """An output could not be written for a reason the user must fix; names the output path, the
    cause and what to do. Nothing partial is left (every write is atomic) and finished outputs are
    kept, so rerunning after the fix resumes. Batch jobs stop on it: every later write would fail
    the same way.
    """

    def __init__(self, path: Union[str, Path], code: int, strerror: str = "") -> None:
        super().__init__(code, strerror or os.strerror(code))
        self.path = str(path)
        self.filename = self.path

    def __str__(self) -> str:
        name = errno_codes.errorcode.get(self.errno, "?")
        advice = _WRITE_ERROR_ADVICE.get(self.errno, "fix the output location")
        return (
            f"cannot write {self.path}: {self.strerror} (errno {self.errno} {name}): "
            f"{advice} and rerun; finished files are kept"
        )

    def __reduce__(self) -> Tuple[Any, ...]:
        # Raised in worker processes too: rebuild from our own arguments, not OSError's.
        return (type(self), (self.path, self.errno, self.strerror))
