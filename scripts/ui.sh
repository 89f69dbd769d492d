#!/usr/bin/env bash
# The Dagster UI on this checkout's instance (called by `make ui`, after `make setup`):
# DAGSTER_HOME (default .dagster_home) gets its dagster.yaml (telemetry and the community dialog
# off: pipelines/dagster_home.py), then `dagster dev` serves http://$UI_HOST:$UI_PORT with its
# daemon (the nightly evaluation schedule needs it).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DAGSTER_HOME="${DAGSTER_HOME:-$PWD/.dagster_home}"
.venv/bin/python -m pipelines.dagster_home "$DAGSTER_HOME"
# Dagster 1.13 marks `dagster dev` superseded by `dg dev` (the dagster-dg-cli package, which
# wants a dg project layout); `dagster dev` is still supported and is what workspace.yaml is for,
# so only that one warning is silenced, in this process alone.
exec .venv/bin/python -W 'ignore:Function `dev_command` is superseded' -m dagster dev -w workspace.yaml \
    -h "${UI_HOST:-127.0.0.1}" -p "${UI_PORT:-3000}"
