#!/usr/bin/env bash
# The main job on embedded defaults (called by `make demo`, after `make setup`):
#   AMASS sample clips -> per-clip .motion files -> one packaged MotionLib .pt -> a few PPO
#   epochs on MuJoCo CPU -> full evaluation -> plots -> the checkpoint's lineage; then the same
#   chain as Dagster runs on this checkout's instance (DAGSTER_HOME), so `make ui` shows it.
# Then the policy shipped in data/pretrained/smpl_walk_jump/ (trained with mlp_cpu.py on the
# real walk and jumps clips) is fully evaluated on those clips and rendered beside its
# reference into a video, and its lineage is checked.
# Rerunning it resumes: finished steps are skipped or redone quickly.
# Offline, the public sample clips cannot be fetched; the demo then says so loudly and runs the
# same chain on synthesized clips, written under names that say "synthetic".
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
mimic=".venv/bin/mimic"

# `mimic amass samples ROOT` writes ROOT/samples/*.npz: the subset is called "samples".
amass_dir="data/amass"
synthetic=0
motions_dir="data/motions"
motionlib_file="data/motionlib/amass_samples.pt"

# Each sample clip comes from a local copy when there is one (MIMIC_FIXTURES, as the tests use;
# checked against its pinned sha256), else from GitHub: what `make repro`'s fetch stage does.
fixtures_amass="${MIMIC_FIXTURES:-../shared/fixtures}/amass"
echo "== 1/11 fetch the public AMASS sample clips -> $amass_dir/samples"
if ! "$mimic" amass samples "$amass_dir" --local-copy "$fixtures_amass"; then
    synthetic=1
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

echo "== 2/11 convert AMASS clips -> .motion files in $motions_dir"
"$mimic" amass convert "$amass_dir" "$motions_dir"

echo "== 3/11 package the .motion files -> $motionlib_file"
"$mimic" motionlib package --motion-path "$motions_dir" --output-file "$motionlib_file"

echo "== 4/11 inspect $motionlib_file"
"$mimic" motionlib info "$motionlib_file"

run_name="demo"
results_dir="results"
run_dir="$results_dir/$run_name"
# Small budgets: a CPU-sized network and 4 epochs (the real flags are in README.md). Seconds of
# training teach no policy to track a clip: this run shows the chain works end to end, and the
# policy that does track clips is the shipped one (steps 10 and 11).
echo "== 5/11 train 4 PPO epochs on MuJoCo CPU -> $run_dir (a smoke run of the chain, not a trained policy)"
"$mimic" train --robot-name smpl --simulator mujoco --experiment-path training/experiments/mimic/mlp.py \
    --experiment-name "$run_name" --motion-file "$motionlib_file" --results-dir "$results_dir" \
    --num-envs 16 --batch-size 256 --max-epochs 4 \
    --overrides "agent.actor_units=[256,256]" "agent.critic_units=[256,256]" "agent.num_steps=16" \
                "agent.eval_metrics_every=2" "agent.max_eval_steps=60"

echo "== 6/11 full evaluation of every motion -> $run_dir/eval/"
"$mimic" inference --checkpoint "$run_dir/last.ckpt" --full-eval --num-envs 3 --headless
echo "NOTE: 4 epochs (seconds of training) make a smoke run of train -> evaluate -> lineage, not a policy:"
echo "NOTE: it tracks no clip (success 0, errors near 1 m are expected). A policy trained on the real walk"
echo "NOTE: and jumps clips (72 min on 2 cores) ships in data/pretrained/smpl_walk_jump/: step 10 evaluates it."

echo "== 7/11 plots -> $run_dir/plots/"
"$mimic" report "$run_dir"

echo "== 8/11 lineage of $run_dir/last.ckpt"
"$mimic" lineage "$run_dir/last.ckpt"

export DAGSTER_HOME="${DAGSTER_HOME:-$PWD/.dagster_home}"
if [ "$synthetic" = 1 ]; then
    echo "== 9/11 Dagster: skipped (its samples partition serves only the real sample clips, not fetched here)"
else
    echo "== 9/11 the same chain as Dagster runs (samples partition -> MotionLibs -> policy -> evaluation) in $DAGSTER_HOME"
    .venv/bin/python scripts/demo_dagster.py
fi

pretrained="data/pretrained/smpl_walk_jump"
pretrained_eval="results/pretrained_walk_jump"
video="$pretrained_eval/walk_jump_reference_vs_simulated.mp4"
if [ "$synthetic" = 1 ]; then
    echo "== 10/11 the shipped policy $pretrained: skipped (it tracks the real walk and jumps clips, not fetched here)"
    echo "== 11/11 its video: skipped"
else
    # The MotionLib the shipped policy's lineage records, rebuilt byte for byte from the clips
    # (converter 2 computes in float64: the same bytes on every CPU).
    walk_jump_lib="data/motionlib/walk_jump.pt"
    printf '%s\n' "motions:" \
        "- file: samples/hbp_sample_walk_female_120fps_poses.motion" "  weight: 1.0" \
        "- file: samples/dmpl_sample_female_120fps_poses.motion" "  weight: 1.0" > "$motions_dir/walk_jump.yaml"
    "$mimic" motionlib package --motion-path "$motions_dir/walk_jump.yaml" --output-file "$walk_jump_lib"
    echo "== 10/11 full evaluation of the shipped policy $pretrained on the walk and jumps clips"
    "$mimic" inference --checkpoint "$pretrained/last.ckpt" --full-eval --num-envs 2 --headless \
        --motion-file "$walk_jump_lib" --output-dir "$pretrained_eval"
    "$mimic" lineage --strict "$pretrained/last.ckpt" > "$pretrained_eval/lineage.txt"
    echo "lineage of $pretrained/last.ckpt: every recorded hash matches ($pretrained_eval/lineage.txt)"
    echo "== 11/11 video: reference (left) and simulated humanoid (right), walk then jumps -> $video"
    # Both motions in turn, each to its last frame: 125 + 59 frames (6.1 s) at 30 frames/s.
    "$mimic" visualize --motion-files "$walk_jump_lib" "$pretrained_eval/predicted_motionlib.pt" --robot smpl \
        --output "$video" --all-motions
fi

# The generalist policy on the real ACCAD corpus (train and held-out clips): its own script.
scripts/demo_corpus.sh

latest_eval="$(ls -d "$run_dir"/eval/*/ | sort | tail -n 1)"
echo
echo "demo outputs:"
echo "  AMASS clips:      $amass_dir/"
echo "  .motion files:    $motions_dir/"
echo "  MotionLib:        $motionlib_file"
echo "  training run:     $run_dir/ (last.ckpt, ...; a 4-epoch smoke run: it tracks no clip, by design)"
echo "  full evaluation:  $latest_eval (summary.json, per_motion.parquet, predicted_motionlib.pt, plots/)"
echo "  training curves:  $run_dir/plots/training_curves.png"
if [ "$synthetic" = 0 ]; then
    echo "  shipped policy:   $pretrained_eval/summary.json (full-eval of $pretrained/last.ckpt: tracks both clips)"
    echo "  its video:        $video   <- the humanoid walking and jumping beside its reference"
fi
if [ -f results/pretrained_accad/grid_train.mp4 ]; then
    echo "  corpus policy:    results/pretrained_accad/{train,heldout}/summary.json (data/pretrained/smpl_accad: piece 1 of its run)"
    echo "  its grid videos:  results/pretrained_accad/grid_train.mp4, grid_heldout.mp4   <- six clips each beside their references"
fi
echo
echo "next:"
echo "  make ui           # the Dagster UI on http://127.0.0.1:3000: the demo's runs and assets, nightly evaluation"
echo "                    # (evaluation's success_rate check: a warning, explained, for the smoke-run policy)"
echo "  make repro        # the DVC pipeline end to end (dvc.yaml, params.yaml; a second run does nothing)"
echo "  $mimic visualize --motion_files $motionlib_file ${latest_eval}predicted_motionlib.pt --robot smpl"
