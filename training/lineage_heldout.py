"""Whether a checkpoint was trained on any held-out clip: its lineage's AMASS source md5s against
the md5s of the held-out files (a folder of AMASS ``.npz`` clips, a MotionLib, or single files).

A policy evaluated on clips it was trained on does not measure generalisation; this makes the
claim "no held-out clip was trained on" a check of recorded hashes rather than a convention.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Mapping, Sequence

from motion.io_utils import PathLike, file_digest


def held_out_md5s(paths: Sequence[PathLike]) -> Dict[str, str]:
    """md5 → file for every held-out clip: ``.npz`` files (folders searched recursively), or the
    AMASS sources a MotionLib ``.pt`` (or ``.motion`` file) records."""
    found: Dict[str, str] = {}
    for given in paths:
        path = Path(given)
        if path.is_dir():
            for clip in sorted(path.rglob("*.npz")):
                found[file_digest(clip, "md5")] = str(clip)
        elif path.suffix in (".pt", ".motion"):
            found.update(_recorded_sources(path))
        elif path.is_file():
            found[file_digest(path, "md5")] = str(path)
        else:
            raise FileNotFoundError(f"{path}: no such held-out file or folder")
    return found


def _recorded_sources(path: Path) -> Dict[str, str]:
    from motion.motion_file import METADATA_KEY, read_torch_dict

    metadata = read_torch_dict(path, mmap=True).get(METADATA_KEY) or {}
    md5s, sources = metadata.get("source_md5"), metadata.get("source_path")
    if isinstance(md5s, str):  # a single .motion
        return {md5s: str(sources)}
    return {md5: f"{path}: {source}" for md5, source in zip(md5s or [], sources or [])}


def trained_on_held_out(lineage: Mapping[str, Any], held_out: Mapping[str, str]) -> List[str]:
    """The recorded training sources whose md5 is a held-out clip's (empty: none was trained on)."""
    contents = lineage.get("motion_lib") or {}
    md5s, sources = contents.get("source_md5") or [], contents.get("source_path") or []
    return [f"{source} (= {held_out[md5]})" for md5, source in zip(md5s, sources) if md5 in held_out]
