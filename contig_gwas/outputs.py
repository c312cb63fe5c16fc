"""Safe outputs: no half-written files, nothing the user had overwritten without asking."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

from .errors import InputError


def file_stem(name: str) -> str:
    """The one rule turning a phenotype, group or feature name into part of a file name: every
    character other than ``A-Z a-z 0-9 _ . + -`` becomes ``_`` (``a+b`` stays ``a+b``, ``a/b``
    becomes ``a_b``); an empty name becomes ``_``. Every file named after a phenotype (summary
    statistics, loci, figures, maps) uses it, so the names of one phenotype's files agree."""
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", name) or "_"


def refuse_to_overwrite(paths: Iterable[str | os.PathLike], *, overwrite: bool) -> None:
    """Raise InputError if any of ``paths`` exists and ``overwrite`` is False."""
    if overwrite:
        return
    existing = [str(p) for p in paths if Path(p).exists()]
    if existing:
        more = f" and {len(existing) - 5} more" if len(existing) > 5 else ""
        shown = ", ".join(existing[:5]) + more
        raise InputError(f"output exists: {shown}; pass --overwrite to replace it")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success.

    A failure (or kill) leaves no file at ``path``; the temporary file is removed on error.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise
