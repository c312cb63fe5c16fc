"""The inputs of a GWAS run, prepared once for both engines (exact and scalable).

``prepare_inputs`` opens the genotypes (and ``--grm-bfile``), reads the phenotype and
covariate tables, aligns individuals across all of them (with ``--keep``/``--remove`` and a
report of who was dropped where), drops individuals with a missing covariate, and groups the
phenotypes by missingness pattern (``design.group_phenotypes``). Every problem is an
``InputError`` naming the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..io.align import align_samples
from ..io.genotypes import GenotypeSource, open_genotypes
from ..io.tables import read_id_list, read_table
from ..runlog import RunLog
from .binary.detect import decide_binary
from .design import PhenotypeGroup, group_phenotypes

__all__ = ["GwasInputs", "prepare_inputs"]


@dataclass
class GwasInputs:
    """Aligned inputs of one run.

    Attributes:
        source: the test genotypes.
        grm: the ``--grm-bfile`` genotypes (None: the similarity comes from ``source``).
        groups: phenotype groups (rows index the analysed individuals).
        iid: analysed individuals, in analysis order.
        geno_rows: their rows in ``source``.
        grm_rows: their rows in ``grm`` (``geno_rows`` without one).
        n_counts: individuals left after each step (for the summary).
    """

    source: GenotypeSource
    grm: GenotypeSource | None
    groups: list[PhenotypeGroup]
    iid: np.ndarray
    geno_rows: np.ndarray
    grm_rows: np.ndarray
    n_counts: dict = field(default_factory=dict)


def prepare_inputs(o, log: RunLog, *, use_grm: bool = True) -> GwasInputs:
    """Open, read and align the inputs of ``o`` (a ``GwasOptions``).

    Args:
        use_grm: open ``o.grm_bfile`` (False for ordinary least squares, which has none).
    """
    source = open_genotypes(bfile=o.bfile, pfile=o.pfile, bgen=o.bgen, sample=o.sample,
                            extract=o.extract, exclude=o.exclude)
    gkey = f"genotypes {source.path}"
    pheno = read_table(o.pheno, kind="phenotype", columns=o.pheno_names)
    covar = read_table(o.covar, kind="covariate", columns=o.covar_names) if o.covar else None
    for note in (covar.notes if covar else []):
        log.info(f"{o.covar}: {note}")
    grm = open_genotypes(bfile=o.grm_bfile) if (o.grm_bfile and use_grm) else None
    pkey, ckey = f"phenotypes {pheno.path}", f"covariates {o.covar}"
    rkey = f"--grm-bfile {o.grm_bfile}"
    sources = {gkey: source.samples["IID"].to_numpy(), pkey: pheno.iid}
    if covar is not None:
        sources[ckey] = covar.iid
    if grm is not None:
        sources[rkey] = grm.samples["IID"].to_numpy()
    al = align_samples(sources, keep=read_id_list(o.keep) if o.keep else None,
                       remove=read_id_list(o.remove) if o.remove else None, min_overlap=3)
    for line in al.report:
        log.info("samples: " + line)
    n_counts = {"aligned": al.n}
    if covar is not None:
        C, cnames = covar.values.to_numpy()[al.index[ckey]], covar.columns
    else:
        C, cnames = np.zeros((al.n, 0)), []
    cmiss = np.isnan(C).any(axis=1)
    if cmiss.any():
        log.warning(f"{o.covar}: {int(cmiss.sum())} individuals have a missing covariate; dropped")
    ana = np.flatnonzero(~cmiss)
    n_counts["complete covariates"] = len(ana)
    log.info(f"samples: {len(ana)} individuals with complete covariates")
    if len(ana) < 3:
        raise InputError(f"{o.covar}: only {len(ana)} individuals have all covariates")
    Y = pheno.values.to_numpy()[al.index[pkey]][ana]
    Y, decisions = decide_binary(Y, list(pheno.columns), spec=getattr(o, "binary", "none"),
                                 source=pheno.path)
    for d in decisions:
        if d.note:
            log.warning(f"{pheno.path}: {d.note}")
        if d.binary:
            log.info(f"phenotype {d.name}: binary (coded {d.coding}), {d.n_cases} cases and "
                     f"{d.n_controls} controls")
    binary = {d.name for d in decisions if d.binary}
    groups, warns = group_phenotypes(Y, pheno.columns, C=C[ana], covariate_names=cnames,
                                     binary=binary)
    for w in warns:
        log.warning(f"{pheno.path}: {w}")
    if not groups:
        raise InputError(f"{pheno.path}: no usable phenotype (all skipped: {'; '.join(warns)})")
    for k, g in enumerate(groups):
        for w in g.warnings:
            log.warning(f"{o.covar}: {w} (phenotypes {', '.join(g.names)})")
        log.info(f"group {k}: {g.n} individuals, {len(g.names)} "
                 f"{'binary ' if g.binary else ''}phenotypes "
                 f"({', '.join(g.names)}), covariates {', '.join(g.covariate_names)}")
        n_counts[f"group {k}"] = g.n
    geno_rows = al.index[gkey][ana]
    return GwasInputs(source=source, grm=grm, groups=groups, iid=np.asarray(al.iid)[ana],
                      geno_rows=geno_rows,
                      grm_rows=al.index[rkey][ana] if grm is not None else geno_rows,
                      n_counts=n_counts)
