"""Load an experiment file by path: a Python file defining ``build_config() -> ExperimentConfig``.

Like ProtoMotions' ``--experiment-path examples/experiments/mimic/mlp.py``, the file need not
be inside this package: it is imported from its path, so a user's edited copy anywhere on disk
works. The file's sha256 goes into the run's lineage, and a copy into the run directory.
"""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

from motion.errors import ConfigError
from motion.io_utils import PathLike, atomic_output, file_digest
from training.config import ExperimentConfig

BUILD_FUNCTION = "build_config"


def _module_name(path: Path) -> str:
    # Unique per file, so two experiment files with the same name never share a module;
    # valid as an identifier so dataclasses defined in the file resolve their annotations.
    digest = hashlib.sha256(str(path).encode("utf-8")).hexdigest()[:16]
    return f"_mimicflow_experiment_{path.stem.replace('-', '_')}_{digest}"


def import_experiment_module(path: PathLike) -> ModuleType:
    """Execute the experiment file as a fresh module (re-read on every call)."""
    file = Path(path).expanduser().resolve()
    if not file.is_file():
        found = "a directory" if file.is_dir() else "no such file"
        raise ConfigError(path, "experiment file", "an existing Python file", found)
    if file.suffix != ".py":
        raise ConfigError(path, "experiment file", "a .py file", f"suffix {file.suffix!r}")
    name = _module_name(file)
    spec = importlib.util.spec_from_file_location(name, str(file))
    if spec is None or spec.loader is None:  # pragma: no cover - .py files always get a loader
        raise ConfigError(path, "experiment file", "an importable Python file", "no module loader")
    module = importlib.util.module_from_spec(spec)
    # Registered before executing: dataclasses (and pickling) look the module up by name.
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise  # the user's own traceback says more than any wrapper could
    return module


def load_experiment(path: PathLike) -> ExperimentConfig:
    """Import ``path`` and return its ``build_config()``.

    Raises ConfigError for a missing file, a file without a callable ``build_config``, or
    a ``build_config`` that returns something other than an :class:`ExperimentConfig`.
    Exceptions raised by the file's own code propagate unchanged.
    """
    module = import_experiment_module(path)
    build = getattr(module, BUILD_FUNCTION, None)
    if build is None:
        raise ConfigError(path, BUILD_FUNCTION, "a function build_config() -> ExperimentConfig", "not defined")
    if not callable(build):
        raise ConfigError(path, BUILD_FUNCTION, "a function", type(build).__name__)
    config = build()
    if not isinstance(config, ExperimentConfig):
        raise ConfigError(path, f"{BUILD_FUNCTION}()", "an ExperimentConfig", f"a {type(config).__name__}")
    return config


def experiment_file_hash(path: PathLike) -> str:
    """sha256 (hex) of the experiment file's bytes."""
    return file_digest(path, "sha256")


def copy_experiment_file(source: PathLike, target: PathLike) -> Path:
    """Copy the experiment file into the run directory (atomically; the lineage hashes both)."""
    with open(source, "rb") as src, atomic_output(target) as dst:
        shutil.copyfileobj(src, dst)
    return Path(target)
