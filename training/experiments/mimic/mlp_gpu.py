"""SMPL motion imitation on one GPU (``--simulator mjwarp``, 4,096-16,384 envs): ``mlp_corpus_cpu.py``
with its batch scaled to the GPU's envs.

**Derived, not measured on a GPU.** No session with this file has had a GPU. The settings below are
derived from the CPU recipes' measurements and from the H200 probes of ``mlp_cpu.py`` recorded in
benchmarks/RESULTS.md ("[6/6] Scale: GPU simulation", main at 310ecb1); ``make gpu-check`` runs
this file on a GPU (walk and jumps clips, a timed run ending in a full evaluation) and records
what it does. The H200 probes, for reference (walk and jumps clips, one H200):

- ``mlp_cpu.py`` at 4,096 envs with ``--batch-size 16384``: 4 passes of 8 minibatches = 32
  updates per 131,072-sample epoch; 9.2 M env steps in 2.3 min (~67k env-steps/s end to end);
  training-time success 0 until 5.2 M steps, 0.5 at 7.9 M; full-eval of the last checkpoint 0/2,
  E_g-mpjpe 536 mm.
- ``mlp_cpu.py`` at 8,192 envs with minibatch 8,192: 4 passes of 32 = 128 updates per epoch;
  success still 0 after 5.8 M env steps (1.6 min).
- ``mlp_cpu.py`` on 2 CPU cores (256 envs, minibatch 2,048): 16 updates per 8,192-sample epoch,
  clip fraction 0.15-0.4; the jumps tracked after ~2,400 updates (1.2 M env steps), both clips
  after ~20,800 (10.7 M env steps, 72.5 min).

So progress followed updates more than samples (the 4,096-env probe needed about as many updates
as the CPU, with 16x larger minibatches), and many updates per epoch (128) did not learn. What this
file changes from ``mlp_corpus_cpu.py`` (residual PD targets with velocity feed-forward, 512-256-128
networks, root velocity from one-frame differences, 30 % starts near recent failures, a fixed std
decaying from 0.30 to 0.15: each measured on the CPU, see those files):

- ``num_envs=8192``: MuJoCo Warp's physics saturates there on an H200 (280k env-steps/s, 1.12 M
  physics steps/s; 290k at 16,384), the full env reaches 207k env-steps/s (0.74 of physics), 197
  KiB of GPU memory per env. 4,096 gives 147k; 16,384 261k for twice the memory.
- ``batch_size=32768`` with ``num_mini_epochs=2``: 16 updates per epoch, the CPU recipe's count
  (whose clip fraction stayed well below the 0.6 skip rule), instead of the 4,096-env probe's 32
  or the 8,192-env probe's 128. The minibatch scales with the envs: pass ``--batch-size`` =
  4 x ``--num-envs`` to keep 16 updates per epoch (16384 at 4,096 envs, 65536 at 16,384).
- 2 passes instead of 4: on the GPU a sample costs ~1/40 of one on 2 CPU cores (207k vs 5.4k
  env-steps/s), so fresh samples are cheaper than reusing them twice more; it also halves the
  update's share of an epoch (PPO with ProtoMotions' 6x1024 networks ran at 0.52 of the env's rate
  at 8,192 envs, one pass).
- ``actor_lr=2e-4``, ``critic_lr=6e-4`` (2x the CPU recipe): an update averages 16,384 fresh
  samples at 8,192 envs instead of 512, so its gradient is far less noisy; 16 updates x 2e-4 per
  epoch keeps the policy's movement per epoch at the 4,096-env probe's 32 x 1e-4, which learned.
  Learning rates stay the same at every env count: the updates per epoch do too. Measured on the
  CPU with this file (mujoco backend, walk and jumps, 6 epochs, benchmarks/RESULTS.md): at 2e-4
  the share of updates the 0.6 clip-fraction rule skips falls as updates grow: 128 fresh samples
  per update (64 envs) skipped 81, 50, 44, 19 % in epochs 1-4; 512 (256 envs) 31 % in epoch 1 only;
  2,048 (1,024 envs) none, clip fraction 0.37 falling to 0.16 (1e-4 at 512: none, 0.33 to 0.12).
  At 8,192 envs an update has 16,384.
- Exploration: the same fixed std schedule, 0.30 to 0.15, over 800 M env steps instead of 25 M:
  the same ~49,000 updates as ``mlp_corpus_cpu.py`` (25 M / 512 samples per update), since
  learning followed updates. No entropy bonus (the std is not learnable: under the bonus it grew
  while the evaluated policy is the mean; ProtoMotions also fixes it, at 0.055).
- Training-time evaluation every 50 epochs (13 M env steps at 8,192 envs, ~1 min): each one steps
  every world for up to 600 frames, 5-25 s at 8,192 envs; more often would cost a large share.

Estimated (not measured): ~1.5 s per epoch at 8,192 envs on an H200 (rollout at the env's 207k
env-steps/s plus 16 small-network updates), ~175k env-steps/s end to end.

    mimic train --robot-name smpl --simulator mjwarp --experiment-path training/experiments/mimic/mlp_gpu.py \\
        --experiment-name smpl_walk_jump_gpu --motion-file data/motionlib/walk_jump.pt --num-envs 8192
"""

from __future__ import annotations

from training.config import ExperimentConfig
from training.experiments.mimic.mlp_corpus_cpu import build_config as mlp_corpus_cpu_config

#: Updates per epoch the minibatch is sized for: batch_size = num_envs * num_steps * num_mini_epochs / this.
UPDATES_PER_EPOCH = 16


def build_config() -> ExperimentConfig:
    config = mlp_corpus_cpu_config()
    config.num_envs = 8192
    config.simulator = "mjwarp"

    agent = config.agent
    agent.num_steps = 32
    agent.num_mini_epochs = 2
    agent.batch_size = config.num_envs * agent.num_steps * agent.num_mini_epochs // UPDATES_PER_EPOCH  # 32768
    agent.actor_lr = 2e-4
    agent.critic_lr = 6e-4
    agent.learnable_std = False
    agent.actor_logstd = -1.2  # std 0.30 on a (0.15 rad on the PD target)
    agent.actor_logstd_final = -1.9  # std 0.15
    agent.logstd_decay_env_steps = 800_000_000
    agent.eval_metrics_every = 50
    return config
