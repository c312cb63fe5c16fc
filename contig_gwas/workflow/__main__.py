"""``python -m contig_gwas.workflow <command>``: the helper steps of the Snakemake workflow.

Commands:
  merge-phenotypes  one ``FID IID ...`` table of several phenotype sets (columns ``<set>_<col>``)
  gather-sumstats   per-phenotype summary statistics from the per-region GWAS runs
  summary           the study's summary table from a report folder
  held-out          the individuals no pretrained model trained on (a --keep file)
  resources         the memory and time every cluster job of a study's config asks for

Each takes ``--log FILE`` (a run log as every tool writes) and follows the tools' conventions:
bad input prints ``error: ...`` and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from ..cli._common import make_parser, run
from ..errors import InputError
from ..runlog import NullLog, RunLog

TOOL = "contig-workflow"


def _pairs(values: Sequence[str], *, option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for v in values:
        if "=" not in v:
            raise InputError(f"{option} {v!r}: expected NAME=VALUE")
        k, val = v.split("=", 1)
        k = k.strip()
        if not k or k in out:
            raise InputError(f"{option} {v!r}: empty or repeated name {k!r}")
        out[k] = val
    return out


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = make_parser(TOOL, "Helper steps of the contig-gwas Snakemake workflow.")
    sub = p.add_subparsers(dest="command", required=True)

    m = sub.add_parser("merge-phenotypes", help="merge phenotype sets into one table")
    m.add_argument("--set", action="append", default=[], metavar="NAME=FILE", required=True,
                   help="a phenotype set (FID IID ... table); repeat")
    m.add_argument("--columns", action="append", default=[], metavar="NAME=A,B",
                   help="take only these columns of set NAME")
    m.add_argument("--out", required=True, help="merged FID IID <set>_<column>... table")
    m.add_argument("--sets-out", required=True, help="table phenotype set column file n")
    m.add_argument("--rg-pairs-out", default=None,
                   help="pairs for contig-h2 --rg-pairs: learned x standard phenotypes")
    m.add_argument("--log", default=None)

    g = sub.add_parser("gather-sumstats", help="gather per-region summary statistics")
    g.add_argument("--sets", required=True, help="sets table of merge-phenotypes")
    g.add_argument("--region", action="append", default=[], metavar="NAME=PREFIX", required=True,
                   help="a region's contig-gwas --out prefix; repeat")
    g.add_argument("--out", required=True, help="folder for <set>/<phenotype>.sumstats.tsv.gz")
    g.add_argument("--index", required=True, help="table of the gathered files")
    g.add_argument("--nullmodel", default=None, help="the regions' null-model tables, concatenated")
    g.add_argument("--log", default=None)

    s = sub.add_parser("summary", help="the study's summary table from a report folder")
    s.add_argument("--report", required=True, help="contig-report --out folder")
    s.add_argument("--label", action="append", default=[], metavar="GROUP=LABEL",
                   help="display name of a group (also fixes the row order); repeat")
    s.add_argument("--p-threshold", type=float, default=5e-8,
                   help="the report's --clump-p1 (for the column title)")
    s.add_argument("--kb", type=float, default=None, help="the report's --clump-kb (for the note)")
    s.add_argument("--out", default=None, help="TSV (default: none)")
    s.add_argument("--text", default=None, help="the printed table (default: standard output)")
    s.add_argument("--log", default=None)
    h = sub.add_parser("held-out", help="the individuals no pretrained model trained on")
    h.add_argument("--split", action="append", default=[], metavar="MODEL=FILE", required=True,
                   help="a model's contig-pretrain split.tsv; repeat")
    h.add_argument("--out", required=True, help="--keep file of the held-out individuals")
    h.add_argument("--log", default=None)
    r = sub.add_parser("resources", help="what every cluster job of a study asks for")
    r.add_argument("--configfile", required=True, help="the study's workflow config (YAML)")
    r.add_argument("--individuals", type=int, nargs="+", default=[], metavar="N",
                   help="also at these numbers of individuals (e.g. 100000 500000)")
    r.add_argument("--format", choices=["text", "markdown", "tsv"], default="text")
    r.add_argument("--log", default=None)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # the log is the rule's log file: written, not echoed (errors still reach stderr)
    log_cm = RunLog(args.log, tool=TOOL, argv=argv, echo=False) if args.log else NullLog()
    with log_cm as log:
        if args.command == "merge-phenotypes":
            _merge(args, log)
        elif args.command == "gather-sumstats":
            _gather(args, log)
        elif args.command == "held-out":
            _held_out(args, log)
        elif args.command == "resources":
            _resources(args, log)
        else:
            _summary(args, log)
    return 0


def _merge(args: argparse.Namespace, log: RunLog) -> None:
    from .phenotypes import (
        PhenotypeSource,
        merge_phenotypes,
        rg_pairs,
        write_merged,
        write_rg_pairs,
    )

    sets = _pairs(args.set, option="--set")
    cols = {k: [c for c in v.split(",") if c] for k, v in
            _pairs(args.columns, option="--columns").items()}
    unknown = sorted(set(cols) - set(sets))
    if unknown:
        raise InputError(f"--columns names sets {unknown} that no --set gives")
    merged = merge_phenotypes({k: PhenotypeSource(Path(v), cols.get(k) or None)
                               for k, v in sets.items()})
    write_merged(merged, table=args.out, sets=args.sets_out)
    if args.rg_pairs_out:
        pairs = rg_pairs(merged.sets)
        write_rg_pairs(args.rg_pairs_out, pairs)
        log.info(f"{args.rg_pairs_out}: {len(pairs)} phenotype pairs for genetic correlation")
    for name, sub in merged.sets.groupby("set", sort=False):
        log.info(f"set {name}: {len(sub)} phenotypes from {sub['file'].iloc[0]}, "
                 f"{int(sub['n'].min())}-{int(sub['n'].max())} individuals with a value")
    log.info(f"{args.out}: {len(merged.iid)} individuals, {merged.values.shape[1]} phenotypes")


def _gather(args: argparse.Namespace, log: RunLog) -> None:
    from .gather import gather_sumstats, write_table_tsv
    from .phenotypes import read_sets

    sets = read_sets(args.sets)
    res = gather_sumstats(regions=_pairs(args.region, option="--region"), sets=sets,
                          out_dir=args.out, log=log)
    write_table_tsv(args.index, res.index)
    if args.nullmodel:
        if res.nullmodel is None:
            log.warning("no region wrote a null-model table; --nullmodel left empty")
            write_table_tsv(args.nullmodel, res.index.iloc[0:0])
        else:
            write_table_tsv(args.nullmodel, res.nullmodel)
    log.info(f"gathered {len(res.index)} phenotypes into {args.out}")


def _held_out(args: argparse.Namespace, log: RunLog) -> None:
    from .heldout import held_out_individuals, write_keep

    res = held_out_individuals(_pairs(args.split, option="--split"))
    for name, (n, n_val) in res.sizes.items():
        log.info(f"model {name}: {n_val} of {n} individuals held out of pretraining")
    write_keep(args.out, res.iid)
    log.info(f"{args.out}: {len(res.iid)} individuals no model trained on")


def _resources(args: argparse.Namespace, log: RunLog) -> None:
    from .studysize import read_config, request_table

    table = request_table(read_config(args.configfile), individuals=args.individuals)
    if args.format == "tsv":
        text = table.to_csv(sep="\t", index=False).rstrip("\n")
    elif args.format == "markdown":
        head = "| " + " | ".join(table.columns) + " |"
        rule = "|---|" + "---:|" * (len(table.columns) - 1)
        body = ["| " + " | ".join(f"{v:,}" if isinstance(v, int) else str(v)
                                  for v in row) + " |"
                for row in table.itertuples(index=False, name=None)]
        text = "\n".join([head, rule, *body])
    else:
        text = table.to_string(index=False)
    print(text)
    log.info("requests:\n" + text)


def _summary(args: argparse.Namespace, log: RunLog) -> None:
    from .gather import write_table_tsv
    from .summary import format_summary, study_summary

    table = study_summary(report_dir=args.report, labels=_pairs(args.label, option="--label"))
    text = format_summary(table, p_threshold=args.p_threshold, kb=args.kb)
    if args.out:
        write_table_tsv(args.out, table)
    if args.text:
        Path(args.text).parent.mkdir(parents=True, exist_ok=True)
        Path(args.text).write_text(text + "\n")
    else:
        print(text)
    log.info("summary:\n" + text)


if __name__ == "__main__":
    sys.exit(run(main))
