"""Files as PLINK 2, REGENIE and BOLT-LMM users have them give exactly the canonical result.

Each convention-variant input is written from the tiny cohort's canonical file, run through the
tool beside the canonical input, and the outputs are compared byte for byte (summary
statistics, null model, h2 table): reading a variant layout must change nothing downstream.
The second half walks malformed files through every tool: each must end in
``error: <file>: <what>`` with exit status 2, no traceback and no output file.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from contig_gwas.cli import _common
from contig_gwas.cli import gwas as gwas_cli
from contig_gwas.cli import h2 as h2_cli

PHENOS = ["systolic_bp", "cup_disc_ratio", "hba1c"]


# ------------------------------------------------------------------------------ helpers

def _gwas(tmp: Path, name: str, *args: str) -> dict[str, bytes]:
    """Run contig-gwas (exact mode, in process) and return {output name: decompressed bytes}."""
    out = tmp / name
    argv = [*args, "--out", str(out), "--no-progress", "--mode", "exact", "--overwrite"]
    assert _common.run(gwas_cli.main, argv) == 0, argv
    res = {}
    for p in sorted(tmp.glob(f"{name}.*")):
        if p.name.endswith(".sumstats.tsv.gz"):
            res[p.name[len(name):]] = gzip.decompress(p.read_bytes())
        elif p.name.endswith(".nullmodel.tsv"):
            res[p.name[len(name):]] = p.read_bytes()
    assert res, f"no outputs for {name}"
    return res


def _zstd(data: bytes) -> bytes:
    return pa.Codec("zstd").compress(data, asbytes=True)


@pytest.fixture(scope="module")
def cohort(tiny_cohort: Path, tmp_path_factory) -> dict:
    """The tiny cohort's canonical inputs, and a working directory."""
    d = tmp_path_factory.mktemp("conventions")
    pheno = pd.read_csv(tiny_cohort / "phenotypes.tsv", sep="\t", dtype=str)
    pheno = pheno[["FID", "IID", *PHENOS]]
    pheno.to_csv(d / "pheno.tsv", sep="\t", index=False)
    covar = pd.read_csv(tiny_cohort / "covariates.tsv", sep="\t", dtype=str)
    covar = covar[["FID", "IID", "sex", "age", "PC1", "PC2", "PC3"]]
    covar.to_csv(d / "covar.tsv", sep="\t", index=False)
    base = ["--bfile", str(tiny_cohort / "genotypes"), "--pheno", str(d / "pheno.tsv"),
            "--covar", str(d / "covar.tsv")]
    canonical = _gwas(d, "canonical", *base)
    return dict(dir=d, tiny=tiny_cohort, pheno=pheno, covar=covar, base=base,
                canonical=canonical)


def _with(base: list[str], flag: str, value: str) -> list[str]:
    out = list(base)
    out[out.index(flag) + 1] = value
    return out


# ------------------------------------------------------------------ phenotype/covariate tables

def _table_text(df: pd.DataFrame, *, header: str, ids: str = "FID IID", sep: str = "\t",
                eol: str = "\n") -> str:
    cols = ids.split() + [c for c in df.columns if c not in ("FID", "IID")]
    lines = [] if header == "none" else [header + sep.join(cols)]
    rows = df[cols].astype(str).to_numpy()
    for k, r in enumerate(rows):
        # mixed: alternate tab and space runs between fields
        s = sep if sep != "mixed" else None
        lines.append(s.join(r) if s else "".join(
            f + ("\t" if (j + k) % 2 else "  ") for j, f in enumerate(r)).rstrip())
    if sep == "mixed":
        lines[0] = lines[0].replace("mixed", " ")
    return eol.join(lines) + eol


TABLE_VARIANTS = {
    # name: (header prefix, ID columns, separator, line end, compression)
    "hash_fid_iid": ("#", "FID IID", "\t", "\n", None),
    "hash_iid_only": ("#", "IID", "\t", "\n", None),
    "iid_only": ("", "IID", "\t", "\n", None),
    "spaces": ("", "FID IID", " ", "\n", None),
    "tabs_and_spaces": ("", "FID IID", "mixed", "\n", None),
    "crlf": ("", "FID IID", "\t", "\r\n", None),
    "gzip": ("", "FID IID", "\t", "\n", "gz"),
    "zstd": ("#", "IID", " ", "\r\n", "zst"),
}


def _write_variant(path: Path, df: pd.DataFrame, spec) -> Path:
    header, ids, sep, eol, comp = spec
    text = _table_text(df, header=header, ids=ids, sep=sep, eol=eol).encode()
    if comp == "gz":
        text, path = gzip.compress(text), path.with_name(path.name + ".gz")
    elif comp == "zst":
        text, path = _zstd(text), path.with_name(path.name + ".zst")
    path.write_bytes(text)
    return path


@pytest.mark.parametrize("variant", sorted(TABLE_VARIANTS))
def test_phenotype_and_covariate_tables_as_plink2_reads_them(cohort, variant):
    d, spec = cohort["dir"], TABLE_VARIANTS[variant]
    p = _write_variant(d / f"pheno.{variant}.txt", cohort["pheno"], spec)
    c = _write_variant(d / f"covar.{variant}.txt", cohort["covar"], spec)
    argv = _with(_with(cohort["base"], "--pheno", str(p)), "--covar", str(c))
    assert _gwas(d, f"t_{variant}", *argv) == cohort["canonical"]


def test_headerless_plink1_phenotype_file(cohort):
    """PLINK 1 layout: FID IID value per line, no header; the columns are PHENO1, PHENO2, ..."""
    d = cohort["dir"]
    p = d / "pheno.noheader.txt"
    p.write_text(_table_text(cohort["pheno"], header="none", sep=" "))
    got = _gwas(d, "noheader", *_with(cohort["base"], "--pheno", str(p)))
    for k, name in enumerate(PHENOS, 1):
        assert got[f".PHENO{k}.sumstats.tsv.gz"] == cohort["canonical"][f".{name}.sumstats.tsv.gz"]


@pytest.mark.parametrize("spelling", [["systolic_bp-hba1c"], ["systolic_bp,cup_disc_ratio,hba1c"],
                                      ["systolic_bp", "cup_disc_ratio", "hba1c"],
                                      ["systolic_bp", "cup_disc_ratio-hba1c"]])
def test_name_lists_and_ranges(cohort, spelling):
    """--pheno-name A B, A,B and PLINK 2 ranges A-C all select the same columns."""
    d = cohort["dir"]
    key = "n_" + "_".join(spelling).replace(",", "_").replace("-", "to")
    got = _gwas(d, key, *cohort["base"], "--pheno-name", *spelling,
                "--covar-name", "sex,age", "PC1-PC3")
    ref = _gwas(d, "names_ref", *cohort["base"], "--pheno-name", *PHENOS,
                "--covar-name", "sex", "age", "PC1", "PC2", "PC3")
    assert got == ref


# ------------------------------------------------------------------ .fam, --keep, --remove

def test_fam_with_phenotype_columns(cohort):
    """GEMMA/BOLT-LMM keep phenotypes after the sixth .fam column; PLINK reads the first six."""
    d, tiny = cohort["dir"], cohort["tiny"]
    prefix = d / "wide"
    for ext in (".bed", ".bim"):
        shutil.copy(tiny / f"genotypes{ext}", f"{prefix}{ext}")
    fam = (tiny / "genotypes.fam").read_text().splitlines()
    Path(f"{prefix}.fam").write_text("".join(f"{ln}\t1.5 NA 3\t-9 0\n" for ln in fam))
    got = _gwas(d, "widefam", *_with(cohort["base"], "--bfile", str(prefix)))
    assert got == cohort["canonical"]


def _ids(df: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    return df.iloc[np.random.default_rng(seed).permutation(len(df))[:n]][["FID", "IID"]]


@pytest.mark.parametrize("layout", ["iid", "fid_iid", "hash_header", "iid_header", "three_cols"])
def test_keep_and_remove_lists(cohort, layout):
    d = cohort["dir"]
    keep, remove = _ids(cohort["pheno"], 300, 1), _ids(cohort["pheno"], 30, 2)

    def write(df, name, layout):
        lines = {"iid": [f"{i}" for i in df.IID],
                 "fid_iid": [f"{f} {i}" for f, i in zip(df.FID, df.IID)],
                 "hash_header": ["#FID\tIID"] + [f"{f}\t{i}" for f, i in zip(df.FID, df.IID)],
                 "iid_header": ["#IID"] + [f"{i}" for i in df.IID],
                 "three_cols": [f"{f} {i} x" for f, i in zip(df.FID, df.IID)]}[layout]
        p = d / f"{name}.{layout}.txt"
        p.write_text("\r\n".join(lines) + "\r\n")
        return str(p)

    ref = _gwas(d, "keep_ref", *cohort["base"], "--keep", write(keep, "keep", "fid_iid"),
                "--remove", write(remove, "remove", "fid_iid"))
    got = _gwas(d, f"keep_{layout}", *cohort["base"], "--keep", write(keep, "keep", layout),
                "--remove", write(remove, "remove", layout))
    assert got == ref
    assert got != cohort["canonical"]  # the lists did act


# ------------------------------------------------------------------ --extract / --exclude

def test_extract_and_exclude_equal_a_subset_fileset(cohort):
    """--extract L equals a .bed holding only L; --exclude L equals --extract of the rest."""
    import bed_reader

    d, tiny = cohort["dir"], cohort["tiny"]
    bim = pd.read_csv(tiny / "genotypes.bim", sep="\t", header=None, dtype=str)
    rng = np.random.default_rng(3)
    take = np.sort(rng.choice(len(bim), size=2000, replace=False))
    (d / "extract.txt").write_text("".join(f"{v}\tcol2\n" for v in bim[1].to_numpy()[take]))
    rest = np.setdiff1d(np.arange(len(bim)), take)
    (d / "exclude.txt.gz").write_bytes(gzip.compress(
        "".join(f"{v}\n" for v in bim[1].to_numpy()[rest]).encode()))
    # the subset fileset, written with bed-reader (hard calls survive float64 exactly)
    src = bed_reader.open_bed(tiny / "genotypes.bed", count_A1=True)
    prefix = d / "subset"
    bed_reader.to_bed(f"{prefix}.bed", src.read(index=np.s_[:, take], dtype="float64"),
                      count_A1=True)
    bim.iloc[take].to_csv(f"{prefix}.bim", sep="\t", header=False, index=False)
    shutil.copy(tiny / "genotypes.fam", f"{prefix}.fam")
    ref = _gwas(d, "subset_ref", *_with(cohort["base"], "--bfile", str(prefix)))
    assert _gwas(d, "extract", *cohort["base"], "--extract", str(d / "extract.txt")) == ref
    assert _gwas(d, "exclude", *cohort["base"], "--exclude", str(d / "exclude.txt.gz")) == ref


def test_extract_and_exclude_in_contig_h2(cohort):
    d = cohort["dir"]
    bim = pd.read_csv(cohort["tiny"] / "genotypes.bim", sep="\t", header=None, dtype=str)
    ids = bim[1].to_numpy()
    (d / "h2_extract.txt").write_text("\n".join(ids[::2]) + "\n")
    (d / "h2_exclude.txt").write_text("\n".join(ids[1::2]) + "\n")
    base = ["--bfile", str(cohort["tiny"] / "genotypes"), "--pheno", str(d / "pheno.tsv"),
            "--covar", str(d / "covar.tsv"), "--method", "reml"]
    outs = {}
    for name, extra in [("all", []), ("extract", ["--extract", str(d / "h2_extract.txt")]),
                        ("exclude", ["--exclude", str(d / "h2_exclude.txt")])]:
        assert _common.run(h2_cli.main, [*base, *extra, "--out", str(d / f"h2_{name}")]) == 0
        outs[name] = (d / f"h2_{name}.h2.tsv").read_bytes()
    assert outs["extract"] == outs["exclude"]
    assert outs["extract"] != outs["all"]


def test_contig_h2_reads_the_same_conventions(cohort):
    """contig-h2 with a #IID zstd phenotype table, a gz covariate table, a one-column keep list
    and --pheno-name as a range equals the canonical run."""
    d = cohort["dir"]
    p = _write_variant(d / "h2pheno.txt", cohort["pheno"], TABLE_VARIANTS["zstd"])
    c = _write_variant(d / "h2covar.txt", cohort["covar"], TABLE_VARIANTS["gzip"])
    keep = _ids(cohort["pheno"], 350, 4)
    (d / "h2keep.txt").write_text("\n".join(keep.IID) + "\n")
    (d / "h2keep2.txt").write_text("\n".join(f"{f}\t{i}" for f, i in zip(keep.FID, keep.IID)))
    geno = ["--bfile", str(cohort["tiny"] / "genotypes"), "--method", "reml"]
    ref = [*geno, "--pheno", str(d / "pheno.tsv"), "--covar", str(d / "covar.tsv"),
           "--keep", str(d / "h2keep2.txt"), "--pheno-name", "systolic_bp", "cup_disc_ratio"]
    var = [*geno, "--pheno", str(p), "--covar", str(c), "--keep", str(d / "h2keep.txt"),
           "--pheno-name", "systolic_bp-cup_disc_ratio"]
    assert _common.run(h2_cli.main, [*ref, "--out", str(d / "h2c_ref")]) == 0
    assert _common.run(h2_cli.main, [*var, "--out", str(d / "h2c_var")]) == 0
    assert (d / "h2c_ref.h2.tsv").read_bytes() == (d / "h2c_var.h2.tsv").read_bytes()


# ------------------------------------------------------------------ PGEN

def _plink2() -> str:
    exe = shutil.which("plink2")
    if exe is None:
        pytest.skip("plink2 is not installed")
    return exe


@pytest.mark.reference
def test_pgen_gives_the_bed_summary_statistics_byte_for_byte(cohort):
    d, tiny = cohort["dir"], cohort["tiny"]
    subprocess.run([_plink2(), "--bfile", str(tiny / "genotypes"), "--make-pgen",
                    "--out", str(d / "pg"), "--threads", "1"], check=True,
                   capture_output=True, env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    got = _gwas(d, "pgen", *cohort["base"][2:], "--pfile", str(d / "pg"))
    assert got == cohort["canonical"]
    # the scalable engine's 8-bit path reads PGEN hard calls as it reads .bed ones
    for name, geno in (("scal_bed", ["--bfile", str(tiny / "genotypes")]),
                       ("scal_pgen", ["--pfile", str(d / "pg")])):
        argv = [*geno, *cohort["base"][2:], "--out", str(d / name), "--no-progress",
                "--mode", "scalable"]
        assert _common.run(gwas_cli.main, argv) == 0
    for p in PHENOS:
        a = gzip.decompress((d / f"scal_bed.{p}.sumstats.tsv.gz").read_bytes())
        b = gzip.decompress((d / f"scal_pgen.{p}.sumstats.tsv.gz").read_bytes())
        assert a == b


@pytest.mark.reference
def test_pgen_dosages_agree_with_the_bgen_holding_them(cohort):
    """plink2 turns the cohort's BGEN into a PGEN with dosages; both runs test the same dosages
    up to PLINK 2's quantisation (multiples of 1/16384: |dg| <= 2^-15 per call).

    Tolerance, per variant, from that perturbation: with the variance components fixed, z is
    the projection of the adjusted phenotype on the adjusted genotype over their norms, so a
    perturbation dg of the genotype moves z by at most ||dg|| (||r|| / ||g||) / sigma + 2 |z|
    ||dg|| / ||g|| (Cauchy-Schwarz), where ||dg|| <= sqrt(n) 2^-15, ||g|| = sqrt(n) sd(g),
    sd(g) = sqrt(2 f (1 - f)) and ||r|| / sigma ~ sqrt(n): |dz| <= eps (sqrt(n) + 2 |z|) with
    eps = 2^-15 / sd(g); plus both files' beta and standard error written with 6 significant
    digits (half a unit each, relative 5e-6, on |z|)."""
    d, tiny = cohort["dir"], cohort["tiny"]
    sample = tiny / "genotypes.sample"
    subprocess.run([_plink2(), "--bgen", str(tiny / "genotypes.bgen"), "ref-first",
                    "--sample", str(sample), "--make-pgen", "--out", str(d / "pgd"),
                    "--threads", "1"], check=True, capture_output=True)
    common = [*cohort["base"][2:], "--chr", "2"]
    bg = _gwas(d, "dos_bgen", "--bgen", str(tiny / "genotypes.bgen"), "--sample", str(sample),
               *common)
    pg = _gwas(d, "dos_pgen", "--pfile", str(d / "pgd"), *common)
    import io

    for p in PHENOS:
        key = f".{p}.sumstats.tsv.gz"
        a = pd.read_csv(io.BytesIO(bg[key]), sep="\t")
        b = pd.read_csv(io.BytesIO(pg[key]), sep="\t")
        assert list(a.variant_id) == list(b.variant_id)
        assert (a.effect_allele == b.effect_allele).all()
        z_a = (a.beta / a.standard_error).to_numpy()
        z_b = (b.beta / b.standard_error).to_numpy()
        f = a.effect_allele_frequency.to_numpy()
        eps = 2.0 ** -15 / np.sqrt(2 * f * (1 - f))
        tol = eps * (np.sqrt(a.n.to_numpy()) + 2 * np.abs(z_a)) + 2e-5 * np.abs(z_a)
        assert np.all(np.abs(z_b - z_a) <= tol), float(np.max(np.abs(z_b - z_a) / tol))


# ------------------------------------------------------------------ malformed input

def _run_tool(tool: str, argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / f"contig-{tool}"
    if not exe.exists():
        exe = Path(__file__).resolve().parents[1] / "bin" / f"contig-{tool}"
    return subprocess.run([sys.executable, str(exe), *argv], cwd=cwd, capture_output=True,
                          text=True)


@pytest.fixture(scope="module")
def bad_files(cohort) -> dict[str, Path]:
    """Malformed inputs, one defect each."""
    d = cohort["dir"] / "bad"
    d.mkdir()
    tiny = cohort["tiny"]
    f = {}
    f["binary.tsv"] = d / "binary.tsv"
    f["binary.tsv"].write_bytes(bytes(range(256)) * 4)
    good = (d.parent / "pheno.tsv").read_bytes()
    f["truncated.tsv.gz"] = d / "truncated.tsv.gz"
    f["truncated.tsv.gz"].write_bytes(gzip.compress(good)[:200])
    f["ragged.tsv"] = d / "ragged.tsv"
    f["ragged.tsv"].write_text("FID IID y\n1 a 1\n2 b 2 3\n")
    f["text.tsv"] = d / "text.tsv"
    f["text.tsv"].write_text("FID IID systolic_bp\nID00001 ID00001 high\n")
    f["empty.tsv"] = d / "empty.tsv"
    f["empty.tsv"].write_text("")
    f["badheader.tsv"] = d / "badheader.tsv"
    f["badheader.tsv"].write_text("#ID y\na 1\n")
    # genotype filesets with one defect each
    for name, defect in [("fam5", "fam"), ("bimpos", "bim"), ("bedshort", "bed")]:
        prefix = d / name
        for ext in (".bed", ".bim", ".fam"):
            shutil.copy(tiny / f"genotypes{ext}", f"{prefix}{ext}")
        if defect == "fam":
            Path(f"{prefix}.fam").write_text("".join(
                " ".join(ln.split()[:5]) + "\n"
                for ln in (tiny / "genotypes.fam").read_text().splitlines()))
        elif defect == "bim":
            lines = (tiny / "genotypes.bim").read_text().splitlines()
            parts = lines[7].split("\t")
            parts[3] = "12x"
            lines[7] = "\t".join(parts)
            Path(f"{prefix}.bim").write_text("\n".join(lines) + "\n")
        else:
            data = Path(f"{prefix}.bed").read_bytes()
            Path(f"{prefix}.bed").write_bytes(data[:-100])
        f[name] = prefix
    f["noextract.txt"] = d / "noextract.txt"
    f["noextract.txt"].write_text("rs_not_there\n")
    f["manifest.tsv"] = d / "manifest.tsv"
    f["manifest.tsv"].write_text("IID\tfile\nID00001\tx.png\n")
    return f


def _bad_cases(cohort, f) -> list[tuple[str, list[str], str]]:
    d, tiny = cohort["dir"], cohort["tiny"]
    geno = ["--bfile", str(tiny / "genotypes")]
    ph = ["--pheno", str(d / "pheno.tsv")]
    cases = []
    for key in ["binary.tsv", "truncated.tsv.gz", "ragged.tsv", "text.tsv", "empty.tsv",
                "badheader.tsv"]:
        cases.append(("gwas", [*geno, "--pheno", str(f[key])], key))
        cases.append(("gwas", [*geno, *ph, "--covar", str(f[key])], key))
        cases.append(("gwas", [*geno, *ph, "--keep", str(f[key])], key)
                     if key in ("binary.tsv", "truncated.tsv.gz", "empty.tsv") else None)
        cases.append(("h2", [*geno, "--pheno", str(f[key])], key))
    for key, ext in [("fam5", ".fam"), ("bimpos", ".bim"), ("bedshort", ".bed")]:
        cases.append(("gwas", ["--bfile", str(f[key]), *ph], f"{key}{ext}"))
        cases.append(("h2", ["--bfile", str(f[key]), *ph], f"{key}{ext}"))
        cases.append(("report", ["--sumstats", str(d / "canonical.hba1c.sumstats.tsv.gz"),
                                 "--bfile", str(f[key])], f"{key}{ext}"))
    cases.append(("gwas", [*geno, *ph, "--extract", str(f["noextract.txt"])], "noextract.txt"))
    cases.append(("gwas", [*geno, *ph, "--exclude", str(d / "absent.txt")], "absent.txt"))
    cases.append(("gwas", ["--pfile", str(d / "absent_prefix"), *ph], "absent_prefix"))
    cases.append(("h2", [*geno, *ph, "--extract", str(f["binary.tsv"])], "binary.tsv"))
    cases.append(("pretrain", ["--manifest", str(f["manifest.tsv"]), "--method", "simclr"],
                  "manifest.tsv"))
    cases.append(("pretrain", ["--manifest", str(tiny / "manifest.tsv"), "--pgs",
                               str(f["ragged.tsv"])], "ragged.tsv"))
    cases.append(("pretrain", ["--manifest", str(tiny / "manifest.tsv"), "--bfile",
                               str(f["fam5"])], "fam5.fam"))
    cases.append(("report", ["--sumstats", str(f["binary.tsv"])], "binary.tsv"))
    return [c for c in cases if c is not None]


def test_malformed_files_end_in_a_clear_error_and_no_output(cohort, bad_files, tmp_path):
    failures = []
    for k, (tool, argv, named) in enumerate(_bad_cases(cohort, bad_files)):
        out = tmp_path / f"case{k}"
        out.mkdir()
        target = out / ("run" if tool != "pretrain" and tool != "report" else "res")
        res = _run_tool(tool, [*argv, "--out", str(target)], cwd=out)
        produced = sorted(p.name for p in out.rglob("*") if p.is_file()
                          and not p.name.endswith(".log"))
        last = (res.stderr.strip().splitlines() or [""])[-1]  # the log echoes above it
        ok = (res.returncode == 2 and last.startswith("error: ") and named in last
              and "Traceback" not in res.stderr and not produced)
        if not ok:
            failures.append(f"contig-{tool} {' '.join(argv)}\n  rc={res.returncode} "
                            f"outputs={produced}\n  last={last[-300:]}")
    assert not failures, "\n".join(failures)


def test_unplaced_chromosome_zero_is_refused_unless_excluded(cohort):
    """PLINK writes chromosome 0 for unplaced variants. They can be neither tested by
    chromosome nor left out by LOCO: a clear error names the count; --exclude of them runs,
    and equals the run on the fileset without them."""
    d, tiny = cohort["dir"], cohort["tiny"]
    prefix = d / "chr0"
    for ext in (".bed", ".fam"):
        shutil.copy(tiny / f"genotypes{ext}", f"{prefix}{ext}")
    bim = pd.read_csv(tiny / "genotypes.bim", sep="\t", header=None, dtype=str)
    moved = bim.index[bim[0] == "3"][:40]
    bim.loc[moved, 0] = "0"
    bim.to_csv(f"{prefix}.bim", sep="\t", header=False, index=False)
    argv = _with(cohort["base"], "--bfile", str(prefix))
    res = _run_tool("gwas", [*argv, "--out", str(d / "chr0_run")], cwd=d)
    assert res.returncode == 2 and "40 variants on chromosome 0" in res.stderr
    (d / "chr0.exclude").write_text("\n".join(bim.loc[moved, 1]) + "\n")
    (d / "chr0.extract").write_text("\n".join(bim.loc[~bim.index.isin(moved), 1]) + "\n")
    got = _gwas(d, "chr0_excluded", *argv, "--exclude", str(d / "chr0.exclude"))
    ref = _gwas(d, "chr0_ref", *cohort["base"], "--extract", str(d / "chr0.extract"))
    assert got == ref
