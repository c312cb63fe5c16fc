#!/usr/bin/env bash
# The tiny workflow on a real SLURM cluster, against the same workflow run locally (issue #20).
#
#   sudo bench/slurm_setup.sh                  # a single-node SLURM on this machine (once)
#   bench/slurm_smoke.sh [WORKDIR] 2>&1 | tee bench/slurm_smoke.log
#
# The study is workflows/config/test.yaml with the scalable GWAS scattered over its three
# chromosomes (gwas_step1: step 1 once with chromosome 1's scan; gwas_region: chromosomes 2 and
# 3 as separate jobs reusing step 1; then the gather, h2, report, summary), the GWAS and h2 on 2
# threads (their jobs ask for 2 CPUs). It runs twice in
# WORKDIR (default: a new folder under /tmp): through workflows/profiles/slurm-local (every
# job an sbatch job; their requests from the config and the memory formula), then locally
# (snakemake --cores 2). It then checks that
#   - every job went through SLURM: the jobs squeue lists for the run (rule, state, CPUs,
#     memory and time limit asked), gwas_step1 once and one gwas_region job per other region;
#   - the SLURM requests equal the workflow's (python -m contig_gwas.workflow resources);
#   - the outputs equal the local run's: every gathered summary-statistics file byte for byte
#     after decompression (both runs use the config's thread counts: the tools write the same
#     bytes for any number of threads), the h2 table and the summary table.
# Exit status 0 when all hold. Prints the CPU, the load and both runs' wall times. Both runs
# use the last commit's code (SMOKE_FROM_HEAD=0: the working tree).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-$ROOT/.venv/bin/python}
WORK=${1:-$(mktemp -d /tmp/slurm_smoke.XXXXXX)}
mkdir -p "$WORK"
export PATH="$(dirname "$PY"):$PATH"

# Both runs use the code of the last commit (a snapshot on PYTHONPATH, which the SLURM jobs
# inherit), so that edits in the working tree during the run reach neither;
# SMOKE_FROM_HEAD=0 runs the working tree as it is.
SRC=$ROOT
if [[ ${SMOKE_FROM_HEAD:-1} == 1 ]] && git -C "$ROOT" rev-parse HEAD >/dev/null 2>&1; then
    SRC=$WORK/src
    rm -rf "$SRC" && mkdir -p "$SRC"
    git -C "$ROOT" archive HEAD contig_gwas workflows | tar -x -C "$SRC"
    export PYTHONPATH="$SRC${PYTHONPATH:+:$PYTHONPATH}"
    echo "== code: commit $(git -C "$ROOT" rev-parse --short HEAD) (snapshot in $SRC)"
fi
SNAKE=("$PY" -m snakemake -s "$SRC/workflows/Snakefile" --configfile "$WORK/smoke.yaml")

for tool in sbatch squeue sinfo; do
    command -v "$tool" >/dev/null || { echo "no $tool: run bench/slurm_setup.sh first" >&2; exit 2; }
done

"$PY" - "$SRC/workflows/config/test.yaml" "$WORK/smoke.yaml" <<'EOF'
import sys, yaml
cfg = yaml.safe_load(open(sys.argv[1]))
cfg["gwas"].update(mode="scalable", regions=["1", "2", "3"], threads=2)
cfg["h2"]["threads"] = 2
yaml.safe_dump(cfg, open(sys.argv[2], "w"), sort_keys=False)
EOF

echo "== $(date -u '+%Y-%m-%d %H:%M UTC'), $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs," \
     "load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== SLURM: $(sinfo --version), $(sinfo -h -o '%P %D nodes %c CPUs %m MB %t')"
echo "== config: workflows/config/test.yaml, gwas.mode scalable, regions 1 2 3 ($WORK/smoke.yaml)"
echo "== requests (python -m contig_gwas.workflow resources):"
"$PY" -m contig_gwas.workflow resources --configfile "$WORK/smoke.yaml" | tee "$WORK/requests.txt"

last_job=$(squeue --states=all -h -o %i | sort -n | tail -1)
last_job=${last_job:-0}

echo "== SLURM run: --profile workflows/profiles/slurm-local --directory $WORK/slurm"
t0=$(date +%s)
"${SNAKE[@]}" --directory "$WORK/slurm" --profile "$SRC/workflows/profiles/slurm-local" \
    >"$WORK/slurm.snakemake.log" 2>&1 || { tail -50 "$WORK/slurm.snakemake.log"; exit 1; }
t_slurm=$(($(date +%s) - t0))
grep -E "Submitted job|Finished jobid|steps \([0-9]+%\) done" "$WORK/slurm.snakemake.log" | \
    sed 's/^/  /' | tail -40
echo "== SLURM run: ${t_slurm} s wall"

echo "== the run's SLURM jobs (squeue --states=all: id|rule and wildcards|state|cpus|memory|time limit)"
squeue --states=all -h -o '%i|%k|%T|%C|%m|%l' | sort -n | \
    awk -F'|' -v last="$last_job" '$1 > last' | tee "$WORK/jobs.txt" | sed 's/^/  /'
n_jobs=$(wc -l <"$WORK/jobs.txt")
n_step1=$(grep -c '|rule_gwas_step1' "$WORK/jobs.txt" || true)
n_region=$(grep -c '|rule_gwas_region' "$WORK/jobs.txt" || true)
n_done=$(grep -c '|COMPLETED|' "$WORK/jobs.txt" || true)
echo "== $n_jobs jobs, $n_done COMPLETED; gwas_step1 $n_step1 job(s), gwas_region $n_region job(s)"

echo "== local run: --cores 2 --directory $WORK/local"
t0=$(date +%s)
"${SNAKE[@]}" --directory "$WORK/local" --cores 2 >"$WORK/local.snakemake.log" 2>&1 || \
    { tail -50 "$WORK/local.snakemake.log"; exit 1; }
t_local=$(($(date +%s) - t0))
echo "== local run: ${t_local} s wall"

echo "== outputs, SLURM against local"
fail=0
n_same=0
while read -r f; do
    rel=${f#"$WORK/local/"}
    if cmp -s <(zcat "$f") <(zcat "$WORK/slurm/$rel"); then
        n_same=$((n_same + 1))
    else
        echo "  DIFFERS: $rel"; fail=1
    fi
done < <(find "$WORK/local/results/gwas/sumstats" -name '*.sumstats.tsv.gz' | sort)
n_local=$(find "$WORK/local/results/gwas/sumstats" -name '*.sumstats.tsv.gz' | wc -l)
n_slurm=$(find "$WORK/slurm/results/gwas/sumstats" -name '*.sumstats.tsv.gz' | wc -l)
echo "  summary statistics: $n_same of $n_local files identical after decompression" \
     "(SLURM run: $n_slurm files)"
[[ $n_same -eq $n_local && $n_local -eq $n_slurm && $n_local -gt 0 ]] || fail=1
for f in results/h2/study.h2.tsv results/summary/summary.tsv results/gwas/sumstats.tsv \
         results/phenotypes/phenotypes.tsv; do
    if cmp -s "$WORK/local/$f" "$WORK/slurm/$f"; then echo "  $f: identical"
    else echo "  $f: DIFFERS"; fail=1; fi
done
echo "== summary table (SLURM run):"
sed 's/^/  /' "$WORK/slurm/results/summary/summary.txt"

checks_ok=1
[[ $n_step1 -eq 1 && $n_region -eq 2 && $n_done -eq $n_jobs && $n_jobs -gt 0 ]] || checks_ok=0
if [[ $fail -eq 0 && $checks_ok -eq 1 ]]; then
    echo "== PASS: $n_jobs SLURM jobs (step 1 once, 2 scattered regions), outputs equal the" \
         "local run's; SLURM ${t_slurm} s, local ${t_local} s"
else
    echo "== FAIL (outputs equal: $((1 - fail)), job checks: $checks_ok)"; exit 1
fi
