"""Foundation I/O: genotype readers, tables, alignment, sumstats, logs, safe outputs."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from contig_gwas.chrom import normalise_chromosome, parse_chromosome_list
from contig_gwas.errors import InputError
from contig_gwas.io.align import align_samples
from contig_gwas.io.genotypes import (
    BgenSource,
    PlinkSource,
    info_score,
    open_genotypes,
    write_sample_file,
)
from contig_gwas.io.manifest import read_manifest
from contig_gwas.io.sumstats import (
    COLUMNS,
    neg_log10_p_chi2,
    neg_log10_p_t,
    read_sumstats,
    write_sumstats,
)
from contig_gwas.io.tables import read_id_list, read_table, write_table
from contig_gwas.outputs import atomic_path, refuse_to_overwrite
from contig_gwas.runlog import RunLog


@pytest.fixture(scope="module")
def small_genotypes(tmp_path_factory):
    """40 individuals x 30 variants on 2 chromosomes, 5% missing, as PLINK and BGEN (reordered)."""
    import bed_reader
    from bgen import BgenWriter

    rng = np.random.default_rng(0)
    n, m = 40, 30
    g = rng.binomial(2, rng.uniform(0.05, 0.5, m), size=(n, m)).astype(np.float32)
    g[rng.random((n, m)) < 0.05] = np.nan
    iid = np.array([f"id{i}" for i in range(n)])
    chrom = np.array(["1"] * 18 + ["2"] * 12)
    pos = np.concatenate([np.arange(18) * 1000 + 5, np.arange(12) * 1000 + 5])
    vid = np.array([f"rs{j}" for j in range(m)])
    a1 = np.array(["A"] * m)
    a2 = np.array(["G"] * m)
    d = tmp_path_factory.mktemp("geno")
    bed_reader.to_bed(d / "g.bed", g, properties={
        "fid": iid, "iid": iid, "chromosome": chrom, "sid": vid, "bp_position": pos,
        "allele_1": a1, "allele_2": a2})
    order = rng.permutation(n)
    with BgenWriter(str(d / "g.bgen"), n_samples=n, samples=list(iid[order]),
                    compression="zlib") as w:
        for j in range(m):
            probs = np.zeros((n, 3))
            gj = g[order, j]
            ok = ~np.isnan(gj)
            probs[ok, gj[ok].astype(int)] = 1.0
            probs[~ok] = np.nan
            w.add_variant(varid=vid[j], rsid=vid[j], chrom=chrom[j], pos=int(pos[j]),
                          alleles=[a2[j], a1[j]], genotypes=probs, bit_depth=8)
    write_sample_file(d / "g.sample", fid=iid[order], iid=iid[order])
    return d, g, iid, order


def test_plink_and_bgen_agree(small_genotypes):
    d, g, iid, order = small_genotypes
    bed = open_genotypes(bfile=str(d / "g"))
    bg = open_genotypes(bgen=str(d / "g.bgen"), sample=str(d / "g.sample"))
    assert list(bed.samples.IID) == list(iid)
    assert list(bg.samples.IID) == list(iid[order])
    pd.testing.assert_frame_equal(bed.variants, bg.variants)
    a = bed.read().dosages
    b = bg.read().dosages
    np.testing.assert_array_equal(np.isnan(a[order]), np.isnan(b))
    np.testing.assert_array_equal(a[order], b)  # hard calls: 0, 1, 2 exact in both formats
    np.testing.assert_array_equal(a, g)


@pytest.mark.parametrize("fmt", ["bed", "bgen"])
def test_blocks_equal_whole(small_genotypes, fmt):
    d, g, iid, order = small_genotypes
    if fmt == "bed":
        src = open_genotypes(bfile=str(d / "g"))
    else:
        src = open_genotypes(bgen=str(d / "g.bgen"))
    samples = np.array([3, 1, 7, 20, 39])
    whole = src.read(samples=samples).dosages
    blocks = list(src.iter_blocks(samples=samples, block_size=7))
    assert [b.start for b in blocks] == [0, 7, 14, 21, 28]
    np.testing.assert_array_equal(np.concatenate([b.dosages for b in blocks], axis=1), whole)
    sel = np.array([2, 3, 4, 10, 29])
    sub = np.concatenate([b.dosages for b in src.iter_blocks(samples=samples, variants=sel,
                                                            block_size=2)], axis=1)
    np.testing.assert_array_equal(sub, whole[:, sel])
    if fmt == "bgen":
        assert blocks[0].info is not None and np.allclose(blocks[0].info, 1.0)


def test_truncated_bed_is_reported(small_genotypes, tmp_path):
    d, *_ = small_genotypes
    for ext in ("bim", "fam"):
        (tmp_path / f"t.{ext}").write_bytes((d / f"g.{ext}").read_bytes())
    (tmp_path / "t.bed").write_bytes((d / "g.bed").read_bytes()[:-5])
    with pytest.raises(InputError, match=r"t\.bed.*truncated"):
        PlinkSource(tmp_path / "t")


def test_corrupt_bgen_is_reported(tmp_path):
    (tmp_path / "bad.bgen").write_bytes(b"\x00" * 100)
    with pytest.raises(InputError, match="bad.bgen"):
        BgenSource(tmp_path / "bad.bgen")


def test_unknown_chromosome_in_bim(small_genotypes, tmp_path):
    d, *_ = small_genotypes
    bim = (d / "g.bim").read_text().replace("\n2\t", "\nchrQ\t", 1)
    (tmp_path / "u.bim").write_text(bim)
    (tmp_path / "u.fam").write_bytes((d / "g.fam").read_bytes())
    (tmp_path / "u.bed").write_bytes((d / "g.bed").read_bytes())
    with pytest.raises(InputError, match="u.bim.*chrQ"):
        PlinkSource(tmp_path / "u")


def test_chromosome_names():
    assert normalise_chromosome("chr1") == 1
    assert normalise_chromosome("01") == 1
    assert normalise_chromosome("X") == normalise_chromosome("chrX") == 23
    assert normalise_chromosome("23") == 23
    assert normalise_chromosome("MT") == 26
    assert parse_chromosome_list("1-3,X") == [1, 2, 3, 23]
    with pytest.raises(InputError):
        normalise_chromosome("27")


def test_info_score_closed_form():
    # two individuals, dosage uncertainty: INFO = 1 - sum var / (2 N theta (1-theta))
    p = np.array([[[0.5, 0.5, 0.0]], [[0.0, 0.5, 0.5]]])
    e = np.array([0.5, 1.5])
    f = np.array([0.5, 2.5])
    theta = e.mean() / 2
    expected = 1 - (f - e ** 2).sum() / (2 * 2 * theta * (1 - theta))
    assert info_score(p)[0] == pytest.approx(expected)


def _write(path, text):
    path.write_text(text)
    return path


def test_read_table_missing_codes_and_categorical(tmp_path):
    p = _write(tmp_path / "c.tsv",
               "FID IID age centre\n1 a 50 X\n2 b NA Y\n3 c -9 Y\n4 d 61 Z\n5 e 40 Y\n")
    t = read_table(p, kind="covariate")
    assert t.columns == ["age", "centre_X", "centre_Z"]  # Y is the most common level: reference
    assert np.isnan(t.values.loc["b", "age"]) and np.isnan(t.values.loc["c", "age"])
    assert t.values["centre_X"].tolist() == [1, 0, 0, 0, 0]
    ph = read_table(_write(tmp_path / "p.tsv", "#FID\tIID\ty\n1\ta\t1.5\n2\tb\t\n"),
                    kind="phenotype")
    assert ph.values["y"].iloc[0] == 1.5


@pytest.mark.parametrize("text,match", [
    ("FID IID y\n1 a 1\n2 a 2\n", r"duplicate IID \['a'\]"),
    ("FID IID y\n1 a 1\n2 b x\n", r"column y has non-numeric value 'x'"),
    ("FID IID y\n1 a 1 5\n", r"columns"),
    ("ID y\na 1\n", r"header line starting with FID IID or IID"),
    ("#ID y\na 1\n", r"does not start with FID IID or IID"),
    ("FID IID\n1 a\n", r"no phenotype columns"),
])
def test_bad_tables_name_the_file(tmp_path, text, match):
    p = _write(tmp_path / "bad.txt", text)
    with pytest.raises(InputError, match=match) as err:
        read_table(p, kind="phenotype")
    assert "bad.txt" in str(err.value)


def test_table_round_trip(tmp_path):
    vals = pd.DataFrame({"PC_0": [0.5, np.nan, -1.25]})
    write_table(tmp_path / "o.tsv", fid=["a", "b", "c"], iid=["a", "b", "c"], values=vals)
    assert (tmp_path / "o.tsv").read_text().splitlines()[2] == "b\tb\tNA"
    t = read_table(tmp_path / "o.tsv")
    np.testing.assert_array_equal(t.values["PC_0"].to_numpy(), vals["PC_0"].to_numpy())


def test_id_list(tmp_path):
    assert list(read_id_list(_write(tmp_path / "k", "FID IID\n1 a\n2 b\n"))) == ["a", "b"]
    assert list(read_id_list(_write(tmp_path / "k2", "a\nb\n"))) == ["a", "b"]


def test_alignment_drops_exactly_and_reports():
    al = align_samples({"geno": ["a", "b", "c", "d", "e"], "pheno.tsv": ["e", "d", "b", "x"],
                        "covar.tsv": ["b", "d", "e", "a"]}, remove=["e"])
    assert list(al.iid) == ["b", "d"]
    assert list(al.index["pheno.tsv"]) == [2, 1]
    assert list(al.index["covar.tsv"]) == [0, 1]
    assert any("pheno.tsv" in r and "2 of the remaining 5" in r for r in al.report)
    assert any("--remove: 1 dropped" in r for r in al.report)


def test_alignment_errors():
    with pytest.raises(InputError, match="no individual is present"):
        align_samples({"g": ["a", "b"], "p.tsv": ["c"]})
    with pytest.raises(InputError, match=r"p.tsv: duplicate IID"):
        align_samples({"g": ["a", "b"], "p.tsv": ["a", "a"]})
    with pytest.raises(InputError, match="only 1 individuals overlap"):
        align_samples({"g": ["a", "b"], "p.tsv": ["a"]})


def test_neg_log10_p_without_underflow():
    from scipy import stats
    chi2 = np.array([3.84, 30.0, 2000.0, 5000.0])
    nlp = neg_log10_p_chi2(chi2)
    assert nlp[0] == pytest.approx(-np.log10(stats.chi2.sf(3.84, 1)))
    assert np.all(np.isfinite(nlp)) and nlp[3] > 1000  # p underflows, -log10 p does not
    assert neg_log10_p_t(np.array([2.0]), dof=100)[0] == pytest.approx(
        -np.log10(2 * stats.t.sf(2.0, 100)))


def test_sumstats_round_trip_and_schema(tmp_path):
    df = pd.DataFrame({"chromosome": [1, 2], "base_pair_location": [10, 20],
                       "variant_id": ["rs1", "rs2"],
                       "effect_allele": ["A", "T"], "other_allele": ["G", "C"],
                       "effect_allele_frequency": [0.1, 0.3], "n": [100, 100], "beta": [0.5, -0.1],
                       "standard_error": [0.1, 0.1], "p_value": [0.0, 0.3],
                       "neg_log10_p_value": [400.0, 0.52]})
    write_sumstats(tmp_path / "s.tsv.gz", df)
    with gzip.open(tmp_path / "s.tsv.gz", "rt") as fh:
        assert fh.readline().rstrip("\n").split("\t") == COLUMNS
    back = read_sumstats(tmp_path / "s.tsv.gz")
    assert back["neg_log10_p_value"].tolist() == [400.0, 0.52]
    assert not list(tmp_path.glob(".*part"))
    (tmp_path / "x.tsv").write_text("a\tb\n1\t2\n")
    with pytest.raises(InputError, match="x.tsv.*missing columns"):
        read_sumstats(tmp_path / "x.tsv")


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with atomic_path(target) as tmp:
        tmp.write_text("whole")
    assert target.read_text() == "whole"
    with pytest.raises(InputError, match="pass --overwrite"):
        refuse_to_overwrite([target], overwrite=False)
    refuse_to_overwrite([target], overwrite=True)


def test_manifest(tmp_path):
    (tmp_path / "img").mkdir()
    _write(tmp_path / "m.tsv", "IID\tpath\tinstance\na\timg/a_l.png\tleft\na\timg/a_r.png\tright\n")
    m = read_manifest(tmp_path / "m.tsv")
    assert m.path[0] == str((tmp_path / "img/a_l.png").resolve())
    with pytest.raises(InputError, match="m.tsv: 2 image files do not exist"):
        read_manifest(tmp_path / "m.tsv", check_files=True)
    _write(tmp_path / "d.tsv", "IID\tpath\na\tx.png\na\ty.png\n")
    with pytest.raises(InputError, match="d.tsv: IID a instance 0 listed 2 times"):
        read_manifest(tmp_path / "d.tsv")


def test_runlog_records_version_command_and_failure(tmp_path):
    from contig_gwas import __version__
    with RunLog(tmp_path / "x.log", tool="contig-test", argv=["--a", "b c"], echo=False) as log:
        with log.step("step one"):
            log.info("kept 10 of 12")
    text = (tmp_path / "x.log").read_text()
    assert f"contig-test {__version__}" in text and "--a 'b c'" in text
    assert "kept 10 of 12" in text and "step one" in text and "finished in" in text
    with pytest.raises(ValueError):
        with RunLog(tmp_path / "y.log", tool="t", argv=[], echo=False):
            raise ValueError("bad thing")
    failed = (tmp_path / "y.log").read_text()
    assert "FAILED" in failed and "bad thing" in failed


def test_tail_asymptotes_continue_scipy():
    # the asymptotic branches join scipy's exact values where both are finite
    from scipy import stats
    x = np.array([600.0, 1400.0])
    assert neg_log10_p_chi2(x, df=1) == pytest.approx(-stats.chi2.logsf(x, 1) / np.log(10),
                                                      rel=1e-9)
    assert neg_log10_p_chi2(np.array([1400.0]), df=2)[0] == pytest.approx(1400 / 2 / np.log(10),
                                                                          rel=1e-6)
    assert neg_log10_p_chi2(np.array([1e5]), df=3)[0] > neg_log10_p_chi2(np.array([1e4]), df=3)[0]
    t = np.array([60.0])
    exact = -(stats.t.logsf(t, 50) + np.log(2)) / np.log(10)
    assert neg_log10_p_t(t, dof=50)[0] == pytest.approx(exact[0], rel=1e-9)
    big = neg_log10_p_t(np.array([1e60, 1e80]), dof=50)
    assert np.all(np.isfinite(big)) and big[1] > big[0]


def test_sumstats_bytes_are_deterministic(tmp_path):
    df = pd.DataFrame({c: [1] for c in COLUMNS})
    write_sumstats(tmp_path / "a.tsv.gz", df)
    write_sumstats(tmp_path / "b.tsv.gz", df)
    assert (tmp_path / "a.tsv.gz").read_bytes() == (tmp_path / "b.tsv.gz").read_bytes()
    assert read_sumstats(tmp_path / "a.tsv.gz").shape == (1, len(COLUMNS))


def test_sumstats_numbers_round_to_six_significant_digits(tmp_path):
    """The fast writer's numbers equal printf's %.6g values (extremes, NaN and 0 included),
    and a file of several gzip members (the merge's batches) reads back as one table."""
    import gzip

    from contig_gwas.io.sumstats import format_rows, gzip_member, round_significant

    rng = np.random.default_rng(0)
    x = np.r_[rng.normal(size=2000) * 10.0 ** rng.integers(-320, 300, 2000), 0.0, np.nan,
              5e-324, -1.5e300, 123456789.0, 0.30000000000000004]
    ok = np.isfinite(x)
    expected = np.array([float(f"{v:.6g}") for v in x[ok]])
    assert np.array_equal(round_significant(x)[ok], expected)
    assert np.isnan(round_significant(x)[~ok]).all()
    body = format_rows({"v": x, "k": np.arange(len(x)), "s": np.array(["a"] * len(x))},
                       header=False)
    path = tmp_path / "t.tsv.gz"
    path.write_bytes(gzip_member(b"v\tk\ts\n") + gzip_member(body[:0]) + gzip_member(body))
    with gzip.open(path, "rt") as fh:
        df = pd.read_csv(fh, sep="\t", float_precision="round_trip")
    assert len(df) == len(x) and df.k.tolist() == list(range(len(x)))
    assert np.array_equal(df.v.to_numpy()[ok], expected) and df.v.isna().sum() == 1
    assert max(len(t) for t in body.decode().split("\t")) < 20
    # the command-line gzip reads the members as one stream too, and equal content gives
    # equal bytes (no time stamp)
    import shutil
    import subprocess
    if shutil.which("gzip"):
        out = subprocess.run(["gzip", "-dc", str(path)], capture_output=True, check=True).stdout
        assert out == b"v\tk\ts\n" + body
    member = gzip_member(body)
    assert member[:2] == b"\x1f\x8b" and member[4:8] == b"\0\0\0\0"   # gzip, MTIME 0


def test_z_of_neg_log10_p_inverts_the_chi2_p():
    """z_of_neg_log10_p is the inverse of neg_log10_p_chi2 (df 1) on the z scale, also where
    p underflows (chi2 1800: p ~ 1e-393); log_ndtr and ndtri_exp are accurate to ~1e-14, so
    1e-9 leaves room for any libm."""
    from contig_gwas.io.sumstats import neg_log10_p_chi2, z_of_neg_log10_p

    chi2 = np.array([0.01, 1.0, 3.84, 30.0, 400.0, 1800.0])
    z = z_of_neg_log10_p(neg_log10_p_chi2(chi2))
    np.testing.assert_allclose(z * z, chi2, rtol=1e-9)
