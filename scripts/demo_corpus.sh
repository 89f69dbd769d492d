#!/usr/bin/env bash
# The demo's corpus part (called by scripts/demo.sh): the generalist policy shipped in
# data/pretrained/smpl_accad/ on the real ACCAD corpus ($MIMIC_FIXTURES/amass_accad: 27 train
# clips, 10 held-out): the corpus through the real commands, a full evaluation on each split with
# one line per clip (tracked?, frames survived, E_g-mpjpe), its lineage checked with the held-out
# clips, and grid videos of several clips beside their references. Skipped, saying why, when the
# corpus or the policy is not there. Rerunning resumes (conversion and packaging are skipped).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
mimic=".venv/bin/mimic"
corpus="${MIMIC_FIXTURES:-../shared/fixtures}/amass_accad"
policy="data/pretrained/smpl_accad"
out="results/pretrained_accad"

if [ ! -d "$corpus/train" ] || [ ! -d "$corpus/heldout" ]; then
    echo "== corpus: skipped (no ACCAD corpus at $corpus: set MIMIC_FIXTURES to the shared fixtures)"
    exit 0
fi
if [ ! -f "$policy/last.ckpt" ]; then
    echo "== corpus: skipped (no shipped corpus policy at $policy/last.ckpt)"
    exit 0
fi
echo "== corpus 1/3 the ACCAD corpus -> data/motions/accad -> data/motionlib/accad_train.pt, accad_heldout.pt"
"$mimic" amass stage "$corpus/train" accad_train data/amass
"$mimic" amass stage "$corpus/heldout" accad_heldout data/amass
"$mimic" amass convert data/amass data/motions/accad --subsets accad_train accad_heldout \
    --split accad_heldout=test --workers 2 --no-progress
"$mimic" motionlib package --motion-path data/motions/accad/train.yaml --output-file data/motionlib/accad_train.pt
"$mimic" motionlib package --motion-path data/motions/accad/test.yaml --output-file data/motionlib/accad_heldout.pt

echo "== corpus 2/3 full evaluation of the shipped policy $policy on the 27 train and 10 held-out clips"
mkdir -p "$out"
for split in train heldout; do
    echo "-- $split"
    "$mimic" inference --checkpoint "$policy/last.ckpt" --full-eval --num-envs 27 --headless \
        --motion-file "data/motionlib/accad_$split.pt" --output-dir "$out/$split"
done
"$mimic" lineage --strict "$policy/last.ckpt" --held-out "$corpus/heldout" > "$out/lineage.txt"
echo "lineage of $policy/last.ckpt: every recorded hash matches, no held-out clip trained on ($out/lineage.txt)"

echo "== corpus 3/3 grid videos: six clips of each split, reference (left) beside the simulation (right)"
for split in train heldout; do
    "$mimic" visualize --motion-files "data/motionlib/accad_$split.pt" "$out/$split/predicted_motionlib.pt" \
        --grid 0 1 2 3 4 5 --eval-dir "$out/$split" --output "$out/grid_$split.mp4"
done
