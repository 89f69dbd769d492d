"""SMPL motion imitation sized for a 2-core CPU: the defaults a laptop user should train with.

ProtoMotions' ``mlp.py`` (kept unchanged, the default of ``mimic train``) is tuned for 8192 GPU
envs and billions of steps. On a CPU every sample is dear, so this file changes what the
measurements below showed to matter; everything else is ``mlp.py``'s. Numbers are from
``benchmarks/bench_mimic_diagnosis.py`` (first-episode lengths on the real walk and jumps clips,
64 envs, training-like random starts) and 10-minute probes of ``mimic train`` on those clips
(``benchmarks/RESULTS.md``, "Learning on the CPU").

- ``env.action_mode="residual"``: PD targets are the reference's next joint angles plus a learned
  correction, instead of π·tanh(a) around the zero pose. Untrained, ProtoMotions' mapping pulls
  every joint towards a T-pose (hands past 0.5 m first in 49 of 64 episodes): first episodes last
  4.6 steps; as residuals 11.5.
- ``env.residual_velocity_feedforward=True``: the base target leads the reference by
  (kd / kp)·joint rate (0.1 s for every SMPL joint), which cancels the lag the PD's damping
  causes on a moving joint: 11.5 → 17.5 steps untrained; joint error over the first 8 steps
  −23 % (tests/test_mimic_env.py).
- ``env.residual_action_scale=0.5`` rad: enough to correct balance; with 1.0 the same probe
  reached episode length 13.4 instead of 16.4 after 55 epochs (more noise per unit of std).
- Networks 512-256-128 (actor and critic) instead of 6×1024 / 4×1024: 3,200 training
  env-steps/s on 2 cores instead of ~900, i.e. 3.5× the samples per minute.
- ``actor_lr`` 1e-4 and ``critic_lr`` 3e-4 (ProtoMotions: 2e-5 / 1e-4, made for 8192-env
  batches) with 4 mini-epochs of 2048-sample minibatches over 256 envs × 32 steps: 16 updates
  per 8,192 samples, clip fraction 0.15–0.4, no update skipped. The adaptive-KL rule
  (``agent.adaptive_lr``) is off: with 69 action dimensions the per-minibatch KL stays above
  its 0.02 bound even at lr 1e-5, so it pins the rate at its floor, and the probe learned no
  faster than with the fixed rates.
- Learnable log-std starting at −1.2 (std 0.30 on a, 0.15 rad on the PD target: about
  ProtoMotions' π·0.055 = 0.17 rad), with ProtoMotions' entropy bonus, instead of a fixed −2.9.
- Training-time evaluation every 25 epochs (about a minute), so success is seen when it comes.

    mimic train --robot-name smpl --simulator mujoco --experiment-path training/experiments/mimic/mlp_cpu.py \\
        --experiment-name smpl_walk_jump --motion-file data/motionlib/walk_jump.pt --num-envs 256
"""

from __future__ import annotations

from training.config import ExperimentConfig
from training.experiments.mimic.mlp import agent_config as protomotions_agent_config
from training.experiments.mimic.mlp import env_config as protomotions_env_config


def build_config() -> ExperimentConfig:
    env = protomotions_env_config()
    env.action_mode = "residual"
    env.residual_action_scale = 0.5  # rad
    env.residual_velocity_feedforward = True

    agent = protomotions_agent_config()
    agent.actor_units = [512, 256, 128]
    agent.critic_units = [512, 256, 128]
    agent.actor_lr = 1e-4
    agent.critic_lr = 3e-4
    agent.num_mini_epochs = 4
    agent.batch_size = 2048  # with 256 envs × 32 steps: 4 minibatches per pass
    agent.actor_logstd = -1.2
    agent.learnable_std = True
    agent.eval_metrics_every = 25
    return ExperimentConfig(num_envs=256, env=env, agent=agent)
