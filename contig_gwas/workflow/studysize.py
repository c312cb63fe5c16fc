"""The study's size (``resources.StudySize``) from the workflow's config, and the table of
what every job asks for (``python -m contig_gwas.workflow resources``).

Counts come from ``config.resources`` where it gives them, else from the simulated cohort's
settings, else from the real cohort's files (.fam and .bim lines, the BGEN header, the header
of the phenotype and covariate tables). With ``gwas.individuals: held_out`` the GWAS and h2
see ``N x pretrain.val_fraction`` individuals. The config is the workflow's (its keys as in
workflows/schemas/config.schema.yaml; absent keys take the schema's defaults).
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Mapping

import pandas as pd

from ..errors import InputError
from .regions import Region, parse_region, plan_regions
from .resources import (
    FIXED,
    FORMULA_RULES,
    Request,
    StudySize,
    Tuning,
    fixed_request,
    gwas_request,
    h2_request,
    region_share,
)

SIMULATED_STANDARD = 6      # contig-simulate's standard phenotypes
DEFAULT_COVARIATES = 10
SIZE_KEYS = ("individuals", "variants", "model_variants", "phenotypes", "covariates",
             "phenotype_groups")
TUNING_KEYS = ("safety", "floor_mb", "floor_minutes", "gflops_per_thread",
               "seconds_per_genotype")


def count_lines(path: str) -> int | None:
    """Lines of a text file (a .fam's individuals, a .bim's variants); None where it is absent
    or empty (a dry run's placeholder)."""
    try:
        with open(path, "rb") as fh:
            n = sum(1 for _ in fh)
    except OSError:
        return None
    return n or None


def bgen_counts(path: str) -> tuple[int, int] | None:
    """(variants, individuals) from a BGEN file's header block; None where it is unreadable."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError:
        return None
    if len(head) < 16:
        return None
    return int.from_bytes(head[8:12], "little"), int.from_bytes(head[12:16], "little")


def count_columns(path: str, *, id_columns: int = 2) -> int | None:
    """Value columns of an ``FID IID ...`` table (its header); None where it is absent."""
    try:
        with open(path) as fh:
            head = fh.readline().split()
    except OSError:
        return None
    return max(len(head) - id_columns, 0) or None


def chromosomes(config: Mapping) -> list:
    cohort = config["cohort"]
    if "simulate" in cohort:
        return list(range(1, cohort["simulate"].get("n_chromosomes", 5) + 1))
    return list(cohort.get("chromosomes", range(1, 23)))


def chromosome_numbers(config: Mapping) -> list[int]:
    return [parse_region(c, where="chromosomes").chromosomes[0] for c in chromosomes(config)]


def study_regions(config: Mapping) -> dict[str, Region]:
    g = config.get("gwas", {})
    return plan_regions(g.get("regions", g.get("chunks")), chromosomes=chromosomes(config))


def trained_models(config: Mapping) -> list[str]:
    """The models whose split decides the held-out individuals (method none is not trained)."""
    models = config["models"]
    return [m for m in models if models[m]["method"] != "none"] or list(models)


def val_fraction(config: Mapping, model: str) -> float:
    own = config["models"][model].get("pretrain", {})
    return float(own.get("val_fraction", config.get("pretrain", {}).get("val_fraction", 0.1)))


def chrom_code(chromosome: int) -> str:
    """A chromosome as file names spell it (``{chrom}`` in cohort.bgen): 1-22, X, Y, XY, MT."""
    return {23: "X", 24: "Y", 25: "XY", 26: "MT"}.get(int(chromosome), str(chromosome))


def _cohort_counts(config: Mapping) -> tuple[int | None, int | None, int | None]:
    """(individuals, tested variants, model variants) of a real cohort, from its files (the
    BGEN header of each chromosome's file where cohort.bgen holds ``{chrom}``)."""
    cohort = config["cohort"]
    n = m = None
    if cohort.get("bgen"):
        paths = [cohort["bgen"].replace("{chrom}", chrom_code(c)) for c in chromosomes(config)]
        counts = [c for c in (bgen_counts(p) for p in dict.fromkeys(paths)) if c is not None]
        if len(counts) == len(dict.fromkeys(paths)):
            m, n = sum(c[0] for c in counts), counts[0][1]
    else:
        m = count_lines(f"{cohort['bfile']}.bim")
    n = n or count_lines(f"{cohort['bfile']}.fam")
    m1 = count_lines(f"{cohort.get('grm_bfile') or cohort['bfile']}.bim")
    return n, m, m1


def study_size(config: Mapping) -> StudySize:
    """The StudySize the requests are computed at (config.resources overrides each count)."""
    cohort, res = config["cohort"], config.get("resources", {})
    std_cfg = config.get("standard_phenotypes", {})
    n: int | None
    m: int | None
    m1: int | None
    std: int | None
    cov: int | None
    if "simulate" in cohort:
        sim = cohort["simulate"]
        n, m = sim.get("n_individuals", 2000), sim.get("n_snps", 20000)
        m1, std, cov = m, SIMULATED_STANDARD, DEFAULT_COVARIATES
    else:
        n, m, m1 = _cohort_counts(config)
        std = count_columns(cohort["phenotypes"]) if cohort.get("phenotypes") else 0
        cov = count_columns(cohort["covariates"])
    if not std_cfg.get("include", True):
        std = 0
    elif std and std_cfg.get("columns"):
        std = len(std_cfg["columns"])
    if config.get("covariate_columns"):
        cov = len(config["covariate_columns"])
    n = n or 1000
    if config.get("gwas", {}).get("individuals", "all") == "held_out":
        n = max(1, round(n * val_fraction(config, trained_models(config)[0])))
    size = StudySize(
        individuals=n, variants=m or 1, model_variants=m1 or m or 1,
        chromosomes=len(chromosomes(config)),
        phenotypes=len(config["models"]) * config.get("embed", {}).get("n_pcs", 10) + (std or 0),
        covariates=DEFAULT_COVARIATES if cov is None else cov,
        block_size=config.get("gwas", {}).get("block_size", 1000))
    return dataclasses.replace(size, **{k: res[k] for k in SIZE_KEYS if k in res})


def tuning(config: Mapping) -> Tuning:
    res = config.get("resources", {})
    return Tuning(**{k: res[k] for k in TUNING_KEYS if k in res})


def rule_threads(config: Mapping, rule: str) -> int:
    """A rule's threads as the workflow sets them (the config's *.threads)."""
    section = {"pretrain": "pretrain", "embed": "embed", "gwas_step1": "gwas",
               "gwas_region": "gwas", "h2": "h2"}.get(rule)
    if section is None:
        return 1
    default = {"pretrain": 2, "embed": 2}.get(section, 1)
    return int(config.get(section, {}).get("threads", default))


def job_request(config: Mapping, rule: str, *, threads: int, size: StudySize,
                region: Region | None = None) -> Request:
    """One job's Request (``region``: that of a GWAS job); ``config.resources.rules.<rule>``
    replaces what it gives."""
    override = config.get("resources", {}).get("rules", {}).get(rule, {})
    if rule == "h2":
        req = h2_request(size, threads=threads, tuning=tuning(config))
    elif rule in ("gwas_step1", "gwas_region"):
        assert region is not None
        share = region_share(chromosomes=region.chromosomes, start=region.start,
                             end=region.end, study_chromosomes=chromosome_numbers(config))
        req = gwas_request(size, rule=rule, mode=config.get("gwas", {}).get("mode", "exact"),
                           threads=threads, variant_share=share,
                           region_chromosomes=len(region.chromosomes), tuning=tuning(config))
    else:
        return fixed_request(rule, threads=threads, overrides=override)
    return dataclasses.replace(req, **override)


def request_table(config: Mapping, *, individuals: Iterable[int] = (),
                  per_region: bool = False) -> pd.DataFrame:
    """Every job's request at the config's N and at each of ``individuals`` (the individuals
    the GWAS and h2 test): one row per rule, with the GWAS regions' jobs as the first region's
    (gwas_step1 in the scalable mode), then the largest and the smallest other region (every
    region with ``per_region``). Columns: rule, jobs, cpus, then mem_mb and runtime per N."""
    base = study_size(config)
    sizes = [base] + [dataclasses.replace(base, individuals=int(n)) for n in individuals]
    regions = study_regions(config)
    scalable = config.get("gwas", {}).get("mode", "exact") == "scalable"
    names = list(regions)
    numbers = chromosome_numbers(config)

    def share(name: str) -> float:
        r = regions[name]
        return region_share(chromosomes=r.chromosomes, start=r.start, end=r.end,
                            study_chromosomes=numbers)

    first_rule = "gwas_step1" if scalable else "gwas_region"
    others = sorted(names[1:], key=share, reverse=True)
    if not per_region and len(others) > 2:
        others = [others[0], others[-1]]
    gwas_rows = [(first_rule, names[0], 1)]
    for k, name in enumerate(others):
        count = len(names) - 1 if not per_region and k == 0 else 1
        gwas_rows.append(("gwas_region", name, count))
    n_models = len(config["models"])
    order: list[tuple[str, str | None, int]] = [
        ("simulate", None, 1 if "simulate" in config["cohort"] else 0),
        ("pretrain", None, n_models), ("embed", None, n_models), ("phenotypes", None, 1),
        *gwas_rows, ("gwas_gather", None, 1), ("h2", None, 1), ("report", None, 1),
        ("summary", None, 1)]
    if config.get("gwas", {}).get("individuals", "all") == "held_out":
        order.insert(2, ("held_out", None, 1))
    rows = []
    for rule, region, count in order:
        if count == 0:
            continue
        threads = rule_threads(config, rule)
        label, jobs = (rule if region is None else f"{rule} {region}"), str(count)
        if region is not None and not per_region and rule == "gwas_region" and len(others) > 1:
            extreme = "largest" if region == others[0] else "smallest"
            label += f" ({extreme} of {len(names) - 1})"
            jobs = jobs if extreme == "largest" else ""
        row: dict[str, object] = {"rule": label, "jobs": jobs, "cpus": threads}
        for s in sizes:
            r = job_request(config, rule, threads=threads, size=s,
                            region=None if region is None else regions[region])
            row[f"mem_mb N={s.individuals}"] = r.mem_mb
            row[f"runtime_min N={s.individuals}"] = r.runtime
        rows.append(row)
    assert set(FIXED) | set(FORMULA_RULES) >= {r for r, _, _ in order}
    return pd.DataFrame(rows)


def read_config(path: str) -> dict:
    """A workflow config (YAML; PyYAML comes with the workflow extra, snakemake)."""
    try:
        import yaml
    except ImportError as exc:  # pragma: no cover - snakemake brings it
        raise InputError("reading a workflow config needs PyYAML (pip install "
                         "'contig-gwas[workflow]')") from exc
    try:
        with open(path) as fh:
            config = yaml.safe_load(fh)
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"{path}: cannot read the config: {exc}") from exc
    if not isinstance(config, dict) or "cohort" not in config or "models" not in config:
        raise InputError(f"{path}: not a workflow config (needs cohort and models)")
    return config
