"""Shared command-line plumbing: error handling and common options."""

from __future__ import annotations

import argparse
import re
import sys
from typing import Callable, Sequence

from .. import __version__
from ..errors import InputError


def make_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """An ArgumentParser with ``--version`` set."""
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


class NameList(argparse.Action):
    """A list option that takes names separated by spaces, commas or both, and may be repeated
    (names never hold spaces or commas: the tables are whitespace-delimited):
    ``--pheno-name A B``, ``--pheno-name A,B`` and ``--pheno-name A --pheno-name B`` are the
    same list. Dash ranges (``PC1-PC10``) are kept as written and resolved against the table's
    columns by the reader (``contig_gwas.io.tables.resolve_columns``)."""

    def __init__(self, option_strings, dest, **kwargs):
        kwargs.setdefault("nargs", "+")
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        items = [x for v in values for x in re.split(r"[,\s]+", v) if x]
        if not items:
            parser.error(f"{option_string}: no name given")
        setattr(namespace, self.dest, (getattr(namespace, self.dest) or []) + items)


def add_name_list(parser: argparse.ArgumentParser | argparse._ArgumentGroup, flag: str, *,
                  help: str) -> None:
    """Add a ``NameList`` option (default None: every column)."""
    parser.add_argument(flag, action=NameList, default=None, metavar="NAME",
                        help=help + " (space- or comma-separated; ranges such as PC1-PC10)")


def add_genotype_options(parser: argparse.ArgumentParser, *, required: bool, what: str = "",
                         sample: bool = True) -> argparse._MutuallyExclusiveGroup:
    """``--bfile | --pfile | --bgen`` (one of them) and ``--sample``; returns the group so a tool
    can add further alternatives (e.g. a precomputed GRM)."""
    suffix = f" ({what})" if what else ""
    g = parser.add_mutually_exclusive_group(required=required)
    g.add_argument("--bfile", metavar="PREFIX", help="PLINK 1 PREFIX.bed/.bim/.fam" + suffix)
    g.add_argument("--pfile", metavar="PREFIX",
                   help="PLINK 2 PREFIX.pgen/.pvar[.zst]/.psam; dosages where present" + suffix)
    g.add_argument("--bgen", metavar="FILE", help="BGEN 1.2 file" + suffix)
    if sample:
        parser.add_argument("--sample", metavar="FILE",
                            help="Oxford .sample file for --bgen (default: FILE.sample if it "
                                 "exists, else the sample IDs stored in the BGEN file)")
    return g


def add_variant_filters(parser: argparse.ArgumentParser, *, applies: str) -> None:
    """``--extract``/``--exclude`` files of variant IDs (first column, as in PLINK 2)."""
    parser.add_argument("--extract", metavar="FILE",
                        help="keep only the variants listed (one ID per line, first column; "
                             "plain, gz or zst) " + applies)
    parser.add_argument("--exclude", metavar="FILE",
                        help="drop the variants listed (as --extract) " + applies)


def run(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None) -> int:
    """Run a tool's ``main``; bad input becomes ``error: ...`` on stderr and exit status 2."""
    try:
        return main(argv)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
