"""Type-check ``training/simulator/isaacgym_backend.py`` against the ``isaacgym-stubs`` package.

``isaacgym-stubs`` 1.1rc4 cannot be used as installed: its ``gymapi.pyi`` names a property
``lambda`` (a Python keyword: a syntax error for mypy), writes array types as
``numpy.ndarray[float32]`` (numpy's first parameter is the shape) and has no ``gymtorch`` stub.
This script copies ``gymapi.pyi`` into a temporary ``isaacgym`` stub package with the property
renamed and the array types rewritten (:func:`_array_type`), adds a ``gymtorch.pyi`` written
from IsaacGym Preview 4's ``gymtorch.py`` signatures, and runs mypy with
``scripts/mypy-isaacgym.ini``. Exit status: mypy's (0 = no errors).

    python scripts/typecheck_isaacgym.py            # the backend (make typecheck-isaacgym)
    python scripts/typecheck_isaacgym.py FILE.py    # any other file, same stubs and settings
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import List

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG = REPO_ROOT / "scripts" / "mypy-isaacgym.ini"

# IsaacGym Preview 4, python/isaacgym/gymtorch.py: the two functions the backend uses.
GYMTORCH_STUB = """\
from typing import Optional, Sequence

import torch

from isaacgym import gymapi

def wrap_tensor(
    gym_tensor: gymapi.Tensor, offsets: Optional[Sequence[int]] = ..., counts: Optional[Sequence[int]] = ...
) -> torch.Tensor: ...
def unwrap_tensor(torch_tensor: torch.Tensor) -> gymapi.Tensor: ...
"""


def installed_gymapi_stub() -> Path:
    spec = importlib.util.find_spec("isaacgym-stubs")  # the distribution's top-level folder
    folder = Path(spec.submodule_search_locations[0]) if spec and spec.submodule_search_locations else None
    if folder is None or not (folder / "gymapi.pyi").is_file():
        raise SystemExit("typecheck-isaacgym: isaacgym-stubs is not installed (pip install -e '.[dev]')")
    return folder / "gymapi.pyi"


def _array_type(match: re.Match) -> str:
    """pybind11 writes ``numpy.ndarray[float32]`` (element type where numpy's shape parameter goes):
    numeric elements become ``ndarray[Any, dtype[numpy.float32]]``, structured ones (``Vec3``,
    ``RigidBodyState``...) a plain ``ndarray``."""
    element = match.group(1).rsplit(".", 1)[-1]
    if element in ("float32", "uint32", "int16", "uint8"):
        return f"numpy.ndarray[Any, numpy.dtype[numpy.{element}]]"
    return "numpy.ndarray"


def write_stub_package(target: Path) -> None:
    """``target/isaacgym/{__init__,gymapi,gymtorch}.pyi``."""
    package = target / "isaacgym"
    package.mkdir()
    gymapi = installed_gymapi_stub().read_text(encoding="utf-8")
    gymapi = re.sub(r"\bdef lambda\(", "def lambda_(", gymapi)
    gymapi = re.sub(r"numpy\.ndarray\[([A-Za-z0-9_.]+)\]", _array_type, gymapi)
    (package / "gymapi.pyi").write_text(gymapi, encoding="utf-8")
    (package / "gymtorch.pyi").write_text(GYMTORCH_STUB, encoding="utf-8")
    (package / "__init__.pyi").write_text("", encoding="utf-8")


def main(files: List[str]) -> int:
    """mypy on ``files`` (default: the config's, i.e. the backend) against the patched stubs."""
    with tempfile.TemporaryDirectory(prefix="isaacgym_stubs_") as folder:
        write_stub_package(Path(folder))
        env = dict(os.environ, MYPYPATH=folder)
        # mypy's cache outside the checkout (torch's types take ~8 s to analyse the first time)
        env.setdefault("MYPY_CACHE_DIR", os.path.join(tempfile.gettempdir(), "mimicflow-mypy-isaacgym"))
        command = [sys.executable, "-m", "mypy", "--config-file", str(CONFIG), *files]
        return subprocess.call(command, cwd=REPO_ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
