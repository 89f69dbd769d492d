"""The demo's chain as Dagster runs, on this checkout's own Dagster instance (``DAGSTER_HOME``,
``.dagster_home`` under ``make demo`` and ``make ui``), so the UI opened next shows every asset
materialised, with its runs, logs, metadata and checks.

Runs the code location's own jobs in process: ``amass_chain_job`` for the ``samples``
partition (the public clips, already fetched by the demo into data/amass/samples; their sha256s
are checked again, nothing is downloaded twice), then ``training_job`` (``mimic train`` through
dagster-pipes, small CPU budget) and ``evaluation_job`` (full evaluation of that checkpoint).
Exits non-zero, naming the job, if any run fails.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

#: The same small budget as the CLI demo (a CPU-sized network, a few epochs).
POLICY_CONFIG = {
    "experiment_name": "dagster_demo",
    "num_envs": 16,
    "max_epochs": 4,
    "batch_size": 256,
    "overrides": ["agent.actor_units=[256,256]", "agent.critic_units=[256,256]", "agent.num_steps=16",
                  "agent.eval_metrics_every=2", "agent.max_eval_steps=60"],
}  # fmt: skip


def main() -> int:
    if not os.environ.get("DAGSTER_HOME"):
        print("demo_dagster: set DAGSTER_HOME (make demo uses .dagster_home, as make ui does)", file=sys.stderr)
        return 2
    import dagster as dg

    from pipelines.dagster_home import ensure_dagster_home
    from pipelines.definitions import defs

    ensure_dagster_home(os.environ["DAGSTER_HOME"])  # before the instance: its dagster.yaml quiets Dagster
    instance = dg.DagsterInstance.get()
    quiet = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}  # the UI keeps the debug events
    runs = [
        ("amass_chain_job", {"partition_key": "samples"}, {}),
        ("training_job", {}, {"ops": {"policy": {"config": POLICY_CONFIG}}}),
        ("evaluation_job", {}, {}),
    ]
    for name, options, run_config in runs:
        job = defs.resolve_job_def(name)
        result = job.execute_in_process(
            instance=instance, raise_on_error=False, run_config={**quiet, **run_config}, **options
        )
        keys = sorted(
            "/".join(event.asset_key.path)
            for event in result.all_events
            if event.is_step_materialization and event.asset_key is not None
        )
        print(f"dagster {name}: {'success' if result.success else 'FAILED'} (run {result.run_id}); materialised {keys}")
        if not result.success:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
