"""One SMPL tracker for a corpus of clips on a 2-core CPU: ``mlp_cpu.py`` plus the start-state and
exploration levers a corpus needs.

``mlp_cpu.py`` learned two clips in 72.5 min. On the 27-clip ACCAD train corpus it tracked 1/27
after 29 min: episodes lasted 0.8 s, every walk fell early, and its learnable std grew under the
entropy bonus while the clip fraction climbed from 0.16 to 0.38 (benchmarks/RESULTS.md, "[F/4]").
What this file changes, and why (each lever is measured by ``benchmarks/bench_levers.py``, whose
results are in benchmarks/RESULTS.md, "[F/4] Learning-quality levers"):

- ``env.reset_root_velocity="finite_difference"``: a reset gives the root the velocity of the
  reference's own motion (a one-frame difference, as the joint rates are) instead of the
  MotionLib's smallest-over-3-frames difference, which is 0.5 m/s off on average: a humanoid
  started with the wrong momentum falls in its first steps whatever the policy does.
- ``env.failure_start_prob=0.3``: 30 % of starts are drawn 1 s before where episodes of that
  clip recently failed, so the policy practises a clip's hard part (a kick's landing, a
  cartwheel's hand-stand) instead of replaying the easy seconds it already survives.
- A fixed action std decaying from 0.30 to 0.15 over 25 M env steps instead of a learnable one:
  the evaluated policy is the deterministic mean, and a std that the entropy bonus pushes up
  keeps the training episodes short while the mean already tracks.
- Training-time evaluation every 50 epochs over every clip (the evaluation drives prioritised
  sampling: failed clips weigh 1, tracked ones decay by 0.82 per evaluation).

    mimic train --robot-name smpl --simulator mujoco --experiment-path training/experiments/mimic/mlp_corpus_cpu.py \\
        --experiment-name smpl_accad --motion-file data/motionlib/accad_train.pt --num-envs 256
"""

from __future__ import annotations

from training.config import ExperimentConfig
from training.experiments.mimic.mlp_cpu import build_config as mlp_cpu_config


def build_config() -> ExperimentConfig:
    config = mlp_cpu_config()
    env = config.env
    env.reset_root_velocity = "finite_difference"
    env.failure_start_prob = 0.3

    agent = config.agent
    agent.learnable_std = False
    agent.actor_logstd = -1.2  # std 0.30 on a (0.15 rad on the PD target)
    agent.actor_logstd_final = -1.9  # std 0.15
    agent.logstd_decay_env_steps = 25_000_000
    agent.eval_metrics_every = 50
    return config
