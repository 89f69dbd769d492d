"""The ``isaacgym`` backend where IsaacGym cannot be installed: type-checked, registered, clear errors.

IsaacGym Preview 4 needs Python 3.8 and NVIDIA's download, so CI checks the backend's use of its
API with mypy against ``isaacgym-stubs`` (and checks that the check itself catches misuse), checks
the registration, the error a user without IsaacGym gets, and that the CLI's early import keeps
torch out of the process. Where isaacgym does import, the backend conformance suite runs on it
in a fresh process that imports isaacgym before torch (this one imported torch in conftest).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap

import pytest
import torch

from robots.registry import smpl_robot
from training.simulator import BACKENDS, create_simulator
from training.simulator.base import SimulatorConfig
from training.simulator.heightfield import TerrainSpec, sample_heights
from training.simulator.terrain_mesh import heightfield_triangle_mesh

ISAACGYM_USABLE = sys.version_info < (3, 9) and importlib.util.find_spec("isaacgym") is not None


def _typecheck(repo_root, *files: str) -> subprocess.CompletedProcess:
    command = [sys.executable, str(repo_root / "scripts" / "typecheck_isaacgym.py"), *files]
    return subprocess.run(command, cwd=repo_root, capture_output=True, text=True, timeout=300)


def test_backend_type_checks_against_isaacgym_stubs(repo_root):
    result = _typecheck(repo_root)  # what `make typecheck-isaacgym` runs
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found in 1 source file" in result.stdout


def test_type_check_catches_isaacgym_api_misuse(repo_root, tmp_path):
    """The check is real: IsaacGym calls resolve to the stubs' signatures, not to ``Any``."""
    misuse = tmp_path / "misuse.py"
    misuse.write_text(
        textwrap.dedent(
            """\
            from isaacgym import gymapi, gymtorch

            gym = gymapi.acquire_gym()
            sim = gym.create_sim(0, -1, gymapi.SIM_PHYSX, gymapi.SimParams())
            gym.load_asset(sim, 1, "robot.xml")
            gym.refresh_dof_state_tensr(sim)
            gymtorch.wrap_tensor(3)
            """
        )
    )
    result = _typecheck(repo_root, str(misuse))
    assert result.returncode == 1, result.stdout + result.stderr
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 3, result.stdout
    assert 'misuse.py:5: error: Argument 2 to "load_asset" of "Gym" has incompatible type "int"' in errors[0]
    assert 'misuse.py:6: error: "Gym" has no attribute "refresh_dof_state_tensr"' in errors[1]
    assert 'misuse.py:7: error: Argument 1 to "wrap_tensor" has incompatible type "int"' in errors[2]


def test_isaacgym_is_registered():
    assert BACKENDS["isaacgym"] == "training.simulator.isaacgym_backend:IsaacGymSimulator"


@pytest.mark.skipif(ISAACGYM_USABLE, reason="isaacgym is installed here")
def test_requesting_isaacgym_without_it_says_how_to_install():
    with pytest.raises(ImportError) as caught:
        create_simulator("isaacgym", smpl_robot(), SimulatorConfig(num_envs=1))
    message = str(caught.value)
    for needed in ("IsaacGym Preview 4", "Python 3.8", "developer.nvidia.com/isaac-gym", "pip install -e"):
        assert needed in message, message
    assert f"this is Python {sys.version_info[0]}.{sys.version_info[1]}" in message


def test_cli_early_import_leaves_torch_unimported(repo_root):
    """``mimic train --simulator isaacgym`` tries IsaacGym before torch; without it, no error yet
    (the backend raises the explanatory one later) and torch is still not imported."""
    code = (
        "import sys\n"
        "from mimic.commands.train import import_isaacgym_first\n"
        "import_isaacgym_first('isaacgym')\n"
        "print('torch' in sys.modules, 'isaacgym.gymapi' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=repo_root, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    # isaacgym's gymtorch imports torch itself, after gymapi: both True where IsaacGym is installed
    assert result.stdout.split() == (["True", "True"] if ISAACGYM_USABLE else ["False", "False"])


def test_heightfield_triangle_mesh_matches_the_grid():
    """A 2 × 3 grid, 0.5 m cells, origin (1, −1): vertices at the samples, two up-facing triangles
    per cell covering the grid's 1 × 0.5 m² = 0.5 m² area."""
    heights = torch.tensor([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]])
    vertices, triangles = heightfield_triangle_mesh(heights, 0.5, (1.0, -1.0))
    assert vertices.dtype.name == "float32" and triangles.dtype.name == "uint32"
    assert vertices.shape == (6, 3) and triangles.shape == (4, 3)
    assert vertices[4].tolist() == [1.5, -0.5, 4.0]  # vertex i·C + j = 1·3 + 1
    assert triangles.tolist() == [[0, 3, 4], [1, 4, 5], [0, 4, 1], [1, 5, 2]]
    corners = torch.from_numpy(vertices.astype("float64"))[torch.from_numpy(triangles.astype("int64"))]
    normal = torch.linalg.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    # first triangle: (0.5, 0, 3) × (0.5, 0.5, 4) = (−1.5, −0.5, 0.25)
    assert normal[0].tolist() == [-1.5, -0.5, 0.25]
    assert (normal[:, 2] > 0).all()
    assert float(normal[:, 2].sum() / 2) == 0.5  # projected area, m²
    # the mesh passes through the samples the CPU backend's terrain_heights interpolates
    terrain = TerrainSpec(heights=heights, horizontal_scale=0.5, origin=(1.0, -1.0))
    xy = torch.from_numpy(vertices[:, :2]).unsqueeze(0)
    assert torch.equal(sample_heights(terrain, xy)[0], torch.from_numpy(vertices[:, 2]))


@pytest.mark.skipif(not ISAACGYM_USABLE, reason="isaacgym does not import here (IsaacGym Preview 4, Python 3.8)")
def test_conformance_suite_on_isaacgym(repo_root):
    code = (
        "from isaacgym import gymapi, gymtorch\n"  # before pytest's conftest imports torch
        "import sys, pytest\n"
        "sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', 'tests/test_simulator_conformance.py', "
        "'-k', 'isaacgym']))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=repo_root, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert " passed" in result.stdout and " skipped" not in result.stdout, result.stdout[-2000:]
