#!/usr/bin/env bash
# The main job on the embedded synthetic cohort: simulate -> pretrain -> embed -> gwas -> h2 -> report.
# Called by `make demo` with the venv's bin/ first on PATH.
set -euo pipefail
out=${1:-demo_out}
mkdir -p "$out"
contig-simulate --out "$out/cohort" --seed 1 --overwrite
echo "cohort written to $out/cohort (see $out/cohort/truth.json)"
