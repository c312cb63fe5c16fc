"""Text input as PLINK 2 reads it: plain, gzip or zstd (by content, not by name), any line ending.

Every table reader of the package (phenotypes, covariates, ID and variant lists, ``.fam``,
``.bim``, ``.psam``, ``.pvar``, ``.sample``) goes through ``read_lines`` so that the same
conventions hold everywhere: a gzip (``1f 8b``) or zstd (``28 b5 2f fd``) file is decompressed
whatever its name, CR LF and CR line endings are read as LF, a UTF-8 byte-order mark is
dropped, and bytes that are not UTF-8 become an ``InputError`` naming the file and line.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import InputError

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def read_bytes(path: str | os.PathLike, *, what: str = "file") -> bytes:
    """The decompressed content of ``path``; InputError if it is missing or corrupt."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: {what} not found")
    if path.is_dir():
        raise InputError(f"{path}: {what} is a directory")
    raw = path.read_bytes()
    try:
        if raw[:2] == GZIP_MAGIC:
            try:
                from isal import igzip
            except ImportError:  # pragma: no cover - isal is a dependency; stdlib fallback
                import gzip

                return gzip.decompress(raw)
            return igzip.decompress(raw)
        if raw[:4] == ZSTD_MAGIC:
            import pyarrow as pa

            stream = pa.CompressedInputStream(pa.BufferReader(raw), "zstd")
            return stream.read()
    except Exception as exc:  # noqa: BLE001 - a corrupt archive is the user's input
        raise InputError(f"{path}: cannot decompress {what} ({type(exc).__name__}: {exc})") \
            from None
    return raw


def read_text(path: str | os.PathLike, *, what: str = "file") -> str:
    """The decoded text of ``path`` with LF line endings (see the module docstring)."""
    data = read_bytes(path, what=what)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise InputError(f"{path}: line {line} is not text (byte 0x{data[exc.start]:02x} at "
                         f"offset {exc.start}); is this a binary file?") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def read_lines(path: str | os.PathLike, *, what: str = "file") -> list[str]:
    """The lines of ``path`` (see ``read_text``), without their endings; blank lines dropped."""
    return [ln for ln in read_text(path, what=what).split("\n") if ln.strip()]
