"""The workflow's held-out split (gwas.individuals: held_out) and the cluster requests.

- held-out individuals: those no model trained on, checked against split tables written
  here; bad tables are refused;
- requests: the exact mode's memory against docs/methods.md's formula written out by hand, the
  scalable mode's against ``peak_memory_bytes`` (its owner's formula), floors, overrides and
  the held-out N; sizes counted from a real cohort's files (.fam, .bim, per-chromosome BGEN
  headers);
- docs/biobank.md's request table is what ``request_table`` gives for the guide's config at
  N = 100,000 and 500,000 (the command the guide shows);
- dry runs: held_out passes --keep to every GWAS and h2 job; per-chromosome BGEN files; the
  SLURM profile's jobs carry the computed requests.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from test_workflow import PROFILE, WORKFLOW, _ok, _snakemake

from contig_gwas.errors import InputError
from contig_gwas.gwas.scalable.engine import peak_memory_bytes
from contig_gwas.workflow.__main__ import main as workflow_main
from contig_gwas.workflow.heldout import held_out_individuals
from contig_gwas.workflow.resources import (
    StudySize,
    Tuning,
    exact_peak_bytes,
    gwas_request,
    h2_request,
    region_share,
)
from contig_gwas.workflow.studysize import request_table, study_size

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "biobank.md"


def _split(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("IID\tsplit\n" + "".join(f"{i}\t{s}\n" for i, s in rows))
    return path


# ------------------------------------------------------------------------------ held out

def test_held_out_is_who_no_model_trained_on(tmp_path):
    a = _split(tmp_path / "a.tsv", [("i1", "val"), ("i2", "train"), ("i3", "val"), ("i4", "val")])
    # model b kept fewer individuals (i2 not at all) and drew another split; i5 only it saw
    b = _split(tmp_path / "b.tsv", [("i4", "val"), ("i3", "val"), ("i1", "train"),
                                    ("i5", "val")])
    res = held_out_individuals({"a": a, "b": b})
    assert res.iid.tolist() == ["i3", "i4", "i5"]     # order of first appearance
    assert res.sizes == {"a": (4, 3), "b": (4, 3)}
    assert held_out_individuals({"a": a}).iid.tolist() == ["i1", "i3", "i4"]


def test_held_out_refuses_bad_tables(tmp_path):
    (tmp_path / "x.tsv").write_text("ID\tset\ni1\tval\n")
    with pytest.raises(InputError, match="IID split"):
        held_out_individuals({"a": tmp_path / "x.tsv"})
    with pytest.raises(InputError, match="unknown split"):
        held_out_individuals({"a": _split(tmp_path / "b.tsv", [("i1", "test")])})
    with pytest.raises(InputError, match="listed twice"):
        held_out_individuals({"a": _split(tmp_path / "c.tsv", [("i1", "val"), ("i1", "val")])})
    a = _split(tmp_path / "d.tsv", [("i1", "val"), ("i2", "train")])
    b = _split(tmp_path / "e.tsv", [("i1", "train"), ("i2", "val")])
    with pytest.raises(InputError, match="every individual was trained on"):
        held_out_individuals({"a": a, "b": b})


def test_held_out_cli_writes_a_keep_file(tmp_path):
    from contig_gwas.io.tables import read_id_list

    a = _split(tmp_path / "a.tsv", [("i1", "val"), ("i2", "val"), ("i3", "train")])
    out = tmp_path / "keep" / "held_out.tsv"
    assert workflow_main(["held-out", "--split", f"a={a}", "--out", str(out),
                          "--log", str(tmp_path / "h.log")]) == 0
    assert read_id_list(out).tolist() == ["i1", "i2"]   # read as contig-gwas --keep reads it
    assert "2 individuals no model trained on" in (tmp_path / "h.log").read_text()


# ------------------------------------------------------------------------------ requests

def test_exact_memory_is_the_documented_formula():
    # docs/methods.md "Memory": R + 8 [(2 + 5 L) N^2 + N P (D + 3)] + 8 B (6 N + P (D + 8)) (T + 1)
    # with N = 10,000, P = 30, D = 10, B = 1000, T = L = 2, R = 200 MiB, written out by hand
    want = 209_715_200 + 8 * (12 * 10 ** 8 + 10_000 * 30 * 13) + 8 * 1000 * (60_000 + 540) * 3
    assert exact_peak_bytes(n=10_000, phenotypes=30, covariates=10, block_size=1000,
                            threads=2) == want == 11_293_875_200
    size = StudySize(individuals=10_000, variants=10 ** 6, model_variants=10 ** 5,
                     chromosomes=22, phenotypes=30, covariates=10)
    req = gwas_request(size, rule="gwas_region", mode="exact", threads=2)
    assert req.mem_mb == 100 * math.ceil(1.5 * want / 1e6 / 100) and req.threads == 2


@pytest.mark.parametrize("n", [100_000, 500_000])
def test_scalable_memory_follows_peak_memory_bytes(n):
    size = StudySize(individuals=n, variants=2 * 10 ** 7, model_variants=3 * 10 ** 5,
                     chromosomes=22, phenotypes=32, covariates=13, block_size=200)
    for rule, m_model in [("gwas_step1", 3 * 10 ** 5), ("gwas_region", 0)]:
        peak = peak_memory_bytes(n=n, m_model=m_model, chromosomes=22, phenotypes=32,
                                 block_size=200, threads=16)
        req = gwas_request(size, rule=rule, mode="scalable", threads=16, variant_share=0.08)
        assert req.mem_mb == 100 * math.ceil(1.5 * peak / 1e6 / 100)
        assert req.mem_mb >= 1.5 * peak / 1e6
    # step 1 needs at least its 8-bit model codes, N M1 bytes
    step1 = gwas_request(size, rule="gwas_step1", mode="scalable", threads=16)
    assert step1.mem_mb * 1e6 > n * 3 * 10 ** 5
    # five times the individuals: at least five times the time of a region's scan (linear in
    # N) until the floor
    a = gwas_request(size, rule="gwas_region", mode="scalable", threads=16, variant_share=0.08,
                     tuning=Tuning(floor_minutes=1))
    b = gwas_request(StudySize(**{**size.__dict__, "individuals": 5 * n}), rule="gwas_region",
                     mode="scalable", threads=16, variant_share=0.08,
                     tuning=Tuning(floor_minutes=1))
    assert b.runtime >= 5 * a.runtime - 5


def test_floors_and_region_shares():
    tiny = StudySize(individuals=300, variants=2000, model_variants=2000, chromosomes=3,
                     phenotypes=15)
    assert gwas_request(tiny, rule="gwas_region", mode="exact", threads=1).mem_mb == 1000
    assert h2_request(tiny, threads=1).runtime == 10
    assert h2_request(tiny, threads=1, tuning=Tuning(floor_mb=500, floor_minutes=2)) \
        .mem_mb == 500
    autosomes = list(range(1, 23))
    shares = [region_share(chromosomes=(c,), start=None, end=None,
                           study_chromosomes=autosomes) for c in autosomes]
    assert sum(shares) == pytest.approx(1.0)
    assert np.argmax(shares) == 0 and shares[1] > shares[20]   # chr1 longest, chr21 short
    assert region_share(chromosomes=(6,), start=1, end=10 ** 7, study_chromosomes=[6]) \
        == pytest.approx(10 ** 7 / 171_115_067)


def test_study_size_from_config_and_files(tmp_path):
    cfg = yaml.safe_load((WORKFLOW / "config" / "test.yaml").read_text())
    s = study_size(cfg)
    assert (s.individuals, s.variants, s.chromosomes) == (300, 2000, 3)
    assert s.phenotypes == 3 * cfg["embed"]["n_pcs"] + 6          # + the simulator's six
    cfg["gwas"]["individuals"] = "held_out"
    cfg["pretrain"]["val_fraction"] = 0.2
    assert study_size(cfg).individuals == 60                      # the held-out split
    # a real cohort: individuals from the .fam, variants from each chromosome's BGEN header
    (tmp_path / "arr.fam").write_text("f i 0 0 0 -9\n" * 7)
    (tmp_path / "arr.bim").write_text("1 v 0 1 A G\n" * 11)
    for chrom, m in [(1, 5), (2, 9)]:
        head = (20).to_bytes(4, "little") + (20).to_bytes(4, "little") + \
            m.to_bytes(4, "little") + (8).to_bytes(4, "little")
        (tmp_path / f"imp_chr{chrom}.bgen").write_bytes(head + b"bgen")
    (tmp_path / "cov.tsv").write_text("FID IID age sex\n")
    real = {"cohort": {"bfile": str(tmp_path / "arr"), "manifest": "m.tsv",
                       "bgen": str(tmp_path / "imp_chr{chrom}.bgen"),
                       "covariates": str(tmp_path / "cov.tsv"), "chromosomes": [1, 2]},
            "models": {"c": {"method": "contig"}}, "embed": {"n_pcs": 4},
            "resources": {"phenotype_groups": 2}}
    s = study_size(real)
    assert (s.individuals, s.variants, s.model_variants, s.covariates, s.phenotypes,
            s.phenotype_groups) == (8, 14, 11, 2, 4, 2)


def _guide_block(marker: str) -> str:
    text = GUIDE.read_text()
    m = re.search(rf"<!-- {marker}: begin -->\n(.*?)<!-- {marker}: end -->", text, flags=re.S)
    assert m, f"docs/biobank.md has no {marker} block"
    return m.group(1)


def test_guide_table_is_what_the_workflow_asks_for(tmp_path, capsys):
    """docs/biobank.md prints the requests at N = 100,000 and 500,000 for its config: they are
    what `python -m contig_gwas.workflow resources` gives for that config."""
    config = re.search(r"```yaml\n(.*?)```", _guide_block("config"), flags=re.S).group(1)
    (tmp_path / "ukb.yaml").write_text(config)
    assert workflow_main(["resources", "--configfile", str(tmp_path / "ukb.yaml"),
                          "--individuals", "500000", "--format", "markdown"]) == 0
    printed = capsys.readouterr().out.strip()
    assert _guide_block("requests").strip() == printed
    table = request_table(yaml.safe_load(config), individuals=[500_000])
    assert table.columns.tolist()[3:] == ["mem_mb N=100000", "runtime_min N=100000",
                                          "mem_mb N=500000", "runtime_min N=500000"]


# ------------------------------------------------------------------------------ dry runs

def _config(tmp_path, **changes) -> Path:
    cfg = yaml.safe_load((WORKFLOW / "config" / "test.yaml").read_text())
    for key, value in changes.items():
        section, name = key.split("__")
        cfg.setdefault(section, {})[name] = value
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_dry_run_held_out(tmp_path):
    cfg = _config(tmp_path, gwas__individuals="held_out", pretrain__val_fraction=0.3)
    out = _ok(_snakemake("-n", "-p", "--configfile", cfg, "--directory", tmp_path / "run"))
    assert out.count("--val-fraction 0.3") == 3
    # the random-init model is not trained: its split does not restrict the held-out set
    assert ("held-out --split contig=results/pretrain/contig/split.tsv "
            "--split simclr=results/pretrain/simclr/split.tsv --out "
            "results/pretrain/held_out.tsv") in out
    gwas = [ln for ln in out.splitlines() if "contig-gwas --mode" in ln]
    h2 = [ln for ln in out.splitlines() if "contig-h2 --bfile" in ln]
    assert len(gwas) == 2 and len(h2) == 1
    assert all("--keep results/pretrain/held_out.tsv" in ln for ln in gwas + h2)
    cfg = _config(tmp_path, gwas__individuals="held_out", pretrain__val_fraction=0)
    proc = _snakemake("-n", "--configfile", cfg, "--directory", tmp_path / "run")
    assert proc.returncode != 0 and "val_fraction: 0" in proc.stdout + proc.stderr


def test_dry_run_per_chromosome_bgen(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for f in ["imp_chr1.bgen", "imp_chr2.bgen", "imp.sample", "arr.bed", "arr.bim", "arr.fam",
              "manifest.tsv", "covar.tsv"]:
        (data / f).write_text("")
    cfg = {"cohort": {"bfile": str(data / "arr"), "bgen": str(data / "imp_chr{chrom}.bgen"),
                      "sample": str(data / "imp.sample"), "manifest": str(data / "manifest.tsv"),
                      "covariates": str(data / "covar.tsv"), "chromosomes": [1, 2]},
           "models": {"simclr": {"method": "simclr"}},
           "gwas": {"mode": "scalable", "threads": 4}}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(cfg))
    out = _ok(_snakemake("-n", "-p", "--profile", PROFILE, "--configfile", tmp_path / "s.yaml",
                         "--directory", tmp_path / "run"))
    assert f"--bgen {data / 'imp_chr1.bgen'} --sample {data / 'imp.sample'}" in out
    assert f"--bgen {data / 'imp_chr2.bgen'} --sample {data / 'imp.sample'}" in out
    assert "--chr 2 " in out and "--step1-in results/gwas/step1.npz" in out
    cfg["gwas"]["regions"] = ["1-2"]
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(cfg))
    proc = _snakemake("-n", "--configfile", tmp_path / "s.yaml", "--directory", tmp_path / "r")
    assert proc.returncode != 0 and "span several chromosomes" in proc.stdout + proc.stderr


def test_dry_run_jobs_carry_the_computed_requests(tmp_path):
    cfg_path = WORKFLOW / "config" / "config.yaml"
    out = _ok(_snakemake("-n", "--profile", PROFILE, "--configfile", cfg_path,
                         "--directory", tmp_path))
    table = request_table(yaml.safe_load(cfg_path.read_text())).set_index("rule")
    col = [c for c in table.columns if c.startswith("mem_mb")][0]
    blocks = re.findall(r"^rule (\w+):\n(?:.*\n)*?\s+resources: (.*)$", out, flags=re.M)
    seen = {}
    for rule, res in blocks:
        seen.setdefault(rule, dict(kv.split("=", 1) for kv in res.split(", ")))
    step1 = table.loc[[r for r in table.index if r.startswith("gwas_step1")][0]]
    assert int(seen["gwas_step1"]["mem_mb"]) == step1[col]
    assert int(seen["gwas_step1"]["runtime"]) == step1[col.replace("mem_mb", "runtime_min")]
    assert int(seen["pretrain"]["mem_mb"]) == table.loc["pretrain", col]
    assert seen["h2"]["slurm_partition"] == "main"
