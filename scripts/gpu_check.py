"""``make gpu-check``: everything this project claims about a GPU, checked on yours in one command.

For a machine with an NVIDIA GPU (designed to fit 10 minutes on one H100/H200; not yet run on one):

1. ``install``: the ``mjwarp`` extra's packages (mujoco-warp, warp-lang, pinned in pyproject.toml)
   into this interpreter, unless present at their pins.
2. ``kernels``: a 2-world MuJoCo Warp simulator steps once on CUDA: Warp compiles MuJoCo Warp's
   kernels (90-125 s on an H200 the first time) or loads them from its cache (1-5 s); the time goes
   in the record, and every later stage loads them from the cache.
3. ``tests``: the suites that follow ``MIMIC_TEST_DEVICE`` (``pytest -m device``) with
   ``MIMIC_TEST_DEVICE=cuda``: counts, failures, and the run-to-run deviations the CUDA tests print.
4. ``bench``: ``benchmarks/bench_gpu_scale.py`` at 1,024-16,384 envs with the CPU backend beside it.
5. ``learning``: ``benchmarks/bench_learning.py`` with ``mlp_gpu.py`` (the GPU recipe) on the real
   walk and jumps clips for ``--learning-minutes`` of training, evaluated along the way, ending in
   ``mimic inference --full-eval`` of its last checkpoint.

Writes ``<out>/gpu_check.json`` (one record: machine, versions, each stage's result and seconds)
and every stage's log beside it; prints the record and a one-line summary. A stage that fails is
recorded and the next one still runs; the exit status is 1 when a stage failed. Without a CUDA
device visible to torch it says why and exits 0, installing nothing.

    python scripts/gpu_check.py [--out results/gpu_check] [--learning-minutes 2.5] [--skip-install]

The real clips come from ``$MIMIC_FIXTURES/amass`` when present, else from the AMASS sample clips
on GitHub (sha256-pinned), downloaded into ``<out>/fixtures/amass``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Dict, List, Optional

REPO = Path(__file__).resolve().parent.parent
WARP_PINS = {"mujoco_warp": "4.0.0", "warp": "1.19.0"}  # pyproject.toml's mjwarp extra (a test checks)
DEVIATION_LINE = re.compile(r"repeat deviation on cuda(?::\d+)?: (\{.*\})")
# Seconds each stage may take: with a filled kernel cache the whole check takes about 9 minutes.
BUDGET = {"install": 300, "kernels": 300, "tests": 300, "bench": 300}

KERNELS = """
import logging, sys, time, torch
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
from robots.registry import smpl_robot
from training.simulator import create_simulator
from training.simulator.base import SimulatorConfig
sim = create_simulator("mjwarp", smpl_robot(), SimulatorConfig(num_envs=2, device="cuda"))
sim.step(torch.zeros(2, 69, device=sim.device))
torch.cuda.synchronize()
print("FIRST_USE_SECONDS", sim.first_use_seconds)
"""


def cuda_missing() -> str:
    """Why there is no GPU to check ('' when torch sees a CUDA device)."""
    import torch

    if torch.version.cuda is None:
        return f"torch {torch.__version__} is a CPU-only build: no CUDA device can be used"
    if not torch.cuda.is_available():
        return f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no CUDA device on this machine"
    return ""


def run_logged(name: str, command: List[str], out: Path, timeout: float, env: Optional[Dict[str, str]] = None):
    """Run ``command`` from the checkout with stdout+stderr into ``<out>/<name>.log``; (status, seconds, text)."""
    log_path = out / f"{name}.log"
    started = time.perf_counter()
    with log_path.open("w") as log:
        log.write(" ".join(command) + "\n")
        log.flush()
        try:
            status = subprocess.run(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env,
                                    timeout=timeout).returncode  # fmt: skip
        except subprocess.TimeoutExpired:
            status = 124
    return status, round(time.perf_counter() - started, 1), log_path.read_text()


def last_json(text: str, key: str) -> Optional[Dict[str, Any]]:
    """The last JSON object line of ``text`` that has ``key``."""
    for line in reversed(text.splitlines()):
        if line.startswith("{"):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if key in record:
                return record
    return None


def junit_counts(path: Path) -> Dict[str, Any]:
    """Counts and failing test ids from a pytest ``--junitxml`` file."""
    if not path.is_file():
        return {"error": f"no junit file at {path}"}
    root = ET.parse(path).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    assert suite is not None
    failed = [
        f"{case.get('classname')}::{case.get('name')}"
        for case in suite.iter("testcase")
        if case.find("failure") is not None or case.find("error") is not None
    ]
    counts = {key: int(suite.get(key, 0)) for key in ("tests", "failures", "errors", "skipped")}
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    return dict(counts, failed=failed, seconds=float(suite.get("time", 0.0)))


def prepare_fixtures(out: Path) -> Path:
    """A fixtures folder with ``amass/`` holding the three AMASS sample clips (for the real-data tests
    and the learning run): ``$MIMIC_FIXTURES`` when it has them, else downloaded and sha256-checked."""
    configured = Path(os.environ.get("MIMIC_FIXTURES", REPO.parent / "shared" / "fixtures"))
    if (configured / "amass").is_dir():
        return configured.resolve()
    from motion.samples import SAMPLE_CLIPS, fetch_sample

    folder = out / "fixtures"
    for clip in SAMPLE_CLIPS:
        fetch_sample(clip, folder / "amass")
    return folder


def mjwarp_extra() -> List[str]:
    """The requirements of pyproject.toml's ``mjwarp`` extra (pinned there)."""
    import tomllib

    with (REPO / "pyproject.toml").open("rb") as handle:
        return list(tomllib.load(handle)["project"]["optional-dependencies"]["mjwarp"])


def install() -> Dict[str, Any]:
    """The pip command that installs the ``mjwarp`` extra's packages, unless they are here at their pins
    (only those packages: the checkout's own install and its torch are left as they are)."""
    found = {module: _version(module) if importlib.util.find_spec(module) else None for module in WARP_PINS}
    if found == WARP_PINS:
        return {"status": 0, "already_installed": found}
    return {"command": [sys.executable, "-m", "pip", "install", *mjwarp_extra()], "found": found}


def _version(module: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    distribution = {"mujoco_warp": "mujoco-warp", "warp": "warp-lang"}[module]
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "?"


def machine() -> Dict[str, Any]:
    import torch

    info: Dict[str, Any] = {"cpus": os.cpu_count(), "platform": platform.platform()}
    info.update(python=platform.python_version(), torch=torch.__version__)
    if torch.cuda.is_available():
        properties = torch.cuda.get_device_properties(0)
        info.update(gpu=properties.name, gpu_memory_gib=round(properties.total_memory / 2**30, 1))
        info["cuda"] = torch.version.cuda
        try:
            smi = ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"]
            info["driver"] = subprocess.run(smi, capture_output=True, text=True, timeout=30).stdout.strip()
        except OSError:
            info["driver"] = "?"
    return info


def summary_line(record: Dict[str, Any]) -> str:
    stages = record["stages"]
    parts = [f"gpu-check on {record['machine'].get('gpu', '?')} in {record['seconds'] / 60:.1f} min"]
    kernels = stages.get("kernels", {})
    if "first_use_seconds" in kernels:
        parts.append(f"kernels ready in {kernels['first_use_seconds']:.0f} s")
    tests = stages.get("tests", {})
    if "passed" in tests:
        parts.append(f"tests {tests['passed']} passed, {tests['failures']} failed, {tests['errors']} errors, "
                     f"{tests['skipped']} skipped")  # fmt: skip
    for result in (stages.get("bench", {}).get("record") or {}).get("results", []):
        if result["simulator"] == "mjwarp" and result["num_envs"] == 8192:
            parts.append(f"8192 envs: env {result['env_steps_per_s']:,}, training {result['train_env_steps_per_s']:,} "
                         "env-steps/s")  # fmt: skip
    final = ((stages.get("learning", {}).get("record") or {}).get("final")) or {}
    if final:
        parts.append(
            f"GPU recipe full-eval success {final['success_rate']:.2f}, E_g-mpjpe {final['e_g_mpjpe_mm']:.0f} mm"
        )
    failed = [name for name, stage in stages.items() if stage.get("status", 0) != 0]
    parts.append(f"failed stages: {', '.join(failed)}" if failed else "every stage ran")
    return "; ".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "results" / "gpu_check")
    parser.add_argument("--learning-minutes", type=float, default=2.5, help="training wall time of the GPU recipe")
    parser.add_argument("--learning-envs", type=int, default=8192)
    parser.add_argument("--envs", type=int, nargs="+", default=[1024, 4096, 8192, 16384])
    parser.add_argument("--skip-install", action="store_true")
    args = parser.parse_args()
    missing = cuda_missing()
    if missing:
        print(json.dumps({"check": "gpu_check", "skipped": missing}))
        print(f"gpu-check: skipped: {missing}; nothing installed or run (make gpu-check needs an NVIDIA GPU)")
        return 0
    out = args.out.resolve() / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    stages: Dict[str, Dict[str, Any]] = {}
    python = sys.executable
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))

    plan = install() if not args.skip_install else {"status": 0, "skipped": "--skip-install"}
    if "command" in plan:
        status, seconds, _ = run_logged("install", plan["command"], out, BUDGET["install"], env)
        plan.update(status=status, seconds=seconds)
    stages["install"] = plan

    status, seconds, text = run_logged("kernels", [python, "-c", KERNELS], out, BUDGET["kernels"], env)
    kernels: Dict[str, Any] = {"status": status, "seconds": seconds}
    for line in text.splitlines():
        if line.startswith("FIRST_USE_SECONDS"):
            kernels["first_use_seconds"] = float(line.split()[1])
        elif line.startswith("mjwarp:"):
            kernels.setdefault("log", []).append(line)
    stages["kernels"] = kernels

    try:
        env["MIMIC_FIXTURES"] = str(prepare_fixtures(out))
    except Exception as error:  # offline: the real-data tests skip and the learning run fails, recorded
        stages["fixtures"] = {"status": 1, "error": f"{type(error).__name__}: {error}"}
    junit = out / "tests.xml"
    pytest = [python, "-m", "pytest", "-q", "-s", "-m", "device", "-p", "no:cacheprovider", f"--junitxml={junit}"]
    status, seconds, text = run_logged("tests", pytest, out, BUDGET["tests"], dict(env, MIMIC_TEST_DEVICE="cuda"))
    deviations = [_parse_deviation(match) for match in DEVIATION_LINE.findall(text)]
    stages["tests"] = dict(junit_counts(junit), status=status, seconds=seconds, cuda_repeat_deviations=deviations)

    bench = [python, "benchmarks/bench_gpu_scale.py", "--envs", *map(str, args.envs), "--cpu-envs", "256"]
    bench += ["--steps", "100", "--cpu-steps", "30", "--epochs", "2"]
    status, seconds, text = run_logged("bench", bench, out, BUDGET["bench"], env)
    stages["bench"] = {"status": status, "seconds": seconds, "record": last_json(text, "results")}

    learning = [python, "benchmarks/bench_learning.py", "--results-dir", str(out / "learning"), "--name", "gpu_recipe"]
    learning += ["--experiment", "training/experiments/mimic/mlp_gpu.py", "--simulator", "mjwarp", "--device", "cuda"]
    learning += ["--num-envs", str(args.learning_envs), "--batch-size", str(4 * args.learning_envs)]
    learning += ["--minutes", str(args.learning_minutes), "--eval-every", "20"]
    budget = args.learning_minutes * 60 + 240  # start, evaluations, SIGTERM grace, the final full-eval
    status, seconds, text = run_logged("learning", learning, out, budget, env)
    stages["learning"] = {"status": status, "seconds": seconds, "record": last_json(text, "final")}

    import torch

    record = {
        "check": "gpu_check",
        "commit": _commit(),
        "machine": machine(),
        "versions": {"torch": torch.__version__, **{m: _version(m) for m in WARP_PINS}},
        "stages": stages,
        "seconds": round(time.perf_counter() - started, 1),
        "out": str(out),
    }
    (out / "gpu_check.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record))
    print(summary_line(record))
    tests_ok = stages["tests"].get("failures", 1) == 0 and stages["tests"].get("errors", 1) == 0
    return 0 if tests_ok and all(stage.get("status", 0) == 0 for stage in stages.values()) else 1


def _parse_deviation(text: str) -> Dict[str, Any]:
    """``{'pos': 1e-05, ...}`` as printed by tests/device_under_test.py."""
    try:
        return json.loads(text.replace("'", '"'))
    except json.JSONDecodeError:
        return {"unparsed": text}


def _commit() -> str:
    try:
        result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
        return result.stdout.strip() or "?"
    except OSError:
        return "?"


if __name__ == "__main__":
    sys.exit(main())
