"""Check a checkpoint's lineage record (:mod:`training.lineage`) against the files on disk.

:func:`verify_lineage` re-hashes everything the record names: the config (recomputed from the
stored dict), the experiment file and its copy in the run directory, the MotionLib, every
``.motion`` file packaged in it, every AMASS source file (when an AMASS root is given or found),
the parent checkpoint, and compares the MotionLib's and the checkpoint's md5 with what a
``dvc.lock`` recorded (:mod:`training.dvc_records`). Where the recorded files are found on this
machine is :mod:`training.lineage_files`; :func:`training.lineage_tree.render_tree` prints the report.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

from motion.errors import CheckpointError
from motion.io_utils import PathLike, file_digest
from training.dvc_records import dvc_recorded_md5
from training.lineage_files import ancestors, find_amass_root, find_dvc_lock, locate_recorded
from training.overrides import config_dict_hash
from training.run_layout import EXPERIMENT_COPY

OK, MISMATCH, MISSING, SKIPPED, UNCHECKED = "ok", "mismatch", "missing", "skipped", "unchecked"
FAILING = (MISMATCH, MISSING)
# SKIPPED: nothing recorded to check (no parent, no source), a hash checked elsewhere in the report
# (the experiment file's against its copy, the MotionLib's against dvc.lock), or the parent a
# resumed run overwrote itself. UNCHECKED: a hash the record holds that could not be compared with
# anything here (an AMASS source without its AMASS root): `mimic lineage --strict` fails on it.


@dataclass
class LineageCheck:
    """One hash compared: ``expected`` is what was recorded, ``found`` what is there now."""

    #: config, checkpoint_config, experiment, experiment_copy, motion_lib, dvc_motion_lib,
    #: dvc_checkpoint, motion, amass or parent
    kind: str
    item: str  # the file checked (as resolved) or what was recomputed
    expected: Optional[str]
    found: Optional[str]
    status: str  # ok | mismatch | missing | skipped | unchecked
    note: str = ""
    index: Optional[int] = None  # motion index in the MotionLib for kind motion / amass


@dataclass
class LineageReport:
    checkpoint: str
    epoch: Optional[int]
    lineage: Dict[str, Any]
    checks: List[LineageCheck] = field(default_factory=list)
    dvc_lock: Optional[str] = None
    amass_root: Optional[str] = None

    @property
    def failures(self) -> List[LineageCheck]:
        return [check for check in self.checks if check.status in FAILING]

    @property
    def ok(self) -> bool:
        """Nothing checked differs or is missing (recorded hashes left unchecked aside)."""
        return not self.failures

    @property
    def unchecked(self) -> List[LineageCheck]:
        return [check for check in self.checks if check.status == UNCHECKED]

    @property
    def verified(self) -> bool:
        """Every recorded hash was checked and matches: what ``mimic lineage --strict`` requires."""
        return self.ok and not self.unchecked

    def counts(self) -> Dict[str, int]:
        statuses = (OK, MISMATCH, MISSING, SKIPPED, UNCHECKED)
        return {status: sum(c.status == status for c in self.checks) for status in statuses}

    def to_dict(self) -> Dict[str, Any]:
        return {
            "checkpoint": self.checkpoint,
            "epoch": self.epoch,
            "ok": self.ok,
            "verified": self.verified,
            "counts": self.counts(),
            "dvc_lock": self.dvc_lock,
            "amass_root": self.amass_root,
            "checks": [asdict(check) for check in self.checks],
            "lineage": self.lineage,
        }


def verify_lineage(
    checkpoint_path: PathLike, dvc_lock: Optional[PathLike] = None, amass_root: Optional[PathLike] = None
) -> LineageReport:
    """Every check that the record and the files on disk allow (see the module docstring).

    Args:
        checkpoint_path: a checkpoint written by ``mimic train``.
        dvc_lock: the ``dvc.lock`` to compare with; default: the first one in the MotionLib's
            folder or above, else the current folder or above (none found: skipped).
        amass_root: the AMASS folder the ``.motion`` files were converted from; default: an
            ``amass/`` or ``data/amass/`` folder beside an ancestor of the MotionLib that holds
            the first source file (none found: the AMASS checks are skipped).

    Raises:
        CheckpointError: the checkpoint cannot be read or has no lineage record.
        MotionDataError: ``dvc_lock`` is given but unreadable.
    """
    from training.checkpoint import load_checkpoint

    path = Path(checkpoint_path)
    payload = load_checkpoint(path)
    lineage = payload.get("lineage") or {}
    if not lineage:
        raise CheckpointError(path, "lineage", "a lineage record (checkpoints of mimic train)", "none")
    report = LineageReport(str(path), payload.get("epoch"), dict(lineage))
    checks = report.checks
    checks += _config_checks(lineage, payload)
    working_dir = Path(lineage.get("working_dir") or Path.cwd())
    checks += _experiment_checks(lineage, path, working_dir)
    motion_lib = locate_recorded(lineage.get("motion_file"), [Path.cwd(), working_dir], working_dir)
    checks.append(_md5_check("motion_lib", motion_lib, lineage.get("motion_file_md5")))
    bases = [Path.cwd(), working_dir] + (list(motion_lib.parents) if motion_lib is not None else [])
    lock = find_dvc_lock(dvc_lock, motion_lib)
    report.dvc_lock = None if lock is None else str(lock)
    checks.append(_dvc_check("dvc_motion_lib", lock, motion_lib, lineage.get("motion_file_md5"), dvc_lock is not None))
    checks.append(_dvc_check("dvc_checkpoint", lock, path, _md5_or_none(path), False))
    contents = lineage.get("motion_lib") or {}
    motion_paths = [locate_recorded(name, bases, working_dir) for name in contents.get("motion_files") or []]
    root = find_amass_root(amass_root, contents.get("source_path") or [], bases + ancestors(motion_paths[:1]))
    report.amass_root = None if root is None else str(root)
    checks += _motion_checks(contents, motion_paths, root, amass_root is not None)
    checks.append(_parent_check(lineage, bases, working_dir))
    return report


# --- the checks ---------------------------------------------------------------------------


def _config_checks(lineage: Mapping[str, Any], payload: Mapping[str, Any]) -> List[LineageCheck]:
    recorded = lineage.get("config_hash")
    checks = []
    for kind, config, expected, what in (
        ("config", lineage.get("config"), recorded, "config in the lineage record"),
        # An older record without the config: the checkpoint's own hash is what there is to compare.
        (
            "checkpoint_config",
            payload.get("config"),
            recorded or payload.get("config_hash"),
            "config in the checkpoint",
        ),
    ):
        if config is None or expected is None:
            checks.append(LineageCheck(kind, what, expected, None, MISSING, "not recorded"))
            continue
        found = config_dict_hash(config)
        status = OK if found == expected else MISMATCH
        note = "" if status == OK else f"{what} was changed after the run recorded it"
        if kind == "checkpoint_config" and payload.get("config_hash") != expected:
            status, note = MISMATCH, f"the checkpoint's config_hash {payload.get('config_hash')} differs"
        checks.append(LineageCheck(kind, what, expected, found, status, note))
    return checks


def _experiment_checks(lineage: Mapping[str, Any], checkpoint: Path, working_dir: Path) -> List[LineageCheck]:
    expected = lineage.get("experiment_sha256")
    source = locate_recorded(lineage.get("experiment_file"), [Path.cwd(), working_dir], working_dir)
    copy = checkpoint.parent / EXPERIMENT_COPY
    checks = [_hash_check("experiment", source, expected, "sha256")]
    if copy.is_file():
        checks.append(_hash_check("experiment_copy", copy, expected, "sha256"))
    else:
        checks.append(
            LineageCheck("experiment_copy", str(copy), expected, None, SKIPPED, "no copy beside the checkpoint")
        )
    return checks


def _motion_checks(
    contents: Mapping[str, Any], paths: Sequence[Optional[Path]], amass_root: Optional[Path], root_given: bool
) -> List[LineageCheck]:
    count = len(paths)
    motion_md5 = _per_motion(contents, "motion_md5", count)
    source_paths = _per_motion(contents, "source_path", count)
    source_md5 = _per_motion(contents, "source_md5", count)
    digests: Dict[Path, Optional[str]] = {}  # a source sliced into several motions is hashed once
    checks = []
    for index, path in enumerate(paths):
        motion = _md5_check("motion", path, motion_md5[index], digests)
        motion.index = index
        checks.append(motion)
        source = source_paths[index]
        if source is None or source_md5[index] is None:
            amass = LineageCheck("amass", str(source), source_md5[index], None, SKIPPED, "no source recorded")
        elif amass_root is None:
            note = "AMASS root not found: pass --amass-root"
            amass = LineageCheck("amass", str(source), source_md5[index], None, UNCHECKED, note)
        else:
            amass = _md5_check("amass", amass_root / source, source_md5[index], digests)
            amass.item = str(source)  # relative to the AMASS root, as recorded
            if amass.status == MISSING and not root_given:
                amass.note = f"not under the AMASS root found at {amass_root}"
        amass.index = index
        checks.append(amass)
    return checks


def _parent_check(lineage: Mapping[str, Any], bases: Sequence[Path], working_dir: Path) -> LineageCheck:
    parent = lineage.get("parent_checkpoint")
    if not parent:
        return LineageCheck("parent", "none", None, None, SKIPPED, f"start mode {lineage.get('start_mode', '?')}")
    check = _md5_check("parent", locate_recorded(parent.get("path"), bases, working_dir), parent.get("md5"))
    if parent.get("start_mode") == "resume" and check.status in FAILING:
        # A resumed run rewrites the last.ckpt it started from: a different file there is expected.
        check.status, check.note = SKIPPED, "last.ckpt was overwritten by the resumed run, as expected"
    return check


def _md5_check(
    kind: str, path: Optional[Path], expected: Optional[str], cache: Optional[Dict[Path, Optional[str]]] = None
) -> LineageCheck:
    return _hash_check(kind, path, expected, "md5", cache)


def _hash_check(
    kind: str,
    path: Optional[Path],
    expected: Optional[str],
    algorithm: str,
    cache: Optional[Dict[Path, Optional[str]]] = None,
) -> LineageCheck:
    item = "not recorded" if path is None else str(path)
    if expected is None:
        return LineageCheck(kind, item, None, None, SKIPPED, "no hash recorded")
    if path is None:
        return LineageCheck(kind, item, expected, None, MISSING, "no path recorded")
    if cache is not None and path in cache:
        found = cache[path]
    else:
        found = file_digest(path, algorithm) if path.is_file() else None
        if cache is not None:
            cache[path] = found
    if found is None:
        return LineageCheck(kind, item, expected, None, MISSING, "no such file")
    return LineageCheck(kind, item, expected, found, OK if found == expected else MISMATCH)


def _md5_or_none(path: Path) -> Optional[str]:
    return file_digest(path, "md5") if path.is_file() else None


def _per_motion(contents: Mapping[str, Any], key: str, count: int) -> List[Any]:
    values = list(contents.get(key) or [])
    return values if len(values) == count else [None] * count


def _dvc_check(
    kind: str, lock: Optional[Path], target: Optional[Path], expected: Optional[str], lock_given: bool
) -> LineageCheck:
    item = "not recorded" if target is None else str(target)
    if lock is None:
        return LineageCheck(kind, item, expected, None, SKIPPED, "no dvc.lock found")
    if target is None or expected is None:
        return LineageCheck(kind, item, expected, None, SKIPPED, "no file or hash to compare")
    recorded, where = dvc_recorded_md5(lock, target)
    if recorded is None:
        # Named with --dvc-lock, the MotionLib is expected in it; a dvc.lock merely found nearby may not cover it.
        status = MISSING if lock_given and kind == "dvc_motion_lib" else SKIPPED
        return LineageCheck(kind, item, expected, None, status, where)
    return LineageCheck(kind, item, expected, recorded, OK if recorded == expected else MISMATCH, f"{lock}: {where}")
