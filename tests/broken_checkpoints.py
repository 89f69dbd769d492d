"""Shared by the checkpoint tests: each hand-broken payload must be one CheckpointError naming its field."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence, Tuple

import pytest
import torch

from motion.errors import CheckpointError
from training.checkpoint import load_checkpoint


def assert_each_is_named(cases: Sequence[Tuple[Mapping[str, Any], str, str]], folder: Path, stem: str) -> None:
    """Save each ``(payload, field, found)`` to ``folder`` and check that loading it raises a
    CheckpointError naming that file, that field, and ``found`` in what was found."""
    for index, (payload, field, found) in enumerate(cases):
        path = folder / f"{stem}_{index}.ckpt"
        torch.save(dict(payload), path)
        with pytest.raises(CheckpointError) as caught:
            load_checkpoint(path)
        assert (caught.value.path, caught.value.field) == (str(path), field) and found in caught.value.found
