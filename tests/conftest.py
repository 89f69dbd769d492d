"""Shared pytest fixtures: the repository root and the real-data fixtures.

Tests marked ``device`` follow ``MIMIC_TEST_DEVICE`` (tests/device_under_test.py).

Real data (AMASS sample clips, ProtoMotions reference outputs) is not part of the repository.
It is found through ``MIMIC_FIXTURES`` (default ``<repo root>/../shared/fixtures``; a relative
value is taken relative to the repository root, as ``.ci/run`` does). Tests that need it skip
with the path in the reason when it is absent, except under CI (``CI`` set to a true value),
where an absent fixture directory is an error: CI must never pass by skipping the real-data
tests.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent

# MuJoCo picks its OpenGL backend when first imported (any test module may import it first);
# without a display, offscreen rendering tests need EGL (Mesa's runs on the CPU), not GLFW.
if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
    os.environ.setdefault("MUJOCO_GL", "egl")

# Two intra-op threads for every test session, whatever the machine: float reductions then
# split the same way on a 2-core laptop and a 64-core CI runner (so tolerances tuned on one
# hold on the other), and parallel test runs do not oversubscribe the CPU. Library code
# never calls this; it is a test-environment choice.
torch.set_num_threads(2)


def pytest_configure(config: pytest.Config) -> None:
    try:
        import device_under_test  # noqa: F401  (parses MIMIC_TEST_DEVICE: a bad value stops here, named)
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None


def pytest_collection_modifyitems(config: pytest.Config, items: list) -> None:
    """Tests marked ``device`` run on MIMIC_TEST_DEVICE (tests/device_under_test.py); where that is
    CUDA and torch sees none, they are skipped with a reason naming CUDA."""
    from device_under_test import TEST_DEVICE, missing_device_reason

    reason = missing_device_reason(TEST_DEVICE)
    if reason:
        skip = pytest.mark.skip(reason=reason)
        for item in items:
            if item.get_closest_marker("device") is not None:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def test_device() -> torch.device:
    """MIMIC_TEST_DEVICE as a torch device (``cpu`` unless set)."""
    from device_under_test import TEST_DEVICE

    return TEST_DEVICE


def _running_in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def resolve_fixtures_dir() -> Path:
    """``MIMIC_FIXTURES`` as an absolute path (relative values are relative to the repo root)."""
    configured = Path(os.environ.get("MIMIC_FIXTURES", "../shared/fixtures"))
    if not configured.is_absolute():
        configured = REPO_ROOT / configured
    return configured.resolve()


def _require_dir(path: Path, what: str) -> Path:
    return _require(path, what, path.is_dir())


def _require(path: Path, what: str, present: bool) -> Path:
    """``path`` when ``present``; else skip the test naming the path (fail under CI)."""
    if present:
        return path
    reason = f"{what} not found at {path} (set MIMIC_FIXTURES to the shared fixtures directory)"
    if _running_in_ci():
        pytest.fail(f"CI must not skip real-data tests: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return _require_dir(resolve_fixtures_dir(), "real-data fixtures directory")


@pytest.fixture(scope="session")
def amass_dir(fixtures_dir: Path) -> Path:
    """AMASS sample clips (``*_poses.npz``)."""
    return _require_dir(fixtures_dir / "amass", "AMASS fixtures")


@pytest.fixture(scope="session")
def sample_motion_lib(amass_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A MotionLib of the three real AMASS sample clips, converted and packaged once per session."""
    from motion.batch_convert import convert_amass_tree
    from motion.motion_lib_packaging import package_motion_lib

    root = tmp_path_factory.mktemp("sample_motion_lib")
    assert convert_amass_tree(amass_dir, root / "motions", progress=False).ok
    package_motion_lib(root / "motions", root / "lib.pt")
    return root / "lib.pt"


@pytest.fixture(scope="session")
def accad_dir(fixtures_dir: Path) -> Path:
    """The real 37-clip ACCAD corpus: ``train/`` (27 clips) and ``heldout/`` (10)."""
    return _require_dir(fixtures_dir / "amass_accad", "ACCAD corpus fixtures")


@pytest.fixture(scope="session")
def accad_motions(accad_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The corpus converted once (``heldout`` as the test split), as ``mimic amass convert
    CORPUS OUT --split heldout=test`` does; the folder with train.yaml and test.yaml."""
    from motion.batch_convert import convert_amass_tree

    out = tmp_path_factory.mktemp("accad_motions")
    report = convert_amass_tree(accad_dir, out, split_of={"heldout": "test"}, workers=2, progress=False)
    assert report.ok, report.summary()
    return out


@pytest.fixture(scope="session")
def protomotions_dir(fixtures_dir: Path) -> Path:
    """Reference outputs produced by ProtoMotions, to compare ours against."""
    return _require_dir(fixtures_dir / "protomotions", "ProtoMotions reference fixtures")


@pytest.fixture(scope="session")
def synthetic_motion_lib(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A MotionLib of the synthetic clips (walks in each AMASS format and a standing clip)."""
    from motion.batch_convert import convert_amass_tree
    from motion.motion_lib_packaging import package_motion_lib
    from motion.synthetic import synthesize_amass_clips

    root = tmp_path_factory.mktemp("synthetic_motion_lib")
    synthesize_amass_clips(root / "amass")
    assert convert_amass_tree(root / "amass", root / "motions", progress=False).ok
    package_motion_lib(root / "motions", root / "lib.pt")
    return root / "lib.pt"


@pytest.fixture(scope="session")
def g1_xml() -> Path:
    """The Unitree G1 29-DoF MJCF (meshes beside it): ``<fixtures>/../robots/unitree_g1/g1_29dof.xml``."""
    path = resolve_fixtures_dir().parent / "robots" / "unitree_g1" / "g1_29dof.xml"
    return _require(path, "G1 model", path.is_file())


@pytest.fixture(scope="session")
def g1_clip(g1_xml: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A packaged G1 MotionLib: the robot standing in Unitree's bent-knee pose for 3 s at 30 fps."""
    from robots.registry import robot_by_name
    from robots.standing_clips import standing_clip

    path = tmp_path_factory.mktemp("g1_clip") / "g1_standing.pt"
    torch.save(standing_clip(robot_by_name("g1", robot_xml=str(g1_xml))), path)
    return path


@pytest.fixture(scope="session")
def x_display():
    """A real Xvfb for tests that open MuJoCo's viewer window; yields its DISPLAY (``:N``)."""
    from xvfb_display import start_xvfb

    yield from start_xvfb()
