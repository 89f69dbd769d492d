"""The Dagster instance folder this project creates (``DAGSTER_HOME``, ``.dagster_home`` under
``make ui`` and ``make demo``) and its ``dagster.yaml``.

Without a ``dagster.yaml`` Dagster warns "No dagster instance configuration file (dagster.yaml)
found" on every start, prints its telemetry banner, and the UI opens under a "Join the Dagster
community" dialog. The file written here turns telemetry and that dialog (Dagster's "nux",
``DagsterInstance.nux_enabled``) off; storage stays Dagster's default, everything in the folder.
A ``dagster.yaml`` that already exists is the user's: it is never rewritten.

``python -m pipelines.dagster_home DIR`` does the same from a shell (Makefile, scripts/demo.sh).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from motion.io_utils import PathLike, atomic_write_text

log = logging.getLogger(__name__)

INSTANCE_CONFIG = "dagster.yaml"
INSTANCE_CONFIG_TEXT = """\
# This checkout's Dagster instance, written by mimicflow (pipelines/dagster_home.py) only when
# no dagster.yaml existed: edit it freely, it is never rewritten. Runs, event logs and schedules
# are stored in this folder (Dagster's default).
telemetry:
  enabled: false  # no usage statistics, no telemetry banner on start
nux:
  enabled: false  # no "Join the Dagster community" dialog over the UI
"""


def ensure_dagster_home(path: PathLike) -> Path:
    """Create the instance folder and, when it has none, its ``dagster.yaml``; returns the file."""
    home = Path(path).expanduser()
    home.mkdir(parents=True, exist_ok=True)
    config = home / INSTANCE_CONFIG
    if not config.exists():
        atomic_write_text(INSTANCE_CONFIG_TEXT, config)
        log.info(f"wrote {config} (Dagster telemetry and its community dialog off)")
    return config


if __name__ == "__main__":  # pragma: no cover - exercised through scripts/ui.sh and scripts/demo.sh
    if len(sys.argv) != 2:
        sys.exit("usage: python -m pipelines.dagster_home DAGSTER_HOME")
    ensure_dagster_home(sys.argv[1])
