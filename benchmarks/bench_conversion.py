"""AMASS → .motion conversion throughput on a 90-file set made of the three real sample clips.

Measures end to end (read npz, md5, downsample, FK, velocities, contacts, atomic torch.save):
in-process (one worker) and with the process pool. Prints one JSON line, then a summary.
Baseline from the issue: ProtoMotions' converter ≈ 20,000 source frames/s, 46 files/s here.

    python benchmarks/bench_conversion.py [--copies 30] [--workers 2]
    python benchmarks/bench_conversion.py --against 92fdb3c [REV ...]   # side by side with other commits

``--against`` times the same in-process conversion of the same files with the code of each given
git revision (checked out into temporary worktrees) and with this checkout, in alternating rounds
(A, B, A, B, ...) so that drift in the machine's speed hits every tree alike, and reports each
tree's median and its ratio to this checkout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

REPO = Path(__file__).resolve().parent.parent


def build_set(fixtures: Path, root: Path, copies: int) -> int:
    count = 0
    for copy in range(copies):
        for source in sorted((fixtures / "amass").glob("*.npz")):
            target = root / "BENCH" / f"{copy:03d}_{source.name}"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target)
            count += 1
    return count


def timed_run(root: Path, out: Path, workers: int, repeats: int) -> dict:
    """Median of ``repeats`` full conversions (a 90-file run lasts well under a second)."""
    from motion.batch_convert import convert_amass_tree

    times = []
    for _ in range(repeats):
        shutil.rmtree(out, ignore_errors=True)
        start = time.perf_counter()
        report = convert_amass_tree(root, out, workers=workers, progress=False)
        times.append(time.perf_counter() - start)
        assert report.ok, report.summary()
    seconds = statistics.median(times)
    files = len(report.converted)
    return {
        "repeats": repeats,
        "workers": workers,
        "files": files,
        "seconds": round(seconds, 3),
        "files_per_s": round(files / seconds, 1),
        "source_frames_per_s": round(report.source_frames / seconds),
    }


def one_round(code_root: Path, root: Path, out: Path, repeats: int) -> dict:
    """``timed_run`` in a fresh interpreter that imports ``code_root``'s code (one round of --against)."""
    command = [sys.executable, __file__, "--round", str(root), str(out), str(repeats)]
    env = dict(os.environ, PYTHONPATH=str(code_root))
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def side_by_side(revisions: List[str], root: Path, tmp: Path, rounds: int, repeats: int) -> Dict[str, dict]:
    trees = {"this checkout": REPO}
    for revision in revisions:
        tree = tmp / f"tree-{revision}"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), revision], check=True,
                       capture_output=True)  # fmt: skip
        trees[revision] = tree
    try:
        samples: Dict[str, List[float]] = {name: [] for name in trees}
        for _ in range(rounds):
            for name, tree in trees.items():
                samples[name].append(one_round(tree, root, tmp / "out", repeats)["seconds"])
    finally:
        for revision in revisions:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tmp / f"tree-{revision}")],
                           check=False, capture_output=True)  # fmt: skip
    mine = statistics.median(samples["this checkout"])
    return {
        name: {"seconds": round(statistics.median(times), 4), "rounds": times,
               "ratio_to_this_checkout": round(statistics.median(times) / mine, 3)}
        for name, times in samples.items()
    }  # fmt: skip


def main() -> None:
    if sys.argv[1:2] == ["--round"]:  # a child of --against: PYTHONPATH selects the code
        root, out, repeats = Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
        timed_run(root, out, 1, 1)  # this interpreter's imports and first-call costs
        print(json.dumps(timed_run(root, out, 1, repeats)))
        return
    sys.path.insert(0, str(REPO))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=30)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--against", nargs="+", default=[], metavar="REV", help="git revisions to time beside this one")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per tree with --against")
    parser.add_argument("--fixtures", default=os.environ.get("MIMIC_FIXTURES", str(REPO.parent / "shared/fixtures")))
    args = parser.parse_args()
    import torch

    machine = {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine()}
    versions = {"python": platform.python_version(), "torch": torch.__version__}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "amass"
        files = build_set(Path(args.fixtures), root, args.copies)
        timed_run(root, Path(tmp) / "warmup", 1, 1)  # imports, page cache
        if args.against:
            trees = side_by_side(args.against, root, Path(tmp), args.rounds, args.repeats)
            print(json.dumps({"benchmark": "amass_conversion_side_by_side", "files": files, "trees": trees,
                              "machine": machine, "versions": versions}))  # fmt: skip
            print(
                f"conversion, in-process, {files} files, median of {args.rounds} alternating rounds: "
                + "; ".join(
                    f"{name} {t['seconds']:.3f} s ({t['ratio_to_this_checkout']:.2f}x)" for name, t in trees.items()
                )
            )
            return
        in_process = timed_run(root, Path(tmp) / "out1", 1, args.repeats)
        pooled = timed_run(root, Path(tmp) / "outN", args.workers, args.repeats)
    result = {
        "benchmark": "amass_conversion",
        "files": files,
        "in_process": in_process,
        "pool": pooled,
        "targets": {"source_frames_per_s": 200000, "files_per_s": 200},
        "baseline_protomotions": {"source_frames_per_s": 20000, "files_per_s": 46},
        "machine": machine,
        "versions": versions,
    }
    print(json.dumps(result))
    print(
        f"conversion (median of {args.repeats}): in-process {in_process['source_frames_per_s']:,} source frames/s, "
        f"{in_process['files_per_s']} files/s; pool of {args.workers}: {pooled['source_frames_per_s']:,} frames/s, "
        f"{pooled['files_per_s']} files/s (targets 200,000 and 200; ProtoMotions 20,000 and 46)"
    )


if __name__ == "__main__":
    main()
