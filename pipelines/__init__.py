"""The Dagster code location of mimicflow (``workspace.yaml`` → :mod:`pipelines.definitions`)."""
