"""Shared command-line plumbing: error handling and common options."""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Callable, Sequence

from .. import __version__
from ..errors import InputError


class HelpFormatter(argparse.HelpFormatter):
    """Shows ``(default: X)`` where there is a default worth showing: not for flags, not for
    options without a default (None), and not where the help text already says it."""

    _FLAGS = (argparse._StoreTrueAction, argparse._StoreFalseAction, argparse._StoreConstAction,
              argparse._VersionAction, argparse._HelpAction)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (isinstance(action, self._FLAGS) or action.default in (None, argparse.SUPPRESS)
                or action.required or not action.option_strings or "default" in text):
            return text
        return text + " (default: %(default)s)"


def make_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """An ArgumentParser with ``--version`` set."""
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def available_cpus() -> int:
    """CPUs this process may use: a SLURM job's ``SLURM_CPUS_PER_TASK``, else the affinity mask
    (``taskset``, cgroups), else the machine's count."""
    slurm = os.environ.get("SLURM_CPUS_PER_TASK", "")
    if slurm.isdigit() and int(slurm) > 0:
        return int(slurm)
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


#: the help of --threads in the torch tools
TORCH_THREADS = "CPU threads for torch"

#: what --threads defaults to, in every tool's help (``check_threads`` resolves it)
THREADS_DEFAULT = ("default: the CPUs this process may use (SLURM_CPUS_PER_TASK or the affinity "
                   "mask)")


def add_run_options(parser: argparse.ArgumentParser, *, out: str, out_metavar: str = "PREFIX",
                    threads: str, device: bool = False, progress: bool = True,
                    overwrite: str = "replace existing outputs") -> None:
    """The options every tool shares, declared once: ``--threads``, ``--device`` (torch tools),
    ``--no-progress``, ``--out`` and ``--overwrite``. ``check_threads`` validates the first and
    resolves its default, ``available_cpus()`` (left unresolved in the parser, so the manual
    pages do not depend on the machine that generated them)."""
    if device:
        parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help=f"{threads}; {THREADS_DEFAULT}")
    if progress:
        parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--out", required=True, metavar=out_metavar, help=out)
    parser.add_argument("--overwrite", action="store_true", help=overwrite)


def check_threads(threads: int | None, *, torch: bool = False) -> int:
    """Validate ``--threads`` and return it, ``available_cpus()`` where it was not given; with
    ``torch``, also set torch's intra-op threads to it."""
    if threads is None:
        threads = available_cpus()
    if threads < 1:
        raise InputError(f"--threads must be positive, got {threads}")
    if torch:
        import torch as _torch

        _torch.set_num_threads(threads)
    return threads


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
    note = "space- or comma-separated; ranges such as PC1-PC10"
    head, sep, tail = help.partition(" (default")
    parser.add_argument(flag, action=NameList, default=None, metavar="NAME",
                        help=f"{head}, {note}{sep}{tail}")


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
