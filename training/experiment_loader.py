"""Load an experiment file by path: a Python file defining ``build_config() -> ExperimentConfig``.

Like ProtoMotions' ``--experiment-path examples/experiments/mimic/mlp.py``, the file need not
be inside this package: it is imported from its path, so a user's edited copy anywhere on disk
works. The file's sha256 goes into the run's lineage, and a copy into the run directory.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import shutil
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Optional

from motion.errors import ConfigError
from motion.io_utils import PathLike, atomic_output, file_digest
from training.config import ExperimentConfig
from training.overrides import OverrideError, check_config, unknown_field_error

BUILD_FUNCTION = "build_config"

# Python ≥ 3.10: "PPOConfig.__init__() got an unexpected keyword argument 'x'"; 3.8: "__init__() got ...".
_UNEXPECTED_KEYWORD = re.compile(r"^(?:(\w+)\.)?__init__\(\) got an unexpected keyword argument '(\w+)'$")


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

    Raises ConfigError for a missing file, a file without a callable ``build_config``, a
    ``build_config`` that returns something other than an :class:`ExperimentConfig`, a config
    class given a keyword it has no field for, or any field of the wrong type (the checks
    ``--overrides`` makes). Other exceptions raised by the file's own code propagate unchanged.
    """
    module = import_experiment_module(path)
    build = getattr(module, BUILD_FUNCTION, None)
    if build is None:
        raise ConfigError(path, BUILD_FUNCTION, "a function build_config() -> ExperimentConfig", "not defined")
    if not callable(build):
        raise ConfigError(path, BUILD_FUNCTION, "a function", type(build).__name__)
    try:
        config = build()
    except TypeError as error:
        # A misspelt field (PPOConfig(num_mini_epoch=4)) is a config mistake: one line with the
        # closest fields, as --overrides gives, rather than a traceback.
        mistake = _unknown_config_keyword(path, error)
        if mistake is None:
            raise
        raise mistake from None
    if not isinstance(config, ExperimentConfig):
        raise ConfigError(path, f"{BUILD_FUNCTION}()", "an ExperimentConfig", f"a {type(config).__name__}")
    try:
        # Dataclasses check no types: actor_lr="2e-5" would only fail inside torch's Adam.
        check_config(config)
    except OverrideError as error:
        raise _config_error(path, error, "") from None
    return config


def _unknown_config_keyword(path: PathLike, error: TypeError) -> Optional[ConfigError]:
    """The ConfigError for a config dataclass called with a keyword it has no field for, else None."""
    match = _UNEXPECTED_KEYWORD.match(str(error))
    if match is None:
        return None
    unknown = unknown_field_error(ExperimentConfig, match.group(1), match.group(2))
    if unknown is None:  # some other class of the file's own: its own traceback says more
        return None
    return _config_error(path, unknown, _line_in(path, error))


def _line_in(path: PathLike, error: BaseException) -> str:
    """The " (line N)" of the experiment file's innermost frame in the error's traceback, or ""."""
    file = str(Path(path).expanduser().resolve())
    lines = [frame.lineno for frame in traceback.extract_tb(error.__traceback__) if frame.filename == file]
    return f" (line {lines[-1]})" if lines else ""


def _config_error(path: PathLike, error: OverrideError, where: str) -> ConfigError:
    key = error.key or "config"
    if error.expected is not None and error.found is not None:  # a value of the wrong type
        return ConfigError(path, key, error.expected, f"{error.found}{where}")
    # An unknown field: the message carries the suggestions ("unknown key 'x'; did you mean: y?").
    advice = str(error).split("; ", 1)[1] if "; " in str(error) else "a field of the config"
    return ConfigError(path, key, f"a known field ({advice})", f"no such field{where}")


def experiment_file_hash(path: PathLike) -> str:
    """sha256 (hex) of the experiment file's bytes."""
    return file_digest(path, "sha256")


def copy_experiment_file(source: PathLike, target: PathLike) -> Path:
    """Copy the experiment file into the run directory (atomically; the lineage hashes both)."""
    with open(source, "rb") as src, atomic_output(target) as dst:
        shutil.copyfileobj(src, dst)
    return Path(target)
