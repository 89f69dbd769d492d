#!/usr/bin/env bash
# Multi-node `mimic train` under SLURM: one srun task per node, each a torchrun that starts one
# rank per GPU; the ranks meet at torchrun's c10d rendezvous on the first node of the allocation.
#
#   sbatch scripts/slurm_train.sh --experiment-name smpl_amass_flat \
#       --motion-file data/motionlib/amass_train_slurmrank.pt --num-envs 8192 --batch-size 8192
#
# Arguments are passed to `mimic train` after this script's defaults (--robot-name smpl,
# --simulator mujoco, the mlp experiment; a flag given again wins) and --nodes/--ngpu. Change the node
# and GPU counts below (or override them: sbatch --nodes 4 --gpus-per-node 8 ...). The results
# directory and the MotionLib must be on a file system every node sees; rank 0 writes the run
# directory, and rerunning the same command resumes it.
#SBATCH --job-name=mimic-train
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=4
#SBATCH --cpus-per-task=32
#SBATCH --time=24:00:00
#SBATCH --output=slurm-%x-%j.out
set -euo pipefail

# sbatch runs a copy of this script from the spool directory: start from the submit directory.
cd "${SLURM_SUBMIT_DIR:-$(dirname "${BASH_SOURCE[0]}")/..}"

nodes="${SLURM_JOB_NUM_NODES:-1}"
gpus_per_node="${SLURM_GPUS_ON_NODE:-${SLURM_GPUS_PER_NODE:-1}}"
gpus_per_node="${gpus_per_node##*:}"  # "h100:4" -> "4"
head_node="$(scontrol show hostnames "${SLURM_JOB_NODELIST}" | head -n 1)"
python="${MIMIC_TRAIN_PYTHON:-.venv/bin/python}"

echo "mimic train on ${nodes} node(s) x ${gpus_per_node} GPU(s); rendezvous ${head_node}:29500"
srun --nodes="${nodes}" --ntasks-per-node=1 \
    "${python}" -m torch.distributed.run \
    --nnodes "${nodes}" --nproc-per-node "${gpus_per_node}" \
    --rdzv-backend c10d --rdzv-endpoint "${head_node}:29500" --rdzv-id "${SLURM_JOB_ID}" \
    -m mimic.cli train --robot-name smpl --simulator mujoco \
    --experiment-path training/experiments/mimic/mlp.py \
    --nodes "${nodes}" --ngpu "${gpus_per_node}" "$@"
