"""The Dagster instance this project creates (``DAGSTER_HOME``'s dagster.yaml) and ``make ui``'s
command (scripts/ui.sh): a real ``dagster dev`` starts without Dagster's noise (no missing
dagster.yaml warning, no telemetry banner, no SupersessionWarning) and its webserver tells the
UI not to show the "Join the Dagster community" dialog."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import dagster as dg

from pipelines.dagster_home import ensure_dagster_home

REPO_ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 150.0  # webserver up; the code location imports torch and mujoco


def test_the_instance_has_telemetry_and_the_community_dialog_off(tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    config = ensure_dagster_home(home)
    assert config == home / "dagster.yaml" and config.is_file()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        assert instance.telemetry_enabled is False
        assert instance.nux_enabled is False


def test_a_dagster_yaml_of_the_users_own_is_never_rewritten(tmp_path):
    config = tmp_path / "dagster.yaml"
    own = "telemetry:\n  enabled: true  # mine\n"
    config.write_text(own)
    ensure_dagster_home(tmp_path)
    assert config.read_text() == own


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _should_show_nux(port: int) -> bool:
    body = json.dumps({"query": "{ shouldShowNux }"}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["data"]["shouldShowNux"]


def test_make_ui_starts_dagster_quietly(tmp_path):
    home = tmp_path / "dagster_home"  # absent: scripts/ui.sh creates it as `make ui` does
    port = _free_port()
    log_path = tmp_path / "ui.log"
    env = {**os.environ, "DAGSTER_HOME": str(home), "UI_PORT": str(port), "PYTHONUNBUFFERED": "1"}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            ["bash", "scripts/ui.sh"], cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # a background test run ignores it
        )  # fmt: skip
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        show = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                show = _should_show_nux(port)
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        assert show is False, log_path.read_text(errors="replace")[-3000:]
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # dagster dev's Ctrl-C: shuts its services down
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=60)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    output = log_path.read_text(errors="replace")
    assert "Serving dagster-webserver" in output
    for noise in ("SupersessionWarning", "dg dev", "No dagster instance configuration file", "Telemetry",
                  "Welcome to Dagster", "WARNING", "Traceback"):  # fmt: skip
        assert noise not in output, f"{noise!r} in:\n{output[-3000:]}"
    assert (home / "dagster.yaml").is_file()
