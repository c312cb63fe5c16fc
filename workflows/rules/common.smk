# Configuration, validation and the functions the rules use (rules/*.smk hold only rules).

import os
import re
import shlex
import sys

from snakemake.exceptions import WorkflowError
from snakemake_interface_executor_plugins.settings import DeploymentMethod
from snakemake.utils import validate

from contig_gwas.errors import InputError
from contig_gwas.workflow.regions import plan_regions
from contig_gwas.workflow.studysize import (
    chrom_code,
    job_request,
    study_size,
    trained_models,
    val_fraction,
)

if not config:
    raise WorkflowError(
        "empty configuration: give --configfile the tiny test's config "
        "(workflows/config/test.yaml) or your own, or no --configfile for the demo's "
        "(workflows/config/config.yaml); see docs/workflow.md"
    )

validate(config, "../schemas/config.schema.yaml")

# The tools (contig-*) and `python` of the environment that runs snakemake come first on PATH,
# so jobs use the same installation, also on cluster nodes (they run jobs with this
# interpreter). With --software-deployment-method conda, jobs activate envs/contig-gwas.yaml
# instead, whose post-deploy script installs this repository (CONTIG_GWAS_SOURCE) into it.
BIN = os.path.dirname(sys.executable)
if DeploymentMethod.CONDA not in workflow.deployment_settings.deployment_method:
    shell.prefix(f"set -euo pipefail; export PATH={shlex.quote(BIN)}:\"$PATH\"; ")
CONDA_ENV = "../envs/contig-gwas.yaml"
os.environ.setdefault("CONTIG_GWAS_SOURCE", os.path.dirname(workflow.basedir))

SIMULATED = "simulate" in config["cohort"]
# contig-simulate writes diseases.tsv unless told --no-diseases
SIMULATED_DISEASES = SIMULATED and "--no-diseases" not in str(
    config["cohort"]["simulate"].get("extra_args", ""))
COHORT_DIR = "results/cohort"
GWAS_PREFIX = "gwas"  # each GWAS region's --out is results/gwas/regions/<region>/gwas


# ---------------------------------------------------------------------------------- cohort


def cohort_path(key):
    """Path of a cohort file: results/cohort/... for the simulated cohort, else the config's."""
    if SIMULATED:
        return {
            "bfile": f"{COHORT_DIR}/genotypes",
            "grm_bfile": f"{COHORT_DIR}/genotypes",
            "manifest": f"{COHORT_DIR}/manifest.tsv",
            "pgs": f"{COHORT_DIR}/pgs.tsv",
            "burden": f"{COHORT_DIR}/burden.tsv",
            "covariates": f"{COHORT_DIR}/covariates.tsv",
            "phenotypes": f"{COHORT_DIR}/phenotypes.tsv",
            "diseases": (f"{COHORT_DIR}/diseases.tsv" if SIMULATED_DISEASES else None),
            "genes": f"{COHORT_DIR}/genes.gtf",
            "truth": f"{COHORT_DIR}/truth.json",
        }.get(key)
    value = config["cohort"].get(key)
    if key == "grm_bfile" and value is None:
        value = config["cohort"]["bfile"]
    return value


def bfile_files(prefix):
    return [f"{prefix}.bed", f"{prefix}.bim", f"{prefix}.fam"]


def bfile_prefix(files):
    """The PLINK prefix of a list of .bed/.bim/.fam inputs."""
    return os.path.splitext(files[0])[0]


def study_chromosomes():
    if SIMULATED:
        return list(range(1, config["cohort"]["simulate"]["n_chromosomes"] + 1))
    return config["cohort"].get("chromosomes", list(range(1, 23)))


def simulate_args():
    sim = dict(config["cohort"]["simulate"])
    extra = sim.pop("extra_args", "")
    args = [opt(flag(k), v) for k, v in sim.items()]
    return " ".join(a for a in args + [extra] if a)


def names(flag_name, values):
    """A name list as every tool reads it: `--flag A B` (each name quoted)."""
    if not values:
        return ""
    return f"{flag_name} " + " ".join(shlex.quote(str(v)) for v in values)


def opt(name, value):
    """`--name value` (quoted), `--name` for True, nothing for None/False."""
    if value is None or value is False:
        return ""
    if value is True:
        return name
    return f"{name} {shlex.quote(str(value))}"


def flag(key):
    """The command-line flag of a config key: n_pcs -> --n-pcs."""
    return "--{}".format(key.replace("_", "-"))


# --------------------------------------------------------------------- models and phenotypes

MODELS = config["models"]
STANDARD = (
    config["standard_phenotypes"]["include"] and cohort_path("phenotypes") is not None
)
# case-control phenotypes (the simulator's diseases.tsv, or cohort.diseases): their own set
DISEASES = config["standard_phenotypes"]["include"] and cohort_path("diseases") is not None
# Phenotype sets: one per model (its embedding PCs), then the standard phenotypes, diseases.
SETS = list(MODELS) + (["standard"] if STANDARD else []) + (["diseases"] if DISEASES else [])


def model_label(name):
    if name == "standard":
        return config["standard_phenotypes"]["label"]
    if name == "diseases":
        return config["standard_phenotypes"]["diseases_label"]
    return MODELS[name].get("label", name)


def pretrain_settings(model):
    """Shared pretrain settings overridden by the model's own."""
    return {**config["pretrain"], **MODELS[model].get("pretrain", {})}


def model_modalities(model):
    spec = MODELS[model]
    return spec.get("modalities", ["raw", "pgs", "burden"]) if spec["method"] == "contig" else []


def pretrain_inputs(wildcards):
    inputs = {"manifest": cohort_path("manifest")}
    mods = model_modalities(wildcards.model)
    if "raw" in mods:
        inputs["genotypes"] = bfile_files(cohort_path("bfile"))
    for m in ("pgs", "burden"):
        if m in mods:
            if cohort_path(m) is None:
                raise WorkflowError(
                    f"model {wildcards.model}: modality {m} needs config.cohort.{m}"
                )
            inputs[m] = cohort_path(m)
    return inputs


def pretrain_args(wildcards, input):
    s = pretrain_settings(wildcards.model)
    mods = model_modalities(wildcards.model)
    args = [f"--method {MODELS[wildcards.model]['method']}"]
    if mods:
        args.append(names("--modalities", mods))
    if "raw" in mods:
        args.append(opt("--bfile", bfile_prefix(input.genotypes)))
    args += [opt("--pgs", input.get("pgs")), opt("--burden", input.get("burden"))]
    for key in ("backbone", "init_weights", "image_size", "epochs", "batch_size", "lr",
                "hidden_dim", "proj_dim", "temperature", "alpha", "aggregate", "augment",
                "snp_stride", "seed", "val_fraction", "device"):
        args.append(opt(flag(key), s.get(key)))
    args.append(s.get("extra_args", ""))
    return " ".join(a for a in args if a)


HELD_OUT = config["gwas"]["individuals"] == "held_out"
HELD_OUT_KEEP = "results/pretrain/held_out.tsv"
# the models whose split decides the held-out individuals: those trained (method none is not)
SPLIT_MODELS = trained_models(config)
if HELD_OUT:
    for _m in SPLIT_MODELS:
        if val_fraction(config, _m) <= 0:
            raise WorkflowError(
                f"gwas.individuals: held_out needs a held-out split, but model {_m} trains on "
                "every individual (pretrain.val_fraction: 0)"
            )


def held_out_splits():
    return " ".join(f"--split {m}=results/pretrain/{m}/split.tsv" for m in SPLIT_MODELS)


def keep_input():
    """The --keep file of the tested individuals (gwas.individuals: held_out), else none."""
    return {"keep": HELD_OUT_KEEP} if HELD_OUT else {}


def keep_args(wildcards, input):
    return opt("--keep", input.get("keep"))


def pretrain_threads(wildcards):
    return pretrain_settings(wildcards.model).get("threads", 2)


def embed_args():
    e = config["embed"]
    args = [
        opt("--n-pcs", e["n_pcs"]),
        opt("--int", e["int"]),
        opt("--instances", e["instances"]),
        opt("--layer", e.get("layer")),
        opt("--tta", e["tta"]),
        "--no-progress",
        opt("--batch-size", e["batch_size"]),
        opt("--device", e["device"]),
        e["extra_args"],
    ]
    return " ".join(a for a in args if a)


def embed_checkpoint(wildcards, input):
    """The checkpoint directory, or its best.pt (lowest validation loss) where there is one
    and embed.weights is best (evaluated when the job starts, after pretraining)."""
    folder = os.path.dirname(input.checkpoint)
    best = os.path.join(folder, "best.pt")
    if config["embed"]["weights"] == "best" and os.path.exists(best):
        return best
    return folder


def embed_covar(wildcards, input):
    return f"--covar {input.covariates}" if config["embed"]["int"] == "adjusted" else ""


def phenotype_sets():
    sets = {m: f"results/embed/{m}.pheno.tsv" for m in MODELS}
    if STANDARD:
        sets["standard"] = cohort_path("phenotypes")
    if DISEASES:
        sets["diseases"] = cohort_path("diseases")
    return sets


def h2_args(wildcards, input):
    cov = config.get("covariate_columns")
    args = [
        names("--covar-name", cov),
        keep_args(wildcards, input),
        f"--rg --rg-pairs {input.rg_pairs}" if config["h2"]["rg"] else "",
        names("--prevalence", [f"{k}={v}" for k, v in prevalences().items()]),
        config["h2"]["extra_args"],
    ]
    return " ".join(a for a in args if a)


def prevalences():
    """Population prevalence of each disease from config h2.prevalence (keys with or without
    the set's prefix diseases_), for h2 on the liability scale; the others stay on the
    observed 0/1 scale (contig-h2 logs which)."""
    if not DISEASES:
        return {}
    return {(name if name.startswith("diseases_") else f"diseases_{name}"): k
            for name, k in (config["h2"].get("prevalence") or {}).items()}


def merge_args():
    args = [f"--set {name}={shlex.quote(path)}" for name, path in phenotype_sets().items()]
    cols = config["standard_phenotypes"].get("columns")
    if STANDARD and cols:
        args.append(f"--columns standard={shlex.quote(','.join(cols))}")
    return " ".join(args)


# ---------------------------------------------------------------------------------- GWAS

try:
    REGIONS = plan_regions(config["gwas"].get("regions", config["gwas"].get("chunks")),
                           chromosomes=study_chromosomes())
except InputError as exc:
    raise WorkflowError(f"config: {exc}")

SCALABLE = config["gwas"]["mode"] == "scalable"
FIRST_REGION = next(iter(REGIONS))
# regions made by rule gwas_region (in scalable mode the first is made by gwas_step1); a regex
# that matches nothing when there is no other region
_scattered = [c for c in REGIONS if not (SCALABLE and c == FIRST_REGION)]
SCATTERED_REGIONS = "|".join(re.escape(c) for c in _scattered) or "(?!)"


# cohort.bgen (and .sample) may name one file per chromosome with {chrom} (UK Biobank's
# imputed data): each region then tests its chromosome's file, so a region must lie on one
PER_CHROM_BGEN = not SIMULATED and "{chrom}" in config["cohort"].get("bgen", "")
if PER_CHROM_BGEN:
    _multi = [name for name, r in REGIONS.items() if len(r.chromosomes) != 1]
    if _multi:
        raise WorkflowError(
            f"config: cohort.bgen has one file per chromosome ({{chrom}}), but the regions "
            f"{_multi} span several chromosomes; give one region per chromosome or range"
        )


def tested_genotype_files(region=FIRST_REGION):
    """The tested genotypes of a region: cohort.bgen (its chromosome's file where the path
    holds {chrom}) with its .sample, else the PLINK fileset cohort.bfile."""
    bgen = None if SIMULATED else config["cohort"].get("bgen")
    if bgen:
        sample = config["cohort"].get("sample")
        files = [bgen] + ([sample] if sample else [])
        if PER_CHROM_BGEN:
            chrom = chrom_code(REGIONS[region].chromosomes[0])
            files = [f.replace("{chrom}", chrom) for f in files]
        return files
    return bfile_files(cohort_path("bfile"))


def tested_genotype_args(files):
    """--bgen/--sample or --bfile of the tested genotypes, from their input files."""
    if files[0].endswith(".bgen"):
        sample = files[1] if len(files) > 1 else None
        return " ".join(a for a in [opt("--bgen", files[0]), opt("--sample", sample)] if a)
    return opt("--bfile", bfile_prefix(files))


def grm_files():
    return bfile_files(cohort_path("grm_bfile"))


def gwas_args(wildcards, input):
    g = config["gwas"]
    cov = config.get("covariate_columns")
    args = [
        tested_genotype_args(list(input.genotypes)),
        opt("--grm-bfile", bfile_prefix(input.grm)),
        names("--covar-name", cov),
        keep_args(wildcards, input),
        opt("--no-loco", not g["loco"]),
        opt("--linear", g["linear"]),
        opt("--maf", g.get("maf")),
        opt("--geno", g.get("geno")),
        opt("--hwe", g.get("hwe")),
        opt("--info", g.get("info")),
        opt("--block-size", g.get("block_size")),
        g["extra_args"],
    ]
    return " ".join(a for a in args if a)


def gwas_region_inputs(wildcards):
    inputs = {
        "genotypes": tested_genotype_files(wildcards.region),
        "grm": grm_files(),
        "pheno": "results/phenotypes/phenotypes.tsv",
        "covariates": cohort_path("covariates"),
        **keep_input(),
    }
    if SCALABLE:
        inputs["step1"] = "results/gwas/step1.npz"
    return inputs


def gwas_mode_args(wildcards, input):
    if SCALABLE:
        return f"--mode scalable --step1-in {input.step1}"
    return "--mode exact"


def gwas_select(wildcards):
    return " ".join(REGIONS[wildcards.region].args)


def gather_region_args(wildcards, input):
    return " ".join(
        f"--region {os.path.basename(d)}={d}/{GWAS_PREFIX}" for d in input.regions
    )


# -------------------------------------------------------------------------------- report


def report_groups():
    """Group order: the Miami pair first (first model up, standard phenotypes down)."""
    first = config["report"].get("miami") or [
        SETS[0],
        "standard" if STANDARD else SETS[min(1, len(SETS) - 1)],
    ]
    return list(dict.fromkeys([g for g in first if g in SETS] + SETS))


def report_args(wildcards, input):
    r = config["report"]
    args = [f"--group {g}='{input.sumstats}/{g}/*.sumstats.tsv.gz'" for g in report_groups()]
    args += [
        opt("--clump-p1", r["clump_p1"]),
        opt("--clump-p2", r["clump_p2"]),
        opt("--clump-r2", r["clump_r2"]),
        opt("--clump-kb", r["clump_kb"]),
        opt("--highlight", r.get("highlight")),
        opt("--truth", input.truth[0] if input.truth else None),
        opt("--bfile", bfile_prefix(input.ld)),
        # the association's covariates projected out of the LD scores (LD-score regression)
        opt("--covar", input.covariates),
        names("--covar-name", config.get("covariate_columns")),
        opt("--genes", input.genes[0] if input.genes else None),
        opt("--rg", input.rg[0] if input.rg else None),
        opt("--self-contained", r.get("self_contained")),
        r["extra_args"],
    ]
    return " ".join(a for a in args if a)


def summary_labels():
    return " ".join(f"--label {g}={shlex.quote(model_label(g))}" for g in report_groups())


def strip_suffix(path, suffix):
    assert path.endswith(suffix), (path, suffix)
    return path[: -len(suffix)]


wildcard_constraints:
    model="|".join(MODELS),
    region="|".join(re.escape(c) for c in REGIONS),


# ----------------------------------------------------------------------- cluster resources
# Each job's mem_mb and runtime (minutes): the GWAS and h2 jobs' from the tools' memory and
# cost formulas at the study's size (contig_gwas.workflow.resources), the others' fixed
# defaults; config.resources sets the sizes, the safety factor, floors and per-rule overrides.
# cpus_per_task on SLURM = the rule's threads (from the config's *.threads).

SIZE = study_size(config)


def job_request_of(rule_name, threads, region=None):
    """The Request of one job (region: the gwas_region job's wildcard)."""
    return job_request(config, rule_name, threads=threads, size=SIZE,
                       region=REGIONS[region or FIRST_REGION])


def request_of(rule_name):
    """The resources: of a rule, as Snakemake functions of the job's threads and wildcards;
    a retried job (the profile's retries; the tools resume) asks for attempt x as much."""

    def mem_mb(wildcards, threads, attempt):
        return attempt * job_request_of(rule_name, threads, wildcards.get("region")).mem_mb

    def runtime(wildcards, threads, attempt):
        return attempt * job_request_of(rule_name, threads, wildcards.get("region")).runtime

    return {"mem_mb": mem_mb, "runtime": runtime}
