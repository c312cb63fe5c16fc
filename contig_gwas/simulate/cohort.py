"""``simulate_cohort``: the seeded synthetic biobank cohort with its truth.

The pipeline (each step seeded from its own named stream of ``seed``, so the output is
byte-identical for the same seed and parameters):

1. pedigree (unrelated founders, sibling pairs, ancestry groups) and demographics;
2. per chromosome, an msprime simulation of the founders; common sites are thinned to the
   requested number of variants, rare sites in genes are kept for burdens;
3. effects: major causal variants, polygenic background, PGS estimation error;
4. one streaming pass over the sites in blocks: cohort dosages (siblings by meiosis), missing
   calls, PLINK and BGEN writers, genetic values, PGS, gene carriers, sibling IBD sharing;
5. latent traits, binary diseases (liability thresholds on latent traits), genetic PCs (a
   second pass over the PLINK file), tables, images, gene annotation, truth.json.

``h2 = 0`` makes a null cohort (steps 3 and 5 plant no genetic effect; the genotypes, PCs,
demographics and environmental noise are those of the same seed's non-null cohort).

See ``docs/tools/contig-simulate.md`` for every file written.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from .. import __version__
from ..errors import InputError
from ..runlog import NullLog, RunLog
from . import coalescent as gen
from . import covariates as cov
from . import diseases as dz
from . import images as img
from . import modalities as mod
from . import traits as tr
from .truth import CohortParameters, CohortTruth, write_outputs

# named random streams: adding a stream never changes the others
STREAMS = {"pedigree": 1, "demographics": 2, "genes": 3, "effects": 4, "missing": 5,
           "traits": 6, "burden": 7, "pcs": 8, "phenotypes": 9, "images": 10, "modalities": 11,
           "meiosis": 12, "bgen_order": 13, "diseases": 14}


def rng_for(seed: int, stream: str, *extra: int) -> np.random.Generator:
    """A generator for one named stream of ``seed``."""
    return np.random.default_rng(np.random.SeedSequence([seed, STREAMS[stream], *extra]))


def _msprime_seed(seed: int, kind: int, chrom: int) -> int:
    state = np.random.SeedSequence([seed, 100 + kind, chrom]).generate_state(1)[0]
    return int(state) % (2**31 - 2) + 1


def simulate_cohort(*, out_dir: str | Path, seed: int = 1, n_individuals: int = 2000,
                    n_snps: int = 20_000, n_chromosomes: int = 5, image_size: int = 64,
                    log: RunLog | None = None, progress: bool | None = None,
                    **options) -> CohortTruth:
    """Simulate a cohort into ``out_dir`` (created; must be absent or empty).

    ``options`` are the other fields of ``CohortParameters`` (related_share, ancestry_b_share,
    n_causal, causal_variance, h2, n_polygenic, missing_rate, n_genes, ...). ``progress``:
    tqdm bars (None: only on a terminal).
    """
    unknown = set(options) - set(CohortParameters.__dataclass_fields__)
    if unknown:
        raise TypeError(f"unknown simulate_cohort options: {sorted(unknown)}")
    params = CohortParameters(seed=seed, n_individuals=n_individuals, n_snps=n_snps,
                              n_chromosomes=n_chromosomes, image_size=image_size, **options)
    params.validate()
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise InputError(f"{out}: output directory is not empty")
    out.mkdir(parents=True, exist_ok=True)
    log = log or NullLog()
    work = out / ".work"
    work.mkdir()
    from threadpoolctl import threadpool_limits

    try:
        # the BLAS work here is small products: one thread avoids oversubscription
        with threadpool_limits(limits=1, user_api="blas"):
            truth = _simulate(out=out, work=work, p=params, log=log, progress=progress)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return truth


def _bar(progress: bool | None, **kw):
    from tqdm import tqdm

    return tqdm(disable=None if progress is None else not progress, leave=False, **kw)


def _simulate(*, out: Path, work: Path, p: CohortParameters, log: RunLog,
              progress: bool | None) -> CohortTruth:
    n = p.n_individuals
    specs = list(tr.TRAITS)
    names = [s.name for s in specs]
    with log.step("pedigree and demographics"):
        ped = gen.plan_pedigree(rng=rng_for(p.seed, "pedigree"), n_individuals=n,
                                related_share=p.related_share, b_share=p.ancestry_b_share)
        demo = cov.draw_demographics(rng=rng_for(p.seed, "demographics"), n=n)
        width = max(5, len(str(n)))
        iid = np.array([f"ID{i + 1:0{width}d}" for i in range(n)])
    log.info(f"{n} individuals: {2 * len(ped.sib_pairs)} in {len(ped.sib_pairs)} sibling pairs, "
             f"{int(ped.group.sum())} in ancestry group B; {ped.n_founders_a + ped.n_founders_b} "
             f"founders simulated")

    lengths = gen.chromosome_lengths(n_snps=p.n_snps, n_chromosomes=p.n_chromosomes)
    chroms = list(range(1, p.n_chromosomes + 1))
    quota = np.floor(p.n_snps * np.array(lengths) / sum(lengths)).astype(int)
    quota[-1] += p.n_snps - quota.sum()
    genes = mod.draw_genes(rng=rng_for(p.seed, "genes"), chrom_lengths=dict(zip(chroms, lengths)),
                           n_genes=p.n_genes)
    sites: list[gen.ChromosomeSites] = []
    with log.step("coalescent simulation (msprime)"):
        for c, length, q in zip(_bar(progress, iterable=chroms, desc="msprime"), lengths, quota):
            sites.append(gen.simulate_chromosome(
                chromosome=c, length=length, pedigree=ped, n_common=int(q),
                genes=genes[genes.chromosome == c], maf_min=p.maf_min,
                seed_ancestry=_msprime_seed(p.seed, 1, c),
                seed_mutations=_msprime_seed(p.seed, 2, c),
                seed_thin=_msprime_seed(p.seed, 3, c), work_dir=work))
    variants = pd.concat([s.variants for s in sites], ignore_index=True)
    m = len(variants)
    if m < p.n_snps:
        log.warning(f"the simulated chromosomes hold {m} common biallelic variants, fewer than "
                    f"the {p.n_snps} requested; all are written")
    log.info(f"{m} variants on {len(chroms)} chromosomes "
             f"({', '.join(f'{s.chromosome}: {len(s.variants)}' for s in sites)}); "
             f"{sum(int((~s.is_common).sum()) for s in sites)} rare sites in {len(genes)} genes")

    if p.null:
        log.info("null cohort (h2 = 0): no major causal variants, no polygenic background and "
                 "no effect genes; images, standard phenotypes and the downstream grade carry "
                 "no genetic effect")
    # a null cohort plants nothing: n_causal is 0 (validated), the polygenic background empty
    assert p.n_causal is not None  # resolved by CohortParameters
    eff = tr.draw_effects(rng=rng_for(p.seed, "effects"), variants=variants, names=names,
                          n_causal=p.n_causal, causal_variance=p.causal_variance,
                          n_polygenic=0 if p.null else p.n_polygenic, spacing_bp=100_000,
                          pgs_noise=p.pgs_noise)
    stream = _stream(out=out, p=p, ped=ped, iid=iid, sites=sites, variants=variants, eff=eff,
                     n_genes=len(genes), log=log, progress=progress)

    burden = mod.burden_effects(rng=rng_for(p.seed, "burden"), carriers=stream["carriers"],
                                trait_index=[] if p.null else
                                [names.index(t) for t in img.IMAGE_TRAITS],
                                n_traits=len(names), effect_size=p.burden_effect)
    h2 = np.array([s.h2 if p.h2 is None else p.h2 for s in specs])
    latent = tr.finalize_traits(
        rng=rng_for(p.seed, "traits"), specs=specs, h2=h2, g_major=stream["g_major"],
        g_poly=stream["g_poly"], g_burden=burden.values,
        nongenetic=tr.nongenetic_design(specs=specs, age=demo.age, sex=demo.sex, group=ped.group),
        index=pd.Index(iid, name="IID"))
    log.info("realised h2: " + ", ".join(f"{k} {v:.3f}" for k, v in zip(names, latent.realised_h2)))
    for k, name in enumerate(names):
        if latent.poly_scale[k] == 0 and h2[k] > 0:
            log.warning(f"trait {name}: no polygenic background could reach h2 = {h2[k]} "
                        f"(realised {latent.realised_h2[k]:.3f})")
    with log.step("genetic PCs"):
        pcs = cov.genetic_pcs(panel=stream["pc_panel"], rng=rng_for(p.seed, "pcs"))
    pgs = mod.polygenic_scores(g_major=stream["g_major"], g_poly=stream["g_poly"],
                               poly_scale=latent.poly_scale, g_noise=stream["g_noise"])
    pheno_rng = rng_for(p.seed, "phenotypes")
    phenos = cov.standard_phenotypes(rng=pheno_rng, latent=latent.values, demo=demo)
    grade = cov.downstream_grade(rng=pheno_rng, latent=latent.values, demo=demo)
    diseases = dz.simulate_diseases(
        rngs=[rng_for(p.seed, "diseases", k) for k in range(len(p.diseases))], specs=p.diseases,
        latent=latent.values, genetic=latent.genetic, noise=latent.noise)
    for k, d in enumerate(diseases.specs):
        cases = diseases.status[:, k] == dz.CASE
        log.info(f"disease {d.name} (liability {d.loading} x {d.trait} + noise): "
                 f"{int(cases.sum())} cases ({cases.mean():.2%}; prevalence {d.prevalence}), "
                 f"liability h2 {diseases.realised_h2[k]:.3f}")
    with log.step("images"):
        manifest = _render_images(out=out, p=p, iid=iid, latent=latent.values, demo=demo,
                                  progress=progress)
    log.info(f"{len(manifest)} images of {manifest.IID.nunique()} individuals "
             f"({int((manifest.groupby('IID').size() == 2).sum())} with both eyes)")
    return write_outputs(out=out, p=p, iid=iid, ped=ped, demo=demo, variants=variants, eff=eff,
                         stream=stream, burden=burden, genes=genes, latent=latent, pcs=pcs,
                         pgs=pgs, phenos=phenos, grade=grade, diseases=diseases,
                         manifest=manifest, specs=specs,
                         version=__version__, log=log)


def _stream(*, out: Path, p: CohortParameters, ped: gen.Pedigree, iid: np.ndarray,
            sites: list[gen.ChromosomeSites], variants: pd.DataFrame, eff: tr.TraitEffects,
            n_genes: int, log: RunLog, progress: bool | None) -> dict:
    """The streaming pass: write both genotype files, accumulate everything per individual."""
    from .writers import BgenFileWriter, PlinkWriter

    n, m, t = ped.n, len(variants), len(eff.names)
    acc = {
        "g_major": np.zeros((n, t)), "g_poly": np.zeros((n, t)), "g_noise": np.zeros((n, t)),
        "carriers": np.zeros((n, n_genes), dtype=bool),
        "freq": np.zeros(m), "var": np.zeros(m), "missing": np.zeros(m),
        "shared": np.zeros(len(ped.sib_pairs)),
    }
    panel_idx = cov.pc_panel(founder_freq=variants["founder_freq"].to_numpy())
    slot = np.full(m, -1)
    slot[panel_idx] = np.arange(len(panel_idx))
    acc["pc_panel"] = np.zeros((n, len(panel_idx)), dtype=np.int8)
    bgen_order = rng_for(p.seed, "bgen_order").permutation(n)
    plink = PlinkWriter(out / "genotypes", fid=iid, iid=iid, variants=variants)
    bgen = BgenFileWriter(out / "genotypes.bgen", fid=iid, iid=iid, order=bgen_order,
                          variants=variants)
    offset = 0
    total = sum(len(s.positions) for s in sites)
    with log.step("streaming genotypes (PLINK, BGEN, genetic values)"), \
            _bar(progress, total=total, desc="genotypes", unit="site") as bar:
        for s in sites:
            meioses = gen.draw_meioses(rng=rng_for(p.seed, "meiosis", s.chromosome), pedigree=ped,
                                       chromosome=s.chromosome, length=s.length)
            rank = np.cumsum(s.is_common) - 1
            for b, blk in enumerate(gen.iter_site_blocks(sites=s, pedigree=ped, meioses=meioses,
                                                         block_size=p.block_size)):
                common = s.is_common[blk.site_index]
                gidx = offset + rank[blk.site_index[common]]
                d = blk.dosages[:, common].astype(np.float64)
                mu = d.mean(axis=0)
                acc["freq"][gidx] = mu / 2
                acc["var"][gidx] = d.var(axis=0)
                dc = d - mu
                acc["g_major"] += dc @ eff.beta_major[gidx]
                acc["g_poly"] += dc @ eff.beta_poly[gidx]
                acc["g_noise"] += dc @ eff.pgs_noise[gidx]
                acc["shared"] += blk.shared[:, common].sum(axis=1)
                miss = gen.missing_mask(rng=rng_for(p.seed, "missing", s.chromosome, b), n=n,
                                        b=len(gidx), rate=p.missing_rate)
                acc["missing"][gidx] = miss.mean(axis=0)
                called = d.astype(np.float32)
                called[miss] = np.nan
                in_panel = slot[gidx] >= 0
                acc["pc_panel"][:, slot[gidx][in_panel]] = np.where(
                    miss[:, in_panel], -1, blk.dosages[:, common][:, in_panel])
                plink.write(called)
                bgen.write(called)
                rare = ~common
                if rare.any():
                    genes_here = s.gene[blk.site_index[rare]]
                    dr = blk.dosages[:, rare] > 0
                    for g in np.unique(genes_here):
                        acc["carriers"][:, g] |= dr[:, genes_here == g].any(axis=1)
                bar.update(len(blk.site_index))
            offset += len(s.variants)
    plink.close()
    bgen.close()
    acc["shared"] /= max(m, 1)
    acc["bgen_order"] = bgen_order
    log.info(f"missing calls: {acc['missing'].mean():.2%} of genotypes")
    return acc


def _render_images(*, out: Path, p: CohortParameters, iid: np.ndarray, latent: pd.DataFrame,
                   demo: cov.Demographics, progress: bool | None) -> pd.DataFrame:
    """Render every eye; returns the manifest (IID, path, instance) in IID order."""
    template = img.make_template(image_size=p.image_size)
    casts = img.camera_casts(rng=rng_for(p.seed, "images"), n_centres=cov.N_CENTRES)
    eyes_rng = rng_for(p.seed, "images", 1)
    u = eyes_rng.random(len(iid))
    side = eyes_rng.random(len(iid)) < 0.5
    (out / "images").mkdir()
    rows = []
    values = latent[list(img.IMAGE_TRAITS)].to_numpy()
    for i in _bar(progress, iterable=range(len(iid)), desc="images", unit="person"):
        if u[i] < p.no_image_share:
            continue
        both = u[i] < p.no_image_share + p.two_eyes_share
        eyes = ["left", "right"] if both else (["right"] if side[i] else ["left"])
        centre = int(demo.centre[i][1:]) - 1
        for e, eye in enumerate(eyes):
            r = rng_for(p.seed, "images", 2, i, e)
            nuis = img.draw_nuisance(rng=r, right_eye=eye == "right", camera_cast=casts[centre])
            pic = img.render_eye(template=template, traits=dict(zip(img.IMAGE_TRAITS, values[i])),
                                 nuisance=nuis, rng=r)
            rel = f"images/{iid[i]}_{eye}.png"
            img.write_png(path=out / rel, image=pic)
            rows.append((iid[i], rel, eye))
    return pd.DataFrame(rows, columns=["IID", "path", "instance"])
