"""Check a checkpoint's lineage record (:mod:`training.lineage`) against the files on disk.

:func:`verify_lineage` re-hashes everything the record names: the config (recomputed from the
stored dict), the experiment file and its copy in the run directory, the MotionLib, every
``.motion`` file packaged in it, every AMASS source file (when an AMASS root is given or found),
the parent checkpoint, and compares the MotionLib's and the checkpoint's md5 with what a
``dvc.lock`` recorded. :func:`render_tree` prints the chain
checkpoint → config → MotionLib → ``.motion`` files → AMASS files with ✓/✗ marks.

Relative paths in the record resolve against the directory training ran in (``working_dir``),
then the current directory, then the folders above the MotionLib (a moved checkout with the
usual ``data/`` layout still resolves).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from motion.errors import MotionDataError
from motion.io_utils import file_md5, file_sha256
from training.overrides import config_dict_hash

PathLike = Union[str, Path]

OK, MISMATCH, MISSING, SKIPPED = "ok", "mismatch", "missing", "skipped"
FAILING = (MISMATCH, MISSING)
#: How many ``.motion`` files the tree lists before summarising (failing ones are always listed).
TREE_MOTIONS = 10
#: Folders, relative to an ancestor of the MotionLib, where an AMASS root is looked for.
AMASS_ROOT_GUESSES = ("amass", "data/amass")


@dataclass
class LineageCheck:
    """One hash compared: ``expected`` is what was recorded, ``found`` what is there now."""

    #: config, checkpoint_config, experiment, experiment_copy, motion_lib, dvc_motion_lib,
    #: dvc_checkpoint, motion, amass or parent
    kind: str
    item: str  # the file checked (as resolved) or what was recomputed
    expected: Optional[str]
    found: Optional[str]
    status: str  # ok | mismatch | missing | skipped
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
        return not self.failures

    def counts(self) -> Dict[str, int]:
        return {status: sum(c.status == status for c in self.checks) for status in (OK, MISMATCH, MISSING, SKIPPED)}

    def to_dict(self) -> Dict[str, Any]:
        return {
            "checkpoint": self.checkpoint,
            "epoch": self.epoch,
            "ok": self.ok,
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
        MotionDataError: the checkpoint cannot be read, has no lineage record, or ``dvc_lock``
        is given but unreadable.
    """
    from training.run_dir import load_checkpoint

    path = Path(checkpoint_path)
    payload = load_checkpoint(path)
    lineage = payload.get("lineage") or {}
    if not lineage:
        raise MotionDataError(path, "lineage", "a lineage record (checkpoints of mimic train)", "none")
    report = LineageReport(str(path), payload.get("epoch"), dict(lineage))
    checks = report.checks
    checks += _config_checks(lineage, payload)
    working_dir = Path(lineage.get("working_dir") or Path.cwd())
    checks += _experiment_checks(lineage, path, working_dir)
    motion_lib = _locate(lineage.get("motion_file"), [working_dir, Path.cwd()])
    checks.append(_md5_check("motion_lib", motion_lib, lineage.get("motion_file_md5")))
    bases = [working_dir, Path.cwd()] + (list(motion_lib.parents) if motion_lib is not None else [])
    lock = _find_dvc_lock(dvc_lock, motion_lib)
    report.dvc_lock = None if lock is None else str(lock)
    checks.append(_dvc_check("dvc_motion_lib", lock, motion_lib, lineage.get("motion_file_md5"), dvc_lock is not None))
    checks.append(_dvc_check("dvc_checkpoint", lock, path, _md5_or_none(path), False))
    contents = lineage.get("motion_lib") or {}
    motion_paths = [_locate(name, bases) for name in contents.get("motion_files") or []]
    root = _amass_root(amass_root, contents.get("source_path") or [], bases + _parents(motion_paths[:1]))
    report.amass_root = None if root is None else str(root)
    checks += _motion_checks(contents, motion_paths, root, amass_root is not None)
    checks.append(_parent_check(lineage, bases))
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
    source = _locate(lineage.get("experiment_file"), [working_dir, Path.cwd()])
    copy = checkpoint.parent / "experiment_config.py"  # RunDir.experiment_copy
    checks = [_hash_check("experiment", source, expected, file_sha256)]
    if copy.is_file():
        checks.append(_hash_check("experiment_copy", copy, expected, file_sha256))
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
            amass = LineageCheck("amass", str(source), source_md5[index], None, SKIPPED, note)
        else:
            amass = _md5_check("amass", amass_root / source, source_md5[index], digests)
            amass.item = str(source)  # relative to the AMASS root, as recorded
            if amass.status == MISSING and not root_given:
                amass.note = f"not under the AMASS root found at {amass_root}"
        amass.index = index
        checks.append(amass)
    return checks


def _parent_check(lineage: Mapping[str, Any], bases: Sequence[Path]) -> LineageCheck:
    parent = lineage.get("parent_checkpoint")
    if not parent:
        return LineageCheck("parent", "none", None, None, SKIPPED, f"start mode {lineage.get('start_mode', '?')}")
    check = _md5_check("parent", _locate(parent.get("path"), bases), parent.get("md5"))
    if parent.get("start_mode") == "resume" and check.status in FAILING:
        # A resumed run rewrites the last.ckpt it started from: a different file there is expected.
        check.status, check.note = SKIPPED, "last.ckpt was overwritten by the resumed run, as expected"
    return check


def _md5_check(
    kind: str, path: Optional[Path], expected: Optional[str], cache: Optional[Dict[Path, Optional[str]]] = None
) -> LineageCheck:
    return _hash_check(kind, path, expected, file_md5, cache)


def _hash_check(
    kind: str,
    path: Optional[Path],
    expected: Optional[str],
    digest: Any,
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
        found = digest(path) if path.is_file() else None
        if cache is not None:
            cache[path] = found
    if found is None:
        return LineageCheck(kind, item, expected, None, MISSING, "no such file")
    return LineageCheck(kind, item, expected, found, OK if found == expected else MISMATCH)


def _md5_or_none(path: Path) -> Optional[str]:
    return file_md5(path) if path.is_file() else None


def _per_motion(contents: Mapping[str, Any], key: str, count: int) -> List[Any]:
    values = list(contents.get(key) or [])
    return values if len(values) == count else [None] * count


# --- finding files ------------------------------------------------------------------------


def _locate(recorded: Optional[str], bases: Iterable[Path]) -> Optional[Path]:
    """The recorded path if absolute and present, else the first ``base / path`` that exists
    (else the first guess). The first base is the run's working directory: an absolute path
    inside it that is gone (the checkout was moved or cloned elsewhere) is looked for at the
    same place relative to the other bases."""
    if not recorded:
        return None
    path = Path(recorded)
    bases = [Path(base) for base in bases]
    if path.is_absolute():
        if path.exists() or not bases:
            return path
        try:
            path = path.relative_to(bases[0])
        except ValueError:
            return Path(recorded)
    candidates = [base / path for base in bases]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    return candidates[0] if candidates else path


def _parents(paths: Sequence[Optional[Path]]) -> List[Path]:
    return [parent for path in paths if path is not None for parent in path.parents]


def _amass_root(given: Optional[PathLike], sources: Sequence[Optional[str]], bases: Sequence[Path]) -> Optional[Path]:
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


def _find_dvc_lock(given: Optional[PathLike], motion_lib: Optional[Path]) -> Optional[Path]:
    if given is not None:
        if not Path(given).is_file():
            raise MotionDataError(given, "dvc.lock", "an existing dvc.lock file", "no such file")
        return Path(given)
    starts = ([motion_lib.resolve().parent] if motion_lib is not None else []) + [Path.cwd().resolve()]
    for start in starts:
        for folder in [start, *start.parents]:
            if (folder / "dvc.lock").is_file():
                return folder / "dvc.lock"
    return None


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
        raise MotionDataError(lock, "dvc.lock", "a readable YAML file", str(error).splitlines()[0]) from None
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
            if str(md5).endswith(".dir") and entry_path in wanted.parents:
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


# --- the tree -----------------------------------------------------------------------------

Node = Tuple[str, List[Any]]  # (text, children)
_MARKS = {OK: "✓", MISMATCH: "✗", MISSING: "✗", SKIPPED: "·"}
_ASCII_MARKS = {OK: "ok", MISMATCH: "XX", MISSING: "XX", SKIPPED: "--"}
_LABELS = {
    "config": "",
    "checkpoint_config": "",
    "experiment": "experiment file",
    "experiment_copy": "experiment copy",
    "motion_lib": "MotionLib",
    "dvc_motion_lib": "dvc.lock entry for",
    "dvc_checkpoint": "dvc.lock entry for",
    "motion": "",
    "amass": "AMASS",
    "parent": "parent checkpoint",
}


def render_tree(report: LineageReport, ascii_only: bool = False, max_motions: int = TREE_MOTIONS) -> str:
    """The lineage chain as an indented tree, one check per line with its mark and hashes."""
    marks = _ASCII_MARKS if ascii_only else _MARKS
    lineage = report.lineage
    by_kind: Dict[str, List[LineageCheck]] = {}
    for check in report.checks:
        by_kind.setdefault(check.kind, []).append(check)

    def line(check: LineageCheck, label: Optional[str] = None) -> str:
        name = _LABELS[check.kind] if label is None else label
        return f"{marks[check.status]} {name + ' ' if name else ''}{check.item}  {_detail(check)}"

    def lines(kind: str) -> List[str]:
        return [line(check) for check in by_kind.get(kind, [])]

    config = by_kind.get("config", [])
    config_node: Node = (line(config[0]) if config else "config: not recorded", [])
    config_node[1].extend(
        (text, []) for text in lines("checkpoint_config") + lines("experiment") + lines("experiment_copy")
    )
    motion_lib = by_kind.get("motion_lib", [])
    count = (lineage.get("motion_lib") or {}).get("num_motions")
    label = "MotionLib (contents not recorded)" if count is None else f"MotionLib ({count} motions)"
    lib_node: Node = (line(motion_lib[0], label) if motion_lib else "MotionLib: not recorded", [])
    lib_node[1].extend((text, []) for text in lines("dvc_motion_lib"))
    lib_node[1].extend(_motion_nodes(by_kind.get("motion", []), by_kind.get("amass", []), line, max_motions))
    root: Node = (f"checkpoint {report.checkpoint}  (epoch {report.epoch}, written {lineage.get('created')})", [])
    root[1].extend((text, []) for text in lines("dvc_checkpoint"))
    root[1].append((_code_line(lineage), []))
    root[1].append((_run_line(lineage), []))
    root[1].extend((text, []) for text in lines("parent"))
    root[1].extend([config_node, lib_node])
    counts = report.counts()
    summary = ", ".join(f"{counts[status]} {status}" for status in counts)
    verdict = "all recorded hashes match" if report.ok else f"{len(report.failures)} problem(s)"
    text = "\n".join(_draw(root, ascii_only) + [f"{len(report.checks)} checks: {summary} — {verdict}"])
    if ascii_only:
        for wide, narrow in (("…", "..."), ("·", "-"), ("—", "-"), ("→", "->")):
            text = text.replace(wide, narrow)
    return text


def _motion_nodes(motions: List[LineageCheck], amass: List[LineageCheck], line: Any, limit: int) -> List[Node]:
    source_of = {check.index: check for check in amass}
    nodes: List[Node] = []
    hidden: Dict[str, int] = {}
    for position, check in enumerate(motions):
        source = source_of.get(check.index)
        failing = check.status in FAILING or (source is not None and source.status in FAILING)
        if position < limit or failing:
            nodes.append((line(check), [] if source is None else [(line(source), [])]))
        else:
            for status in (check.status,) + (() if source is None else (source.status,)):
                hidden[status] = hidden.get(status, 0) + 1
    shown = len(nodes)
    if shown < len(motions):
        tally = ", ".join(f"{number} {status}" for status, number in sorted(hidden.items()))
        nodes.append((f"… {len(motions) - shown} more .motion files (their checks with their sources: {tally})", []))
    return nodes


def _draw(node: Node, ascii_only: bool, prefix: str = "", last: bool = True, top: bool = True) -> List[str]:
    branch, final, pipe = ("|-- ", "`-- ", "|   ") if ascii_only else ("├── ", "└── ", "│   ")
    text, children = node
    out = [text if top else prefix + (final if last else branch) + text]
    child_prefix = "" if top else prefix + ("    " if last else pipe)
    for position, child in enumerate(children):
        out += _draw(child, ascii_only, child_prefix, position == len(children) - 1, False)
    return out


def _short(digest: Optional[str]) -> str:
    return "?" if digest is None else digest[:12]


def _detail(check: LineageCheck) -> str:
    if check.status == OK:
        return f"[{_short(check.found)}]"
    if check.status == MISMATCH:
        text = f"MISMATCH: recorded {_short(check.expected)}, found {_short(check.found)}"
        return f"{text} ({check.note})" if check.note else text
    if check.status == MISSING:
        return f"MISSING: {check.note}" if check.note else "MISSING"
    return f"(skipped: {check.note})" if check.note else "(skipped)"


def _code_line(lineage: Mapping[str, Any]) -> str:
    commit = lineage.get("git_commit")
    dirty = lineage.get("git_dirty")
    if "git_commit" not in lineage:
        git = "git: not recorded"
    elif commit is None:
        git = "git: not a checkout"
    else:
        git = f"git {commit[:12]}{' (dirty)' if dirty else ''}"
    packages = lineage.get("packages") or {}
    versions = " · ".join(f"{name} {version}" for name, version in packages.items() if version)
    return f"code: {git}" + (f" · {versions}" if versions else "")


def _run_line(lineage: Mapping[str, Any]) -> str:
    overrides = " ".join(lineage.get("overrides") or []) or "none"
    return (
        f"run: simulator {lineage.get('simulator')} · seed {lineage.get('seed')} · "
        f"start {lineage.get('start_mode')} · overrides {overrides}"
    )
