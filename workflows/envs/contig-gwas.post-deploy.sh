#!/usr/bin/env bash
# Runs once inside the new conda environment (see contig-gwas.yaml).
set -euo pipefail
: "${CONTIG_GWAS_SOURCE:?set by workflows/rules/common.smk to the repository root}"
python -m pip install -c "$CONTIG_GWAS_SOURCE/constraints.txt" -e "$CONTIG_GWAS_SOURCE"
