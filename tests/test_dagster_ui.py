"""The Dagster UI in a real browser: `dagster dev -w workspace.yaml` (loopback, a temporary
DAGSTER_HOME) driven by headless Debian Chromium through Selenium.

One test opens the global asset graph and checks every asset of the code location is drawn
(screenshot kept); the other materialises the ``samples`` chain (amass_archives[samples] →
amass_motions[samples] → the three MotionLibs, with their integrity checks) through the UI's
own GraphQL mutation, as the UI's "Materialize" button does, from the real sample clips staged
in ``local`` mode, then sees the run page report success and checks the MotionLibs on disk
against the md5 the UI shows.

Needs /usr/bin/chromium, /usr/bin/chromedriver (Debian: ``apt-get install chromium
chromium-driver``; .ci/run installs them) and selenium (the ``dev`` extra). Without them the
tests skip, except under CI, where they fail: CI must not pass by skipping the browser test.
Screenshots go to pytest's tmp_path and, when ``MIMIC_TEST_ARTIFACTS`` is set, are copied there
(with the ``dagster dev`` log).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")  # Debian's, matching its chromium: nothing is downloaded
DAGSTER = Path(sys.executable).parent / "dagster"
LOCATION = "mimicflow"  # workspace.yaml's location_name

SERVER_TIMEOUT_S = 120.0  # webserver up and the code location (imports torch, mujoco) loaded
RUN_TIMEOUT_S = 180.0  # the samples chain: ~25 s on 2 cores, one subprocess per step
PAGE_TIMEOUT_S = 60.0
SHUTDOWN_TIMEOUT_S = 30.0

#: Every asset of the code location, as the graph must draw it.
GRAPH_ASSETS = (
    "amass_archives", "amass_motions", "motionlib_train", "motionlib_val", "motionlib_test", "policy",
    "evaluation", "g1_motions",
)  # fmt: skip
MOTIONLIB_FILES = {"motionlib_train": "train", "motionlib_val": "validation", "motionlib_test": "test"}
SAMPLES_CHAIN = ("amass_archives", "amass_motions", *MOTIONLIB_FILES)
SAMPLES_PARTITION = "samples"


def _running_in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _require_browser_tools() -> None:
    missing = [f"{path} (Debian package {package})" for path, package in
               ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")) if not path.is_file()]  # fmt: skip
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium Python package (pip install -e '.[dev]')")
    if not DAGSTER.is_file():
        missing.append(f"the dagster CLI at {DAGSTER} (pip install -e '.[orchestration]')")
    if not missing:
        return
    reason = "browser test of the Dagster UI needs " + ", ".join(missing)
    if _running_in_ci():
        pytest.fail(f"CI must not skip the browser test: {reason}", pytrace=False)
    pytest.skip(reason)


def _keep_artefact(path: Path) -> None:
    """Copy ``path`` to ``$MIMIC_TEST_ARTIFACTS`` (when set), where CI collects test artefacts."""
    target_dir = os.environ.get("MIMIC_TEST_ARTIFACTS", "").strip()
    if target_dir:
        Path(target_dir).mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, Path(target_dir) / path.name)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class DagsterServer:
    """A running ``dagster dev``: its URL, its GraphQL endpoint and its log."""

    def __init__(self, process: subprocess.Popen, base_url: str, log_path: Path) -> None:
        self.process = process
        self.base_url = base_url
        self.log_path = log_path

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.is_file() else ""

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(
            f"{self.base_url}/graphql", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
        assert "errors" not in answer, f"GraphQL errors: {answer['errors']}"
        return answer["data"]


WORKSPACE_QUERY = """{ workspaceOrError { __typename ... on Workspace { locationEntries { name loadStatus
  locationOrLoadError { __typename ... on PythonError { message } } } } } }"""


def _wait_until_loaded(server: DagsterServer) -> None:
    """Until the webserver answers and the code location has loaded (it imports torch: seconds)."""
    deadline = time.monotonic() + SERVER_TIMEOUT_S
    last = "no answer yet"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"dagster dev exited with {server.process.returncode}:\n{server.log_tail()}", pytrace=False)
        try:
            entries = server.graphql(WORKSPACE_QUERY)["workspaceOrError"].get("locationEntries") or []
        except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
            last = f"{type(error).__name__}: {error}"
        else:
            states = {entry["name"]: entry for entry in entries}
            entry = states.get(LOCATION)
            last = f"locations {sorted(states)}"
            if entry and entry["loadStatus"] == "LOADED":
                loaded = entry["locationOrLoadError"]
                if loaded["__typename"] == "PythonError":
                    pytest.fail(f"code location {LOCATION} failed to load: {loaded['message']}", pytrace=False)
                return
        time.sleep(0.5)
    pytest.fail(f"dagster dev not ready after {SERVER_TIMEOUT_S:.0f} s ({last}):\n{server.log_tail()}", pytrace=False)


def _stop(process: subprocess.Popen) -> None:
    """SIGINT (dagster dev's Ctrl-C: it shuts its webserver, daemon and code servers down), then
    SIGKILL for whatever of its process group is left."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=SHUTDOWN_TIMEOUT_S)
    with contextlib.suppress(ProcessLookupError):  # its own group: start_new_session below
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=SHUTDOWN_TIMEOUT_S)


def _child_setup() -> None:
    # A test run started in the background inherits SIGINT ignored; dagster dev maps SIGTERM to
    # its SIGINT handler, so it would then ignore both. Give it the default back.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture(scope="module")
def dagster_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DagsterServer]:
    _require_browser_tools()
    home = tmp_path_factory.mktemp("dagster_home")
    # No telemetry, and no "join the community" dialog over the graph (it shows on localhost).
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\nnux:\n  enabled: false\n")
    port = _free_port()
    log_path = home / "dagster_dev.log"
    env = {**os.environ, "DAGSTER_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    command = [str(DAGSTER), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=_child_setup,
        )  # fmt: skip
    server = DagsterServer(process, f"http://127.0.0.1:{port}", log_path)
    try:
        _wait_until_loaded(server)
        yield server
    finally:
        _stop(process)
        _keep_artefact(log_path)


@pytest.fixture(scope="module")
def browser(dagster_server: DagsterServer, tmp_path_factory: pytest.TempPathFactory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tmp_path_factory.mktemp("chromium_profile")
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1600,1000", "--hide-scrollbars", f"--user-data-dir={profile}"):  # fmt: skip
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _page_lines(driver) -> list[str]:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    try:
        return [line.strip() for line in driver.find_element(By.TAG_NAME, "body").text.splitlines()]
    except StaleElementReferenceException:  # the page re-rendered between find and read: next poll
        return []


def _wait_for_lines(driver, wanted: set[str], what: str) -> list[str]:
    """Until every line of ``wanted`` is a whole line of the page's visible text."""
    deadline = time.monotonic() + PAGE_TIMEOUT_S
    lines: list[str] = []
    while time.monotonic() < deadline:
        lines = _page_lines(driver)
        if wanted <= set(lines):
            return lines
        time.sleep(0.25)
    pytest.fail(f"{what}: {sorted(wanted - set(lines))} not shown after {PAGE_TIMEOUT_S:.0f} s; page: {lines}")


def _screenshot(driver, path: Path) -> Path:
    """Save a PNG of the viewport, check it is a real, non-blank picture of it, keep it."""
    from PIL import Image

    assert driver.save_screenshot(str(path))
    viewport = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert list(image.size) == viewport  # device pixel ratio 1 in headless Chromium
        grey = np.asarray(image.convert("L"), dtype=np.float64)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    # A blank or single-colour page has one or two colours and no contrast; the UI (text,
    # anti-aliasing, node borders) has hundreds and dark text on a light background.
    assert colours is not None and len(colours) > 100, f"{path}: {len(colours or [])} colours"
    assert grey.std() > 10.0 and grey.min() < 80.0 and grey.max() > 200.0, f"{path}: blank-looking screenshot"
    _keep_artefact(path)
    return path


ASSET_NODES_QUERY = "{ assetNodes { assetKey { path } } }"


def test_asset_graph_shows_every_asset(dagster_server, browser, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    # What the code location defines (the server's view), which must include the assets.
    nodes = dagster_server.graphql(ASSET_NODES_QUERY)["assetNodes"]
    defined = {"/".join(node["assetKey"]["path"]) for node in nodes}
    assert set(GRAPH_ASSETS) <= defined, f"missing from the code location: {set(GRAPH_ASSETS) - defined}"

    browser.get(f"{dagster_server.base_url}/asset-groups")
    # Several groups: the graph first draws them collapsed (group names only).
    _wait_for_lines(browser, {"amass", "motionlib", "training", "evaluation"}, "asset groups")
    # ⌥E is the graph's "Expand all groups"; the expanded groups go into the URL, and loading
    # that URL lays the expanded graph out to fit the window.
    ActionChains(browser).key_down(Keys.ALT).send_keys("e").key_up(Keys.ALT).perform()
    deadline = time.monotonic() + PAGE_TIMEOUT_S
    while "expanded=" not in browser.current_url and time.monotonic() < deadline:
        time.sleep(0.25)
    assert "expanded=" in browser.current_url, f"groups did not expand: {browser.current_url}"
    browser.get(browser.current_url)
    lines = _wait_for_lines(browser, defined, "asset graph")  # every asset drawn as a node
    assert any(line.startswith("Materialize all") for line in lines)  # the toolbar's button
    time.sleep(1.0)  # let the layout's fit-to-window animation settle before the picture
    _screenshot(browser, tmp_path / "dagster_asset_graph.png")


LAUNCH_MUTATION = """mutation Launch($executionParams: ExecutionParams!) {
  launchPipelineExecution(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on InvalidSubsetError { message }
    ... on PipelineNotFoundError { message }
  } }"""
RUN_QUERY = """query Run($runId: ID!) { runOrError(runId: $runId) { __typename
  ... on Run { status tags { key value } stepStats { stepKey status } } } }"""
ASSET_QUERY = """query Asset($key: AssetKeyInput!) {
  assetOrError(assetKey: $key) { ... on Asset { assetMaterializations(limit: 1) { runId partition
    metadataEntries { label ... on TextMetadataEntry { text } ... on PathMetadataEntry { path } } } } }
  assetNodeOrError(assetKey: $key) { ... on AssetNode { assetChecksOrError { ... on AssetChecks { checks {
    name executionForLatestMaterialization { runId status evaluation { success } } } } } } } }"""


def _launch_samples_chain(server: DagsterServer, clips: Path, data_root: Path) -> str:
    """Launch the chain as the UI's Materialize button does: the implicit asset job, a selection
    of asset keys (never a selection string), the partition as a tag; returns the run id."""
    run_config = {
        "ops": {"amass_archives": {"config": {"mode": "local", "local_path": str(clips)}}},
        "resources": {"paths": {"config": {"data_root": str(data_root), "results_root": str(data_root / "results")}}},
    }
    params = {
        "selector": {
            "repositoryLocationName": LOCATION,
            "repositoryName": "__repository__",  # a code location of one Definitions object
            "pipelineName": "__ASSET_JOB",  # the implicit job of every asset
            "assetSelection": [{"path": [name]} for name in SAMPLES_CHAIN],
        },
        "runConfigData": run_config,
        "mode": "default",
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": SAMPLES_PARTITION}]},
    }
    launched = server.graphql(LAUNCH_MUTATION, {"executionParams": params})["launchPipelineExecution"]
    assert launched["__typename"] == "LaunchRunSuccess", f"launch refused: {launched}"
    return launched["run"]["runId"]


def _wait_for_run(server: DagsterServer, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        run = server.graphql(RUN_QUERY, {"runId": run_id})["runOrError"]
        if run.get("status") in ("SUCCESS", "FAILURE", "CANCELED"):
            return run
        time.sleep(1.0)
    pytest.fail(f"run {run_id} not finished after {RUN_TIMEOUT_S:.0f} s:\n{server.log_tail()}")


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _latest(server: DagsterServer, asset: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The asset's latest materialisation (metadata as label → value) and its checks by name."""
    answer = server.graphql(ASSET_QUERY, {"key": {"path": [asset]}})
    [event] = answer["assetOrError"]["assetMaterializations"]
    event["metadata"] = {e["label"]: e.get("text", e.get("path")) for e in event["metadataEntries"]}
    checks = answer["assetNodeOrError"]["assetChecksOrError"].get("checks") or []
    return event, {check["name"]: check["executionForLatestMaterialization"] for check in checks}


def test_samples_chain_materialises_and_the_run_page_shows_success(dagster_server, browser, amass_dir, tmp_path):
    clips = tmp_path / "my_samples"  # the user's own folder of clips, as `local` mode takes it
    shutil.copytree(amass_dir, clips)
    data_root = tmp_path / "data"
    run_id = _launch_samples_chain(dagster_server, clips, data_root)
    run = _wait_for_run(dagster_server, run_id)
    assert run["status"] == "SUCCESS", f"run {run_id}: {run}\n{dagster_server.log_tail()}"
    # Five asset steps and one integrity check per MotionLib, every one succeeded.
    steps = {step["stepKey"]: step["status"] for step in run["stepStats"]}
    assert steps == {name: "SUCCESS" for name in (*SAMPLES_CHAIN, *(f"{m}_integrity" for m in MOTIONLIB_FILES))}
    assert {"key": "dagster/partition", "value": SAMPLES_PARTITION} in run["tags"]

    # The run page, as a user sees it.
    browser.get(f"{dagster_server.base_url}/runs/{run_id}")
    lines = _wait_for_lines(browser, {"Success", f"partition: {SAMPLES_PARTITION}", "Succeeded (8)"}, "run page")
    assert "Errored (0)" in lines and "5 assets" in lines and "3 checks" in lines
    _screenshot(browser, tmp_path / "dagster_samples_run.png")

    # The clips were staged by linking the user's folder, not copied.
    staged = data_root / "amass" / SAMPLES_PARTITION
    assert staged.is_symlink() and staged.resolve() == clips.resolve()
    archives, _ = _latest(dagster_server, "amass_archives")
    assert archives["runId"] == run_id and archives["partition"] == SAMPLES_PARTITION
    assert archives["metadata"]["mode"] == "local" and archives["metadata"]["path"] == str(staged)

    # Each MotionLib is on disk, holds the three clips (120 fps → 30 fps: every 4th frame,
    # ceil(n / 4) frames), and is the file whose md5 the UI shows.
    sources = sorted(amass_dir.glob("*.npz"))
    expected_frames = []
    for clip in sources:
        with np.load(clip) as npz:
            expected_frames.append(math.ceil(npz["poses"].shape[0] / 4))
    for asset, split in MOTIONLIB_FILES.items():
        path = data_root / "dagster" / "motionlib" / f"amass_{split}.pt"
        assert path.is_file(), f"{asset}: no {path}"
        library = torch.load(path, weights_only=True)
        assert library["motion_num_frames"].tolist() == expected_frames
        assert [Path(name).stem for name in library["motion_files"]] == [clip.stem for clip in sources]
        event, checks = _latest(dagster_server, asset)
        assert event["runId"] == run_id and event["metadata"]["path"] == str(path)
        assert event["metadata"]["md5"] == _md5(path)
        assert checks["integrity"]["runId"] == run_id
        assert checks["integrity"]["status"] == "SUCCEEDED" and checks["integrity"]["evaluation"]["success"] is True
