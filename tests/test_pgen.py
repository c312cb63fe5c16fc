"""PgenSource (PLINK 2 .pgen/.pvar/.psam through pgenlib) against independent references:
PlinkSource on the .bed a PGEN was converted from (plink2 --make-pgen), the dosages written
into a PGEN (plink2 --import-dosage, pgenlib's writer), BgenSource on a BGEN that plink2 exported
from the same PGEN, and plink2's own reading of each .psam/.pvar convention."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from contig_gwas.errors import InputError
from contig_gwas.io.pgen import PgenSource
from contig_gwas.io.plink import PlinkSource

N, M = 48, 240
#: one PLINK 2 dosage step: dosages are stored as multiples of 1/16384
STEP = 1 / 16384


def _plink2() -> str:
    exe = shutil.which("plink2")
    if exe is None:
        pytest.skip("plink2 is not installed")
    return exe


def _run_plink2(*args) -> None:
    res = subprocess.run([_plink2(), *map(str, args), "--threads", "1"], check=False,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def _write_bed(prefix: Path, *, fid=None, seed: int = 7) -> np.ndarray:
    """A .bed/.bim/.fam of N x M calls on chromosomes 1, 2 and X with 3% missing, one
    monomorphic variant and mixed alleles; returns the A1 counts (float, NaN missing)."""
    import bed_reader

    rng = np.random.default_rng(seed)
    freq = rng.uniform(0.05, 0.95, M)
    g = rng.binomial(2, freq, (N, M)).astype(np.float32)
    g[rng.random((N, M)) < 0.03] = np.nan
    g[:, 5] = 0
    bases = np.array(list("ACGT"))
    a1 = rng.integers(0, 4, M)
    a2 = (a1 + rng.integers(1, 4, M)) % 4
    bed_reader.to_bed(prefix.with_suffix(".bed"), g, properties={
        "fid": fid if fid is not None else [f"fam{i // 2}" for i in range(N)],
        "iid": [f"ind{i}" for i in range(N)],
        "sid": [f"rs{j}" for j in range(M)],
        "chromosome": np.repeat(["1", "2", "X"], M // 3),
        "bp_position": np.tile(np.arange(1, M // 3 + 1) * 1000, 3),
        "allele_1": bases[a1], "allele_2": bases[a2],
    })
    return g


@pytest.fixture(scope="module")
def bfile(tmp_path_factory) -> Path:
    prefix = tmp_path_factory.mktemp("pgen") / "geno"
    _write_bed(prefix)
    return prefix


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)


def _selections(n: int, m: int):
    """(samples, variants) pairs: everything, a shuffled subset with repeats, an unsorted
    variant index array, a slice."""
    rng = np.random.default_rng(3)
    shuffled = np.concatenate([rng.permutation(n)[: n // 2], [1, 1, n - 1]])
    return [(None, None), (shuffled, None), (None, rng.permutation(m)[:37]),
            (shuffled, slice(10, 90)), (np.arange(0, n, 3), np.array([m - 1, 0, 5, 5]))]


# --- 1. a PGEN converted from a .bed reads as the .bed ------------------------------------


@pytest.mark.reference
@pytest.mark.parametrize("modifier", ["", "vzs", "format=2"])
def test_pgen_made_by_plink2_reads_as_its_bed(bfile, tmp_path, modifier):
    out = tmp_path / "conv"
    _run_plink2("--bfile", bfile, "--make-pgen", *modifier.split(), "--out", out)
    if modifier == "vzs":
        assert Path(f"{out}.pvar.zst").exists() and not Path(f"{out}.pvar").exists()
    pg, pl = PgenSource(out), PlinkSource(bfile)
    pd.testing.assert_frame_equal(pg.samples, pl.samples)
    # plink2 makes the .bed's A1 the ALT allele: the effect alleles agree
    pd.testing.assert_frame_equal(pg.variants, pl.variants)
    assert pg.hard_calls and pl.hard_calls
    for samples, variants in _selections(N, M):
        a = pg.read(samples=samples, variants=variants)
        b = pl.read(samples=samples, variants=variants)
        assert _same(a.dosages, b.dosages) and a.dosages.flags.f_contiguous
        assert a.start == b.start
        c = pg.read_calls(samples=samples, variants=variants)
        assert _same(c, pl.read_calls(samples=samples, variants=variants))
        assert c.flags.f_contiguous
    assert (pg.read_calls() == -127).sum() == np.isnan(pg.read().dosages).sum() > 0
    blocks = list(pg.iter_blocks(variants=np.arange(3, 200), block_size=64))
    assert [b.start for b in blocks] == [3, 67, 131, 195]
    assert _same(np.hstack([b.dosages for b in blocks]), pl.read(variants=slice(3, 200)).dosages)


def test_concurrent_reads_agree(bfile, tmp_path):
    """The reader's sample subset is state: threads reading different subsets must not mix."""
    prefix = _pgen_from_calls(tmp_path / "p", PlinkSource(bfile).read_calls())
    src = PgenSource(prefix)
    subsets = [np.arange(0, N, 2), np.arange(N)[::-1], None]
    expected = [src.read(samples=s).dosages for s in subsets]
    errors = []

    def work(k):
        for _ in range(30):
            if not _same(src.read(samples=subsets[k]).dosages, expected[k]):
                errors.append(k)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


# --- 2./3. a PGEN with dosages --------------------------------------------------------------


@pytest.fixture(scope="module")
def dosage_pfile(tmp_path_factory):
    """plink2 --import-dosage of a text file of A1 dosages (5 decimals, some NA and some
    exact hard calls). Returns (prefix, dosages of A1 as written: float64 (N, M), NaN missing,
    A1 allele names)."""
    _plink2()
    d = tmp_path_factory.mktemp("dosage")
    rng = np.random.default_rng(11)
    n, m = 40, 60
    x = np.round(rng.uniform(0, 2, (n, m)), 5)
    x[:, 0] = rng.integers(0, 3, n)  # hard calls only
    x[rng.random((n, m)) < 0.05] = np.nan
    a1 = rng.choice(list("ACGT"), m)
    a2 = np.array([{"A": "G", "C": "T", "G": "A", "T": "C"}[a] for a in a1])
    lines = ["SNP A1 A2 " + " ".join(f"F{i} I{i}" for i in range(n))]
    for j in range(m):
        vals = ["NA" if np.isnan(v) else f"{v:.5f}" for v in x[:, j]]
        lines.append(f"v{j} {a1[j]} {a2[j]} " + " ".join(vals))
    (d / "dos.txt").write_text("\n".join(lines) + "\n")
    (d / "dos.map").write_text("".join(f"{1 + j // 30} v{j} 0 {100 + j}\n" for j in range(m)))
    (d / "dos.fam").write_text("".join(f"F{i} I{i} 0 0 0 -9\n" for i in range(n)))
    _run_plink2("--import-dosage", d / "dos.txt", "format=1", "--fam", d / "dos.fam",
                "--map", d / "dos.map", "--make-pgen", "--out", d / "dos")
    return d / "dos", x, a1


def _a1_to_effect(x: np.ndarray, a1: np.ndarray, effect: np.ndarray) -> np.ndarray:
    """Dosages of ``a1`` turned into dosages of ``effect``, matched by allele name."""
    return np.where(effect == a1, x, 2 - x)


@pytest.mark.reference
def test_pgen_dosages_match_the_written_dosages(dosage_pfile):
    prefix, x, a1 = dosage_pfile
    src = PgenSource(prefix)
    assert not src.hard_calls
    with pytest.raises(ValueError, match="dosages"):
        src.read_calls()
    assert src.samples.IID.tolist() == [f"I{i}" for i in range(x.shape[0])]
    expected = _a1_to_effect(x, a1, src.variants.effect_allele.to_numpy())
    for samples, variants in _selections(*x.shape):
        got = src.read(samples=samples, variants=variants).dosages
        want = expected[slice(None) if samples is None else samples][
            :, slice(None) if variants is None else variants]
        assert got.dtype == np.float32 and got.flags.f_contiguous
        assert np.array_equal(np.isnan(got), np.isnan(want))
        # PLINK 2 stores round(dosage * 16384) / 16384 (exact in float32): half a step at most
        assert np.nanmax(np.abs(got - want)) <= STEP / 2 + 1e-12
    whole = src.read().dosages
    assert np.array_equal(whole[:, 0], expected[:, 0], equal_nan=True)  # hard calls exact
    assert np.all(np.isnan(whole) | (np.round(whole / STEP) * STEP == whole))


def test_pgenlib_written_dosages_and_hard_call_flag(tmp_path):
    """Without plink2: pgenlib's writer, dosages in one file and hard calls in another."""
    rng = np.random.default_rng(5)
    d = rng.uniform(0, 2, (30, 20)).astype(np.float32)
    d[rng.random(d.shape) < 0.1] = np.nan
    prefix = _pgen_from_dosages(tmp_path / "d", d)
    src = PgenSource(prefix)
    assert not src.hard_calls
    got = src.read().dosages
    assert np.array_equal(np.isnan(got), np.isnan(d))
    assert np.nanmax(np.abs(got - d)) <= STEP / 2 + 1e-6  # float32 input: 2^-23 relative
    calls = rng.integers(0, 3, (30, 20)).astype(np.int8)
    calls[rng.random(calls.shape) < 0.1] = -127
    hard = PgenSource(_pgen_from_calls(tmp_path / "h", calls))
    assert hard.hard_calls
    assert _same(hard.read_calls(), calls)
    assert _same(hard.read().dosages, np.where(calls == -127, np.nan, calls).astype(np.float32))


@pytest.mark.reference
@pytest.mark.parametrize("bits", [8, 16])
def test_pgen_dosages_match_the_bgen_plink2_exports(dosage_pfile, tmp_path, bits):
    from contig_gwas.io.bgen import BgenSource

    prefix, _, _ = dosage_pfile
    _run_plink2("--pfile", prefix, "--export", "bgen-1.2", f"bits={bits}", "--out",
                tmp_path / "b")
    pg, bg = PgenSource(prefix), BgenSource(tmp_path / "b.bgen")
    assert bg.samples.IID.tolist() == pg.samples.IID.tolist()
    cols = ["chromosome", "position", "variant_id"]
    pd.testing.assert_frame_equal(bg.variants[cols], pg.variants[cols])
    # same allele pair; BgenSource counts the second, plink2 writes ALT or REF first: by name
    assert (np.sort(bg.variants[["effect_allele", "other_allele"]].to_numpy(), axis=1)
            == np.sort(pg.variants[["effect_allele", "other_allele"]].to_numpy(), axis=1)).all()
    same = (bg.variants.effect_allele == pg.variants.effect_allele).to_numpy()
    x = pg.read().dosages
    y = bg.read().dosages
    y = np.where(same, y, 2 - y)
    assert np.array_equal(np.isnan(x), np.isnan(y))
    # BGEN stores P(first hom) and P(het) as multiples of 1/(2^bits - 1), the third implied.
    # plink2 writes a dosage d of one allele as (1-d, d, 0) or (0, 2-d, d-1): one probability
    # is exactly 0, so rounding that keeps the sum leaves the dosage off by the error of one
    # stored probability, under one step.
    assert np.nanmax(np.abs(x - y)) < 1 / (2 ** bits - 1)


# --- 4. .psam/.pvar conventions -------------------------------------------------------------


def _pgen_from_calls(prefix: Path, calls: np.ndarray, *, samples=None, variants=None) -> Path:
    """Write PREFIX.pgen of int8 calls (N, M; -127 missing) with pgenlib, plus a canonical
    .psam (#FID IID SEX) and .pvar (#CHROM POS ID REF ALT)."""
    import pgenlib

    n, m = calls.shape
    with pgenlib.PgenWriter(bytes(Path(f"{prefix}.pgen")), n, variant_ct=m,
                            nonref_flags=False) as w:
        for j in range(m):
            w.append_biallelic(np.ascontiguousarray(np.where(calls[:, j] == -127, -9,
                                                             calls[:, j]).astype(np.int8)))
    _write_text_files(prefix, n, m, samples, variants)
    return prefix


def _pgen_from_dosages(prefix: Path, d: np.ndarray) -> Path:
    import pgenlib

    n, m = d.shape
    with pgenlib.PgenWriter(bytes(Path(f"{prefix}.pgen")), n, variant_ct=m, nonref_flags=False,
                            dosage_present=True) as w:
        for j in range(m):
            w.append_dosages(np.ascontiguousarray(np.nan_to_num(d[:, j], nan=-9.0)))
    _write_text_files(prefix, n, m, None, None)
    return prefix


def _write_text_files(prefix: Path, n: int, m: int, samples, variants) -> None:
    if samples is None:
        samples = pd.DataFrame({"FID": [f"f{i}" for i in range(n)],
                                "IID": [f"i{i}" for i in range(n)]})
    if variants is None:
        variants = pd.DataFrame({"CHROM": ["1"] * (m - m // 2) + ["X"] * (m // 2),
                                 "POS": np.arange(1, m + 1) * 10,
                                 "ID": [f"v{j}" for j in range(m)],
                                 "REF": ["A"] * m, "ALT": ["G"] * m})
    Path(f"{prefix}.psam").write_text("#FID\tIID\tSEX\n" + "".join(
        f"{f}\t{i}\tNA\n" for f, i in zip(samples.FID, samples.IID)))
    Path(f"{prefix}.pvar").write_text("#CHROM\tPOS\tID\tREF\tALT\n" + "".join(
        "\t".join(map(str, r)) + "\n" for r in variants[["CHROM", "POS", "ID", "REF", "ALT"]]
        .itertuples(index=False)))


def _zstd(data: bytes) -> bytes:
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.CompressedOutputStream(sink, "zstd") as out:
        out.write(data)
    return sink.getvalue().to_pybytes()


def _psam_variants(n: int) -> dict:
    """name -> (.psam text, the FIDs it gives)."""
    ids = [(f"f{i}", f"i{i}") for i in range(n)]
    fids = [f for f, _ in ids]
    return {
        "iid_only": ("#IID\tSEX\n" + "".join(f"{i}\t1\n" for _, i in ids), ["0"] * n),
        "comment_then_header": ("# made by hand\n#FID IID SID PAT MAT SEX\n" + "".join(
            f"{f} {i} s 0 0 2\n" for f, i in ids), fids),
        "fam": ("".join(f"{f} {i} 0 0 1 -9\n" for f, i in ids), fids),
        "fam_8_columns_crlf": ("".join(f"{f}\t{i} 0 0 1 -9 1.5 x\r\n" for f, i in ids), fids),
    }


def _pvar_variants(v: pd.DataFrame) -> dict:
    """name -> .pvar content (bytes) for the canonical table ``v``."""
    rows = list(v.itertuples(index=False))
    vcf = ("##fileformat=VCFv4.3\n##contig=<ID=1>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
           + "".join(f"{r.CHROM}\t{r.POS}\t{r.ID}\t{r.REF}\t{r.ALT}\t.\tPASS\tAF=0.1\n"
                     for r in rows))
    return {
        "meta_and_info": vcf.encode(),
        "reordered_with_cm": ("#CHROM\tID\tCM\tPOS\tALT\tREF\n" + "".join(
            f"{r.CHROM}\t{r.ID}\t0.5\t{r.POS}\t{r.ALT}\t{r.REF}\n" for r in rows)).encode(),
        "bim": "".join(f"{r.CHROM} {r.ID} 0 {r.POS} {r.ALT} {r.REF}\n" for r in rows).encode(),
        "bim_5_columns": "".join(f"{r.CHROM}\t{r.ID}\t{r.POS}\t{r.ALT}\t{r.REF}\n"
                                 for r in rows).encode(),
        "gzip_named_pvar": gzip.compress(vcf.encode(), mtime=0),
    }


@pytest.fixture(scope="module")
def canonical(tmp_path_factory):
    """A canonical PGEN (pgenlib writer) and its calls: 30 samples x 50 variants, chr 1 and X
    (chrX written as ``chrX`` in the .pvar)."""
    d = tmp_path_factory.mktemp("conventions")
    rng = np.random.default_rng(2)
    calls = rng.integers(0, 3, (30, 50)).astype(np.int8)
    calls[rng.random(calls.shape) < 0.05] = -127
    variants = pd.DataFrame({"CHROM": ["1"] * 25 + ["chrX"] * 25,
                             "POS": np.arange(50) * 7 + 1, "ID": [f"rs{j}" for j in range(50)],
                             "REF": rng.choice(list("AC"), 50), "ALT": rng.choice(list("GT"), 50)})
    return _pgen_from_calls(d / "canon", calls, variants=variants), calls, variants


def _variant_fileset(canonical, tmp_path: Path, *, psam: str | None = None,
                     pvar: bytes | None = None, pvar_name: str = ".pvar") -> Path:
    prefix, _, _ = canonical
    out = tmp_path / "variant"
    shutil.copy(f"{prefix}.pgen", f"{out}.pgen")
    if psam is None:
        shutil.copy(f"{prefix}.psam", f"{out}.psam")
    else:
        Path(f"{out}.psam").write_text(psam, newline="")
    if pvar is None:
        shutil.copy(f"{prefix}.pvar", f"{out}.pvar")
    else:
        Path(f"{out}{pvar_name}").write_bytes(pvar)
    return out


def _check_same_as_canonical(src: PgenSource, canonical, *, fids=None) -> None:
    prefix, calls, _ = canonical
    ref = PgenSource(prefix)
    assert src.samples.IID.tolist() == ref.samples.IID.tolist()
    assert src.samples.FID.tolist() == (ref.samples.FID.tolist() if fids is None else fids)
    pd.testing.assert_frame_equal(src.variants, ref.variants)
    assert _same(src.read_calls(), calls)
    assert _same(src.read().dosages, ref.read().dosages)


def test_canonical_fileset(canonical):
    prefix, calls, variants = canonical
    src = PgenSource(f"{prefix}.pgen")  # a .pgen name works as the prefix
    assert src.path == str(prefix) and src.hard_calls
    assert src.variants.chromosome.tolist() == [1] * 25 + [23] * 25
    assert src.variants.effect_allele.tolist() == variants.ALT.tolist()
    assert src.variants.other_allele.tolist() == variants.REF.tolist()
    assert _same(src.read_calls(), calls)
    assert src.read(samples=np.array([], dtype=int)).dosages.shape == (0, 50)
    assert src.read(variants=slice(7, 7)).dosages.shape == (30, 0)


@pytest.mark.parametrize("name", list(_psam_variants(30)))
def test_psam_conventions(canonical, tmp_path, name):
    text, fids = _psam_variants(30)[name]
    src = PgenSource(_variant_fileset(canonical, tmp_path, psam=text))
    _check_same_as_canonical(src, canonical, fids=fids)


@pytest.mark.parametrize("name", ["meta_and_info", "reordered_with_cm", "bim", "bim_5_columns",
                                  "gzip_named_pvar", "zst"])
def test_pvar_conventions(canonical, tmp_path, name):
    v = canonical[2]
    if name == "zst":
        path = _variant_fileset(canonical, tmp_path, pvar=_zstd(Path(f"{canonical[0]}.pvar")
                                                                .read_bytes()),
                                pvar_name=".pvar.zst")
        assert not Path(f"{path}.pvar").exists()
    else:
        path = _variant_fileset(canonical, tmp_path, pvar=_pvar_variants(v)[name])
    _check_same_as_canonical(PgenSource(path), canonical)


def test_bed_content_in_a_pgen_file(tmp_path):
    """PLINK 2 reads a PLINK 1 .bed renamed .pgen (storage mode 0x01); so does the source."""
    g = _write_bed(tmp_path / "b", seed=3)
    pl = PlinkSource(tmp_path / "b")
    prefix = _pgen_from_calls(tmp_path / "p", pl.read_calls())
    shutil.copy(tmp_path / "b.bed", f"{prefix}.pgen")
    src = PgenSource(prefix)
    assert src.hard_calls
    assert _same(src.read().dosages, g)
    assert _same(src.read_calls(), pl.read_calls())


@pytest.mark.reference
@pytest.mark.parametrize("psam", [None, *_psam_variants(30)])
@pytest.mark.parametrize("pvar", [None, "meta_and_info", "bim_5_columns", "gzip_named_pvar"])
def test_conventions_read_as_plink2_reads_them(canonical, tmp_path, psam, pvar):
    """plink2 --pfile V --make-bed, read by PlinkSource: the independent reading of V."""
    path = _variant_fileset(canonical, tmp_path,
                            psam=None if psam is None else _psam_variants(30)[psam][0],
                            pvar=None if pvar is None else _pvar_variants(canonical[2])[pvar])
    _run_plink2("--pfile", path, "--make-bed", "--out", tmp_path / "back")
    ours, theirs = PgenSource(path), PlinkSource(tmp_path / "back")
    pd.testing.assert_frame_equal(ours.samples, theirs.samples)
    pd.testing.assert_frame_equal(ours.variants, theirs.variants)
    assert _same(ours.read_calls(), theirs.read_calls())


# --- 5. errors -----------------------------------------------------------------------------


@pytest.mark.parametrize("ext", [".pgen", ".pvar", ".psam"])
def test_missing_file(canonical, tmp_path, ext):
    path = _variant_fileset(canonical, tmp_path)
    Path(f"{path}{ext}").unlink()
    with pytest.raises(InputError, match=rf"variant\{ext}: PLINK 2 {ext} file not found"):
        PgenSource(path)


@pytest.mark.parametrize("keep", [-1, -40, -200, 60, 30, 13])
def test_truncated_pgen(canonical, tmp_path, keep):
    """Cut in the records (negative: bytes dropped from the end) or in the header (kept)."""
    path = _variant_fileset(canonical, tmp_path)
    data = Path(f"{path}.pgen").read_bytes()
    assert 400 < len(data) < 600
    Path(f"{path}.pgen").write_bytes(data[:keep])
    with pytest.raises(InputError, match=r"variant\.pgen: .*truncated"):
        PgenSource(path)


def test_corrupt_record(canonical, tmp_path):
    """The first record relabelled as a difference list (type 4 in the 4-bit type array at
    byte 20): pgenlib finds it malformed when it decodes it."""
    path = _variant_fileset(canonical, tmp_path)
    data = bytearray(Path(f"{path}.pgen").read_bytes())
    assert data[2] == 0x10 and data[11] & 0x0F == 0  # 4-bit types, 1-byte record lengths
    data[20] = (data[20] & 0xF0) | 0x04
    Path(f"{path}.pgen").write_bytes(bytes(data))
    src = PgenSource(path)
    for read in (src.read, src.read_calls):
        with pytest.raises(InputError, match=r"variant\.pgen: cannot decode genotypes .*corrupt"):
            read(variants=slice(0, 5))


def test_truncated_bed_content(tmp_path):
    _write_bed(tmp_path / "b")
    prefix = _pgen_from_calls(tmp_path / "p", PlinkSource(tmp_path / "b").read_calls())
    Path(f"{prefix}.pgen").write_bytes((tmp_path / "b.bed").read_bytes()[:-3])
    with pytest.raises(InputError, match=r"p\.pgen: size .* truncated"):
        PgenSource(prefix)


def test_count_mismatches(canonical, tmp_path):
    psam = Path(f"{canonical[0]}.psam").read_text() + "extra\tone\tNA\n"
    with pytest.raises(InputError, match=r"variant\.pgen: 30 samples in the \.pgen but 31 in "
                                         r".*variant\.psam"):
        PgenSource(_variant_fileset(canonical, tmp_path, psam=psam))
    pvar = Path(f"{canonical[0]}.pvar").read_text().splitlines(keepends=True)[:-1]
    with pytest.raises(InputError, match=r"variant\.pgen: 50 variants in the \.pgen but 49 in "
                                         r".*variant\.pvar"):
        PgenSource(_variant_fileset(canonical, tmp_path, pvar="".join(pvar).encode()))


def test_not_a_pgen(canonical, tmp_path):
    path = _variant_fileset(canonical, tmp_path)
    Path(f"{path}.pgen").write_text("this is text, not genotypes\n")
    with pytest.raises(InputError, match=r"variant\.pgen: not a \.pgen file"):
        PgenSource(path)


def test_multiallelic_variants_are_refused(canonical, tmp_path):
    text = Path(f"{canonical[0]}.pvar").read_text()
    lines = text.splitlines()
    lines[3] = lines[3] + ",C"
    lines[9] = lines[9] + ",T,<DEL>"
    with pytest.raises(InputError, match=r"variant\.pvar: 2 multi-allelic variants .*rs2"):
        PgenSource(_variant_fileset(canonical, tmp_path, pvar="\n".join(lines).encode()))


@pytest.mark.parametrize("psam, message", [
    ("#FID\tSEX\nf\t1\n", r"no IID column"),
    ("f0 i0 0 0 1\n", r"sample line 1 has 5 fields but a \.psam without"),
    ("#FID IID SEX\nf0 i0\n", r"sample line 1 has 2 fields but the header names 3"),
    ("#IID\n", r"no samples"),
])
def test_bad_psam(canonical, tmp_path, psam, message):
    with pytest.raises(InputError, match=r"variant\.psam: " + message):
        PgenSource(_variant_fileset(canonical, tmp_path, psam=psam))


@pytest.mark.parametrize("pvar, message", [
    (b"#CHROM\tPOS\tID\tREF\n1\t5\tv\tA\n", r"the header has no ALT column"),
    (b"#CHROM\tPOS\tID\tREF\tALT\n1\tfive\tv\tA\tG\n", r"the POS column .* not an integer"),
    (b"#CHROM\tPOS\tID\tREF\tALT\nchrUn\t5\tv\tA\tG\n", r"unknown chromosome name"),
    (b"1 v 0 5 A G 7\n", r"no #CHROM header line, and 7 columns where a \.bim has 6"),
    (b"##only meta\n", r"no variants"),
    (b"#CHROM\tPOS\tID\tREF\tALT\n1\t5\tv\tA\tG\n1\t6\tw\tA\n",
     r"variant line 2 has fewer fields than the header names \(1 such lines\)"),
    (b"1 v 0 5 A G\n1 w 0 6 A\n", r"variant line 2 has fewer fields than the \.bim layout"),
])
def test_bad_pvar(canonical, tmp_path, pvar, message):
    with pytest.raises(InputError, match=r"variant\.pvar: " + message):
        PgenSource(_variant_fileset(canonical, tmp_path, pvar=pvar))
