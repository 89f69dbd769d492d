"""The one error type for bad motion input (AMASS archives, ``.motion`` files, MotionLibs)."""

from __future__ import annotations

from pathlib import Path
from typing import Union


class MotionDataError(ValueError):
    """Bad input data: names the file, the field, what was expected and what was found.

    Batch jobs catch exactly this type to record a failure and carry on.
    """

    def __init__(self, path: Union[str, Path], field: str, expected: str, found: str) -> None:
        self.path = str(path)
        self.field = field
        self.expected = expected
        self.found = found
        super().__init__(f"{self.path}: field '{field}': expected {expected}, found {found}")
