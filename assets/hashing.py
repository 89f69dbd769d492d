"""md5 of asset outputs, computed exactly as DVC 3 records them (so Dagster and ``dvc.lock`` agree).

- a file: the md5 of its bytes (:func:`motion.io_utils.file_md5`);
- a directory: DVC's ``.dir`` hash, i.e. the md5 of the JSON manifest
  ``[{"md5": <file md5>, "relpath": <posix path below the directory>}, ...]`` sorted by relpath
  and written with ``json.dumps(manifest, sort_keys=True)``, followed by ``".dir"``.
  Every regular file below the directory counts (symlinks are followed, as DVC does).

The directory scheme was checked against ``dvc add`` (DVC 3.67): see tests/test_dagster_definitions.py.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from motion.io_utils import file_md5

DIRECTORY_SUFFIX = ".dir"


def directory_manifest(root: str | Path) -> list[dict[str, str]]:
    """``[{"md5", "relpath"}]`` of every file below ``root``, sorted by relpath (DVC's tree listing)."""
    root = Path(root)
    manifest = []
    for directory, _dirs, files in os.walk(root, followlinks=True):
        for name in files:
            path = Path(directory, name)
            manifest.append({"md5": file_md5(path), "relpath": path.relative_to(root).as_posix()})
    return sorted(manifest, key=lambda entry: entry["relpath"])


def directory_md5(root: str | Path) -> str:
    """DVC's hash of a directory: ``md5(json.dumps(manifest, sort_keys=True)) + ".dir"``."""
    text = json.dumps(directory_manifest(root), sort_keys=True)
    return hashlib.md5(text.encode("utf-8")).hexdigest() + DIRECTORY_SUFFIX


def output_md5(path: str | Path) -> str:
    """md5 of a file, or the ``.dir`` hash of a directory, as DVC records it for an ``outs`` entry."""
    path = Path(path)
    if path.is_dir():
        return directory_md5(path)
    if path.is_file():
        return file_md5(path)
    raise FileNotFoundError(f"cannot hash {path}: no such file or directory")
