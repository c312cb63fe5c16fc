"""BgenSource's own BGEN decoder against independent readers.

Files of each layout, compression, bit depth, ploidy mix, phasing and missingness are written
with the ``bgen`` package's ``BgenWriter``. The references:

- the ``bgen`` package's reader (C++), whose float32 probabilities are the stored integers
  k / (2^bits - 1) (k / 32768 in layout 1); for bits <= 16 the integers are recovered exactly
  (rint(p * (2^bits - 1))), so the expected dosage is the exact integer formula and ours must
  equal it within float32 rounding (1 ulp), and INFO must equal ``info_score`` of the exact
  probabilities (float64, to 1e-12);
- bgen-reader (the previous reading path) on the files it reads (layout 2, zlib or zstd).
"""

from __future__ import annotations

import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from contig_gwas.errors import InputError
from contig_gwas.io import bgen as bgen_module
from contig_gwas.io.bgen import BgenSource, info_score

N, M = 37, 7  # an odd N exercises the bit packing across byte boundaries


def _write(path: Path, probs: np.ndarray, *, bits, compression="zlib", layout: int = 2,
           ploidy=None, phased=None) -> Path:
    """probs: (N, M, 3) (or (N, M, 4) phased) probabilities, NaN = missing. ``bits``, ``ploidy``
    (per sample) and ``phased`` may be given per variant as lists."""
    from bgen import BgenWriter

    n, m, _ = probs.shape

    def per(x, j):
        return x[j] if isinstance(x, list) else x

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # low bit depths warn about their precision
        with BgenWriter(str(path), n_samples=n, samples=[f"s{i}" for i in range(n)],
                        compression=compression, layout=layout) as w:
            for j in range(m):
                kw = {}
                if per(ploidy, j) is not None:
                    kw["ploidy"] = per(ploidy, j)
                if per(phased, j):
                    kw["phased"] = True
                g = probs[:, j] if per(phased, j) else probs[:, j, :3]
                w.add_variant(varid=f"v{j}", rsid=f"rs{j}", chrom="1", pos=100 + j,
                              alleles=["A", "G"], genotypes=g, bit_depth=per(bits, j), **kw)
    Path(str(path) + ".bgi").unlink(missing_ok=True)
    return path


def _reference(path: Path, bits) -> tuple[np.ndarray, np.ndarray, bool]:
    """(dosage (N, M) float64, genotype probabilities (N, M, 3) float64 with haploid calls as
    homozygotes and phased calls as independent haplotypes, exact?) from the ``bgen``
    package's reader."""
    from bgen import BgenReader

    dos, probs, exact = [], [], True
    with BgenReader(str(path), delay_parsing=True) as r:
        for j, v in enumerate(r):
            p = np.asarray(v.probabilities, dtype=np.float64)
            ploidy = np.asarray(v.ploidy)
            b = bits[j] if isinstance(bits, list) else bits
            d = 32768.0 if v.layout == 1 else float(2 ** b - 1)
            if b <= 16 or v.layout == 1:
                p = np.rint(p * d) / d  # the stored integers, exactly
            else:
                exact = False
            miss = np.isnan(p[:, 0])
            hap = ploidy == 1
            if v.layout == 1:
                g = p / p.sum(axis=1, keepdims=True)  # PLINK 2 normalises layout-1 calls
            elif v.is_phased:  # [P(first), P(second)] per haplotype
                h1 = 1 - p[:, 0]
                h2 = np.where(hap, 0.0, 1 - p[:, 2])
                g = np.stack([(1 - h1) * (1 - h2), h1 * (1 - h2) + h2 * (1 - h1), h1 * h2], 1)
                g[hap] = np.stack([p[hap, 0], 0 * h1[hap], h1[hap]], 1)
            else:
                g = p[:, :3].copy()
                g[hap] = np.stack([p[hap, 0], 0 * p[hap, 0], 1 - p[hap, 0]], 1)
                g[~hap, 2] = 1 - p[~hap, 0] - p[~hap, 1]  # the stored value is the rest
            g[miss] = np.nan
            probs.append(g)
            if v.layout == 1:
                k = np.rint(p * d)
                dos.append((k[:, 1] + 2 * k[:, 2]) / k.sum(axis=1))
            elif v.is_phased or b > 16:
                dos.append(g[:, 1] + 2 * g[:, 2])
            else:  # the exact integer formula
                k0, k1 = np.rint(p[:, 0] * d), np.rint(p[:, 1] * d)
                dos.append(np.where(hap, 2 * (d - k0), 2 * d - 2 * k0 - k1) / d)
            dos[-1][miss] = np.nan
    return np.stack(dos, 1), np.stack(probs, 1), exact


def _check(src: BgenSource, path: Path, bits, *, phased: bool = False) -> None:
    want, probs, exact = _reference(path, bits)
    block = src.read()
    got = block.dosages
    assert got.dtype == np.float32 and got.flags.f_contiguous and got.shape == (N, M)
    assert block.info.dtype == np.float64 and block.info.shape == (M,)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    if exact and not phased:
        # within float32 rounding of the exact value: 1 ulp
        np.testing.assert_array_max_ulp(got[ok], want[ok].astype(np.float32), maxulp=1)
        np.testing.assert_allclose(block.info, info_score(probs), rtol=1e-12, atol=1e-12)
    else:  # products of probabilities, or float32 probabilities of more than 16 bits
        np.testing.assert_allclose(got[ok], want[ok], rtol=0, atol=1e-6)
        np.testing.assert_allclose(block.info, info_score(probs), rtol=0,
                                   atol=1e-12 if exact else 1e-5)


def _probs(n: int, m: int, seed: int, *, missing: float = 0.1, ncol: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(3), size=(n, m))
    hard = rng.random((n, m)) < 0.3  # some certain calls, as in imputed data
    p[hard] = np.eye(3)[rng.integers(0, 3, hard.sum())]
    if ncol == 4:  # phased: [P(first), P(second)] per haplotype
        h = rng.random((n, m, 2))
        p = np.stack([h[..., 0], 1 - h[..., 0], h[..., 1], 1 - h[..., 1]], axis=2)
    p[rng.random((n, m)) < missing] = np.nan
    return p


# ---------------------------------------------------------------------------------------------
# layouts, compressions, bit depths


@pytest.mark.parametrize("compression", ["zlib", "zstd", None])
@pytest.mark.parametrize("bits", [8, 16])
def test_unphased_diploid_fast_paths(tmp_path, bits, compression):
    path = _write(tmp_path / "a.bgen", _probs(N, M, seed=bits), bits=bits,
                  compression=compression)
    _check(BgenSource(path), path, bits)


@pytest.mark.parametrize("bits", [1, 2, 3, 5, 7, 9, 12, 15, 17, 24, 31, 32])
def test_unphased_diploid_other_bit_depths(tmp_path, bits):
    path = _write(tmp_path / "a.bgen", _probs(N, M, seed=bits), bits=bits)
    _check(BgenSource(path), path, bits)


@pytest.mark.parametrize("bits", [8, 16, 5])
def test_haploid_and_diploid_calls(tmp_path, bits):
    """chrX as PLINK 2 writes it: males haploid; haploid calls count on the diploid scale."""
    rng = np.random.default_rng(bits)
    ploidy = np.where(rng.random(N) < 0.5, 1, 2)
    probs = _probs(N, M, seed=1)
    hap = rng.dirichlet(np.ones(2), size=(N, M))
    probs[ploidy == 1, :, :2] = hap[ploidy == 1]
    probs[ploidy == 1, :, 2] = np.nan
    probs[rng.random((N, M)) < 0.1] = np.nan
    path = _write(tmp_path / "x.bgen", probs, bits=bits, ploidy=ploidy)
    _check(BgenSource(path), path, bits)
    d = BgenSource(path).read().dosages
    ok = (ploidy[:, None] == 1) & ~np.isnan(probs[..., 0])
    np.testing.assert_allclose(d[ok], 2 * hap[..., 1][ok], atol=2 / (2 ** bits - 1))


@pytest.mark.parametrize("bits", [8, 16, 3])
def test_phased_calls(tmp_path, bits):
    """Dosage = sum over haplotypes of P(second allele); haploid phased calls doubled."""
    rng = np.random.default_rng(bits)
    ploidy = np.where(rng.random(N) < 0.3, 1, 2)
    probs = _probs(N, M, seed=2, ncol=4)
    probs[ploidy == 1, :, 2:] = np.nan
    probs[rng.random((N, M)) < 0.1] = np.nan
    path = _write(tmp_path / "p.bgen", probs, bits=bits, ploidy=ploidy, phased=True)
    _check(BgenSource(path), path, bits, phased=True)


@pytest.mark.parametrize("compression", ["zlib", None])
def test_layout1(tmp_path, compression):
    """BGEN 1.1: three probabilities over 32768 per call, all zero = missing, the dosage
    normalised by their sum (PLINK 2's reading)."""
    path = _write(tmp_path / "v11.bgen", _probs(N, M, seed=11), bits=16, layout=1,
                  compression=compression)
    flags = int.from_bytes(path.read_bytes()[20:24], "little")
    assert (flags >> 2) & 15 == 1 and flags & 3 == (compression == "zlib")
    _check(BgenSource(path), path, 16)


@pytest.mark.parametrize("compression", ["zlib", "zstd"])
@pytest.mark.parametrize("bits", [8, 16])
def test_equals_bgen_reader(tmp_path, bits, compression):
    """The previous reading path (bgen-reader's float64 probabilities): same dosages, same
    INFO from ``info_score``."""
    from bgen_reader import open_bgen

    path = _write(tmp_path / "a.bgen", _probs(60, 12, seed=5), bits=bits,
                  compression=compression)
    bg = open_bgen(path, metadata_filepath=tmp_path / "a.mmm", allow_complex=False,
                   verbose=False)
    p = bg.read(dtype=np.float64, num_threads=1)
    del bg
    block = BgenSource(path).read()
    np.testing.assert_allclose(block.dosages, p[..., 1] + 2 * p[..., 2], rtol=0, atol=1e-6)
    np.testing.assert_allclose(block.info, info_score(p), rtol=0, atol=1e-9)


def test_monomorphic_and_all_missing_variants_have_info_1(tmp_path):
    probs = _probs(N, 3, seed=3, missing=0)
    probs[:, 0] = [1.0, 0.0, 0.0]
    probs[:, 1] = np.nan
    path = _write(tmp_path / "m.bgen", probs, bits=8)
    block = BgenSource(path).read()
    assert block.info[0] == 1.0 and block.info[1] == 1.0
    assert np.isnan(block.dosages[:, 1]).all() and (block.dosages[:, 0] == 0).all()


# ---------------------------------------------------------------------------------------------
# blocks: sample rows, variant selections, chunks, threads


@pytest.fixture
def mixed(tmp_path, monkeypatch) -> tuple[BgenSource, Path]:
    """300 samples x 40 variants cycling 8-bit, 16-bit, 8-bit haploid/diploid, phased and
    5-bit; decoded in chunks of a few variants, each read on its own (no spans)."""
    monkeypatch.setattr(bgen_module, "_CHUNK_BYTES", 6000)
    monkeypatch.setattr(bgen_module, "_SPAN_SLACK", 0)
    n, m = 300, 40
    rng = np.random.default_rng(9)
    probs = _probs(n, m, seed=9)
    phased_p = _probs(n, m, seed=10, ncol=4)
    kinds = [j % 5 for j in range(m)]
    ploidy_x = np.where(rng.random(n) < 0.5, 1, 2)
    bits = [{0: 8, 1: 16, 2: 8, 3: 8, 4: 5}[k] for k in kinds]
    ploidy = [ploidy_x if k == 2 else None for k in kinds]
    phased = [k == 3 for k in kinds]
    all_p = np.concatenate([probs, np.full((n, m, 1), np.nan)], axis=2)
    for j, k in enumerate(kinds):
        if k == 2:
            all_p[ploidy_x == 1, j, 2] = np.nan
        if k == 3:
            all_p[:, j] = phased_p[:, j]
    path = _write(tmp_path / "mixed.bgen", all_p, bits=bits, ploidy=ploidy, phased=phased)
    return BgenSource(path), path


def test_mixed_file_matches_reference(mixed):
    src, path = mixed
    whole = src.read()
    for j in range(len(src.variants)):  # one variant at a time: no fast path batching
        one = src.read(variants=[j])
        np.testing.assert_array_equal(one.dosages[:, 0], whole.dosages[:, j])
        assert one.info[0] == pytest.approx(whole.info[j], rel=1e-12, abs=1e-12)
    bits = [{0: 8, 1: 16, 2: 8, 3: 8, 4: 5}[j % 5] for j in range(40)]
    want, probs, _ = _reference(path, bits)
    np.testing.assert_allclose(whole.dosages, want, rtol=0, atol=1e-6)
    np.testing.assert_allclose(whole.info, info_score(probs), rtol=0, atol=1e-12)


@pytest.mark.parametrize("variants", [
    slice(3, 29), slice(None, None, 3), slice(30, 5, -2), np.array([17, 2, 2, 39, 0, -1]),
    np.arange(40) % 3 == 0, [], np.array([5])], ids=["slice", "step", "reverse", "array",
                                                     "mask", "empty", "one"])
@pytest.mark.parametrize("samples", [
    None, np.array([299, 3, 3, 150, 0, -2]), np.arange(0, 300, 2), np.array([], dtype=int)],
    ids=["all", "unsorted", "even", "none"])
def test_selections_equal_indexing_the_whole(mixed, variants, samples):
    src, _ = mixed
    whole = src.read()
    cols = np.arange(40)[variants]
    rows = slice(None) if samples is None else samples
    block = src.read(samples=samples, variants=variants)
    assert block.dosages.flags.f_contiguous and block.dosages.dtype == np.float32
    np.testing.assert_array_equal(block.dosages, whole.dosages[rows][:, cols])
    if samples is None:
        np.testing.assert_array_equal(block.info, whole.info[cols])
    else:  # INFO over the selected samples
        sub = BgenSource(src.path).read(samples=samples)
        np.testing.assert_array_equal(block.info, sub.info[cols])
    assert block.start == (variants.start or 0 if isinstance(variants, slice) else 0)


def test_out_of_range_selections(mixed):
    src, _ = mixed
    with pytest.raises(IndexError):
        src.read(variants=[40])
    with pytest.raises(IndexError):
        src.read(samples=[300])


def test_iter_blocks_equal_whole(mixed):
    src, _ = mixed
    whole = src.read()
    blocks = list(src.iter_blocks(block_size=7))
    np.testing.assert_array_equal(np.hstack([b.dosages for b in blocks]), whole.dosages)
    np.testing.assert_array_equal(np.concatenate([b.info for b in blocks]), whole.info)
    assert [b.start for b in blocks] == list(range(0, 40, 7))


def test_reads_from_several_threads_at_once(mixed):
    src, _ = mixed
    whole = src.read()
    barrier = threading.Barrier(4)

    def read(k):
        barrier.wait()
        return [src.read(variants=slice(a, a + 3)).dosages for a in range(k, 40, 4)]

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(read, range(4)))
    for k, res in enumerate(results):
        for a, d in zip(range(k, 40, 4), res):
            np.testing.assert_array_equal(d, whole.dosages[:, a:a + 3])


# ---------------------------------------------------------------------------------------------
# malformed data: an InputError naming the file


def _uncompressed(tmp_path: Path, bits: int) -> tuple[Path, BgenSource]:
    path = _write(tmp_path / f"raw{bits}.bgen", _probs(N, 3, seed=4, missing=0), bits=bits,
                  compression=None)
    return path, BgenSource(path)


@pytest.mark.parametrize("bits", [8, 16, 5])
def test_probabilities_summing_above_one(tmp_path, bits):
    path, src = _uncompressed(tmp_path, bits)
    data = bytearray(path.read_bytes())
    at = int(src._start[1]) + 10 + N  # the second variant's first call
    full = 2 ** bits - 1  # a = b = 2^bits - 1: the two values' bits are all set
    packed = int.from_bytes(data[at:at + 4], "little") | ((1 << 2 * bits) - 1)
    data[at:at + 4] = packed.to_bytes(4, "little")
    assert full + full > full
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match=rf"raw{bits}\.bgen: variant 2: genotype probabilities "
                                         r"sum to more than 1"):
        BgenSource(path).read()
    np.testing.assert_array_equal(BgenSource(path).read(variants=[0, 2]).dosages,
                                  src.read(variants=[0, 2]).dosages)


def test_corrupt_compressed_block(tmp_path):
    path = _write(tmp_path / "z.bgen", _probs(N, 3, seed=4), bits=8)
    src = BgenSource(path)
    data = bytearray(path.read_bytes())
    start = int(src._start[1])
    data[start + 2:start + 12] = b"\xff" * 10
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"z\.bgen: cannot decompress"):
        BgenSource(path).read()


def test_ploidy_above_two_is_refused(tmp_path):
    from bgen import BgenWriter

    path = tmp_path / "tri.bgen"
    with BgenWriter(str(path), n_samples=4, samples=list("abcd"), compression="zlib") as w:
        w.add_variant(varid="v", rsid="rs", chrom="1", pos=1, alleles=["A", "G"],
                      genotypes=np.tile([0.1, 0.2, 0.3, 0.4], (4, 1)), ploidy=3, bit_depth=8)
    with pytest.raises(InputError, match=r"tri\.bgen: variant 1: ploidy up to 3"):
        BgenSource(path).read()


def test_identifier_not_utf8(tmp_path):
    """A variant ID overwritten with bytes that are not text: an InputError naming the
    variant (bgen-reader failed there too), not an ID full of replacement characters."""
    path = _write(tmp_path / "id.bgen", _probs(N, 3, seed=4), bits=8)
    data = path.read_bytes()
    at = data.index(b"rs1")
    path.write_bytes(data[:at] + b"\xff\xfe\xfd" + data[at + 3:])
    with pytest.raises(InputError, match=r"id\.bgen: the rsid of variant 2 is not UTF-8 text.*"
                                         r"corrupt"):
        BgenSource(path)
