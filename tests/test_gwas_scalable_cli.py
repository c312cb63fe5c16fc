"""contig-gwas --mode scalable on the command line: --step1-out / --step1-in, --mode auto."""

from __future__ import annotations

from pathlib import Path

import pytest
from gwas_cohort import write_cohort

from contig_gwas.cli import _common, gwas
from contig_gwas.io.sumstats import read_sumstats


def _run(argv):
    return _common.run(gwas.main, list(argv) + ["--no-progress"])


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return write_cohort(tmp_path_factory.mktemp("small_cli"), n=150, m=360, n_chrom=3, seed=3,
                        sib_pairs=20)


def test_scalable_mode_step1_out_and_in(small, tmp_path, capsys):
    base = ["--bfile", small.prefix, "--pheno", small.pheno, "--covar", small.covar]
    s1 = tmp_path / "step1.npz"
    assert _run(base + ["--mode", "scalable", "--step1-out", str(s1),
                        "--out", str(tmp_path / "a")]) == 0
    assert s1.exists()
    log = Path(f"{tmp_path / 'a'}.log").read_text()
    assert "mode: scalable" in log and "BOLT-LMM-inf" in log
    assert _run(base + ["--mode", "scalable", "--step1-in", str(s1), "--chr", "2",
                        "--out", str(tmp_path / "b")]) == 0
    a = read_sumstats(f"{tmp_path / 'a'}.T0.sumstats.tsv.gz")
    b = read_sumstats(f"{tmp_path / 'b'}.T0.sumstats.tsv.gz")
    assert (a[a.chromosome == 2].neg_log10_p_value.to_numpy()
            == b.neg_log10_p_value.to_numpy()).all()
    # auto picks exact for 150 individuals; --step1-in needs the scalable mode
    assert _run(base + ["--out", str(tmp_path / "c")]) == 0
    assert "mode: exact (auto)" in Path(f"{tmp_path / 'c'}.log").read_text()
    capsys.readouterr()
    assert _run(base + ["--mode", "exact", "--step1-in", str(s1),
                        "--out", str(tmp_path / "d")]) == 2
    assert "--mode scalable" in capsys.readouterr().err


def test_step1_only_fits_saves_and_tests_nothing(small, tmp_path, capsys):
    """--step1-only writes the step-1 file and no summary statistics; step 2 from it equals a
    run that fits step 1 itself; without --step1-out it is refused."""
    import numpy as np

    base = ["--bfile", small.prefix, "--pheno", small.pheno, "--covar", small.covar,
            "--mode", "scalable"]
    s1 = tmp_path / "only.npz"
    assert _run(base + ["--step1-only", "--step1-out", str(s1),
                        "--out", str(tmp_path / "o")]) == 0
    assert s1.exists() and not list(tmp_path.glob("o.*.sumstats.tsv.gz"))
    assert "no variant tested (--step1-only)" in Path(f"{tmp_path / 'o'}.log").read_text()
    assert _run(base + ["--step1-in", str(s1), "--out", str(tmp_path / "x")]) == 0
    assert _run(base + ["--out", str(tmp_path / "y")]) == 0
    x = read_sumstats(f"{tmp_path / 'x'}.T0.sumstats.tsv.gz")
    y = read_sumstats(f"{tmp_path / 'y'}.T0.sumstats.tsv.gz")
    assert np.array_equal(x.neg_log10_p_value.to_numpy(), y.neg_log10_p_value.to_numpy())
    capsys.readouterr()
    assert _run(base + ["--step1-only", "--out", str(tmp_path / "z")]) == 2
    assert "--step1-only needs --step1-out" in capsys.readouterr().err
