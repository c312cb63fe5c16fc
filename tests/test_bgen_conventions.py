"""BGEN files as other tools write them, read as PLINK 2 reads them (issue 16, part 2).

Each test reads a canonical input and a convention-variant input and compares samples, variants
and dosages. The canonical inputs are a PLINK 1 fileset (for ``plink2 --export bgen-1.x``) or a
BGEN written with the ``bgen`` package's ``BgenWriter``. Tests marked ``reference`` run
``plink2`` (skipped where it is absent): as the writer, and as the reader whose view of a file
ours must equal. PLINK 2 facts checked here (v2.00a3.5):

- ``--export bgen-1.2`` writes the .bim A1 (PLINK 2's ALT) first and A2 (REF) second unless
  ``ref-first`` is given; default precision 16 bits; ``bgen-1.3`` is zstd, ``bgen-1.1`` is
  layout 1. IDs stored in the file are ``FID_IID`` (``id-paste`` default ``maybefid,iid``) and
  the ``.sample`` beside it has ``ID_1 ID_2 missing sex`` / ``0 0 0 D``; males on chrX are
  written as haploid calls.
- ``--bgen FILE ref-first`` counts the second allele (ALT); without ``--sample`` the whole
  stored ID is the IID; ``--sample`` wins over stored IDs and accepts the single-ID ``ID``
  header (``sample-v2``), gzip/zstd and CRLF; a file with no stored IDs needs ``--sample``.
"""

from __future__ import annotations

import gzip
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from contig_gwas.errors import InputError
from contig_gwas.io.bgen import BgenSource
from contig_gwas.io.plink import PlinkSource

N, M = 30, 24
CHROMS = ["1"] * 10 + ["2"] * 8 + ["23"] * 6


def _tol(bits: int) -> float:
    """Largest dosage error of a ``bits``-bit BGEN call: each of P(het), P(hom) is stored as
    k / (2^bits - 1) with error below one step (BGEN 1.2 spec), so P(het) + 2 P(hom) is off by
    less than 3 steps."""
    return 3.0 / (2 ** bits - 1)


# plink2 keeps a dosage as a multiple of 1/16384 (rounding error <= 0.5/16384) and --export A
# prints the shortest decimal within half a step of it (PrintSmallDosage in plink2's source):
# a further < 0.5/16384. Our float32 dosages (<= 2) add at most half an ulp of 2, 2^-23.
PLINK2_A_TOL = 1 / 16384 + 2.0 ** -23


def _plink2() -> str:
    exe = shutil.which("plink2")
    if exe is None:
        pytest.skip("plink2 is not installed")
    return exe


def _run_plink2(*args: str, out: Path) -> None:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    res = subprocess.run([_plink2(), *args, "--threads", "1", "--out", str(out)],
                         check=False, capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stdout[-2000:]


def _plink2_alt_dosages(bgen: Path, out: Path, *, sample: Path | None = None) -> pd.DataFrame:
    """PLINK 2's view of a BGEN: ALT (second allele) dosages, samples x variant IDs, by IID."""
    extra = ["--sample", str(sample)] if sample is not None else []
    _run_plink2("--bgen", str(bgen), "ref-first", *extra, "--export", "A", out=out)
    raw = pd.read_csv(f"{out}.raw", sep="\t", na_values="NA")
    ref_counts = raw.iloc[:, 6:]
    ref_counts.columns = [c.rsplit("_", 1)[0] for c in ref_counts.columns]
    return (2.0 - ref_counts).set_index(raw.IID.astype(str))


def _write_bgen(path: Path, probs: np.ndarray, *, samples=None, chroms=None, compression="zlib",
                bits: int = 8, alleles=("A", "G"), ploidy=None) -> Path:
    """probs: (N, M, 3) genotype probabilities (NaN = missing) -> a BGEN 1.2 file."""
    from bgen import BgenWriter

    n, m, _ = probs.shape
    chroms = chroms or ["1"] * m
    kw = {} if samples is None else {"samples": list(samples)}
    with BgenWriter(str(path), n_samples=n, compression=compression, **kw) as w:
        for j in range(m):
            extra = {} if ploidy is None else {"ploidy": ploidy}
            w.add_variant(varid=f"v{j}", rsid=f"rs{j}", chrom=chroms[j], pos=1000 + 10 * j,
                          alleles=list(alleles), genotypes=probs[:, j], bit_depth=bits, **extra)
    Path(str(path) + ".bgi").unlink(missing_ok=True)  # BgenWriter indexes; see test_bgenix_index
    return path


def _random_probs(n: int, m: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(3), size=(n, m))
    p[rng.random((n, m)) < 0.05] = np.nan
    return p


def _same_genotypes(a: BgenSource, b: BgenSource) -> None:
    pd.testing.assert_frame_equal(a.samples, b.samples)
    pd.testing.assert_frame_equal(a.variants, b.variants)
    x, y = a.read(), b.read()
    np.testing.assert_array_equal(x.dosages, y.dosages)
    np.testing.assert_array_equal(x.info, y.info)


def test_source_flags():
    assert BgenSource.has_info is True
    assert BgenSource.hard_calls is False


# ---------------------------------------------------------------------------------------------
# plink2 --export bgen-1.2 from a .bed


@pytest.fixture(scope="module")
def bed(tmp_path_factory) -> Path:
    """30 individuals (FID != IID, sexes 1/2) x 24 variants on chromosomes 1, 2 and X, 5%
    missing; males homozygous on X as PLINK 1 stores them. Returns the fileset prefix."""
    import bed_reader

    rng = np.random.default_rng(16)
    g = rng.binomial(2, rng.uniform(0.1, 0.5, M), size=(N, M)).astype(np.float32)
    sex = np.where(np.arange(N) % 2 == 0, 1, 2)
    x = np.array(CHROMS) == "23"
    males = sex == 1
    g[np.ix_(males, x)] = 2 * rng.binomial(1, 0.3, size=(males.sum(), x.sum()))
    g[rng.random((N, M)) < 0.05] = np.nan
    a1 = rng.choice(["A", "C", "G", "T"], M)
    a2 = np.array([{"A": "G", "C": "T", "G": "A", "T": "C"}[a] for a in a1], dtype=object)
    a2[3] = "TTA"  # a multi-base allele
    prefix = tmp_path_factory.mktemp("bed") / "cohort"
    bed_reader.to_bed(f"{prefix}.bed", g, properties={
        "fid": [f"fam{i}" for i in range(N)], "iid": [f"ind{i}" for i in range(N)],
        "sex": sex, "chromosome": CHROMS, "sid": [f"rs{100 + j}" for j in range(M)],
        "bp_position": 3_000_000 + 1000 * np.arange(M), "allele_1": a1, "allele_2": a2})
    return prefix


def _bed_dosages_for(bed_src: PlinkSource, bgen_src: BgenSource) -> np.ndarray:
    """The .bed's dosages of each variant's BGEN effect allele, matched by allele name."""
    bv, gv = bed_src.variants, bgen_src.variants
    assert list(gv.variant_id) == list(bv.variant_id)
    same = (gv.effect_allele == bv.effect_allele) & (gv.other_allele == bv.other_allele)
    swapped = (gv.effect_allele == bv.other_allele) & (gv.other_allele == bv.effect_allele)
    assert (same | swapped).all(), "allele names differ between the .bed and the BGEN"
    d = bed_src.read().dosages
    return np.where(swapped.to_numpy(), 2.0 - d, d)


@pytest.mark.reference
@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("order", ["default", "ref-first"])
@pytest.mark.parametrize("with_sample", [True, False], ids=["sample", "no-sample"])
def test_plink2_export_matches_bed(bed, tmp_path, bits, order, with_sample):
    out = tmp_path / "e"
    mods = [f"bits={bits}"] + (["ref-first"] if order == "ref-first" else [])
    _run_plink2("--bfile", str(bed), "--export", "bgen-1.2", *mods, out=out)
    if not with_sample:
        Path(f"{out}.sample").unlink()
    canon = PlinkSource(bed)
    src = BgenSource(f"{out}.bgen")

    # variants: same codes (X -> 23), positions, IDs; allele order as plink2 documents it
    cols = ["chromosome", "position", "variant_id"]
    pd.testing.assert_frame_equal(src.variants[cols], canon.variants[cols])
    if order == "ref-first":  # .bim A2 (REF) first, A1 (ALT) second: we count A1
        assert list(src.variants.effect_allele) == list(canon.variants.effect_allele)
    else:  # A1 first, A2 second: we count A2, and say so
        assert list(src.variants.effect_allele) == list(canon.variants.other_allele)
        assert list(src.variants.other_allele) == list(canon.variants.effect_allele)

    # samples: from the .sample (FID, IID) or the stored FID_IID, taken whole (FID = IID)
    if with_sample:
        pd.testing.assert_frame_equal(src.samples, canon.samples[["FID", "IID"]])
    else:
        pasted = (canon.samples.FID + "_" + canon.samples.IID).to_numpy()
        assert list(src.samples.IID) == list(pasted)
        assert list(src.samples.FID) == list(pasted)

    # dosages of the named effect allele; haploid male X calls on the diploid scale
    want = _bed_dosages_for(canon, src)
    got = src.read().dosages
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, atol=_tol(bits), equal_nan=True)


@pytest.mark.reference
def test_plink2_id_paste_iid_gives_plain_iids(bed, tmp_path):
    out = tmp_path / "e"
    _run_plink2("--bfile", str(bed), "--export", "bgen-1.2", "bits=8", "id-paste=iid", out=out)
    Path(f"{out}.sample").unlink()
    src = BgenSource(f"{out}.bgen")
    canon = PlinkSource(bed)
    assert list(src.samples.IID) == list(canon.samples.IID)
    np.testing.assert_allclose(src.read().dosages, _bed_dosages_for(canon, src), atol=_tol(8),
                               equal_nan=True)


@pytest.mark.reference
def test_plink2_bgen_13_is_zstd_and_reads_as_12(bed, tmp_path):
    _run_plink2("--bfile", str(bed), "--export", "bgen-1.2", "bits=16", out=tmp_path / "v12")
    _run_plink2("--bfile", str(bed), "--export", "bgen-1.3", "bits=16", out=tmp_path / "v13")
    flags = int.from_bytes((tmp_path / "v13.bgen").read_bytes()[20:24], "little")
    # the header block is 20 bytes long here: flags at byte 20, compression = 2 (zstd)
    assert flags & 3 == 2
    _same_genotypes(BgenSource(tmp_path / "v12.bgen"), BgenSource(tmp_path / "v13.bgen"))


@pytest.mark.reference
def test_dosages_equal_plink2s_reading(tmp_path):
    """Fractional probabilities at 16 bits, and plink2's 8-bit re-export of them: our dosages
    equal PLINK 2's ALT dosages of the same file, and the 8-bit file is within 8-bit
    quantisation of the 16-bit one."""
    p = _random_probs(N, 12, seed=3)
    ids = [f"s{i}" for i in range(N)]
    f16 = _write_bgen(tmp_path / "p16.bgen", p, samples=ids, bits=16)
    _run_plink2("--bgen", str(f16), "ref-first", "--export", "bgen-1.2", "bits=8", "ref-first",
                "id-paste=iid", out=tmp_path / "p8")
    s16, s8 = BgenSource(f16), BgenSource(tmp_path / "p8.bgen")
    pd.testing.assert_frame_equal(s16.variants, s8.variants)
    pd.testing.assert_frame_equal(s16.samples, s8.samples)
    d16, d8 = s16.read().dosages, s8.read().dosages
    truth = p[..., 1] + 2 * p[..., 2]
    np.testing.assert_allclose(d16, truth, atol=_tol(16), equal_nan=True)
    # plink2 keeps a dosage (a multiple of 1/16384) and writes it at 8 bits
    np.testing.assert_allclose(d8, d16, atol=_tol(8) + 0.5 / 16384, equal_nan=True)
    for name, src in [("p16", s16), ("p8", s8)]:
        ref = _plink2_alt_dosages(Path(src.path), tmp_path / f"A{name}")
        ref = ref.loc[src.samples.IID, list(src.variants.variant_id)].to_numpy()
        np.testing.assert_allclose(src.read().dosages, ref, atol=PLINK2_A_TOL, equal_nan=True)


@pytest.mark.reference
def test_plink2_layout1_reads_as_plink2_reads_it(bed, tmp_path):
    """BGEN 1.1 (layout 1: three 16-bit probabilities over 32768, zlib): the .bed's dosages,
    and PLINK 2's own reading of the file."""
    _run_plink2("--bfile", str(bed), "--export", "bgen-1.1", out=tmp_path / "v11")
    flags = int.from_bytes((tmp_path / "v11.bgen").read_bytes()[20:24], "little")
    assert (flags >> 2) & 15 == 1  # layout 1
    src = BgenSource(tmp_path / "v11.bgen")
    canon = PlinkSource(bed)
    got = src.read().dosages
    np.testing.assert_allclose(got, _bed_dosages_for(canon, src), atol=3 / 32768,
                               equal_nan=True)
    ref = _plink2_alt_dosages(tmp_path / "v11.bgen", tmp_path / "A11",
                              sample=tmp_path / "v11.sample")
    ref = ref.loc[src.samples.IID, list(src.variants.variant_id)].to_numpy()
    np.testing.assert_allclose(got, ref, atol=PLINK2_A_TOL, equal_nan=True)


# ---------------------------------------------------------------------------------------------
# sample IDs: in the file, in a .sample, both, neither


IDS = [f"ind{i}" for i in range(N)]
FIDS = [f"fam{i}" for i in range(N)]


def _sample_text(kind: str, ids=IDS, fids=FIDS) -> str:
    if kind == "oxford":
        rows = ["ID_1 ID_2 missing sex", "0 0 0 D"]
        rows += [f"{f} {i} 0 {1 + k % 2}" for k, (f, i) in enumerate(zip(fids, ids))]
    elif kind == "oxford-short":
        rows = ["ID_1 ID_2 missing", "0 0 0"] + [f"{f} {i} 0" for f, i in zip(fids, ids)]
    elif kind == "single-id":  # QCTOOL v2 / plink2 --export ... sample-v2
        rows = ["ID missing sex", "0 0 D"] + [f"{i} 0 NA" for i in ids]
    else:
        raise ValueError(kind)
    return "\n".join(rows) + "\n"


@pytest.fixture
def genotypes(tmp_path) -> np.ndarray:
    return _random_probs(N, 8, seed=5)


def test_ids_in_file_without_sample(tmp_path, genotypes):
    src = BgenSource(_write_bgen(tmp_path / "a.bgen", genotypes, samples=IDS))
    assert list(src.samples.IID) == IDS and list(src.samples.FID) == IDS
    np.testing.assert_allclose(src.read().dosages, genotypes[..., 1] + 2 * genotypes[..., 2],
                               atol=_tol(8), equal_nan=True)


def test_sample_file_without_ids_in_file(tmp_path, genotypes):
    with_ids = BgenSource(_write_bgen(tmp_path / "a.bgen", genotypes, samples=IDS))
    path = _write_bgen(tmp_path / "b.bgen", genotypes)
    (tmp_path / "b.sample").write_text(_sample_text("oxford"))
    beside = BgenSource(path)
    assert list(beside.samples.FID) == FIDS and list(beside.samples.IID) == IDS
    np.testing.assert_array_equal(beside.read().dosages, with_ids.read().dosages)
    pd.testing.assert_frame_equal(beside.variants, with_ids.variants)
    (tmp_path / "b.sample").rename(tmp_path / "elsewhere.txt")
    named = BgenSource(path, sample=tmp_path / "elsewhere.txt")
    pd.testing.assert_frame_equal(named.samples, beside.samples)


def test_neither_ids_nor_sample_is_refused(tmp_path, genotypes):
    path = _write_bgen(tmp_path / "b.bgen", genotypes)
    with pytest.raises(InputError, match=r"b\.bgen.*no sample IDs"):
        BgenSource(path)


def test_sample_file_wins_over_ids_in_file(tmp_path, genotypes):
    path = _write_bgen(tmp_path / "a.bgen", genotypes, samples=[f"x{i}" for i in range(N)])
    in_file = BgenSource(path)
    (tmp_path / "a.sample").write_text(_sample_text("oxford"))
    both = BgenSource(path)
    assert list(both.samples.IID) == IDS and list(both.samples.FID) == FIDS
    np.testing.assert_array_equal(both.read().dosages, in_file.read().dosages)


@pytest.mark.parametrize("ids_in_file", [True, False])
@pytest.mark.parametrize("n_sample", [N - 1, N + 1])
def test_sample_count_mismatch(tmp_path, genotypes, ids_in_file, n_sample):
    path = _write_bgen(tmp_path / "a.bgen", genotypes, samples=IDS if ids_in_file else None)
    ids = [f"ind{i}" for i in range(n_sample)]
    (tmp_path / "a.sample").write_text(_sample_text("oxford", ids=ids, fids=ids))
    with pytest.raises(InputError, match=rf"a\.sample: {n_sample} samples but .*a\.bgen.* {N}"):
        BgenSource(path)


def _variant_sample_files(tmp_path: Path) -> dict[str, tuple[Path, list[str], list[str]]]:
    """name -> (.sample path, expected FID, expected IID)."""
    import pyarrow as pa

    out = {}
    text = _sample_text("oxford")
    for name, kind in [("oxford", "oxford"), ("oxford-short", "oxford-short")]:
        (tmp_path / f"{name}.sample").write_text(_sample_text(kind))
        out[name] = (tmp_path / f"{name}.sample", FIDS, IDS)
    (tmp_path / "single.sample").write_text(_sample_text("single-id"))
    out["single-id"] = (tmp_path / "single.sample", IDS, IDS)
    (tmp_path / "crlf.sample").write_bytes(text.replace("\n", "\r\n").encode())
    out["crlf"] = (tmp_path / "crlf.sample", FIDS, IDS)
    (tmp_path / "tabs.sample").write_text(text.replace(" ", "\t"))
    out["tabs"] = (tmp_path / "tabs.sample", FIDS, IDS)
    (tmp_path / "g.sample.gz").write_bytes(gzip.compress(text.encode(), mtime=0))
    out["gzip"] = (tmp_path / "g.sample.gz", FIDS, IDS)
    (tmp_path / "gz-unnamed.sample").write_bytes(gzip.compress(text.encode(), mtime=0))
    out["gzip-by-content"] = (tmp_path / "gz-unnamed.sample", FIDS, IDS)
    with pa.CompressedOutputStream(str(tmp_path / "z.sample.zst"), "zstd") as fh:
        fh.write(text.encode())
    out["zstd"] = (tmp_path / "z.sample.zst", FIDS, IDS)
    return out


VARIANT_SAMPLES = ["oxford", "oxford-short", "single-id", "crlf", "tabs", "gzip",
                   "gzip-by-content", "zstd"]


@pytest.mark.parametrize("name", VARIANT_SAMPLES)
def test_sample_file_variants(tmp_path, genotypes, name):
    path = _write_bgen(tmp_path / "a.bgen", genotypes)
    (tmp_path / "canon.sample").write_text(_sample_text("oxford"))
    canon = BgenSource(path, sample=tmp_path / "canon.sample")
    sample, fid, iid = _variant_sample_files(tmp_path)[name]
    src = BgenSource(path, sample=sample)
    assert list(src.samples.FID) == fid and list(src.samples.IID) == iid
    pd.testing.assert_frame_equal(src.variants, canon.variants)
    np.testing.assert_array_equal(src.read().dosages, canon.read().dosages)


@pytest.mark.reference
def test_plink2_accepts_the_same_sample_files(tmp_path, genotypes):
    path = _write_bgen(tmp_path / "a.bgen", genotypes)
    for name, (sample, _, iid) in _variant_sample_files(tmp_path).items():
        out = tmp_path / f"psam_{name}"
        _run_plink2("--bgen", str(path), "ref-first", "--sample", str(sample), "--make-just-psam",
                    out=out)
        psam = pd.read_csv(f"{out}.psam", sep="\t", dtype=str)
        psam.columns = [c.lstrip("#") for c in psam.columns]
        assert list(psam.IID) == iid, name
        assert list(BgenSource(path, sample=sample).samples.IID) == iid, name


@pytest.mark.parametrize("text, match", [
    ("ID_1 ID_2 missing\n" + "".join(f"f{i} i{i} 0\n" for i in range(N)), "line 2.*type line"),
    ("FID IID missing\n0 0 0\n" + "".join(f"f{i} i{i} 0\n" for i in range(N)), "line 1.*ID_1"),
    ("ID_1 ID_2 missing\n0 0 0\n" + "".join(f"f{i} i{i} 0\n" for i in range(N - 1)) + "f i\n",
     f"line {N + 2} has 2 fields"),
    ("ID_1 ID_2 missing\n", ".*header line and a type line"),
], ids=["no-type-line", "not-oxford-header", "short-row", "header-only"])
def test_malformed_sample_file(tmp_path, genotypes, text, match):
    path = _write_bgen(tmp_path / "a.bgen", genotypes, samples=IDS)
    (tmp_path / "bad.sample").write_text(text)
    with pytest.raises(InputError, match=rf"bad\.sample: {match}"):
        BgenSource(path, sample=tmp_path / "bad.sample")


# ---------------------------------------------------------------------------------------------
# indexes, chromosome codes, compression, haploid calls


def test_bgenix_index_beside_the_file(tmp_path, genotypes):
    path = _write_bgen(tmp_path / "a.bgen", genotypes, samples=IDS)
    canon = BgenSource(path)
    bgi = Path(str(path) + ".bgi")
    exe = shutil.which("bgenix")
    if exe is None:
        try:
            from bgenix import bgenix_path
            exe = str(bgenix_path())
        except (ImportError, FileNotFoundError):
            exe = None
    if exe is not None:  # the real tool (PyPI "bgenix")
        subprocess.run([exe, "-g", str(path), "-index"], check=True, capture_output=True)
        listed = subprocess.run([exe, "-g", str(path), "-list"], check=True,
                                capture_output=True, text=True).stdout
        assert "rs7" in listed
    else:  # the same SQLite schema; offsets are not needed for this check
        with sqlite3.connect(bgi) as db:
            db.execute("CREATE TABLE Variant (chromosome TEXT NOT NULL, position INT NOT NULL, "
                       "rsid TEXT NOT NULL, number_of_alleles INT NOT NULL, allele1 TEXT NOT "
                       "NULL, allele2 TEXT NULL, file_start_position INT NOT NULL, "
                       "size_in_bytes INT NOT NULL)")
            db.executemany("INSERT INTO Variant VALUES (?, ?, ?, 2, ?, ?, 0, 0)", [
                ("01", int(p), r, o, e) for p, r, o, e in canon.variants[
                    ["position", "variant_id", "other_allele", "effect_allele"]].to_numpy()])
    assert bgi.exists()
    _same_genotypes(canon, BgenSource(path))
    if exe is not None:  # a subset written by bgenix is a BGEN from another writer
        sub = tmp_path / "sub.bgen"
        with open(sub, "wb") as fh:
            subprocess.run([exe, "-g", str(path), "-incl-rsids", "rs2", "rs5"], check=True,
                           stdout=fh, stderr=subprocess.DEVNULL)
        part = BgenSource(sub)
        pd.testing.assert_frame_equal(part.samples, canon.samples)
        assert list(part.variants.variant_id) == ["rs2", "rs5"]
        np.testing.assert_array_equal(part.read().dosages, canon.read().dosages[:, [2, 5]])


def test_chromosome_codes(tmp_path, genotypes):
    plain = ["1", "1", "1", "2", "2", "23", "23", "23"]
    styled = ["01", "chr1", "Chr1", "02", "chr2", "X", "chrX", "23"]
    a = BgenSource(_write_bgen(tmp_path / "a.bgen", genotypes, samples=IDS, chroms=plain))
    b = BgenSource(_write_bgen(tmp_path / "b.bgen", genotypes, samples=IDS, chroms=styled))
    assert list(b.variants.chromosome) == [1, 1, 1, 2, 2, 23, 23, 23]
    _same_genotypes(a, b)


@pytest.mark.reference
def test_chromosome_codes_as_plink2_reads_them(tmp_path, genotypes):
    styled = ["01", "chr1", "Chr1", "02", "chr2", "X", "chrX", "23"]
    path = _write_bgen(tmp_path / "b.bgen", genotypes, samples=IDS, chroms=styled)
    _run_plink2("--bgen", str(path), "ref-first", "--make-just-pvar", out=tmp_path / "p")
    pvar = pd.read_csv(tmp_path / "p.pvar", sep="\t", dtype=str)
    codes = pvar["#CHROM"].replace({"X": "23"}).astype(int).tolist()
    assert list(BgenSource(path).variants.chromosome) == codes


def test_zstd_reads_equal_to_zlib(tmp_path, genotypes):
    a = _write_bgen(tmp_path / "zlib.bgen", genotypes, samples=IDS, compression="zlib")
    b = _write_bgen(tmp_path / "zstd.bgen", genotypes, samples=IDS, compression="zstd")
    assert int.from_bytes(b.read_bytes()[20:24], "little") & 3 == 2  # compression 2: zstd
    _same_genotypes(BgenSource(a), BgenSource(b))


def test_haploid_calls_count_on_the_diploid_scale(tmp_path):
    """A ploidy-1 call [P(first), P(second)] reads as the homozygote 2 P(second), as PLINK 2
    reads male chrX (``--export A`` gives 0/2 for haploid hard calls)."""
    rng = np.random.default_rng(7)
    n, m = 12, 4
    hap = rng.dirichlet(np.ones(2), size=(n, m))
    ploidy = np.array([1, 2] * (n // 2))
    probs = np.full((n, m, 3), np.nan)
    dip = rng.dirichlet(np.ones(3), size=(n, m))
    probs[ploidy == 2] = dip[ploidy == 2]
    # BgenWriter takes a haploid call's two probabilities in the first two slots
    probs[ploidy == 1, :, :2] = hap[ploidy == 1]
    path = _write_bgen(tmp_path / "x.bgen", probs, samples=[f"s{i}" for i in range(n)],
                       chroms=["X"] * m, bits=16, ploidy=ploidy)
    src = BgenSource(path)
    got = src.read()
    want = np.where(ploidy[:, None] == 1, 2 * hap[..., 1], dip[..., 1] + 2 * dip[..., 2])
    np.testing.assert_allclose(got.dosages, want, atol=_tol(16))
    assert np.all(np.isfinite(got.info))


# ---------------------------------------------------------------------------------------------
# malformed files: an InputError naming the file


def test_truncated_bgen(tmp_path, genotypes):
    whole = _write_bgen(tmp_path / "whole.bgen", genotypes, samples=IDS).read_bytes()
    offset = int.from_bytes(whole[:4], "little")
    cuts = {"header": 12, "sample-block": offset - 10, "no-variants": offset + 4,
            "first-variant": offset + 20, "middle": len(whole) // 2 + 3, "last-bytes": -5}
    for name, cut in cuts.items():
        path = tmp_path / f"cut_{name}.bgen"
        path.write_bytes(whole[:cut])
        with pytest.raises(InputError, match=rf"cut_{name}\.bgen"):
            BgenSource(path).read()


def test_non_biallelic_variant(tmp_path):
    n = 6
    probs = np.tile(np.array([1.0, 0, 0, 0, 0, 0]), (n, 2, 1))  # 3 alleles: 6 genotypes
    path = _write_bgen(tmp_path / "tri.bgen", probs, samples=[f"s{i}" for i in range(n)],
                       alleles=("A", "C", "G"))
    with pytest.raises(InputError, match=r"tri\.bgen: 2 variants are not biallelic"):
        BgenSource(path)


def test_uncompressed_layout2_reads_equal_to_zlib(tmp_path, genotypes):
    raw = _write_bgen(tmp_path / "raw.bgen", genotypes, samples=IDS, compression=None)
    assert int.from_bytes(raw.read_bytes()[20:24], "little") & 3 == 0  # uncompressed
    zlib = _write_bgen(tmp_path / "zlib.bgen", genotypes, samples=IDS, compression="zlib")
    _same_genotypes(BgenSource(raw), BgenSource(zlib))


def test_not_bgen(tmp_path):
    (tmp_path / "text.bgen").write_text("ID_1 ID_2\n0 0\n" * 20)
    with pytest.raises(InputError, match=r"text\.bgen: not a BGEN file"):
        BgenSource(tmp_path / "text.bgen")


# ---------------------------------------------------------------------------------------------
# the variant index (built at open, nothing written beside the file)


def test_relative_path_and_rewritten_file(tmp_path, genotypes, monkeypatch):
    """bgen-reader built its index in a temporary working directory: a relative path used
    to fail. A file rewritten in place is read afresh, and nothing is written beside it."""
    monkeypatch.chdir(tmp_path)
    _write_bgen(tmp_path / "r.bgen", genotypes, samples=IDS)
    first = BgenSource("r.bgen")
    assert list(first.samples.IID) == IDS
    other = genotypes[:, ::-1].copy()
    _write_bgen(tmp_path / "r.bgen", other, samples=IDS[::-1])
    later = os.stat("r.bgen").st_mtime + 2
    os.utime("r.bgen", (later, later))
    second = BgenSource("r.bgen")
    assert sorted(os.listdir(tmp_path)) == ["r.bgen"]
    assert list(second.samples.IID) == IDS[::-1]
    np.testing.assert_allclose(second.read().dosages, other[..., 1] + 2 * other[..., 2],
                               atol=_tol(8), equal_nan=True)
