#!/usr/bin/env bash
# The main job on embedded defaults (called by `make demo`, after `make setup`):
#   AMASS sample clips -> per-clip .motion files -> one packaged MotionLib .pt -> its summary.
# Offline, the public sample clips cannot be fetched; the demo then says so loudly and runs the
# same chain on synthesized clips, written under names that say "synthetic".
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
mimic=".venv/bin/mimic"

# `mimic amass samples ROOT` writes ROOT/samples/*.npz: the subset is called "samples".
amass_dir="data/amass"
motions_dir="data/motions"
motionlib_file="data/motionlib/amass_samples.pt"

echo "== 1/4 fetch the public AMASS sample clips -> $amass_dir/samples"
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

echo "== 2/4 convert AMASS clips -> .motion files in $motions_dir"
"$mimic" amass convert "$amass_dir" "$motions_dir"

echo "== 3/4 package the .motion files -> $motionlib_file"
"$mimic" motionlib package --motion-path "$motions_dir" --output-file "$motionlib_file"

echo "== 4/4 inspect $motionlib_file"
"$mimic" motionlib info "$motionlib_file"

echo
echo "demo outputs:"
echo "  AMASS clips:    $amass_dir/"
echo "  .motion files:  $motions_dir/"
echo "  MotionLib:      $motionlib_file"
