"""Benchmark: contig-report figures for 10 million variants (target: under a minute on 2 cores).

Times the Manhattan plot (thinning, lead labels, PNG at 300 dpi and PDF) and the QQ plot
(sort, band, PNG and PDF) of one phenotype, plus lambda GC and distance-only clumping; and,
for scale, qmplot's ``manhattanplot`` on a 1M-variant subset (it loops in Python per point).

    .venv/bin/python bench/report.py [--variants 10000000] [--out /tmp/bench-report] [--qmplot]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def make_table(m: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    chrom = np.sort(rng.integers(1, 23, m))
    pos = np.empty(m, dtype=np.int64)
    for c in range(1, 23):
        k = np.flatnonzero(chrom == c)
        pos[k] = np.cumsum(rng.integers(1, 60, len(k)))
    nlp = -np.log10(rng.uniform(size=m))
    for c, centre in [(2, 5_000_000), (6, 10_000_000), (11, 8_000_000), (19, 3_000_000)]:
        k = np.flatnonzero((chrom == c) & (np.abs(pos - centre) < 150_000))
        bump = 40 * np.exp(-0.5 * ((pos[k] - centre) / 30_000) ** 2)
        nlp[k] += bump * rng.uniform(0.5, 1, len(k))
    nlp[np.argmax(nlp)] = 400.0       # an underflowed p-value
    vid = np.array([f"rs{k}" for k in range(1, m + 1)], dtype=object) if m <= 2_000_000 else None
    return chrom, pos, nlp, vid


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--variants", type=int, default=10_000_000)
    ap.add_argument("--out", default="/tmp/bench-report")
    ap.add_argument("--qmplot", action="store_true", help="also time qmplot on 1M variants")
    args = ap.parse_args()
    import pandas as pd
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from contig_gwas.report import plots
    from contig_gwas.report.loci import ClumpParams, clump
    from contig_gwas.report.stats import lambda_gc

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    chrom, pos, nlp, _ = make_table(args.variants)
    print(f"generated {args.variants:,} variants in {time.perf_counter() - t:.1f}s (not counted)")

    t0 = time.perf_counter()
    lam = lambda_gc(neg_log10_p=nlp)
    t_lam = time.perf_counter() - t0
    t = time.perf_counter()
    res = clump(chromosome=chrom, position=pos, neg_log10_p=nlp, params=ClumpParams())
    t_clump = time.perf_counter() - t
    leads = pd.DataFrame({"chromosome": chrom[res.index], "base_pair_location": pos[res.index],
                          "variant_id": [f"rs{k + 1}" for k in res.index],
                          "neg_log10_p_value": nlp[res.index]})
    with plots.figure_style():
        t = time.perf_counter()
        fig = Figure(figsize=(7.2, 2.6))
        FigureCanvasAgg(fig)
        fig.subplots_adjust(left=0.08, right=0.99, bottom=0.17, top=0.9)
        ax = fig.add_subplot()
        plots.manhattan(ax=ax, chromosome=chrom, position=pos, neg_log10_p=nlp, leads=leads,
                        ycap=plots.auto_cap(leads["neg_log10_p_value"]), title="benchmark")
        t_m_draw = time.perf_counter() - t
        fig.savefig(out / "manhattan.png", dpi=300)
        fig.savefig(out / "manhattan.pdf")
        t_m = time.perf_counter() - t
        t = time.perf_counter()
        fig = Figure(figsize=(3.4, 3.4))
        FigureCanvasAgg(fig)
        fig.subplots_adjust(left=0.16, right=0.97, bottom=0.14, top=0.9)
        ax = fig.add_subplot()
        plots.qq(ax=ax, neg_log10_p=nlp, label="benchmark", ycap=60)
        fig.savefig(out / "qq.png", dpi=300)
        fig.savefig(out / "qq.pdf")
        t_q = time.perf_counter() - t
    total = time.perf_counter() - t0
    print(f"lambda GC {lam:.4f}: {t_lam:.2f}s; clumping ({len(res.index)} loci): {t_clump:.2f}s")
    print(f"Manhattan: {t_m:.1f}s (of which drawing/thinning {t_m_draw:.1f}s); QQ: {t_q:.1f}s")
    print(f"TOTAL {args.variants:,} variants: {total:.1f}s (target < 60 s)  "
          f"[files in {out}]")
    if args.qmplot:
        import qmplot

        m = 1_000_000
        step = max(args.variants // m, 1)
        df = pd.DataFrame({"#CHROM": chrom[::step][:m], "POS": pos[::step][:m],
                           "P": 10 ** -np.minimum(nlp[::step][:m], 300), "ID": "x"})
        df = df.sort_values(["#CHROM", "POS"])
        fig = Figure(figsize=(7.2, 2.6))
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        t = time.perf_counter()
        qmplot.manhattanplot(data=df, ax=ax)
        fig.savefig(out / "qmplot.png", dpi=300)
        print(f"qmplot.manhattanplot on {m:,} variants (no thinning, PNG only): "
              f"{time.perf_counter() - t:.1f}s")


if __name__ == "__main__":
    main()
