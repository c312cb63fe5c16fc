"""The truth of a simulated cohort: parameters, the returned ``CohortTruth``, and the writer of
every table and ``truth.json`` (see ``docs/tools/contig-simulate.md``)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from ..io.tables import write_table
from . import diseases as dz
from . import traits as tr


@dataclass
class CohortParameters:
    """Every parameter of a simulation (recorded in truth.json).

    ``h2 = 0`` makes a null cohort: no variant, gene or polygenic background affects any latent
    trait, so the images, standard phenotypes and downstream grade carry no genetic effect
    (``n_causal``, ``causal_variance``, ``n_polygenic`` and ``burden_effect`` are then unused).
    ``n_causal`` None: 3 major causal variants per trait, or 0 under ``h2 = 0``.
    """

    seed: int = 1
    n_individuals: int = 2000
    n_snps: int = 20_000
    n_chromosomes: int = 5
    image_size: int = 64
    related_share: float = 0.1
    ancestry_b_share: float = 0.15
    n_causal: int | None = None
    causal_variance: float = 0.04
    h2: float | None = None
    n_polygenic: int = 500
    missing_rate: float = 0.02
    n_genes: int = 40
    burden_effect: float = 0.6
    pgs_noise: float = 0.2
    pgs_absent: float = 0.05
    burden_absent: float = 0.15
    no_image_share: float = 0.08
    two_eyes_share: float = 0.35
    maf_min: float = 0.01
    block_size: int = 1000
    diseases: tuple[dz.DiseaseSpec, ...] = dz.DISEASES

    def __post_init__(self) -> None:
        if self.n_causal is None:
            self.n_causal = 0 if self.h2 == 0 else 3

    @property
    def null(self) -> bool:
        """True for a null cohort (``h2 = 0``): no genetic effect on any latent trait."""
        return self.h2 == 0

    def validate(self) -> None:
        """InputError for values the simulator cannot honour."""
        p = self
        n_causal = p.n_causal
        assert n_causal is not None  # resolved in __post_init__
        checks = [
            (p.n_individuals >= 50, f"--n-individuals must be at least 50, got {p.n_individuals}"),
            (p.n_snps >= 200, f"--n-snps must be at least 200, got {p.n_snps}"),
            (1 <= p.n_chromosomes <= 22, f"--n-chromosomes must be 1-22, got {p.n_chromosomes}"),
            (p.image_size >= 16 and p.image_size % 4 == 0,
             f"--image-size must be a multiple of 4 and at least 16, got {p.image_size}"),
            (0 <= p.related_share <= 0.8,
             f"--related-share must be in [0, 0.8], got {p.related_share}"),
            (0 <= p.ancestry_b_share <= 0.5,
             f"--ancestry-b-share must be in [0, 0.5], got {p.ancestry_b_share}"),
            (n_causal >= 0, f"--n-causal must be non-negative, got {n_causal}"),
            (0 < p.causal_variance < 0.2,
             f"--causal-variance must be in (0, 0.2), got {p.causal_variance}"),
            (p.h2 is None or 0 <= p.h2 < 1, f"--h2 must be in [0, 1), got {p.h2}"),
            (0 <= p.missing_rate <= 0.2,
             f"--missing-rate must be in [0, 0.2], got {p.missing_rate}"),
            (p.n_genes >= 5, f"--n-genes must be at least 5, got {p.n_genes}"),
            (p.n_polygenic >= 0, f"--n-polygenic must be non-negative, got {p.n_polygenic}"),
            (0 <= p.pgs_noise <= 100, f"--pgs-noise must be in [0, 100], got {p.pgs_noise}"),
        ]
        for ok, msg in checks:
            if not ok:
                raise InputError(msg)
        from .covariates import PHENOTYPES

        names = [s.name for s in tr.TRAITS]
        dz.check_diseases(tuple(p.diseases), traits=names,
                          reserved=names + [s.name for s in PHENOTYPES] + ["grade"])
        if p.null and n_causal > 0:
            raise InputError(f"--h2 0 (a null cohort: no genetic effect) leaves no room for "
                             f"--n-causal {n_causal} major causal variants: pass --n-causal 0 "
                             f"or leave it out")
        for s in () if p.null else tr.TRAITS:
            h2 = s.h2 if p.h2 is None else p.h2
            if n_causal * p.causal_variance > h2 - 0.05:
                raise InputError(
                    f"--n-causal {n_causal} x --causal-variance {p.causal_variance} leaves no "
                    f"room for a polygenic background under h2 = {h2} (trait {s.name})")


@dataclass
class CohortTruth:
    """What ``simulate_cohort`` planted and wrote.

    Attributes:
        out_dir: the cohort directory.
        parameters: the parameters used.
        iid: str, shape (N,), individuals in PLINK order.
        latent: float64 DataFrame, shape (N, T), the latent traits (index IID).
        variants: DataFrame of the written variants (chromosome, position, variant_id,
            effect_allele, other_allele, effect_allele_frequency), shape (M, 6).
        causal: DataFrame of the major causal variants: trait, variant_id, chromosome,
            position, effect_allele, other_allele, effect_allele_frequency, beta,
            variance_explained.
        realised_h2: trait -> Var(G) / Var(Y).
        related_pairs: DataFrame iid1, iid2, relationship, expected_kinship, realised_kinship.
        truth: the content of truth.json.
    """

    out_dir: Path
    parameters: CohortParameters
    iid: np.ndarray
    latent: pd.DataFrame
    variants: pd.DataFrame
    causal: pd.DataFrame
    realised_h2: dict[str, float]
    related_pairs: pd.DataFrame
    truth: dict = field(repr=False)


def _r(x: float, digits: int = 6) -> float:
    """A float rounded to ``digits`` significant digits (stable JSON)."""
    return float(f"{float(x):.{digits}g}")


def _correlation(x: np.ndarray, y: np.ndarray) -> float | None:
    """Pearson correlation to 4 digits; None where either side is constant (a PGS of a null
    cohort simulated with ``pgs_noise`` 0)."""
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return _r(np.corrcoef(x, y)[0, 1], 4)


def _null_description(*, names: list[str], diseases: list[str]) -> dict:
    """truth.json's record of a null cohort (``h2 = 0``), placed after ``parameters``."""
    from . import covariates as cov
    from . import images as img

    return {
        "null": True,
        "null_cohort": {
            "genetic_effect": "none: h2 = 0, no major causal variant, no polygenic background "
                              "and no effect gene; every latent trait's genetic value is "
                              "exactly 0 (traits.*.realised_h2 = 0)",
            "traits_without_genetic_effect": list(names),
            "image_traits_without_genetic_effect": list(img.IMAGE_TRAITS),
            "files_without_genetic_effect": ["latent_traits.tsv", "images/", "phenotypes.tsv",
                                             "downstream.tsv"]
            + (["diseases.tsv", "disease_liability.tsv"] if diseases else []),
            "diseases_without_genetic_effect": list(diseases),
            "standard_phenotypes_without_genetic_effect": [s.name for s in cov.PHENOTYPES],
            "pgs": "the external GWAS's estimation error only (pgs.estimation_noise_variance): "
                   "no signal about the traits",
            "non_genetic_effects_kept": "age, sex and the ancestry-group shift "
                                        "(traits.*.nongenetic_effects_sd); the ancestry group "
                                        "goes with the genotypes, so adjust for the genetic PCs "
                                        "(covariates.tsv), or simulate with --ancestry-b-share 0",
            "unused_parameters": ["n_causal", "causal_variance", "n_polygenic",
                                  "burden_effect"],
            "use": "the type-1 error of phenotypes learned from the images: every association "
                   "found in this cohort is a false positive",
        },
    }


def write_outputs(*, out: Path, p: CohortParameters, iid: np.ndarray, ped, demo, variants,
                  eff, stream: dict, burden, genes: pd.DataFrame, latent, pcs: np.ndarray,
                  pgs: np.ndarray, phenos: pd.DataFrame, grade: np.ndarray,
                  diseases: dz.Diseases, manifest: pd.DataFrame, specs: list, version: str,
                  log) -> CohortTruth:
    """Write the tables, the manifest and truth.json; return the CohortTruth.

    Shapes: iid (N,), pcs (N, 10), pgs (N, T), phenos (N, P), grade (N,); ``stream`` holds the
    streaming pass's accumulators (``freq``/``var``/``missing`` (M,), ``carriers`` (N, G),
    ``shared`` (pairs,)); the other arguments are the dataclasses of the sibling modules.
    """
    from . import covariates as cov
    from . import images as img
    from . import modalities as mod

    names = [s.name for s in specs]
    n = len(iid)
    mrng = np.random.default_rng(np.random.SeedSequence([p.seed, 11]))  # stream "modalities"
    manifest.to_csv(out / "manifest.tsv", sep="\t", index=False)
    no_pgs = mod.absent_rows(rng=mrng, n=n, share=p.pgs_absent)
    no_burden = mod.absent_rows(rng=mrng, n=n, share=p.burden_absent)
    write_table(out / "pgs.tsv", fid=iid[~no_pgs], iid=iid[~no_pgs],
                values=pd.DataFrame(pgs[~no_pgs], columns=[f"PGS_{t}" for t in names]))
    carriers = stream["carriers"].astype(np.int8)
    write_table(out / "burden.tsv", fid=iid[~no_burden], iid=iid[~no_burden],
                values=pd.DataFrame(carriers[~no_burden], columns=list(genes.gene)))
    covs = pd.DataFrame({"sex": demo.sex, "age": demo.age, "centre": demo.centre})
    for k in range(pcs.shape[1]):
        covs[f"PC{k + 1}"] = pcs[:, k]
    write_table(out / "covariates.tsv", fid=iid, iid=iid, values=covs)
    write_table(out / "phenotypes.tsv", fid=iid, iid=iid, values=phenos.reset_index(drop=True))
    write_table(out / "downstream.tsv", fid=iid, iid=iid, values=pd.DataFrame({"grade": grade}))
    write_table(out / "latent_traits.tsv", fid=iid, iid=iid,
                values=latent.values.reset_index(drop=True), float_format="%.8g")
    if diseases.specs:
        write_table(out / dz.STATUS_FILE, fid=iid, iid=iid, values=diseases.status_frame())
        write_table(out / dz.LIABILITY_FILE, fid=iid, iid=iid, float_format="%.8g",
                    values=pd.DataFrame(diseases.liability,
                                        columns=[f"{d}_liability" for d in diseases.names]))
    from .genes import GENE_ANNOTATION_NAME, write_gene_annotation

    write_gene_annotation(path=out / GENE_ANNOTATION_NAME, genes=genes)

    vy = latent.values.var(axis=0).to_numpy()
    freq = stream["freq"]
    vout = variants.drop(columns=["founder_freq"]).copy()
    vout["effect_allele_frequency"] = freq
    causal_rows, traits_json = [], {}
    carrier_freq = stream["carriers"].mean(axis=0)
    for k, s in enumerate(specs):
        majors = []
        for j in eff.major[k]:
            v = vout.iloc[int(j)]
            beta = eff.beta_major[j, k]
            row = {"variant_id": v.variant_id, "chromosome": int(v.chromosome),
                   "position": int(v.position), "effect_allele": v.effect_allele,
                   "other_allele": v.other_allele, "effect_allele_frequency": _r(freq[j]),
                   "beta": _r(beta),
                   "variance_explained": _r(beta ** 2 * stream["var"][j] / vy[k])}
            majors.append(row)
            causal_rows.append({"trait": s.name, **row})
        poly_idx = np.flatnonzero(eff.beta_poly[:, k])
        poly = [{"variant_id": vout.variant_id.iat[j],
                 "beta": _r(eff.beta_poly[j, k] * latent.poly_scale[k])} for j in poly_idx]
        bgenes = [{"gene": genes.gene.iat[g], "effect": _r(e),
                   "carrier_frequency": _r(carrier_freq[g]),
                   "variance_explained": _r(e ** 2 * stream["carriers"][:, g].var() / vy[k])}
                  for g, kk, e in zip(burden.gene_index, burden.trait_index, burden.effect)
                  if kk == k]
        traits_json[s.name] = {
            "h2_target": _r(s.h2 if p.h2 is None else p.h2),
            "realised_h2": _r(latent.realised_h2[k]),
            "realised_h2_written_variants": _r(latent.h2_common[k]),
            "realised_h2_given_covariates": _r(latent.h2_adjusted[k]),
            "variance": _r(vy[k]),
            "image_property": s.image_property,
            "image_property_description": img.DESCRIPTIONS.get(s.name),
            "nongenetic_effects_sd": {"age_per_sd": s.age_effect, "male": s.sex_effect,
                                      "ancestry_B": s.ancestry_shift},
            "causal_variants": majors,
            "burden_genes": bgenes,
            "polygenic_scale": _r(latent.poly_scale[k]),
            "polygenic_variants": poly,
        }
    pairs = ped.sib_pairs
    related = pd.DataFrame({
        "iid1": iid[pairs[:, 0]], "iid2": iid[pairs[:, 1]],
        "relationship": "sibling", "expected_kinship": 0.25,
        "realised_kinship": stream["shared"] / 4.0})
    pheno_json = {}
    for s in cov.PHENOTYPES:
        col = phenos[s.name]
        ok = col.notna().to_numpy()
        r = np.corrcoef(col[ok], latent.values[s.trait].to_numpy()[ok])[0, 1] if s.trait else None
        pheno_json[s.name] = {"measures_trait": s.trait, "correlation_with_trait":
                              None if r is None else _r(r, 4),
                              "missing_share": _r(1 - ok.mean(), 4)}
    truth = {
        "tool": "contig-simulate", "version": version, "seed": p.seed,
        "parameters": {**asdict(p), "diseases": [asdict(d) for d in p.diseases]},
        **(_null_description(names=names, diseases=diseases.names) if p.null else {}),
        "n_individuals": n, "n_variants": len(variants), "n_images": len(manifest),
        "n_individuals_with_images": int(manifest.IID.nunique()),
        "chromosomes": {str(int(c)): int((variants.chromosome == c).sum())
                        for c in sorted(variants.chromosome.unique())},
        "effect_allele": "PLINK A1 = BGEN second allele = the derived allele",
        "latent_traits_file": "latent_traits.tsv",
        "traits": traits_json,
        "related_pairs": [{"iid1": a, "iid2": b, "relationship": "sibling",
                           "expected_kinship": 0.25, "realised_kinship": _r(k, 4)}
                          for a, b, k in zip(related.iid1, related.iid2, related.realised_kinship)],
        "ancestry": {"groups": ["A", "B"], "n_B": int(ped.group.sum()),
                     "iid_B": [str(x) for x in iid[ped.group == 1]]},
        "standard_phenotypes": pheno_json,
        "downstream": {"file": "downstream.tsv", "column": "grade", "levels": [0, 1, 2, 3, 4],
                       "liability_weights_sd": cov.GRADE_WEIGHTS, "age_per_sd": cov.GRADE_AGE,
                       "thresholds": list(cov.GRADE_CUTS)},
        "diseases": dz.disease_truth(diseases=diseases, traits=traits_json),
        "pgs": {"file": "pgs.tsv", "columns": [f"PGS_{t}" for t in names],
                "estimation_noise_variance": p.pgs_noise, "n_absent": int(no_pgs.sum()),
                "correlation_with_trait": {
                    t: _correlation(pgs[:, k], latent.values[t].to_numpy())
                    for k, t in enumerate(names)}},
        "burden": {"file": "burden.tsv", "n_absent": int(no_burden.sum()),
                   "gene_annotation": GENE_ANNOTATION_NAME,
                   "genes": [{"gene": g.gene, "chromosome": int(g.chromosome),
                              "start": int(g.start), "end": int(g.end),
                              "carrier_frequency": _r(carrier_freq[g.gene_index])}
                             for g in genes.itertuples()]},
        "bgen_sample_order": "a permutation of the PLINK order (see genotypes.sample)",
        "missing_call_share": _r(stream["missing"].mean(), 4),
    }
    (out / "truth.json").write_text(json.dumps(truth, indent=1) + "\n")
    return CohortTruth(out_dir=out, parameters=p, iid=iid, latent=latent.values, variants=vout,
                       causal=pd.DataFrame(causal_rows),
                       realised_h2={s.name: float(v) for s, v in zip(specs, latent.realised_h2)},
                       related_pairs=related, truth=truth)
