"""One MotionLib per AMASS split, across converted subsets: what ``mimic motionlib package
--split``, the DVC ``package@<split>`` stages and the Dagster ``motionlib_<split>`` assets do.

``mimic amass convert`` writes one folder per subset, ``<motions>/<subset>/``, holding
``train.yaml`` / ``validation.yaml`` / ``test.yaml`` (the default AMASS split, entries relative
to that folder). :func:`package_split` joins one split's entries of every subset into
``<output>.yaml`` (entries relative to ``<motions>``: the record of exactly which motions the
MotionLib holds) and packages it into ``<output>.pt``.

The packaged ``motion_files`` are relative to the MotionLib's folder (``../motions/<subset>/...``
for the usual ``<data>/motionlib`` beside ``<data>/motions``), so the file is the same bytes
whichever driver made it, wherever its data root lies and whether that root was named by a
relative or an absolute path.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

from motion.errors import MotionDataError
from motion.io_utils import PathLike
from motion.motion_config import SPLITS, MotionEntry, read_motion_config, write_motion_config
from motion.motion_lib_packaging import PackagingResult, package_motion_lib

log = logging.getLogger(__name__)

#: Short split names accepted besides motion.motion_config.SPLITS (the Dagster asset says ``val``).
SPLIT_ALIASES = {"val": "validation"}


def split_name(name: str) -> str:
    """``'train'``, ``'validation'`` or ``'test'`` for a split name or alias."""
    split = SPLIT_ALIASES.get(name, name)
    if split not in SPLITS:
        raise MotionDataError("<split>", "split", f"one of {', '.join(SPLITS)} (or val)", repr(name))
    return split


@dataclass
class SplitPackagingResult:
    """What :func:`package_split` packaged and from which subsets."""

    split: str  # the split asked for
    packaged_split: str  # the split packaged: ``train`` when an empty split fell back to it
    subsets: List[str]  # the subsets that contributed motions, in packaging order
    motion_config: Path  # the joined YAML beside the MotionLib
    packaging: PackagingResult
    label: str = ""  # e.g. "(train clips: no held-out data in the samples)" when it stands in for a split


def train_stand_in_label(subsets: Sequence[str]) -> str:
    """How a validation or test MotionLib made of train clips is labelled wherever it is reported."""
    where = "the " + ", ".join(subsets) if subsets else "the converted subsets"
    return f"(train clips: no held-out data in {where})"


def join_split_entries(
    motions_dir: PathLike, split: str, subsets: Optional[Sequence[str]] = None
) -> Tuple[List[MotionEntry], List[str]]:
    """The entries of ``split`` across converted subsets, relative to ``motions_dir``, and the
    subsets that have any.

    ``subsets`` None: every subset folder of ``motions_dir`` holding a ``<split>.yaml``, sorted by
    name (what has been converted). Given: exactly those, in that order; each must hold one.
    Entries keep every field of their subset's YAML (weight, fps, timings).
    """
    motions_dir = Path(motions_dir)
    if subsets is None:
        folders = sorted(path for path in motions_dir.iterdir() if path.is_dir()) if motions_dir.is_dir() else []
        indexes = [(folder.name, folder / f"{split}.yaml") for folder in folders]
        indexes = [(name, index) for name, index in indexes if index.is_file()]
    else:
        indexes = [(name, motions_dir / name / f"{split}.yaml") for name in subsets]
    entries: List[MotionEntry] = []
    used: List[str] = []
    for subset, index in indexes:
        found = read_motion_config(index)  # a missing file is a MotionDataError naming it
        if found:
            used.append(subset)
        entries.extend(dataclasses.replace(entry, file=f"{subset}/{entry.file}") for entry in found)
    return entries, used


def package_split(
    motions_dir: PathLike,
    split: str,
    output_file: PathLike,
    subsets: Optional[Sequence[str]] = None,
    empty_split_uses_train: bool = False,
    skip_bad: bool = False,
    progress: bool = False,
    log_info: Optional[Callable[[str], None]] = None,
) -> SplitPackagingResult:
    """Package ``split`` (a name of :data:`SPLITS` or ``val``) of the converted subsets below
    ``motions_dir`` (see :func:`join_split_entries`) into ``output_file``, writing the joined
    motion config beside it (``output_file`` with suffix ``.yaml``).

    With ``empty_split_uses_train``, a validation or test split that no subset belongs to (e.g.
    only the samples, all training data) is packaged from the train split instead: the result's
    ``packaged_split`` and ``label`` (:func:`train_stand_in_label`) say so, the MotionLib's
    metadata records both (``split``, ``packaged_split``, ``split_label``) so every evaluation of
    it is labelled too, and ``log_info`` (default: this module's logger) reports it. ``skip_bad``: as for
    :func:`~motion.motion_lib_packaging.package_motion_lib`.

    Raises:
        MotionDataError: no converted motions for the split, a subset's YAML unreadable, or bad
            ``.motion`` files (:class:`~motion.motion_lib_packaging.MotionPackagingError`).
    """
    split = split_name(split)
    entries, used = join_split_entries(motions_dir, split, subsets)
    packaged_split, label = split, ""
    if not entries and split != "train" and empty_split_uses_train:
        entries, used = join_split_entries(motions_dir, "train", subsets)
        packaged_split, label = "train", train_stand_in_label(used)
        (log_info or log.info)(
            f"{split} MotionLib: the train clips {label}; convert a {split} subset to evaluate on held-out motions"
        )
    if not entries:
        raise MotionDataError(
            motions_dir, f"<subset>/{split}.yaml", f"motions of the {split} split in a converted subset", "none"
        )
    output_file = Path(output_file)
    motion_config = output_file.with_suffix(".yaml")
    write_motion_config(entries, motion_config)
    packaging = package_motion_lib(
        motion_config, output_file, motion_root=motions_dir, skip_bad=skip_bad, progress=progress,
        files_relative_to_output=True,
        extra_metadata={"split": split, "packaged_split": packaged_split, "split_label": label},
    )  # fmt: skip
    return SplitPackagingResult(split, packaged_split, used, motion_config, packaging, label)
