"""``mimic lineage``'s tree: a :class:`~training.lineage_check.LineageReport` drawn as the chain
checkpoint → config → MotionLib → ``.motion`` files → AMASS files, one check per line with ✓/✗ marks
(``ascii_only``: ok/XX)."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Tuple

from training.lineage_check import FAILING, MISMATCH, MISSING, OK, SKIPPED, UNCHECKED, LineageCheck, LineageReport

#: How many ``.motion`` files the tree lists before summarising (failing ones are always listed).
TREE_MOTIONS = 10

Node = Tuple[str, List[Any]]  # (text, children)
_MARKS = {OK: "✓", MISMATCH: "✗", MISSING: "✗", SKIPPED: "·", UNCHECKED: "?"}
_ASCII_MARKS = {OK: "ok", MISMATCH: "XX", MISSING: "XX", SKIPPED: "--", UNCHECKED: "??"}
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
    for amendment in lineage.get("amendments") or []:  # re-recorded motion data (training/lineage_amend.py)
        replaced = (amendment.get("replaced") or {}).get("motion_file_md5")
        root[1].append(
            (f"amended {amendment.get('date')}: MotionLib re-recorded (was md5 {_short(replaced)}): "
             f"{amendment.get('reason')}", [])
        )  # fmt: skip
    counts = report.counts()
    summary = ", ".join(f"{counts[status]} {status}" for status in counts)
    if not report.ok:
        verdict = f"{len(report.failures)} problem(s)"
    elif report.unchecked:
        verdict = f"{len(report.unchecked)} recorded hash(es) not checked, the others match"
    else:
        verdict = "all recorded hashes match"
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
        # failing and unchecked ones are always listed: --strict names them
        shown = FAILING + (UNCHECKED,)
        failing = check.status in shown or (source is not None and source.status in shown)
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
    if check.status == UNCHECKED:
        return f"NOT CHECKED: recorded {_short(check.expected)}; {check.note}"
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
