"""contig-gwas dataset layer and command line: bad input, phenotype groups, covariates,
BGEN, resumability, the driver both modes run through."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_gwas_data import write_cohort

from contig_gwas.cli import _common, gwas
from contig_gwas.errors import InputError
from contig_gwas.gwas.engine import GwasOptions, run_gwas
from contig_gwas.io.sumstats import COLUMNS, read_sumstats
from contig_gwas.runlog import NullLog


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return write_cohort(tmp_path_factory.mktemp("small"), n=150, m=360, n_chrom=3, seed=3,
                        sib_pairs=20)


def _run(argv):
    return _common.run(gwas.main, list(argv) + ["--no-progress"])


def _base(c, out, *extra):
    return ["--bfile", c.prefix, "--pheno", c.pheno, "--covar", c.covar, "--out", str(out),
            *extra]


def _outputs(d: Path):
    return sorted(p.name for p in d.iterdir() if not p.name.endswith(".log"))


def _bad(tmp_path, argv, *, expect, capsys):
    out = tmp_path / "o" / "run"
    rc = _run(argv + ["--out", str(out)] if "--out" not in argv else argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert expect in err, err
    left = _outputs(out.parent) if out.parent.exists() else []
    assert left == [], left   # nothing but the log
    return err


def test_outputs_schema_log_and_overwrite(small, tmp_path, capsys):
    out = tmp_path / "run"
    assert _run(_base(small, out, "--maf", "0.1", "--hwe", "1e-6", "--block-size", "100")) == 0
    names = ["T0", "T1", "T2", "NULL"]
    assert _outputs(tmp_path) == sorted([f"run.{n}.sumstats.tsv.gz" for n in names]
                                        + ["run.nullmodel.tsv"])
    s = read_sumstats(f"{out}.T0.sumstats.tsv.gz")
    assert list(s.columns) == COLUMNS
    assert (s.n == 150).sum() > 0 and s.n.max() == 150
    log = Path(f"{out}.log").read_text()
    for text in ("statistic: Wald", "lambda GC T0", "lambda GC NULL", "removed by QC",
                 "aligned: 150", "time scan"):
        assert text in log
    null = pd.read_csv(f"{out}.nullmodel.tsv", sep="\t", keep_default_na=False)
    assert set(null.columns) >= {"phenotype", "n", "sg2", "se2", "delta", "h2", "loglik",
                                 "n_iter"}
    assert len(null) == 4 * 3 and set(null.left_out_chromosome) == {1, 2, 3}
    # refuses to replace outputs without --overwrite
    assert _run(_base(small, out)) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert _run(_base(small, out, "--overwrite", "--ml", "--no-loco")) == 0
    null = pd.read_csv(f"{out}.nullmodel.tsv", sep="\t", keep_default_na=False)
    assert set(null.method) == {"ML"} and set(null.left_out_chromosome) == {"all"}


def test_missingness_groups_equal_separate_runs(small, tmp_path):
    ph = pd.read_csv(small.pheno, sep="\t")
    drop = ph.IID.iloc[::7]
    ph["T0m"] = ph.T0.where(~ph.IID.isin(drop))
    p = tmp_path / "pheno.tsv"
    ph.to_csv(p, sep="\t", index=False, na_rep="NA")
    keep_ids = tmp_path / "remove.txt"
    keep_ids.write_text("".join(f"{i} {i}\n" for i in drop))
    assert _run(["--bfile", small.prefix, "--pheno", str(p), "--pheno-name", "T0,T0m,T1",
                 "--covar", small.covar, "--out", str(tmp_path / "all")]) == 0
    assert _run(["--bfile", small.prefix, "--pheno", str(p), "--pheno-name", "T0",
                 "--covar", small.covar, "--remove", str(keep_ids),
                 "--out", str(tmp_path / "sep")]) == 0
    a = read_sumstats(tmp_path / "all.T0m.sumstats.tsv.gz")
    b = read_sumstats(tmp_path / "sep.T0.sumstats.tsv.gz")
    # the same computation on copies laid out differently may differ by round-off, which can
    # move a value written with 6 significant digits by one unit in its last digit: at most
    # 1e-5 relative (mantissa 1.00000), assert_frame_equal's rtol
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-5)
    full = read_sumstats(tmp_path / "all.T0.sumstats.tsv.gz")
    assert full.n.max() == 150 and a.n.max() == 150 - len(drop)


def test_covariates_dropped_and_missing_counted(small, tmp_path):
    cv = pd.read_csv(small.covar, sep="\t")
    cv["const"] = 1.0
    cv["age2"] = 2 * cv.age + 1
    cv.loc[[3, 8, 9], "sex"] = np.nan
    p = tmp_path / "covar.tsv"
    cv.to_csv(p, sep="\t", index=False, na_rep="NA")
    out = tmp_path / "run"
    assert _run(["--bfile", small.prefix, "--pheno", small.pheno, "--covar", str(p),
                 "--pheno-name", "T0", "--out", str(out)]) == 0
    log = Path(f"{out}.log").read_text()
    assert "3 individuals have a missing covariate" in log
    assert "covariate const is constant; dropped" in log
    assert "covariate age2 is collinear" in log
    assert read_sumstats(f"{out}.T0.sumstats.tsv.gz").n.max() == 147


def test_constant_and_missing_phenotypes_skipped(small, tmp_path, capsys):
    ph = pd.read_csv(small.pheno, sep="\t")
    ph["CONST"] = 2.5
    ph["EMPTY"] = np.nan
    p = tmp_path / "pheno.tsv"
    ph.to_csv(p, sep="\t", index=False, na_rep="NA")
    out = tmp_path / "run"
    assert _run(["--bfile", small.prefix, "--pheno", str(p), "--pheno-name", "T0,CONST,EMPTY",
                 "--covar", small.covar, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "phenotype CONST is constant" in err and "phenotype EMPTY is missing" in err
    assert sorted(p.name for p in tmp_path.glob("run.*.sumstats.tsv.gz")) == \
        ["run.T0.sumstats.tsv.gz"]
    err = _bad(tmp_path, ["--bfile", small.prefix, "--pheno", str(p), "--pheno-name",
                          "CONST,EMPTY", "--covar", small.covar], expect="no usable phenotype",
               capsys=capsys)
    assert str(p) in err


def test_bad_samples(small, tmp_path, capsys):
    ph = pd.read_csv(small.pheno, sep="\t")
    other = ph.assign(IID="x" + ph.IID, FID="x" + ph.FID)
    p = tmp_path / "other.tsv"
    other.to_csv(p, sep="\t", index=False)
    _bad(tmp_path, ["--bfile", small.prefix, "--pheno", str(p)], expect="do not overlap",
         capsys=capsys)
    dup = pd.concat([ph, ph.iloc[:2]])
    p2 = tmp_path / "dup.tsv"
    dup.to_csv(p2, sep="\t", index=False)
    err = _bad(tmp_path, ["--bfile", small.prefix, "--pheno", str(p2)], expect="duplicate IID",
               capsys=capsys)
    assert str(p2) in err


def _copy_bfile(c, d: Path) -> str:
    d.mkdir()
    for ext in (".bed", ".bim", ".fam"):
        shutil.copy(c.prefix + ext, d / ("geno" + ext))
    return str(d / "geno")


def test_bad_genotypes(small, tmp_path, capsys):
    pre = _copy_bfile(small, tmp_path / "trunc")
    data = Path(pre + ".bed").read_bytes()
    Path(pre + ".bed").write_bytes(data[:len(data) // 2])
    err = _bad(tmp_path, ["--bfile", pre, "--pheno", small.pheno], expect="truncated",
               capsys=capsys)
    assert pre + ".bed" in err
    pre = _copy_bfile(small, tmp_path / "chrom")
    bim = pd.read_csv(pre + ".bim", sep="\t", header=None, dtype=str)
    bim.loc[5, 0] = "chrQ"
    bim.to_csv(pre + ".bim", sep="\t", header=False, index=False)
    err = _bad(tmp_path, ["--bfile", pre, "--pheno", small.pheno],
               expect="unknown chromosome name", capsys=capsys)
    assert ".bim" in err
    _bad(tmp_path, ["--bfile", small.prefix, "--pheno", small.pheno, "--chr", "Q"],
         expect="unknown chromosome name", capsys=capsys)
    _bad(tmp_path, ["--bfile", small.prefix, "--pheno", small.pheno, "--range", "2:5-1"],
         expect="--range", capsys=capsys)


def test_loco_needs_two_chromosomes(small, tmp_path, capsys):
    one = write_cohort(tmp_path / "one", n=80, m=100, n_chrom=1, seed=4, sib_pairs=5)
    _bad(tmp_path, ["--bfile", one.prefix, "--pheno", one.pheno], expect="--no-loco",
         capsys=capsys)
    out = tmp_path / "ok"
    assert _run(["--bfile", one.prefix, "--pheno", one.pheno, "--no-loco", "--pheno-name", "T0",
                 "--out", str(out)]) == 0
    # --chr selects the tested variants; the similarity stays genome-wide (minus chromosome 2)
    full, part = tmp_path / "full", tmp_path / "part"
    assert _run(_base(small, full, "--pheno-name", "T0")) == 0
    assert _run(_base(small, part, "--pheno-name", "T0", "--chr", "2")) == 0
    a = read_sumstats(f"{full}.T0.sumstats.tsv.gz")
    b = read_sumstats(f"{part}.T0.sumstats.tsv.gz")
    assert set(b.chromosome) == {2}
    # one unit in the 6th significant digit at most (see the missingness-group test)
    pd.testing.assert_frame_equal(a[a.chromosome == 2].reset_index(drop=True), b,
                                  check_exact=False, rtol=1e-5)


def test_resume_after_interruption_is_identical(small, tmp_path):
    ref = tmp_path / "ref"
    assert _run(_base(small, ref, "--block-size", "50")) == 0
    out = tmp_path / "run"
    opts = GwasOptions(out=str(out), pheno=small.pheno, bfile=small.prefix, covar=small.covar,
                       block_size=50, progress=False)
    with pytest.raises(RuntimeError, match="injected failure"):
        run_gwas(opts, fail_after_chunks=3)
    chunks = Path(f"{out}.chunks")
    assert len(list(chunks.glob("chunk_*.done"))) == 3
    assert not list(tmp_path.glob("run.*.sumstats.tsv.gz"))
    # a chunk cut short by a kill: data without its marker, and a stale temporary file
    (chunks / "chunk_000004.npz").write_bytes(b"partial garbage")
    (chunks / ".chunk_000005.npz.xyz.part").write_bytes(b"partial")
    assert _run(_base(small, out, "--block-size", "50")) == 0
    log = Path(f"{out}.log").read_text()
    assert "resuming" in log and "3 of 9 chunks finished" in log
    assert not chunks.exists()
    # the resumed chunks run the same code on the same inputs (the similarity reloaded
    # exactly from its .npy files, one BLAS thread): byte-identical outputs
    for name in ("T0", "T1", "T2", "NULL"):
        # the gzip header holds the temporary file name; the content must be identical
        a = gzip.decompress(Path(f"{ref}.{name}.sumstats.tsv.gz").read_bytes())
        b = gzip.decompress(Path(f"{out}.{name}.sumstats.tsv.gz").read_bytes())
        assert a == b, name
    assert Path(f"{ref}.nullmodel.tsv").read_text() == Path(f"{out}.nullmodel.tsv").read_text()


def test_resume_refuses_other_settings(small, tmp_path, capsys):
    out = tmp_path / "run"
    opts = GwasOptions(out=str(out), pheno=small.pheno, bfile=small.prefix, block_size=100,
                       progress=False)
    with pytest.raises(RuntimeError):
        run_gwas(opts, fail_after_chunks=1)
    assert _run(["--bfile", small.prefix, "--pheno", small.pheno, "--maf", "0.2", "--out",
                 str(out)]) == 2
    assert "resume" in capsys.readouterr().err
    assert _run(["--bfile", small.prefix, "--pheno", small.pheno, "--maf", "0.2", "--out",
                 str(out), "--overwrite"]) == 0


def test_grm_bfile_same_genotypes_gives_same_results(small, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert _run(_base(small, a, "--pheno-name", "T0")) == 0
    assert _run(_base(small, b, "--pheno-name", "T0", "--grm-bfile", small.prefix)) == 0
    # one unit in the 6th significant digit at most (see the missingness-group test)
    pd.testing.assert_frame_equal(read_sumstats(f"{a}.T0.sumstats.tsv.gz"),
                                  read_sumstats(f"{b}.T0.sumstats.tsv.gz"),
                                  check_exact=False, rtol=1e-5)


@pytest.mark.slow
def test_resume_after_kill_9(tmp_path):
    """A real kill -9 of the command mid-scan, then the same command again."""
    import os
    import signal
    import subprocess
    import sys
    import time

    c = write_cohort(tmp_path / "c", n=120, m=3000, n_chrom=3, seed=8, sib_pairs=10)
    argv = ["--bfile", c.prefix, "--pheno", c.pheno, "--covar", c.covar, "--block-size", "15",
            "--no-progress"]
    ref = tmp_path / "ref"
    assert _run(argv + ["--out", str(ref)]) == 0
    out = tmp_path / "run"
    exe = Path(__file__).resolve().parents[1] / "bin" / "contig-gwas"
    env = dict(os.environ, PYTHONPATH=str(exe.parents[1]))
    proc = subprocess.Popen([sys.executable, str(exe), *argv, "--out", str(out)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    chunks = Path(f"{out}.chunks")
    deadline = time.time() + 300
    while proc.poll() is None and time.time() < deadline:
        if len(list(chunks.glob("chunk_*.done"))) >= 3:
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.wait()
    if proc.returncode == 0:
        pytest.skip("the run finished before it could be killed")
    assert proc.returncode == -signal.SIGKILL
    n_done = len(list(chunks.glob("chunk_*.done")))
    assert 3 <= n_done < 200 and not list(tmp_path.glob("run.*.sumstats.tsv.gz"))
    assert _run(argv + ["--out", str(out)]) == 0
    assert "resuming" in Path(f"{out}.log").read_text()
    for name in ("T0", "T1", "T2", "NULL"):
        a = gzip.decompress(Path(f"{ref}.{name}.sumstats.tsv.gz").read_bytes())
        b = gzip.decompress(Path(f"{out}.{name}.sumstats.tsv.gz").read_bytes())
        assert a == b, name


def test_mode_option(small, tmp_path):
    out = tmp_path / "exact"
    assert _run(_base(small, out, "--pheno-name", "T0", "--mode", "exact")) == 0
    assert "mode: exact (requested)" in Path(f"{out}.log").read_text()
    out = tmp_path / "auto"
    assert _run(_base(small, out, "--pheno-name", "T0")) == 0   # 150 individuals: exact
    assert "mode: exact (auto)" in Path(f"{out}.log").read_text()
    assert _run(_base(small, tmp_path / "bad", "--step1-out", str(tmp_path / "s.npz"),
                      "--mode", "exact")) == 2


@pytest.mark.parametrize("mode", [[], ["--linear"]])
def test_no_variant_passing_qc_is_an_error(small, tmp_path, capsys, mode):
    # MAF >= 0.5 with HWE p >= 0.9999 leaves no variant of this cohort
    _bad(tmp_path, _base(small, tmp_path / "o" / "run", "--maf", "0.5", "--hwe", "0.9999", *mode),
         expect="no variant passed QC", capsys=capsys)


class _Lines(NullLog):
    """A NullLog that keeps the lines written to it."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def _write(self, line: str, *, echo: bool | None = None) -> None:
        self.lines.append(line)


@pytest.mark.parametrize("mode", ["exact", "exact-no-loco", "linear", "scalable"])
def test_every_mode_runs_through_the_driver_and_resumes_byte_for_byte(small, tmp_path,
                                                                      monkeypatch, mode):
    """Both engines are ``driver.GwasMode``s run by ``driver.scan_run``; an interrupted run,
    resumed, writes the fresh run's bytes (summary statistics and null-model table)."""
    from contig_gwas.gwas import driver
    from contig_gwas.gwas.scalable.engine import run_gwas_scalable

    merged = []

    def spy(**kw):
        merged.append(kw["store"].dir.name)
        return real(**kw)

    real = driver.merge_results
    monkeypatch.setattr(driver, "merge_results", spy)
    fn = run_gwas_scalable if mode == "scalable" else run_gwas
    opts = dict(pheno=small.pheno, bfile=small.prefix, covar=small.covar, block_size=50,
                progress=False, loco=mode != "exact-no-loco", linear=mode == "linear")
    fresh = fn(GwasOptions(out=str(tmp_path / "fresh"), **opts))
    with pytest.raises(RuntimeError, match="injected failure after 2 chunks"):
        fn(GwasOptions(out=str(tmp_path / "cut"), **opts), fail_after_chunks=2)
    log = _Lines()
    resumed = fn(GwasOptions(out=str(tmp_path / "cut"), **opts), log=log)
    assert merged == ["fresh.chunks", "cut.chunks"]
    assert resumed.resumed_chunks == 2 and fresh.resumed_chunks == 0
    assert "resuming" in "\n".join(log.lines)
    if mode != "linear":
        reused = ("step 1: reused from the interrupted run" if mode == "scalable"
                  else "genetic similarity: reused from the interrupted run")
        assert reused in log.lines
    assert (resumed.lambda_gc, resumed.n_variants_tested, resumed.qc_removed) == \
        (fresh.lambda_gc, fresh.n_variants_tested, fresh.qc_removed)
    assert list(resumed.sumstats) == list(fresh.sumstats) == ["T0", "T1", "T2", "NULL"]
    for name, path in fresh.sumstats.items():
        # the gzip header holds the temporary file name; the content must be identical
        assert gzip.decompress(Path(path).read_bytes()) == \
            gzip.decompress(Path(resumed.sumstats[name]).read_bytes()), name
    if mode == "linear":
        assert fresh.nullmodel is None and resumed.nullmodel is None
    else:
        assert Path(fresh.nullmodel).read_bytes() == Path(resumed.nullmodel).read_bytes()
    assert not (tmp_path / "cut.chunks").exists()


def test_loco_kinship_saves_and_loads_itself(tmp_path):
    """``LocoKinship.save``/``load``: products spilled to disk or held in memory; the loaded
    similarity gives the saved one's kernels to the last bit."""
    from contig_gwas.gwas.kinship import KinshipAccumulator, LocoKinship

    rng = np.random.default_rng(5)
    d = rng.binomial(2, 0.3, size=(40, 90)).astype(float)
    d[rng.random(d.shape) < 0.02] = np.nan
    chrom = np.repeat([1, 2, 4], 30)
    for spill in (tmp_path / "spill", None):
        acc = KinshipAccumulator(n=40, spill_dir=spill, prefix="g0")
        acc.add(d[:, :50], chromosomes=chrom[:50])
        acc.add(d[:, 50:], chromosomes=chrom[50:])
        kin = acc.finish()
        path = tmp_path / f"{'spilled' if spill else 'memory'}" / "g0.json"
        path.parent.mkdir()
        kin.save(path)
        back = LocoKinship.load(path)
        assert back.n == 40 and back.n_variants == kin.n_variants
        assert back.chrom_count == kin.chrom_count and back.chrom_trace == kin.chrom_trace
        assert np.array_equal(back.total, kin.total)
        for leave_out in (None, 1, 2, 4, 3):
            assert np.array_equal(back.kernel(leave_out=leave_out),
                                  kin.kernel(leave_out=leave_out)), leave_out


def test_no_private_names_across_gwas_and_heritability_modules():
    """No module of ``contig_gwas.gwas`` or ``contig_gwas.heritability`` imports an
    underscore name from another module or reaches one through a module attribute."""
    import ast

    root = Path(__file__).resolve().parents[1] / "contig_gwas"
    found = []
    for pkg in ("gwas", "heritability"):
        for path in sorted((root / pkg).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                names = ([a.name for a in node.names] if isinstance(node, ast.ImportFrom)
                         else [node.attr] if isinstance(node, ast.Attribute)
                         and not (isinstance(node.value, ast.Name)
                                  and node.value.id in ("self", "cls")) else [])
                found += [f"{path.relative_to(root)}:{node.lineno}: {n}" for n in names
                          if n.startswith("_") and not n.startswith("__")]
    assert found == []


# ---- threads -----------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["exact", "linear", "scalable"])
def test_outputs_are_the_same_bytes_for_any_thread_count(small, tmp_path, monkeypatch, mode):
    """Chunks, model builds, similarity tiles and step-1 tasks are fixed pieces of work summed
    in a fixed order: 1, 2 and 3 threads write the same bytes, and a run interrupted with one
    thread resumes with three (the thread count is not part of the chunk signature)."""
    from contig_gwas.gwas import kinship
    from contig_gwas.gwas.scalable.engine import run_gwas_scalable

    monkeypatch.setattr(kinship, "TILE", 64)    # several tiles of Z Z' for N = 150
    fn = run_gwas_scalable if mode == "scalable" else run_gwas
    opts = dict(pheno=small.pheno, bfile=small.prefix, covar=small.covar, block_size=40,
                progress=False, linear=mode == "linear")
    files = {}
    for t in (1, 2, 3):
        s = fn(GwasOptions(out=str(tmp_path / f"t{t}"), threads=t, **opts))
        files[t] = [Path(p).read_bytes() for p in list(s.sumstats.values())
                    + ([s.nullmodel] if s.nullmodel else [])]
        assert len(files[t]) >= 3
    assert files[1] == files[2] == files[3]
    with pytest.raises(RuntimeError, match="injected failure"):
        fn(GwasOptions(out=str(tmp_path / "cut"), threads=1, **opts), fail_after_chunks=3)
    s = fn(GwasOptions(out=str(tmp_path / "cut"), threads=3, **opts))
    assert s.resumed_chunks == 3
    assert [Path(p).read_bytes() for p in list(s.sumstats.values())
            + ([s.nullmodel] if s.nullmodel else [])] == files[1]


def test_threads_default_to_the_cpus_this_process_may_use(small, tmp_path, monkeypatch):
    """--threads defaults to SLURM_CPUS_PER_TASK in a SLURM job, else to the affinity mask
    (taskset, cgroups); the parser leaves it unresolved, so the manual does not depend on the
    machine."""
    monkeypatch.delenv("SLURM_CPUS_PER_TASK", raising=False)
    monkeypatch.setattr(_common.os, "sched_getaffinity", lambda pid: {0, 3, 5})
    assert _common.available_cpus() == 3
    assert _common.check_threads(None) == 3 and _common.check_threads(2) == 2
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "7")
    assert _common.available_cpus() == 7
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "")       # set but empty: the affinity mask
    assert _common.available_cpus() == 3
    with pytest.raises(InputError, match="--threads must be positive"):
        _common.check_threads(0)
    assert gwas.build_parser().parse_args(_base(small, tmp_path / "x")).threads is None
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "2")
    assert _run(_base(small, tmp_path / "ols", "--linear")) == 0
    assert "threads: 2" in (tmp_path / "ols.log").read_text()
