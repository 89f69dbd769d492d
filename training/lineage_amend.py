"""Re-record the motion data of a checkpoint's lineage after the same AMASS files were converted again.

A lineage record holds the md5 of every derived file: the MotionLib and each ``.motion`` file in
it. Those bytes are the converter's output, so a newer converter (or, before converter version 2,
another CPU) gives other bytes from the very same AMASS files, and ``mimic lineage --strict``
then fails on a policy whose data did not change in any way that matters to it.

:func:`amend_motion_lib` replaces the record's MotionLib part with that of a rebuilt MotionLib,
but only when the rebuilt one was made from exactly the recorded AMASS files (same sources, same
md5s, same order) with the same conversion parameters; anything else is other data and is
refused. The values it replaces are kept in the record under ``amendments`` with the date and
the reason, and ``mimic lineage`` shows them, so the record never hides that it was amended.
Nothing else in the checkpoint changes (weights, config, counters); the file is rewritten
atomically. Whether the policy still does what it did on the rebuilt data is for the caller to
show, e.g. with ``mimic inference --full-eval`` on it.
"""

from __future__ import annotations

import copy
from typing import Any, Dict, List, Mapping, Optional

from motion.errors import CheckpointError, MotionDataError
from motion.io_utils import PathLike, file_digest
from training.lineage import motion_lib_contents, utc_now

#: Record keys an amendment replaces (and keeps the previous values of).
AMENDED_KEYS = ("motion_file", "motion_file_md5", "motion_lib")


def amend_motion_lib(
    checkpoint_path: PathLike, motion_lib_path: PathLike, reason: str, output: Optional[PathLike] = None
) -> Dict[str, Any]:
    """Re-record the MotionLib part of ``checkpoint_path``'s lineage from ``motion_lib_path``.

    Args:
        checkpoint_path: a checkpoint written by ``mimic train``.
        motion_lib_path: the rebuilt MotionLib ``.pt`` (its path is recorded as given).
        reason: why, in words; stored with the amendment.
        output: where to write the amended checkpoint (default: over ``checkpoint_path``).

    Returns:
        The amendment entry appended to ``lineage["amendments"]``.

    Raises:
        CheckpointError: no lineage record, or no motion data recorded in it.
        MotionDataError: the rebuilt MotionLib was made from other AMASS files or with other
            conversion parameters (naming the first difference).
    """
    from training.checkpoint import load_checkpoint, save_checkpoint

    if not reason.strip():
        raise ValueError("an amendment needs a reason (--reason)")
    payload = load_checkpoint(checkpoint_path)
    lineage = payload.get("lineage") or {}
    if not lineage:
        raise CheckpointError(checkpoint_path, "lineage", "a lineage record (checkpoints of mimic train)", "none")
    recorded = lineage.get("motion_lib") or {}
    rebuilt = motion_lib_contents(motion_lib_path)
    _require_same_sources(recorded, rebuilt, checkpoint_path, motion_lib_path)
    amendment = {
        "date": utc_now(),
        "reason": reason.strip(),
        "replaced": {key: copy.deepcopy(lineage.get(key)) for key in AMENDED_KEYS},
    }
    amended = dict(lineage)
    amended.update(
        motion_file=str(motion_lib_path),
        motion_file_md5=file_digest(motion_lib_path, "md5"),
        motion_lib=rebuilt,
        amendments=list(lineage.get("amendments") or []) + [amendment],
    )
    payload = dict(payload, lineage=amended)
    save_checkpoint(checkpoint_path if output is None else output, payload)
    return amendment


def _require_same_sources(
    recorded: Mapping[str, Any], rebuilt: Mapping[str, Any], checkpoint: PathLike, motion_lib: PathLike
) -> None:
    sources = recorded.get("source_md5") or []
    if not sources or any(md5 is None for md5 in sources):
        raise CheckpointError(
            checkpoint, "lineage.motion_lib.source_md5", "the md5 of every AMASS source file", repr(sources)
        )
    for key, what in (("source_path", "the same AMASS files in the same order"), ("source_md5", "the same bytes")):
        if list(rebuilt.get(key) or []) != list(recorded.get(key) or []):
            raise MotionDataError(
                motion_lib, f"mimicflow.{key}", f"{what} as recorded in {checkpoint}", _first_difference(
                    list(recorded.get(key) or []), list(rebuilt.get(key) or []))
            )  # fmt: skip
    if _conversions(rebuilt) != _conversions(recorded):
        raise MotionDataError(
            motion_lib, "mimicflow.conversion", f"the conversion parameters recorded in {checkpoint}",
            f"{_conversions(rebuilt)} instead of {_conversions(recorded)}",
        )  # fmt: skip


def _conversions(contents: Mapping[str, Any]) -> List[Any]:
    """Each motion's conversion parameters (the shared table expanded by ``conversion_index``)."""
    table = list(contents.get("conversion") or [])
    return [
        table[i] if isinstance(i, int) and 0 <= i < len(table) else None for i in contents.get("conversion_index") or []
    ]


def _first_difference(recorded: List[Any], rebuilt: List[Any]) -> str:
    if len(recorded) != len(rebuilt):
        return f"{len(rebuilt)} motions instead of {len(recorded)}"
    index = next(i for i, (a, b) in enumerate(zip(recorded, rebuilt)) if a != b)
    return f"motion {index}: {rebuilt[index]!r} instead of {recorded[index]!r}"
