"""Worker threads over blocks, with results that do not depend on the number of threads.

Both GWAS modes spend their time in per-block work: matrix products over cache-sized blocks of
genotype codes (step 1 of the scalable mode), per-chunk tests (step 2, the exact scan), the
similarity's block products and the eigendecompositions of the exact mode. ``Workers`` runs
such tasks on a pool of threads, each calling single-threaded BLAS (the caller holds the BLAS
thread limit at 1: ``single_threaded_blas``); numpy and the BLAS release the GIL, so the
threads run in parallel. Threading inside BLAS was measured to make the scalable mode slower
with two threads than with one (its products are a few MB each).

Results are bitwise independent of the thread count because

- every task is a fixed piece of work (a block, a chunk, a chromosome, a tile), defined by the
  data and never by the number of threads, computed by the same single-threaded code whichever
  thread runs it;
- results come back in task order (``Workers.map``), and sums over tasks are added in that
  order by the caller (``Workers.reduce``), never in completion order.

Memory: at most ``window`` tasks are submitted ahead of the one the caller consumes
(default ``threads + 1``), so the results held at once are bounded whatever the number of
tasks.
"""

from __future__ import annotations

import contextlib
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterable, Iterator, TypeVar

__all__ = ["Workers", "single_threaded_blas"]

T = TypeVar("T")
R = TypeVar("R")


def single_threaded_blas():
    """Context manager: the BLAS (OpenBLAS, MKL, BLIS) and OpenMP libraries of the process
    run one thread per call for its duration (``threadpoolctl``)."""
    import scipy.linalg  # noqa: F401 - loads SciPy's BLAS, so that the limit covers it too
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


class Workers:
    """A pool of ``threads`` worker threads; with one thread every task runs inline in the
    caller's thread (no pool, the same code).

    Use as a context manager (the pool is shut down on exit) or call ``close``.
    """

    def __init__(self, threads: int = 1) -> None:
        if threads < 1:
            raise ValueError(f"threads must be positive, got {threads}")
        self.threads = int(threads)
        self._pool = (ThreadPoolExecutor(self.threads, thread_name_prefix="contig-gwas")
                      if self.threads > 1 else None)

    def __enter__(self) -> "Workers":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def map(self, fn: Callable[[T], R], items: Iterable[T], *,
            window: int | None = None) -> Iterator[R]:
        """``fn(item)`` for every item, yielded in the items' order.

        Args:
            window: tasks submitted ahead of the one being consumed (default ``threads + 1``):
                bounds the results held at once. ``items`` is consumed lazily, so it may be a
                generator (e.g. of blocks read one after another).
        """
        if self._pool is None:
            for item in items:
                yield fn(item)
            return
        ahead = max(1, window if window is not None else self.threads + 1)
        pending: deque[Future] = deque()
        it = iter(items)
        try:
            for item in it:
                pending.append(self._pool.submit(fn, item))
                if len(pending) >= ahead:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for f in pending:
                f.cancel()
            # a task already running must not outlive the caller's buffers
            for f in pending:
                with contextlib.suppress(Exception):
                    if not f.cancelled():
                        f.result()

    def reduce(self, fn: Callable[[T], R], items: Iterable[T], add: Callable[[R], None], *,
               window: int | None = None) -> None:
        """``add(fn(item))`` for every item, in the items' order (a sum over tasks in a fixed
        order: the same bits for any number of threads)."""
        for r in self.map(fn, items, window=window):
            add(r)

    def submit(self, fn: Callable[..., R], *args) -> Future:
        """Run ``fn(*args)`` on a worker (inline, already finished, with one thread)."""
        if self._pool is not None:
            return self._pool.submit(fn, *args)
        f: Future = Future()
        try:
            f.set_result(fn(*args))
        except BaseException as exc:  # noqa: BLE001 - delivered through the future
            f.set_exception(exc)
        return f
