# mimicflow build and CI plumbing (GNU make).
#
#   make setup     .venv (torch pinned first, then the package with [dev]) + dvc in .tools + its remote
#   make repro     setup, then `dvc repro` (dvc.yaml, params.yaml: the chain down to full-eval)
#   make demo      setup, then the main job on embedded defaults (scripts/demo.sh)
#   make ui        setup, then the Dagster UI on http://127.0.0.1:3000 (DAGSTER_HOME=.dagster_home)
#   make test      setup, lint, vermin, pytest  (what .ci/run calls)
#   make bench     every benchmarks/bench_*.py
#   make gpu-check on an NVIDIA GPU: mjwarp extra, suites on CUDA, GPU benchmarks, a timed GPU-recipe run
#   make clean     caches and build outputs;  make distclean  also .venv and .tools

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
VENV_STAMP := $(VENV)/.stamp
# torch is installed on its own, pinned, before anything else: the pin resolves to the local
# CPU wheel (pip's find-links), while a dependency resolving an unpinned torch would pull
# gigabytes. Keep this in step with pyproject.toml (tests/test_project_checks.py checks it).
TORCH_PIN := torch==2.13.0

# dvc is a tool, not a library of ours: it lives in its own venv because its hydra/omegaconf
# pin antlr4 4.9, which breaks Dagster's asset-selection parser (dagster#27487).
DVC_PIN := dvc==3.67.1
DVC_VENV := .tools/dvc
DVC_STAMP := $(DVC_VENV)/.stamp
DVC := .tools/bin/dvc
# The local DVC remote `make setup` configures, so `dvc push` / `dvc pull` work out of the box:
# a folder outside the checkout, so it survives `make distclean` and clones share it.
DVC_REMOTE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/mimicflow/dvc-remote
DVC_REMOTE_NAME := local-remote

# Code that must keep running on Python 3.8 (IsaacGym's Python).
PY38_DIRS := motion mimic robots training evaluation retarget
# -t=3.8-               fail on anything needing a newer Python than 3.8
# --violations          print only the offending lines (exit 1 on any)
# --no-eval-annotations annotations are postponed (`from __future__ import annotations` in every
#                       module), so `list[int]` / `X | None` in annotations are fine at 3.8;
#                       tests/test_project_checks.py enforces that import where annotations exist
# --no-parse-comments   a `# novm` comment cannot hide a violation
# (`--feature union-types` is not used: it flags tensor masks like `self.a | self.b`.)
VERMIN_FLAGS := -t=3.8- --no-tips --violations --no-eval-annotations --no-parse-comments

.PHONY: help setup dvc-tool dvc-remote repro ui lint vermin typecheck-isaacgym test demo bench gpu-check clean distclean

help:
	@sed -n '3,10p' Makefile | sed 's/^# //'

setup: $(VENV_STAMP) $(DVC_STAMP) dvc-remote

$(VENV_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install $(TORCH_PIN)
	$(BIN)/pip install -e '.[dev]'
	touch $@

dvc-tool: $(DVC_STAMP)

$(DVC_STAMP):
	test -x $(DVC_VENV)/bin/python || $(PYTHON) -m venv $(DVC_VENV)
	$(DVC_VENV)/bin/pip install $(DVC_PIN)
	mkdir -p $(dir $(DVC))
	ln -sfn ../dvc/bin/dvc $(DVC)
	$(DVC) --version
	touch $@

# Idempotent: (re)writes the remote's URL in .dvc/config.local (never committed), and makes it
# the default only when no default remote is configured, so a remote of your own is left alone.
dvc-remote: $(DVC_STAMP)
	mkdir -p "$(DVC_REMOTE)"
	$(DVC) remote add --local --force $(DVC_REMOTE_NAME) "$(DVC_REMOTE)"
	$(DVC) remote default >/dev/null 2>&1 || $(DVC) remote default --local $(DVC_REMOTE_NAME)

repro: setup
	$(DVC) repro

# Dagster with local storage: runs, event logs and schedules live in DAGSTER_HOME (a folder of
# this checkout by default, its dagster.yaml written once with telemetry and the community dialog
# off); the nightly evaluation schedule needs the daemon `dagster dev` runs (scripts/ui.sh).
DAGSTER_HOME ?= $(CURDIR)/.dagster_home
UI_PORT ?= 3000
ui: setup
	DAGSTER_HOME="$(DAGSTER_HOME)" UI_PORT=$(UI_PORT) bash scripts/ui.sh

lint: $(VENV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

vermin: $(VENV_STAMP)
	$(BIN)/vermin $(VERMIN_FLAGS) $(PY38_DIRS)

# IsaacGym cannot be installed here: type-check its backend against isaacgym-stubs instead
# (tests/test_isaacgym_backend.py runs this too).
typecheck-isaacgym: $(VENV_STAMP)
	$(BIN)/python scripts/typecheck_isaacgym.py

test: setup lint vermin
	$(BIN)/pytest -q

demo: setup
	DAGSTER_HOME="$(DAGSTER_HOME)" bash scripts/demo.sh

bench: $(VENV_STAMP)
	@shopt -s nullglob; benches=(benchmarks/bench_*.py); \
	if [ $${#benches[@]} -eq 0 ]; then echo "bench: no benchmarks/bench_*.py yet"; exit 0; fi; \
	for bench in "$${benches[@]}"; do echo "== $$bench"; $(BIN)/python "$$bench"; done

# For a machine with an NVIDIA GPU (scripts/gpu_check.py): installs the mjwarp extra, runs the
# suites that follow MIMIC_TEST_DEVICE on CUDA, bench_gpu_scale.py (1,024-16,384 envs, the CPU
# backend beside it) and a timed run of the GPU recipe ending in a full-eval; JSON and a summary
# under results/gpu_check/. Without CUDA it says so and exits 0.
gpu-check: $(VENV_STAMP)
	$(BIN)/python scripts/gpu_check.py

clean:
	find . \( -path ./$(VENV) -o -path ./.tools -o -path ./.git \) -prune -o \
		-name __pycache__ -type d -exec rm -rf {} +
	rm -rf .pytest_cache .ruff_cache build *.egg-info

distclean: clean
	rm -rf $(VENV) .tools
