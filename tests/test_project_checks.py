"""Checks of the build and CI plumbing: .ci/run, the Makefile, pyproject.toml, README, the CLI.

Also the Python 3.8 checks that vermin cannot make: with ``--no-eval-annotations`` vermin
assumes annotations are never evaluated (true only under ``from __future__ import
annotations``), and it cannot see a 3.9+ ``str`` method called on a parameter of unknown type.
"""

from __future__ import annotations

import ast
import os
import re
import signal
import subprocess
import sys
import uuid
from argparse import _SubParsersAction  # argparse has no public accessor for sub-commands
from importlib import metadata
from pathlib import Path
from typing import Dict, List, Mapping, Optional

import pytest
import tomllib

REPO_ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = REPO_ROOT / ".venv" / "bin"
TORCH_PIN = "torch==2.13.0"
# dvc's stack: hydra-core/omegaconf pin antlr4 4.9, which breaks Dagster (dagster#27487).
DVC_STACK = {"dvc", "hydra-core", "omegaconf", "antlr4-python3-runtime"}
CLI_CONTRACT = {
    "amass": {"convert", "samples", "synthesize"},
    "motionlib": {"package", "info"},
    "humanoid": {"export"},
}


def run_in_own_group(
    cmd: List[str], env: Optional[Mapping[str, str]] = None, timeout: float = 30.0
) -> subprocess.CompletedProcess:
    """Run ``cmd`` from the repo root with no stdin; on timeout kill its whole process group.

    A broken ``.ci/run`` would start ``make test`` → pytest → this file again, so the timeout
    must take down grandchildren too, not only the direct child.
    """
    proc = subprocess.Popen(
        cmd,
        cwd=REPO_ROOT,
        env=dict(env) if env is not None else None,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"{cmd} still running after {timeout} s (it should have stopped early)")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def makefile_variable(name: str) -> str:
    match = re.search(rf"^{name}\s*:=\s*(.+)$", (REPO_ROOT / "Makefile").read_text(), re.MULTILINE)
    assert match, f"Makefile defines no {name} :="
    return match.group(1).strip()


def dry_run(target: str) -> List[str]:
    """The commands ``make`` would run to (re)build ``target``, without running them."""
    result = run_in_own_group(["make", "--no-print-directory", "-n", "-B", target])
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def requirement_name(requirement: str) -> str:
    name = re.split(r"[\s\[<>=!~;@]", requirement.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def pyproject() -> Dict:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


# --- .ci/run -------------------------------------------------------------------------------


def ci_env(fixtures: str) -> Dict[str, str]:
    return {**os.environ, "MIMIC_FIXTURES": fixtures, "CI": "true"}


@pytest.mark.parametrize("layout", ["empty dir", "empty amass/"])
def test_ci_run_refuses_to_start_without_amass_fixtures(tmp_path: Path, layout: str) -> None:
    if layout == "empty amass/":
        (tmp_path / "amass").mkdir()
    result = run_in_own_group([str(REPO_ROOT / ".ci" / "run")], env=ci_env(str(tmp_path)))
    assert result.returncode != 0
    assert "real-data fixtures missing" in result.stderr
    assert str(tmp_path / "amass") in result.stderr
    # The check comes before anything else: nothing was announced or built.
    assert "ci: fixtures:" not in result.stdout
    assert "pip install" not in result.stdout + result.stderr


def test_ci_run_resolves_relative_fixtures_against_repo_root() -> None:
    missing = f"no-such-fixtures-{uuid.uuid4().hex}"
    # Run from another directory: the path must still be taken relative to the repo root.
    result = subprocess.run(
        [str(REPO_ROOT / ".ci" / "run")],
        cwd="/",
        env=ci_env(missing),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert str(REPO_ROOT / missing / "amass") in result.stderr


@pytest.mark.parametrize("script", [".ci/run", "scripts/demo.sh", "scripts/ui.sh"])
def test_shell_scripts_parse_and_are_strict(script: str) -> None:
    path = REPO_ROOT / script
    assert os.access(path, os.X_OK), f"{script} is not executable"
    assert "set -euo pipefail" in path.read_text()
    result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, timeout=10)
    assert result.returncode == 0, result.stderr


def test_the_demo_says_its_policy_is_a_smoke_run_and_points_at_the_shipped_one() -> None:
    """The demo's 4-epoch policy fails every clip (0/3, about 1 m): right after training and its
    full evaluation the demo says why, and which policy does track the clips."""
    script = (REPO_ROOT / "scripts" / "demo.sh").read_text()
    train, evaluate, plots = (script.index(f'echo "== {step}/11') for step in (5, 6, 7))
    assert "a smoke run of the chain, not a trained policy" in script[train:evaluate]
    explanation = script[evaluate:plots]
    assert "tracks no clip" in explanation and "data/pretrained/smpl_walk_jump/" in explanation


# --- README, pyproject, Makefile -------------------------------------------------------------


def test_readme_opens_with_the_two_commands() -> None:
    lines = (REPO_ROOT / "README.md").read_text().splitlines()
    assert lines[0].startswith("# ")
    assert lines[1].split()[:2] == ["make", "demo"]
    assert lines[2].split()[:2] == ["make", "test"]


def test_every_torch_requirement_is_the_pin_and_the_makefile_agrees() -> None:
    project = pyproject()["project"]
    assert TORCH_PIN in project["dependencies"]
    groups = {"dependencies": project["dependencies"], **project.get("optional-dependencies", {})}
    for group, requirements in groups.items():
        for requirement in requirements:
            if requirement_name(requirement) == "torch":
                assert requirement.replace(" ", "") == TORCH_PIN, f"{group}: {requirement}"
    assert makefile_variable("TORCH_PIN") == TORCH_PIN


def test_setup_installs_pinned_torch_alone_before_the_package() -> None:
    pip_lines = [line for line in dry_run(".venv/.stamp") if "pip install" in line]
    assert pip_lines[0].split() == [".venv/bin/pip", "install", TORCH_PIN]
    assert any("install -e" in line for line in pip_lines[1:])
    assert all("torch" not in line for line in pip_lines[1:]), pip_lines


def test_dvc_is_installed_only_into_its_own_tool_venv() -> None:
    pip_lines = [line for line in dry_run(".tools/dvc/.stamp") if "pip install" in line]
    assert pip_lines and all(line.startswith(".tools/dvc/bin/pip install") for line in pip_lines)
    assert any(requirement_name(line.split()[-1]) == "dvc" for line in pip_lines)


def test_dvc_stack_is_absent_from_dependencies_and_test_environment() -> None:
    project = pyproject()["project"]
    declared = list(project["dependencies"])
    for requirements in project.get("optional-dependencies", {}).values():
        declared.extend(requirements)
    assert not {requirement_name(r) for r in declared} & DVC_STACK
    installed = set()
    for name in DVC_STACK - {"antlr4-python3-runtime"}:  # antlr4 itself is fine at 4.13 (dagster)
        try:
            metadata.distribution(name)
            installed.add(name)
        except metadata.PackageNotFoundError:
            pass
    assert not installed, f"{sorted(installed)} installed in {sys.prefix}; dvc belongs in .tools"


def run_vermin(directory: Path) -> subprocess.CompletedProcess:
    # -o: use the venv as it is, never reinstall from inside a test.
    return run_in_own_group(
        ["make", "-s", "--no-print-directory", "-o", ".venv/.stamp", "vermin", f"PY38_DIRS={directory}"]
    )


def test_make_vermin_passes_postponed_annotations(tmp_path: Path) -> None:
    (tmp_path / "ok.py").write_text(
        "from __future__ import annotations\n\n\n"
        "def f(x: list[int], y: dict[str, int] | None = None) -> tuple[int, ...] | None:\n"
        "    z: set[str] = set()\n"
        "    return None\n"
    )
    result = run_vermin(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "body, feature",
    [
        ("def f(s):\n    return str.removeprefix(s, 'a')\n", "removeprefix"),
        ("import functools\n\n\n@functools.cache\ndef f():\n    return 1\n", "functools.cache"),
        ("def f(x):\n    match x:\n        case 1:\n            return 1\n", "pattern matching"),
        ("def f(a, b):\n    return list(zip(a, b, strict=True))\n", "zip(strict)"),
        ("def f():\n    return {'a': 1} | {'b': 2}\n", "dict union"),
        ("def f():\n    with (open('a') as a, open('b') as b):\n        return a, b\n", "with"),
    ],
)
def test_make_vermin_rejects_runtime_features_newer_than_3_8(tmp_path: Path, body: str, feature: str) -> None:
    (tmp_path / "bad.py").write_text("from __future__ import annotations\n\n\n" + body)
    result = run_vermin(tmp_path)
    assert result.returncode != 0
    assert feature in result.stdout


# --- Python 3.8 checks vermin cannot make -----------------------------------------------------

BUILTIN_GENERICS = {"list", "dict", "tuple", "set", "frozenset", "type"}


def py38_gaps(source: str) -> List[str]:
    """3.9+ constructs that ``make vermin`` lets through, as ``"line N: what"`` strings.

    - annotations without ``from __future__ import annotations`` (vermin assumes postponed);
    - builtin generics (``list[int]``) evaluated at runtime, outside annotations;
    - ``X | Y`` type unions in ``isinstance``/``issubclass``;
    - ``.removeprefix``/``.removesuffix`` calls, whatever the receiver.
    """
    tree = ast.parse(source)
    postponed = any(
        isinstance(node, ast.ImportFrom)
        and node.module == "__future__"
        and any(alias.name == "annotations" for alias in node.names)
        for node in tree.body
    )
    annotations: List[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.arg) and node.annotation is not None:
            annotations.append(node.annotation)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns is not None:
            annotations.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            annotations.append(node.annotation)
    gaps: List[str] = []
    if annotations and not postponed:
        gaps.append(f"line {annotations[0].lineno}: annotation without `from __future__ import annotations`")
    in_annotation = {id(sub) for annotation in annotations for sub in ast.walk(annotation)}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Name)
            and node.value.id in BUILTIN_GENERICS
            and id(node) not in in_annotation
        ):
            gaps.append(f"line {node.lineno}: runtime {node.value.id}[...] needs 3.9")
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in ("removeprefix", "removesuffix"):
                gaps.append(f"line {node.lineno}: .{func.attr}() needs 3.9")
            if (
                isinstance(func, ast.Name)
                and func.id in ("isinstance", "issubclass")
                and len(node.args) == 2
                and isinstance(node.args[1], ast.BinOp)
                and isinstance(node.args[1].op, ast.BitOr)
            ):
                gaps.append(f"line {node.lineno}: {func.id}(x, A | B) needs 3.10")
    return gaps


def test_py38_gap_check_finds_what_vermin_misses() -> None:
    source = (
        "from __future__ import annotations\n"
        "Alias = list[int]\n"
        "def f(name: str, x: object) -> bool:\n"
        "    name.removesuffix('.npz')\n"
        "    return isinstance(x, int | str)\n"
    )
    assert [gap.split(":")[0] for gap in py38_gaps(source)] == ["line 2", "line 4", "line 5"]
    assert py38_gaps("def f(x: int) -> int:\n    return x\n") == [
        "line 1: annotation without `from __future__ import annotations`"
    ]
    clean = (
        "from __future__ import annotations\n"
        "from typing import List\n"
        "Alias = List[int]\n"
        "def f(x: list[int] | None, mask: int) -> dict[str, int]:\n"
        "    y: tuple[int, ...] = (1,)\n"
        "    return {'a': mask | 4}\n"
    )
    assert py38_gaps(clean) == []
    # Docstring-only package markers need no future import.
    assert py38_gaps('"""A package."""\n') == []


def test_library_code_has_no_py38_gaps() -> None:
    problems = []
    for directory in makefile_variable("PY38_DIRS").split():
        for path in sorted((REPO_ROOT / directory).rglob("*.py")):
            for gap in py38_gaps(path.read_text()):
                problems.append(f"{path.relative_to(REPO_ROOT)} {gap}")
    assert not problems, "\n".join(problems)


# --- the mimic command line ------------------------------------------------------------------


def test_mimic_console_script_lists_the_command_groups() -> None:
    mimic = VENV_BIN / "mimic"
    assert mimic.is_file(), f"{mimic} missing: run `make setup`"
    result = run_in_own_group([str(mimic), "--help"])
    assert result.returncode == 0, result.stderr
    for group in CLI_CONTRACT:
        assert re.search(rf"^\s+{group}\s", result.stdout, re.MULTILINE), result.stdout


def test_mimic_version_is_the_package_version() -> None:
    version = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]
    result = run_in_own_group([sys.executable, "-m", "mimic.cli", "--version"])
    assert (result.returncode, result.stdout) == (0, f"mimicflow {version}\n"), result.stderr


def test_cli_subcommands_match_the_readme() -> None:
    from mimic.cli import build_parser

    parser = build_parser()
    groups = next(a for a in parser._actions if isinstance(a, _SubParsersAction)).choices
    readme = (REPO_ROOT / "README.md").read_text()
    for group, expected in CLI_CONTRACT.items():
        commands = next(a for a in groups[group]._actions if isinstance(a, _SubParsersAction)).choices
        assert expected <= set(commands), f"mimic {group}: {sorted(commands)}"
        for command in commands:
            assert f"mimic {group} {command}" in readme, f"README does not document mimic {group} {command}"


def test_building_the_cli_imports_no_heavy_modules() -> None:
    # cli.py's contract: torch/mujoco load inside handlers, so `mimic --help` stays fast.
    probe = (
        "import sys\n"
        "from mimic.cli import build_parser\n"
        "build_parser()\n"
        "print(' '.join(m for m in ('torch', 'mujoco', 'smplx', 'scipy') if m in sys.modules))\n"
    )
    result = run_in_own_group([str(VENV_BIN / "python"), "-c", probe])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"imported at CLI build time: {result.stdout.strip()}"
