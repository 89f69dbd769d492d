"""Hostile inputs through the real CLI: how many are refused naming the file and the field, none hanging.

Three suites, each run as ``python -m mimic.cli ...`` subprocesses under a time limit (a run that
passes it is killed and counts as hung; a traceback counts as a crash):

- conversion: an AMASS-like tree of one real clip (``$MIMIC_FIXTURES/amass``) and the hostile
  archives of :func:`hostile_cases.amass_cases` (FIFO, socket, links, corrupt zips, missing keys,
  wrong dtypes and shapes, NaN/inf, implausible rates, 0-2 frames, a 1.2 PB npy header, SMPL-X
  stage-ii files with bad betas/gender, ...), converted by ``mimic amass convert --workers 1``, then
  once more with the default pool; plus bad motion configs (a folder or missing file as an entry,
  a slice beyond the clip, a prime rate; a FIFO, malformed YAML, bytes that are not UTF-8, nesting
  5000 deep). Failures are the summary's ``FAILED <file>: <reason>`` lines.
- packaging: one good ``.motion`` (the real clip converted) and hostile ones
  (:func:`hostile_cases.motion_cases`) packaged by ``mimic motionlib package --skip-bad``
  (its ``SKIPPED`` lines), and once without ``--skip-bad`` (must write nothing); unreadable YAML
  motion configs as ``--motion-path``.
- loading: corrupted MotionLibs for ``mimic motionlib info`` and for the loader (``mimic inference
  --agent zero --motion-file``), corrupted checkpoints for ``mimic inference --checkpoint
  --full-eval``; each must exit 2 with one stderr line.

A case is ``named`` when its message has the file's path and ``field 'F': expected E, found X``
(:class:`motion.errors.InputError`'s format); ``accepted`` when it converted, was packaged or loaded;
``ignored`` when the command never read it. Each case says which outcome is right; any other is
listed as unexpected (and the script exits 1). When a run hangs or crashes, each of its cases is
rerun alone to find the culprit. Prints one JSON line, then a one-line summary.

    python benchmarks/bench_hostile_inputs.py [--timeout 120] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from fixture_clips import JUMPS, fixtures_amass_dir  # noqa: E402
from hostile_cases import Case, amass_cases, checkpoint_cases, motion_cases, motion_lib_cases  # noqa: E402

#: InputError's message: "PATH: field 'F': expected E, found X".
NAMED = re.compile(r"field '[^']*': expected .+, found .+")
CHECKPOINT = REPO / "data" / "pretrained" / "smpl_walk_jump" / "last.ckpt"
Result = Dict[str, Any]


def run_cli(args: Sequence[Any], timeout: float) -> Result:
    """``python -m mimic.cli ARGS`` with this checkout's code; killed (with its workers) past ``timeout``."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    command = [sys.executable, "-m", "mimic.cli"] + [str(a) for a in args]
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
        hung = False
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        hung = True
    return {
        "rc": process.returncode,
        "stdout": stdout,
        "stderr": stderr,
        "hung": hung,
        "crashed": not hung and ("Traceback" in stderr or process.returncode not in (0, 1, 2)),
        "seconds": round(time.perf_counter() - started, 1),
    }


def row(case: Case, outcome: str, message: str) -> Result:
    return {"name": case.name, "outcome": outcome, "want": case.want, "message": message[:200], "note": case.note}


def failure_outcome(message: str, path: Path) -> str:
    return "named" if str(path) in message and NAMED.search(message) else "unnamed"


def run_outcome(run: Result) -> Optional[Tuple[str, str]]:
    """("hung"|"crashed", tail of stderr) for a run that did not finish cleanly, else None."""
    if run["hung"]:
        return "hung", f"killed after {run['seconds']} s"
    if run["crashed"]:
        return "crashed", run["stderr"].strip().splitlines()[-1] if run["stderr"].strip() else f"rc {run['rc']}"
    return None


def one_line_outcome(case: Case, run: Result, path: Path) -> Result:
    """A command given one bad file: exit 2 with one stderr line naming file and field, or accepted (exit 0)."""
    broken = run_outcome(run)
    if broken is not None:
        return row(case, *broken)
    lines = [line for line in run["stderr"].splitlines() if line.strip()]
    if run["rc"] == 0:
        return row(case, "accepted", (run["stdout"].strip().splitlines() or ["exit 0"])[0])
    message = lines[-1] if lines else f"rc {run['rc']}, no message"
    clean = run["rc"] == 2 and len(lines) == 1
    return row(case, failure_outcome(message, path) if clean else "unnamed", message)


def with_isolation(
    run_suite: Callable[[List[Case], Path], Tuple[Result, Dict[str, Result]]], cases: List[Case], work: Path
) -> Tuple[Result, Dict[str, Result]]:
    """Run all cases at once; if that run hangs or crashes, rerun each case alone to blame one."""
    info, rows = run_suite(cases, work / "all")
    if info["hung"] or info["crashed"]:
        for index, case in enumerate(cases):
            rows[case.name] = run_suite([case], work / f"alone_{index}")[1][case.name]
    return info, rows


# --- conversion -------------------------------------------------------------------------------------


def failed_rows(run: Result) -> Dict[str, str]:
    """source → reason, from the ``  FAILED <source>: <reason>`` lines of ``mimic amass convert``."""
    lines = [line[len("  FAILED ") :] for line in run["stdout"].splitlines() if line.startswith("  FAILED ")]
    return dict(line.partition(": ")[::2] for line in lines)


def convert_suite(
    good: Path, timeout: float, workers: Optional[int]
) -> Callable[..., Tuple[Result, Dict[str, Result]]]:
    def run_suite(cases: List[Case], work: Path) -> Tuple[Result, Dict[str, Result]]:
        from motion.batch_convert import output_name
        from motion.motion_file import SMPL_SIZES, load_motion

        root, out = work / "amass", work / "motions"
        folder = root / "CMU" / "hostile"
        folder.mkdir(parents=True)
        shutil.copyfile(good, folder / good.name)
        paths = {}
        for case in cases:
            paths[case.name] = folder / (case.filename or f"{case.name}_poses.npz")
            case.build(paths[case.name])
        args = ["amass", "convert", root, out, "--no-progress"] + ([] if workers is None else ["--workers", workers])
        run = run_cli(args, timeout)
        failed = failed_rows(run)
        rows = {}
        for case in cases:
            path, output = paths[case.name], out / output_name(str(paths[case.name].relative_to(root)))
            broken = run_outcome(run)
            if broken is not None:
                rows[case.name] = row(case, *broken)
            elif str(path) in failed:
                rows[case.name] = row(case, failure_outcome(failed[str(path)], path), failed[str(path)])
            elif output.is_file():
                frames = load_motion(output, SMPL_SIZES)["rigid_body_pos"].shape[0]
                rows[case.name] = row(case, "accepted", f"converted: {frames} frames")
            else:
                rows[case.name] = row(case, "ignored", "not converted and not reported: not read")
        run["good_converted"] = (out / output_name(str((folder / good.name).relative_to(root)))).is_file()
        return run, rows

    return run_suite


def motion_config_rows(good: Path, work: Path, timeout: float) -> List[Result]:
    """Bad motion configs: entries that are a folder, missing, or sliced past the end (failed rows);
    a prime frame rate and malformed YAML (the whole config refused with one line)."""
    import yaml

    root = work / "amass"
    (root / "CMU" / "cfg_folder_poses.npz").mkdir(parents=True)
    shutil.copyfile(good, root / "CMU" / "good_poses.npz")
    shutil.copyfile(good, root / "CMU" / "slice_poses.npz")
    entries = {
        "config_entry_folder": {"file": "CMU/cfg_folder_poses.npz"},
        "config_entry_missing": {"file": "CMU/missing_poses.npz"},
        "config_slice_past_end": {
            "file": "CMU/slice_poses.npz",
            "sub_motions": [{"timings": {"start": 100, "end": 101}}],
        },
    }
    config = work / "entries.yaml"
    config.write_text(yaml.safe_dump({"motions": [{"file": "CMU/good_poses.npz"}] + list(entries.values())}))
    run = run_cli(
        ["amass", "convert", root, work / "out", "--motion-config", config, "--workers", 1, "--no-progress"], timeout
    )
    failed = failed_rows(run)
    rows = []
    for name, entry in entries.items():
        case, path = Case(name, lambda path: None, note="a motion config entry"), root / entry["file"]
        broken = run_outcome(run)
        message = failed.get(str(path), "not reported")
        rows.append(row(case, *broken) if broken else row(case, failure_outcome(message, path), message))
    for case in whole_config_cases("config_") + [
        Case("config_fps_7919", _text(yaml.safe_dump({"motions": [{"file": "CMU/good_poses.npz", "fps": 7919}]})))
    ]:
        path = work / f"{case.name}.yaml"
        case.build(path)
        run = run_cli(["amass", "convert", root, work / case.name, "--motion-config", path, "--no-progress"], timeout)
        rows.append(one_line_outcome(case, run, path))
    return rows


def _text(text: str) -> Callable[[Path], None]:
    return lambda path: path.write_text(text)


def whole_config_cases(prefix: str) -> List[Case]:
    """Motion configs that cannot be read at all: refused as a whole, with one line."""
    return [
        Case(f"{prefix}fifo", os.mkfifo, note="open() would block forever"),
        Case(f"{prefix}not_yaml", _text("motions: [a, {list"), note="PyYAML's message spans lines"),
        Case(f"{prefix}not_utf8", lambda path: path.write_bytes(b"motions: [\xff\xfe]\n")),
        Case(
            f"{prefix}nested_5000", _text("motions: " + "[" * 5000 + "]" * 5000), note="deeper than the parser recurses"
        ),
    ]


def package_config_rows(work: Path, timeout: float) -> List[Result]:
    """``motionlib package --motion-path CONFIG.yaml`` with configs that cannot be read."""
    work.mkdir(parents=True)
    rows = []
    for case in whole_config_cases("motion_config_"):
        path = work / f"{case.name}.yaml"
        case.build(path)
        run = run_cli(
            ["motionlib", "package", "--motion-path", path, "--output-file", work / f"{case.name}.pt", "--no-progress"],
            timeout,
        )
        rows.append(one_line_outcome(case, run, path))
    return rows


# --- packaging --------------------------------------------------------------------------------------


def package_suite(good_motion: Path, timeout: float) -> Callable[..., Tuple[Result, Dict[str, Result]]]:
    def run_suite(cases: List[Case], work: Path) -> Tuple[Result, Dict[str, Result]]:
        import torch

        folder, output = work / "motions", work / "lib.pt"
        folder.mkdir(parents=True)
        shutil.copyfile(good_motion, folder / "000_good.motion")  # first: sets the body tree
        paths = {}
        for case in cases:
            paths[case.name] = folder / (case.filename or f"{case.name}.motion")
            case.build(paths[case.name])
        run = run_cli(
            ["motionlib", "package", "--motion-path", folder, "--output-file", output, "--skip-bad", "--no-progress"],
            timeout,
        )
        skipped = {
            line[len("SKIPPED ") :].partition(": ")[0]: line[len("SKIPPED ") :]
            for line in run["stderr"].splitlines()
            if line.startswith("SKIPPED ")
        }
        packaged = set(torch.load(output, weights_only=True)["motion_files"]) if output.is_file() else set()
        rows = {}
        for case in cases:
            path, broken = paths[case.name], run_outcome(run)
            if broken is not None:
                rows[case.name] = row(case, *broken)
            elif str(path) in skipped:
                rows[case.name] = row(case, failure_outcome(skipped[str(path)], path), skipped[str(path)])
            elif str(path) in packaged:
                rows[case.name] = row(case, "accepted", "packaged")
            else:
                rows[case.name] = row(case, "ignored", "neither packaged nor reported")
        run["good_packaged"] = str(folder / "000_good.motion") in packaged
        return run, rows

    return run_suite


def strict_package_run(cases: List[Case], good_motion: Path, work: Path, timeout: float) -> Result:
    """Without --skip-bad: exit 2, one BAD line per refused file, nothing written."""
    folder, output = work / "motions", work / "lib.pt"
    folder.mkdir(parents=True)
    shutil.copyfile(good_motion, folder / "000_good.motion")
    for case in cases:
        case.build(folder / (case.filename or f"{case.name}.motion"))
    run = run_cli(["motionlib", "package", "--motion-path", folder, "--output-file", output, "--no-progress"], timeout)
    bad = [line for line in run["stderr"].splitlines() if line.startswith("BAD ")]
    last = (run["stderr"].strip().splitlines() or [""])[-1]
    return {
        "rc": run["rc"],
        "bad_lines": len(bad),
        "expected_bad_lines": len(cases),
        "wrote_nothing": not output.exists(),
        "last_line": last,
        "hung": run["hung"],
        "crashed": run["crashed"],
        "seconds": run["seconds"],
    }


# --- loading ----------------------------------------------------------------------------------------


def loading_rows(good_lib: Path, proto_lib: Optional[Path], work: Path, timeout: float) -> List[Result]:
    """``motionlib info`` on bad MotionLibs; the loader (``inference --agent zero``) on a NaN one and a
    truncated one; ``inference --checkpoint`` on bad checkpoints and, as a control, the shipped one."""
    rows = []
    eval_flags = ["--full-eval", "--num-envs", 1, "--max-frames", 5, "--quiet"]

    def each(prefix: str, cases: List[Case], suffix: str, command: Callable[[Path, Path], List[Any]]) -> None:
        folder = work / prefix
        folder.mkdir(parents=True)
        for case in cases:
            path = folder / (case.filename or f"{case.name}{suffix}")
            case.build(path)
            result = one_line_outcome(case, run_cli(command(path, folder / f"eval_{case.name}"), timeout), path)
            rows.append(dict(result, name=f"{prefix}:{case.name}"))

    libs = motion_lib_cases(good_lib, proto_lib)
    each("info", libs, ".pt", lambda path, _out: ["motionlib", "info", path])
    loader = [Case(c.name, c.build) for c in libs if c.name in ("gts_nan", "truncated")]
    each(
        "loader",
        loader,
        ".pt",
        lambda path, out: ["inference", "--agent", "zero", "--motion-file", path, "--output-dir", out] + eval_flags,
    )
    checkpoints = checkpoint_cases(CHECKPOINT) + [
        Case("shipped", lambda path: shutil.copyfile(CHECKPOINT, path), "accepted", "the shipped checkpoint")
    ]
    each(
        "checkpoint",
        checkpoints,
        ".ckpt",
        lambda path, out: (
            ["inference", "--checkpoint", path, "--motion-file", good_lib, "--output-dir", out] + eval_flags
        ),
    )
    return rows


# --- report -----------------------------------------------------------------------------------------


def tally(rows: List[Result]) -> Result:
    counts = {
        key: sum(r["outcome"] == key for r in rows)
        for key in ("named", "unnamed", "accepted", "ignored", "crashed", "hung")
    }
    return {
        "tried": len(rows),
        "should_be_named": sum(r["want"] == "named" for r in rows),
        **counts,
        "unexpected": [r["name"] for r in rows if r["outcome"] != r["want"]],
        "cases": rows,
    }


def machine() -> Result:
    import numpy
    import torch

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "cuda": torch.cuda.is_available(),
        "root": os.geteuid() == 0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per CLI run before it counts as hung")
    parser.add_argument("--keep", default=None, help="build the inputs here and keep them (default: a temp folder)")
    args = parser.parse_args()
    started = time.perf_counter()
    amass = fixtures_amass_dir()
    good = amass / JUMPS
    proto_dir = amass.parent / "protomotions"
    work = Path(args.keep or tempfile.mkdtemp(prefix="hostile_"))  # short: a socket path has ≤ 107 bytes
    try:
        report = run_all(good, proto_dir, work, args.timeout)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    report["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report))
    suites = report["suites"]

    def total(key: str) -> int:
        return sum(len(s[key]) if key == "unexpected" else s[key] for s in suites.values())

    parts = [f"{name} {s['named']}/{s['should_be_named']} named" for name, s in suites.items()]
    ok = report["conversion_good_clip_converted"] and report["packaging_good_motion_packaged"]
    pool, strict = report["conversion_default_pool"], report["packaging_without_skip_bad"]
    ok = ok and pool["good_converted"] and not pool["outcomes_differing_from_workers_1"]
    ok = ok and strict["rc"] == 2 and strict["wrote_nothing"] and strict["bad_lines"] == strict["expected_bad_lines"]
    checks = "good clip converted and packaged" if ok else "FAILED: good clip, pool run or strict packaging (JSON)"
    print(
        f"hostile inputs: {', '.join(parts)} ({total('tried')} cases; {total('accepted')} plausible ones accepted, "
        f"{total('ignored')} non-inputs ignored); {total('crashed')} crashed, {total('hung')} hung, "
        f"{total('unexpected')} unexpected; {checks} "
        f"({report['seconds']:.0f} s)"
    )
    return 0 if ok and not total("crashed") + total("hung") + total("unexpected") else 1


def run_all(good: Path, proto_dir: Path, work: Path, timeout: float) -> Result:
    proto_motion = proto_dir / "synthetic_input_poses.motion"
    proto_lib = proto_dir / "synthetic_motionlib.pt"
    cases = amass_cases(good)
    info, rows = with_isolation(convert_suite(good, timeout, workers=1), cases, work / "conversion")
    pool, pool_rows = convert_suite(good, timeout, workers=None)(cases, work / "conversion_pool")
    differences = [
        n for n in rows if (rows[n]["outcome"], _field(rows[n])) != (pool_rows[n]["outcome"], _field(pool_rows[n]))
    ]
    conversion = list(rows.values()) + motion_config_rows(good, work / "configs", timeout)

    converted = sorted((work / "conversion" / "all" / "motions").rglob(f"{good.stem}.motion"))
    if not converted:
        raise SystemExit(f"the good clip {good} did not convert: {info['stdout'][-500:]} {info['stderr'][-500:]}")
    good_motion = work / "good.motion"
    shutil.copyfile(converted[0], good_motion)
    motions = motion_cases(good_motion, proto_motion if proto_motion.is_file() else None)
    pack_info, pack_rows = with_isolation(package_suite(good_motion, timeout), motions, work / "packaging")
    strict = strict_package_run([c for c in motions if c.want == "named"], good_motion, work / "strict", timeout)

    good_lib = work / "conversion" / "good_lib.pt"
    packaged = run_cli(["motionlib", "package", "--motion-path", good_motion, "--output-file", good_lib], timeout)
    if packaged["rc"] != 0:
        raise SystemExit(f"packaging the good clip failed: {packaged['stderr'][-500:]}")
    loading = loading_rows(good_lib, proto_lib if proto_lib.is_file() else None, work / "loading", timeout)
    return {
        "benchmark": "hostile_inputs",
        "timeout_s": timeout,
        "suites": {
            "conversion": tally(conversion),
            "packaging": tally(list(pack_rows.values()) + package_config_rows(work / "package_configs", timeout)),
            "loading": tally(loading),
        },
        "conversion_good_clip_converted": bool(info.get("good_converted")),
        "conversion_run": {k: info[k] for k in ("rc", "seconds", "hung", "crashed")},
        "conversion_default_pool": {
            "workers": os.cpu_count(),
            "rc": pool["rc"],
            "seconds": pool["seconds"],
            "hung": pool["hung"],
            "crashed": pool["crashed"],
            "good_converted": bool(pool.get("good_converted")),
            "outcomes_differing_from_workers_1": differences,
        },
        "packaging_good_motion_packaged": bool(pack_info.get("good_packaged")),
        "packaging_run": {k: pack_info[k] for k in ("rc", "seconds", "hung", "crashed")},
        "packaging_without_skip_bad": strict,
        "machine": machine(),
    }


def _field(result: Result) -> Optional[str]:
    match = re.search(r"field '([^']*)'", result["message"])
    return match.group(1) if match else None


if __name__ == "__main__":
    sys.exit(main())
