"""The lineage record every checkpoint embeds: which exact data, config, code and parent made it.

:func:`collect_lineage` runs once when a run starts (rank 0) and the trainer stores the result,
with a fresh ``created`` time, under ``checkpoint["lineage"]`` at every save. Everything in it
is plain data (str, int, float, bool, None, lists, dicts) so checkpoints still load with
``torch.load(weights_only=True)``. Keys:

==========================  ===========================================================
key                         meaning
==========================  ===========================================================
format_version              :data:`LINEAGE_FORMAT_VERSION`
created                     UTC ISO-8601 time the checkpoint was written
overrides                   ``--overrides`` as given
experiment_file             experiment file path as given (relative to ``working_dir``)
experiment_sha256           sha256 of the experiment file's bytes
start_mode                  ``fresh`` / ``resume`` / ``warm_start``
start_checkpoint            checkpoint path the run started from, or None
parent_checkpoint           ``{"path", "md5", "start_mode"}`` of that file, or None
config / config_hash        the resolved config (plain dict) and its sha256
motion_file                 the MotionLib ``.pt`` this (rank 0) process loaded
motion_file_md5             its md5 (the digest DVC records)
motion_lib                  per-motion lists read from the MotionLib's ``mimicflow``
                            metadata: ``motion_files``, ``motion_md5``, ``source_path``
                            (relative to the AMASS root), ``source_md5``, ``subset``,
                            ``converter_version``, ``conversion`` + ``conversion_index``
working_dir                 the directory training ran in (relative paths resolve here)
git_commit / git_dirty      the mimicflow checkout's HEAD and whether tracked files
                            differ from it; None when the code is not a git checkout
packages                    versions of python, torch, numpy, mujoco, mimicflow
simulator / seed            from the config, for quick reading
==========================  ===========================================================
"""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from motion.io_utils import PathLike, file_digest
from motion.motion_file import METADATA_KEY, read_torch_dict
from training.checkpoint import check_plain_data
from training.experiment_loader import experiment_file_hash
from training.overrides import config_hash, config_to_dict
from training.start_mode import StartMode

LINEAGE_FORMAT_VERSION = 1
#: Per-motion lists copied from the MotionLib's ``mimicflow`` metadata (None per motion when absent).
MOTION_LIB_LISTS = ("motion_md5", "source_path", "source_md5", "subset", "converter_version", "conversion_index")
#: Distributions whose versions are recorded (python is added from the interpreter).
RECORDED_PACKAGES = ("torch", "numpy", "mujoco", "mimicflow")
#: The checkout the ``training`` package lives in: the code whose commit is recorded.
CODE_ROOT = Path(__file__).resolve().parents[1]


def collect_lineage(
    config: Any,
    experiment_file: Optional[PathLike],
    overrides: Sequence[str],
    motion_file: PathLike,
    start_mode: Optional[StartMode],
    repo_root: Optional[PathLike] = None,
    motion_file_md5: Optional[str] = None,
) -> Dict[str, Any]:
    """The lineage record of a run (see the module table).

    Args:
        config: the resolved :class:`~training.config.ExperimentConfig`.
        experiment_file: the experiment ``.py`` the config was built from (None: not recorded).
        overrides: the ``--overrides`` items, as given.
        motion_file: the MotionLib ``.pt`` actually loaded (a ``slurmrank`` pattern already resolved).
        start_mode: fresh / resume / warm start and the checkpoint it loads.
        repo_root: git checkout whose commit is recorded (default: the one holding this package).
        motion_file_md5: the MotionLib's md5 when the caller has it already (hashing a
            multi-GB MotionLib twice costs seconds).
    """
    motion_path = Path(motion_file)
    return make_lineage(
        experiment_file=experiment_file,
        overrides=overrides,
        start_mode=start_mode,
        format_version=LINEAGE_FORMAT_VERSION,
        created=utc_now(),
        parent_checkpoint=parent_checkpoint(start_mode),
        config=config_to_dict(config),
        config_hash=config_hash(config),
        motion_file=str(motion_path),
        motion_file_md5=motion_file_md5 or file_digest(motion_path, "md5"),
        motion_lib=motion_lib_contents(motion_path),
        working_dir=os.getcwd(),
        **git_state(CODE_ROOT if repo_root is None else repo_root),
        packages=package_versions(),
        simulator=str(config.simulator),
        seed=int(config.seed),
    )


def make_lineage(
    *,
    experiment_file: Optional[PathLike] = None,
    overrides: Sequence[str] = (),
    start_mode: Optional[StartMode] = None,
    **facts: Any,
) -> Dict[str, Any]:
    """Where a run came from: experiment file and sha256, overrides, resumed / warm-started from."""
    lineage: Dict[str, Any] = {"overrides": list(overrides)}
    if experiment_file is not None:
        lineage["experiment_file"] = str(experiment_file)
        lineage["experiment_sha256"] = experiment_file_hash(experiment_file)
    if start_mode is not None:
        lineage["start_mode"] = start_mode.kind.value
        lineage["start_checkpoint"] = None if start_mode.checkpoint is None else str(start_mode.checkpoint)
    lineage.update(facts)
    check_plain_data(lineage, "lineage")
    return lineage


def utc_now() -> str:
    """Current UTC time, ISO 8601 to the second (``2025-01-31T12:00:00+00:00``)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def parent_checkpoint(start_mode: Optional[StartMode]) -> Optional[Dict[str, Any]]:
    """Path and md5 of the checkpoint a resumed or warm-started run loads; None for a fresh run.

    Hashed before the run writes anything: a resumed run later overwrites its parent ``last.ckpt``.
    """
    if start_mode is None or start_mode.checkpoint is None:
        return None
    path = Path(start_mode.checkpoint)
    return {"path": str(path), "md5": file_digest(path, "md5"), "start_mode": start_mode.kind.value}


def motion_lib_contents(path: PathLike) -> Dict[str, Any]:
    """The per-motion file lists of a MotionLib, from its metadata only.

    The file is memory-mapped, so frame tensors are never read. A MotionLib without our
    ``mimicflow`` metadata (e.g. packaged by ProtoMotions) gives None for every md5 and source.
    """
    data = read_torch_dict(path, mmap=True)
    metadata = data.get(METADATA_KEY) or {}
    files = [str(name) for name in data.get("motion_files") or ()]
    count = len(files) if files else int(data["motion_num_frames"].shape[0])
    contents: Dict[str, Any] = {
        "num_motions": count,
        "format_version": metadata.get("format_version"),
        "created_by": metadata.get("created_by"),
        "motion_files": files or [None] * count,
    }
    for key in MOTION_LIB_LISTS:
        values = metadata.get(key)
        contents[key] = list(values) if values is not None and len(values) == count else [None] * count
    contents["conversion"] = list(metadata.get("conversion") or [])
    return contents


def git_state(repo_root: PathLike) -> Dict[str, Any]:
    """``{"git_commit": HEAD sha or None, "git_dirty": bool or None}`` of ``repo_root``.

    Dirty means a tracked file differs from HEAD; untracked files (run outputs, data) do not
    count. None for both when ``repo_root`` is not the top of a git checkout (an installed
    package sitting inside some other repository must not report that repository's commit)
    or git is not installed.
    """
    root = Path(repo_root).resolve()
    top = _git(root, "rev-parse", "--show-toplevel")
    if top is None or Path(top).resolve() != root:
        return {"git_commit": None, "git_dirty": None}
    commit = _git(root, "rev-parse", "HEAD")
    status = _git(root, "status", "--porcelain", "--untracked-files=no")
    return {"git_commit": commit, "git_dirty": None if status is None else bool(status)}


def _git(root: Path, *args: str) -> Optional[str]:
    try:
        result = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def package_versions(names: Sequence[str] = RECORDED_PACKAGES) -> Dict[str, Optional[str]]:
    """``{"python": "3.11.9", "torch": "2.13.0", ...}``; None for a distribution not installed."""
    from importlib.metadata import PackageNotFoundError, version

    versions: Dict[str, Optional[str]] = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions
