#!/usr/bin/env bash
# The main job on embedded defaults (called by `make demo`, after `make setup`):
#   AMASS sample clips -> per-clip .motion files -> one packaged MotionLib .pt -> a few PPO
#   epochs on MuJoCo CPU -> full evaluation -> plots -> the checkpoint's lineage.
# Rerunning it resumes: finished steps are skipped or redone quickly.
# Offline, the public sample clips cannot be fetched; the demo then says so loudly and runs the
# same chain on synthesized clips, written under names that say "synthetic".
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
mimic=".venv/bin/mimic"

# `mimic amass samples ROOT` writes ROOT/samples/*.npz: the subset is called "samples".
amass_dir="data/amass"
motions_dir="data/motions"
motionlib_file="data/motionlib/amass_samples.pt"

echo "== 1/8 fetch the public AMASS sample clips -> $amass_dir/samples"
if ! "$mimic" amass samples "$amass_dir"; then
    amass_dir="data/amass_synthetic"
    motions_dir="data/motions_synthetic"
    motionlib_file="data/motionlib/synthetic.pt"
    echo
    echo "################################################################################"
    echo "NOTICE: could not fetch the AMASS sample clips (offline?)."
    echo "NOTICE: falling back to SYNTHESIZED clips in $amass_dir;"
    echo "NOTICE: the outputs below are NOT real motion capture."
    echo "################################################################################"
    echo
    "$mimic" amass synthesize "$amass_dir"
fi

echo "== 2/8 convert AMASS clips -> .motion files in $motions_dir"
"$mimic" amass convert "$amass_dir" "$motions_dir"

echo "== 3/8 package the .motion files -> $motionlib_file"
"$mimic" motionlib package --motion-path "$motions_dir" --output-file "$motionlib_file"

echo "== 4/8 inspect $motionlib_file"
"$mimic" motionlib info "$motionlib_file"

run_name="demo"
results_dir="results"
run_dir="$results_dir/$run_name"
# Small budgets: a CPU-sized network and a few epochs (the real flags are in README.md).
echo "== 5/8 train a few PPO epochs on MuJoCo CPU -> $run_dir"
"$mimic" train --robot-name smpl --simulator mujoco --experiment-path training/experiments/mimic/mlp.py \
    --experiment-name "$run_name" --motion-file "$motionlib_file" --results-dir "$results_dir" \
    --num-envs 16 --batch-size 256 --max-epochs 4 \
    --overrides "agent.actor_units=[256,256]" "agent.critic_units=[256,256]" "agent.num_steps=16" \
                "agent.eval_metrics_every=2" "agent.max_eval_steps=60"

echo "== 6/8 full evaluation of every motion -> $run_dir/eval/"
"$mimic" inference --checkpoint "$run_dir/last.ckpt" --full-eval --num-envs 8 --headless

echo "== 7/8 plots -> $run_dir/plots/"
"$mimic" report "$run_dir"

echo "== 8/8 lineage of $run_dir/last.ckpt"
"$mimic" lineage "$run_dir/last.ckpt"

latest_eval="$(ls -d "$run_dir"/eval/*/ | sort | tail -n 1)"
echo
echo "demo outputs:"
echo "  AMASS clips:      $amass_dir/"
echo "  .motion files:    $motions_dir/"
echo "  MotionLib:        $motionlib_file"
echo "  training run:     $run_dir/ (last.ckpt, score_based.ckpt, metrics.csv, resolved_config.yaml)"
echo "  full evaluation:  $latest_eval (summary.json, per_motion.parquet, predicted_motionlib.pt, plots/)"
echo "  training curves:  $run_dir/plots/training_curves.png"
echo
echo "next:"
echo "  make ui           # the Dagster UI on http://127.0.0.1:3000 (assets, runs, nightly evaluation)"
echo "  make repro        # the DVC pipeline end to end (dvc.yaml, params.yaml; a second run does nothing)"
echo "  $mimic visualize --motion_files $motionlib_file ${latest_eval}predicted_motionlib.pt --robot smpl"
