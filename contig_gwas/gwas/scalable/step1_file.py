"""Save and load step-1 results (``--step1-out`` / ``--step1-in``).

One ``.npz`` file (written atomically) holding, per phenotype group ``k``, the arrays of
``Step1Fit`` (``g{k}.U`` shape (C, N, P) float64, ``g{k}.ypy``, ``g{k}.delta`` ...), the
group's individual IDs (``g{k}.iid``) and a JSON header (``meta``) with the format name and
version, the LOCO flag, the step-1 settings and, per group, the phenotype and covariate names
and SHA-256 digests of the phenotype and covariate values. Loading checks all of them against
the current run, so a step-2 run scattered over chromosome chunks on a cluster can only use
step-1 results of the same individuals, phenotypes and covariates. Size: ``8 N C P`` bytes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, fields

import numpy as np

from ...errors import InputError
from ...outputs import atomic_path
from .step1 import Step1Fit, Step1Settings

__all__ = ["save_step1", "load_step1", "FORMAT", "VERSION", "digest"]

FORMAT = "contig-gwas-step1"
VERSION = 1
_ARRAYS = ("loco", "U", "ypy", "delta", "h2", "sg2", "se2", "loglik", "rho", "rho_cv", "vc_loco",
           "n_iter_lanczos", "n_iter_cg", "converged")


def digest(a: np.ndarray) -> str:
    """SHA-256 of an array's float64 values (C order)."""
    return hashlib.sha256(np.ascontiguousarray(a, dtype=np.float64).tobytes()).hexdigest()


def save_step1(path: str, *, fits: list[Step1Fit], iids: list[np.ndarray],
               Ys: list[np.ndarray], Xs: list[np.ndarray], covariate_names: list[list[str]],
               loco: bool, settings: Step1Settings) -> None:
    """Write the step-1 results of every group to ``path`` (.npz)."""
    groups: list[dict] = []
    meta = {"format": FORMAT, "version": VERSION, "loco": bool(loco),
            "settings": asdict(settings), "groups": groups}
    arrays: dict[str, np.ndarray] = {}
    for k, (f, iid, Y, X, cn) in enumerate(zip(fits, iids, Ys, Xs, covariate_names)):
        groups.append({"names": list(f.names), "covariates": list(cn),
                               "n": int(len(iid)), "y_sha256": digest(Y), "x_sha256": digest(X),
                               "n_model_variants": int(f.n_model_variants),
                               "n_covariates": int(f.n_covariates)})
        arrays[f"g{k}.iid"] = np.asarray(iid, dtype=str)
        for name in _ARRAYS:
            arrays[f"g{k}.{name}"] = np.asarray(getattr(f, name))
    arrays["meta"] = np.array(json.dumps(meta))
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)  # type: ignore[arg-type]  # numpy's stub: **kwds typed bool


def load_step1(path: str, *, iids: list[np.ndarray], Ys: list[np.ndarray],
               Xs: list[np.ndarray], names: list[list[str]], loco: bool,
               chromosomes: list[int]) -> tuple[list[Step1Fit], dict]:
    """Load step-1 results and check them against the current run.

    Args:
        iids, Ys, Xs, names: per group of the current run: individual IDs (N,), phenotypes
            (N, P), covariates (N, D), phenotype names.
        loco: the current run's LOCO flag.
        chromosomes: chromosome codes that step 2 will test.
    Returns:
        The fits (one per group) and the header.
    Raises:
        InputError naming the file and the mismatch.
    """
    try:
        z = np.load(path, allow_pickle=False)
        meta = json.loads(str(z["meta"]))
    except FileNotFoundError:
        raise InputError(f"--step1-in {path}: file not found") from None
    except Exception as e:  # noqa: BLE001 - any unreadable file is the user's input
        raise InputError(f"--step1-in {path}: not a contig-gwas step-1 file ({e})") from None
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise InputError(f"--step1-in {path}: format {meta.get('format')!r} version "
                         f"{meta.get('version')!r}, expected {FORMAT!r} version {VERSION}")
    if bool(meta["loco"]) != bool(loco):
        raise InputError(f"--step1-in {path}: fitted {'with' if meta['loco'] else 'without'} "
                         f"leave-one-chromosome-out, but this run is "
                         f"{'with' if loco else 'without (--no-loco)'}")
    groups = meta["groups"]
    if [g["names"] for g in groups] != [list(n) for n in names]:
        raise InputError(f"--step1-in {path}: fitted for phenotype groups "
                         f"{[g['names'] for g in groups]}, but this run has "
                         f"{[list(n) for n in names]}")
    fits = []
    for k, g in enumerate(groups):
        saved_iid = z[f"g{k}.iid"]
        if len(saved_iid) != len(iids[k]) or not np.array_equal(saved_iid,
                                                                  np.asarray(iids[k], str)):
            raise InputError(f"--step1-in {path}: phenotypes {g['names']} were fitted on "
                             f"{len(saved_iid)} individuals that differ from this run's "
                             f"{len(iids[k])} (other --keep/--remove, samples or missingness)")
        if g["y_sha256"] != digest(Ys[k]):
            raise InputError(f"--step1-in {path}: phenotype values of {g['names']} differ from "
                             f"this run's --pheno")
        if g["x_sha256"] != digest(Xs[k]):
            raise InputError(f"--step1-in {path}: covariates {g['covariates']} differ from this "
                             f"run's --covar")
        arr = {name: z[f"g{k}.{name}"] for name in _ARRAYS}
        fit = Step1Fit(names=list(g["names"]), n_model_variants=g["n_model_variants"],
                       n_covariates=g["n_covariates"], **arr)
        if loco:
            absent = sorted(set(chromosomes) - set(fit.loco.tolist()))
            if absent:
                raise InputError(f"--step1-in {path}: no leave-one-chromosome-out solve for "
                                 f"chromosome(s) {absent}; refit step 1 on genotypes that "
                                 f"include them")
        fits.append(fit)
    assert {f.name for f in fields(Step1Fit)} >= set(_ARRAYS)
    return fits, meta
