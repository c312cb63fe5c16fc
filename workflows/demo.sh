#!/usr/bin/env bash
# The demo: the whole study on the embedded synthetic cohort, as one Snakemake workflow
# (simulate -> pretrain ContIG, SimCLR, random-init -> embed -> GWAS -> h2 -> report), then
# where the report is and the summary table (planted loci recovered, false positives, mean h2).
#
#   bash workflows/demo.sh [OUT] [extra snakemake options...]     (`make demo` runs it)
#
# OUT defaults to demo_out; DEMO_CORES (default 2) sets --cores. A rerun only redoes what is
# missing or out of date.
set -euo pipefail
out=${1:-demo_out}
shift || true
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cores=${DEMO_CORES:-2}

mkdir -p "$out"
start=$(date +%s)
snakemake --snakefile "$here/Snakefile" --configfile "$here/config/config.yaml" \
    --directory "$out" --cores "$cores" --rerun-incomplete --quiet host rules "$@"
elapsed=$(( $(date +%s) - start ))

report="$(cd "$out" && pwd)/results/report/report.html"
if [ ! -f "$report" ]; then
    exit 0  # e.g. a dry run (-n)
fi
echo
echo "workflow finished in $((elapsed / 60)) min $((elapsed % 60)) s on $cores cores"
echo "report:        $report"
echo "h2 table:      $(cd "$out" && pwd)/results/h2/study.h2.tsv"
echo "sumstats:      $(cd "$out" && pwd)/results/gwas/sumstats/<model>/"
echo "cohort truth:  $(cd "$out" && pwd)/results/cohort/truth.json"
echo
cat "$out/results/summary/summary.txt"
