"""Finding the files a lineage record names, on this machine (:func:`training.lineage_check.verify_lineage`).

Relative paths in the record resolve against the current directory, then the directory training
ran in (``working_dir``), then the folders above the MotionLib (a moved checkout with the usual
``data/`` layout still resolves). The current directory comes first: ``mimic lineage`` run in a
checkout checks that checkout's files, even where the run's old folder still exists beside it.
An absolute path inside the run's old checkout is looked for at the same place relative to the
current one first, whether or not the old one still exists (a clone of the shipped policy checks
its own copies, not the author's).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, List, Optional, Sequence

from motion.errors import MotionDataError
from motion.io_utils import PathLike
from training.dvc_records import LOCK_FILE

#: Folders, relative to an ancestor of the MotionLib, where an AMASS root is looked for.
AMASS_ROOT_GUESSES = ("amass", "data/amass")


def locate_recorded(
    recorded: Optional[str], bases: Iterable[Path], recorded_root: Optional[Path] = None
) -> Optional[Path]:
    """The first ``base / path`` that exists (else the first guess). ``recorded_root`` is the
    directory the run recorded from (its ``working_dir``; default: the first base): an absolute
    path inside it is looked for at the same place relative to the bases, the current checkout
    first, so a clone checks its own copy even where the author's absolute path also exists on
    this machine (the recorded path is still found through the base it lies under). An absolute
    path outside it is taken as recorded."""
    if not recorded:
        return None
    path = Path(recorded)
    bases = [Path(base) for base in bases]
    if path.is_absolute():
        if not bases:
            return path
        try:
            path = path.relative_to(bases[0] if recorded_root is None else recorded_root)
        except ValueError:
            return Path(recorded)
        if not any((base / path).exists() for base in bases) and Path(recorded).exists():
            return Path(recorded)  # the recorded root is no base here, yet the file is where it was
    candidates = [base / path for base in bases]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    return candidates[0] if candidates else path


def ancestors(paths: Sequence[Optional[Path]]) -> List[Path]:
    """Every parent folder of every path found, nearest first per path."""
    return [parent for path in paths if path is not None for parent in path.parents]


def find_amass_root(
    given: Optional[PathLike], sources: Sequence[Optional[str]], bases: Sequence[Path]
) -> Optional[Path]:
    """``given``, else the first ``base/amass`` or ``base/data/amass`` holding the first recorded
    source file (paths in ``sources`` are relative to the AMASS root); None when none does."""
    if given is not None:
        return Path(given)
    first = next((source for source in sources if source), None)
    if first is None:
        return None
    for base in bases:
        for guess in AMASS_ROOT_GUESSES:
            if (base / guess / first).is_file():
                return base / guess
    return None


def find_dvc_lock(given: Optional[PathLike], motion_lib: Optional[Path]) -> Optional[Path]:
    """``given`` (which must exist), else the first ``dvc.lock`` in the MotionLib's folder or
    above, else in the current folder or above; None when there is none."""
    if given is not None:
        if not Path(given).is_file():
            raise MotionDataError(given, LOCK_FILE, f"an existing {LOCK_FILE} file", "no such file")
        return Path(given)
    starts = ([motion_lib.resolve().parent] if motion_lib is not None else []) + [Path.cwd().resolve()]
    for start in starts:
        for folder in [start, *start.parents]:
            if (folder / LOCK_FILE).is_file():
                return folder / LOCK_FILE
    return None
