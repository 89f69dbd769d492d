"""Put one AMASS subset's clips at ``<amass root>/<subset>/``: from a local folder or archive,
or from the AMASS server (the public samples come from :mod:`motion.samples`).

The ways end in the same place, so everything downstream (conversion, DVC) reads one layout.
Archives are downloaded and extracted by :mod:`motion.amass_download` (what ``mimic amass
download`` uses), whose extraction refuses absolute paths, ``..`` and links leaving the target.
Nothing here logs or returns credentials. ``mimic amass stage`` and the Dagster
``amass_archives`` asset call these functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, List

from motion.amass import find_amass_files
from motion.amass_download import AmassCredentials, download_subset, extract_archive
from motion.errors import MotionDataError

#: Archive suffixes ``local`` mode extracts (AMASS serves ``<subset>.tar.bz2``).
ARCHIVE_SUFFIXES = (".tar.bz2", ".tbz2", ".tar.gz", ".tgz", ".tar.xz", ".tar")


def is_archive(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(ARCHIVE_SUFFIXES)


def require_clips(folder: Path) -> List[Path]:
    """The AMASS clips below ``folder``; one clear error when there are none."""
    clips = find_amass_files(folder) if folder.is_dir() else []
    if not clips:
        raise MotionDataError(folder, "<folder>", "AMASS clips (*_poses.npz or *_stageii.npz) below it", "none")
    return clips


def _require_subset_folder(archive: Path, subset: str, top_level: List[str]) -> None:
    if subset not in top_level:
        raise MotionDataError(
            archive, "<archive>", f"one top folder '{subset}/' (AMASS's layout)", f"top-level entries {top_level}"
        )


def extract_subset_archive(archive: Path, subset: str, amass_root: Path) -> str:
    """Extract ``archive`` (whose top folder is ``<subset>/``) into ``amass_root``."""
    extracted = extract_archive(archive, amass_root)
    top_level = sorted({path.relative_to(amass_root).parts[0] for path in extracted})
    _require_subset_folder(archive, subset, top_level)
    return f"extracted {archive}"


def stage_local_subset(source: Path, subset: str, amass_root: Path, log: Callable[[str], None]) -> str:
    """Make ``<amass_root>/<subset>`` hold the subset's clips from ``source``.

    ``source`` may be: the subset's folder of ``.npz`` clips; an AMASS root holding ``<subset>/``;
    a folder holding ``<subset>.tar.bz2`` (or another archive suffix); or the archive itself.
    A folder is linked (symlink, no copy: AMASS subsets are large); an archive is extracted,
    replacing an earlier ``<subset>/``. Returns a one-line description (for metadata).
    """
    target = amass_root / subset
    source = source.expanduser().resolve()
    if not source.exists():
        raise MotionDataError(source, "local_path", "an existing folder or archive", "no such path")
    if source.is_dir():
        if (source / subset).is_dir():
            source = source / subset
        else:
            archives = [source / f"{subset}{suffix}" for suffix in ARCHIVE_SUFFIXES]
            source = next((path for path in archives if path.is_file()), source)
    if is_archive(source):
        return extract_subset_archive(source, subset, amass_root)
    require_clips(source)
    if target.exists() and target.resolve() == source:
        return f"in place at {target}"
    if target.is_symlink():
        log(f"{target} linked to {target.resolve()} before: now linked to {source}")
        target.unlink()
    elif target.exists():
        raise MotionDataError(
            target, "<folder>", f"absent or a link (to link it to {source})", "a folder with files: remove it first"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(source, target_is_directory=True)
    return f"linked to {source}"


def download_and_stage_subset(
    subset: str, amass_root: Path, username: str, password: str, model: str, base_url: str
) -> Dict[str, Any]:
    """Download ``<subset>.tar.bz2`` from the AMASS server (resumable, md5 recorded) and extract it
    into ``amass_root``; returns the downloader's facts (archive, size, md5, ...; no credentials)."""
    credentials = AmassCredentials(username, password)
    facts: Dict[str, Any] = download_subset(subset, amass_root, credentials, model=model, base_url=base_url)
    _require_subset_folder(Path(facts["archive"]), subset, list(facts.get("top_level") or []))
    return facts
