"""The time on `mimic train`'s epoch lines: an ETA only when the run has an end (max epochs, max
steps); otherwise the elapsed training time and env steps (it used to print ``ETA 42101:23:11``,
the time to ProtoMotions' default bound of 1e13 env steps)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from training.ppo.config import PPOConfig
from training.trainer import UNBOUNDED_STEPS, progress_clock, run_has_an_end


def _clock(**given) -> str:
    values = dict(elapsed_s=20.0, epochs_done=10, steps_done=10 * 8192, epoch=10, env_steps=10 * 8192)
    values.update(max_epochs=0, max_steps=UNBOUNDED_STEPS, run_seconds=20.0)
    values.update(given)
    return progress_clock(**values)


def test_the_default_step_bound_is_no_end():
    assert PPOConfig().training_max_steps == UNBOUNDED_STEPS  # the trainer's notion follows the config's default
    assert not run_has_an_end(0, UNBOUNDED_STEPS)
    assert run_has_an_end(5, UNBOUNDED_STEPS) and run_has_an_end(0, 10**9)


def test_without_an_end_the_line_gives_elapsed_time_and_env_steps():
    # 9,175,040 env steps after 2.3 min (the H200 run): no ETA to 1e13 steps.
    assert _clock(env_steps=9_175_040, run_seconds=138.0) == "elapsed 2:18 | 9,175,040 env steps"
    # A resumed run reports its whole training time (run_seconds), not this process's.
    assert _clock(run_seconds=3723.4, elapsed_s=5.0) == "elapsed 1:02:03 | 81,920 env steps"


def test_with_an_end_the_eta_is_to_the_first_bound():
    # 2 s per epoch so far; 100 epochs asked for, 10 done: 90 left = 3:00.
    assert _clock(max_epochs=100) == "ETA 3:00"
    # 8192 steps per epoch; 20 epochs' steps left before max_steps: 0:40, before the epoch bound.
    assert _clock(max_epochs=100, max_steps=30 * 8192) == "ETA 0:40"
    assert _clock(max_steps=30 * 8192) == "ETA 0:40"
    assert _clock(max_epochs=100, epochs_done=0, elapsed_s=0.0) == "ETA ?"  # no rate yet
    assert _clock(max_epochs=10) == "ETA 0:00"  # at the bound


def test_an_unbounded_mimic_train_prints_elapsed_not_eta(repo_root, synthetic_motion_lib, tmp_path):
    command = [sys.executable, "-m", "mimic.cli", "train", "--robot-name", "smpl", "--simulator", "mujoco"]
    command += ["--experiment-path", "training/experiments/mimic/mlp.py", "--experiment-name", "open_ended"]
    command += ["--motion-file", str(synthetic_motion_lib), "--num-envs", "4", "--batch-size", "16"]
    command += ["--num-threads", "1", "--results-dir", str(tmp_path), "--overrides", "agent.actor_units=[32]"]
    command += ["agent.critic_units=[32]", "agent.num_steps=4", "agent.eval_metrics_every=0"]
    process = subprocess.Popen(command, cwd=repo_root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    epoch_lines = []
    deadline = time.monotonic() + 240
    try:
        assert process.stdout is not None
        for line in process.stdout:  # no --max-epochs: it would run for ever; stop after 2 epochs
            if line.startswith("epoch"):
                epoch_lines.append(line)
                if len(epoch_lines) == 2 or time.monotonic() > deadline:
                    break
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err  # SIGTERM: last.ckpt saved, as under a scheduler
    assert len(epoch_lines) == 2, err
    for number, line in enumerate(epoch_lines, start=1):
        assert "ETA" not in line, line
        assert "| elapsed 0:0" in line and line.rstrip().endswith(f"| {number * 16} env steps"), line
