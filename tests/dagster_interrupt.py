"""Interrupting a Dagster run that is training, as a run termination does (shared by the pipes
and the no-pipes tests of the `policy` asset)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Tuple


def interrupt_training_run(script: Path, run_dir: Path, cwd: Path, timeout_s: float = 120.0) -> Tuple[str, int]:
    """Run the Dagster ``script`` in a subprocess, wait until the trainer it launches has written
    two epochs to ``run_dir``/metrics.csv, then SIGINT the Dagster process only (not the trainer's
    group). Returns the script's output and the trainer's pid."""
    dagster = subprocess.Popen([sys.executable, str(script)], cwd=cwd,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    metrics = run_dir / "metrics.csv"
    try:
        deadline = time.monotonic() + timeout_s
        while not (metrics.is_file() and len(metrics.read_text().splitlines()) >= 3):
            if dagster.poll() is not None:  # the Dagster process ended before training started: say why
                raise AssertionError(
                    f"the Dagster run ended before training started:\n{dagster.communicate()[0][-4000:]}"
                )
            assert time.monotonic() < deadline, "training did not start"
            time.sleep(0.2)
        children = Path(f"/proc/{dagster.pid}/task/{dagster.pid}/children").read_text().split()
        [trainer_pid] = [int(pid) for pid in children]
        os.kill(dagster.pid, signal.SIGINT)
        output, _ = dagster.communicate(timeout=60)
    finally:
        if dagster.poll() is None:
            dagster.kill()
    return output, trainer_pid
