"""DVC's records: md5s computed exactly as DVC 3 records them, and reading them from ``dvc.lock``.

One place for DVC's scheme, so the Dagster assets' data versions, the lineage check and
``dvc.lock`` agree:

- a file: the md5 of its bytes (:func:`motion.io_utils.file_digest` with ``"md5"``);
- a directory: DVC's ``.dir`` hash, i.e. the md5 of the JSON manifest
  ``[{"md5": <file md5>, "relpath": <posix path below the directory>}, ...]`` sorted by relpath
  and written with ``json.dumps(manifest, sort_keys=True)``, followed by ``".dir"``.
  Every regular file below the directory counts (symlinks are followed, as DVC does).
- :func:`dvc_recorded_md5`: the md5 a ``dvc.lock`` records for a path, looking inside a tracked
  directory's ``.dir`` listing in the DVC cache for a file below it.

The directory scheme was checked against ``dvc add`` (DVC 3.67): see tests/test_dagster_definitions.py.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

from motion.errors import MotionDataError
from motion.io_utils import PathLike, file_digest

DIRECTORY_SUFFIX = ".dir"
LOCK_FILE = "dvc.lock"


# --- hashing ------------------------------------------------------------------------------


def directory_manifest(root: PathLike) -> List[Dict[str, str]]:
    """``[{"md5", "relpath"}]`` of every file below ``root``, sorted by relpath (DVC's tree listing)."""
    root = Path(root)
    manifest = []
    for directory, _dirs, files in os.walk(root, followlinks=True):
        for name in files:
            path = Path(directory, name)
            manifest.append({"md5": file_digest(path, "md5"), "relpath": path.relative_to(root).as_posix()})
    return sorted(manifest, key=lambda entry: entry["relpath"])


def directory_md5(root: PathLike) -> str:
    """DVC's hash of a directory: ``md5(json.dumps(manifest, sort_keys=True)) + ".dir"``."""
    text = json.dumps(directory_manifest(root), sort_keys=True)
    return hashlib.md5(text.encode("utf-8")).hexdigest() + DIRECTORY_SUFFIX


def output_md5(path: PathLike) -> str:
    """md5 of a file, or the ``.dir`` hash of a directory, as DVC records it for an ``outs`` entry."""
    path = Path(path)
    if path.is_dir():
        return directory_md5(path)
    if path.is_file():
        return file_digest(path, "md5")
    raise FileNotFoundError(f"cannot hash {path}: no such file or directory")


# --- dvc.lock -----------------------------------------------------------------------------


def dvc_recorded_md5(lock: PathLike, target: PathLike) -> Tuple[Optional[str], str]:
    """md5 that ``lock`` records for ``target`` and where: ``(md5, "stage <name> outs")``.

    Paths in ``dvc.lock`` are relative to its folder. A file inside a tracked directory is looked
    up in that directory's ``.dir`` listing in the DVC cache. ``(None, reason)`` when not recorded.
    """
    import yaml

    lock = Path(lock)
    try:
        data = yaml.safe_load(lock.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise MotionDataError(lock, LOCK_FILE, "a readable YAML file", str(error).splitlines()[0]) from None
    stages = data.get("stages") if isinstance(data, dict) else None
    if not isinstance(stages, dict):
        raise MotionDataError(lock, "stages", "a mapping of stage names", type(stages).__name__)
    wanted = Path(target).resolve()
    reason = f"{wanted.name} is not tracked in {lock}"
    for section in ("outs", "deps"):  # an output's own entry first; deps of later stages repeat it
        for stage, entry in _lock_entries(stages, section):
            entry_path = (lock.parent / str(entry.get("path", ""))).resolve()
            md5 = entry.get("md5")
            if md5 is None:
                continue
            if entry_path == wanted:
                return str(md5), f"stage {stage} {section}"
            if str(md5).endswith(DIRECTORY_SUFFIX) and entry_path in wanted.parents:
                inner = _dir_listing_md5(lock.parent, str(md5), wanted.relative_to(entry_path))
                if inner is not None:
                    return inner, f"stage {stage} {section} ({entry.get('path')}/)"
                reason = f"inside {entry.get('path')} (md5 {md5}), whose listing is not in the DVC cache"
    return None, reason


def _lock_entries(stages: Mapping[str, Any], section: str) -> Iterable[Tuple[str, Mapping[str, Any]]]:
    for stage, body in stages.items():
        for entry in (body or {}).get(section) or []:
            if isinstance(entry, dict):
                yield str(stage), entry


def _dir_listing_md5(dvc_root: Path, dir_md5: str, relative: Path) -> Optional[str]:
    name = dir_md5[:2], dir_md5[2:]
    for cache in (dvc_root / ".dvc" / "cache" / "files" / "md5", dvc_root / ".dvc" / "cache"):  # DVC 3, DVC 2
        listing = cache / name[0] / name[1]
        if listing.is_file():
            for entry in json.loads(listing.read_text(encoding="utf-8")):
                if Path(entry.get("relpath", "")) == relative:
                    return entry.get("md5")
            return None
    return None
