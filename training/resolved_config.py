"""``resolved_config.yaml``: the full config of a run after experiment file, flags and overrides.

Written by the trainer when a run starts; a resumed run reads it back as the config to continue
with (:func:`training.start_mode.resume_config`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from motion.errors import ConfigError
from motion.io_utils import PathLike, atomic_write_text
from training.overrides import OverrideError, config_from_dict, config_hash, config_to_dict


def write_resolved_config(path: PathLike, config: Any) -> None:
    """YAML of :func:`config_to_dict`, in field order, with its hash in a leading comment."""
    body = yaml.safe_dump(config_to_dict(config), sort_keys=False, allow_unicode=True)
    atomic_write_text(f"# config_hash: {config_hash(config)}\n{body}", path)


def read_resolved_config(path: PathLike, cls: type) -> Any:
    """Read a resolved config written by :func:`write_resolved_config` (or edited by hand)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(path, "resolved config", "an existing YAML file", "no such file") from None
    except yaml.YAMLError as error:
        raise ConfigError(path, "resolved config", "valid YAML", str(error).splitlines()[0]) from None
    try:
        return config_from_dict(cls, data)
    except OverrideError as error:
        raise ConfigError(path, error.key or "resolved config", error.expected or "a valid key", str(error)) from None
