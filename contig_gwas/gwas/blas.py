"""Two BLAS calls that accumulate in place and release the GIL, for the worker threads.

``scipy.linalg.blas`` (f2py) offers in-place accumulation (``beta = 1``) but holds the GIL
for the whole call (measured: a second thread ran at a fifth of its speed beside it), so the
worker threads of ``parallel.Workers`` would take turns; numpy's ``matmul`` releases the GIL
but cannot accumulate. These wrappers call the same BLAS functions, SciPy's own (the
function pointers that ``scipy.linalg.cython_blas`` exports for Cython, as numba obtains
them), through ``ctypes``, which releases the GIL during the call. Where the pointers cannot
be had they fall back to the f2py functions (the same results, serialised threads).

- ``sgemm_acc(c, a, b)``: ``c += a @ b`` (float32), ``c`` and ``a`` column-major, ``b`` in
  either order.
- ``dsyrk_lower_acc(c, a)``: the lower triangle of ``c += a @ a.T`` (float64), ``c``
  column-major; the strictly upper triangle is left as it is.
"""

from __future__ import annotations

import ctypes
from functools import lru_cache

import numpy as np

__all__ = ["sgemm_acc", "dsyrk_lower_acc"]

_INT = ctypes.POINTER(ctypes.c_int)
_CHAR = ctypes.c_char_p


@lru_cache(maxsize=None)
def _function(name: str, argtypes: tuple):
    """The ``cython_blas`` function ``name`` as a ctypes function (None if unavailable)."""
    try:
        from scipy.linalg import cython_blas

        capsule = cython_blas.__pyx_capi__[name]
        get_name = ctypes.pythonapi.PyCapsule_GetName
        get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
        get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
        get_pointer.restype = ctypes.c_void_p
        get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
        pointer = get_pointer(capsule, get_name(capsule))
    except (ImportError, AttributeError, KeyError, ValueError):  # pragma: no cover
        return None
    if not pointer:  # pragma: no cover - a capsule without a pointer
        return None
    return ctypes.CFUNCTYPE(None, *argtypes)(pointer)


def _p(a: np.ndarray):
    return a.ctypes.data_as(ctypes.c_void_p)


def _i(v: int):
    return ctypes.byref(ctypes.c_int(int(v)))


def sgemm_acc(c: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
    """``c += a @ b`` in place, float32. ``c`` (M, N) and ``a`` (M, K) Fortran-contiguous,
    ``b`` (K, N) C- or Fortran-contiguous."""
    m, k = a.shape
    n = b.shape[1]
    if not (c.flags.f_contiguous and a.flags.f_contiguous and c.dtype == a.dtype == b.dtype
            == np.float32 and c.shape == (m, n) and b.shape[0] == k):
        raise ValueError("sgemm_acc: float32, c and a column-major, shapes (M, N) (M, K) (K, N)")
    if m == 0 or n == 0 or k == 0:
        return
    fn = _function("sgemm", (_CHAR, _CHAR, _INT, _INT, _INT, ctypes.c_void_p, ctypes.c_void_p,
                             _INT, ctypes.c_void_p, _INT, ctypes.c_void_p, ctypes.c_void_p,
                             _INT))
    if b.flags.f_contiguous:
        tb, ldb = b"N", k
    elif b.flags.c_contiguous:          # b is b.T in column-major order
        tb, ldb = b"T", n
    else:
        b, tb, ldb = np.asfortranarray(b), b"N", k
    if fn is None:  # pragma: no cover - f2py: the same product, holding the GIL
        from scipy.linalg.blas import sgemm

        sgemm(1.0, a, b, beta=1.0, c=c, overwrite_c=1)
        return
    one = ctypes.c_float(1.0)
    fn(b"N", tb, _i(m), _i(n), _i(k), ctypes.byref(one), _p(a), _i(m), _p(b), _i(ldb),
       ctypes.byref(one), _p(c), _i(m))


def dsyrk_lower_acc(c: np.ndarray, a: np.ndarray) -> None:
    """The lower triangle of ``c += a @ a.T`` in place, float64; ``c`` (N, N) Fortran-
    contiguous, ``a`` (N, K) Fortran-contiguous."""
    n, k = a.shape
    if not (c.flags.f_contiguous and a.flags.f_contiguous and c.dtype == a.dtype == np.float64
            and c.shape == (n, n)):
        raise ValueError("dsyrk_lower_acc: float64, column-major, shapes (N, N) and (N, K)")
    if n == 0 or k == 0:
        return
    fn = _function("dsyrk", (_CHAR, _CHAR, _INT, _INT, ctypes.c_void_p, ctypes.c_void_p, _INT,
                             ctypes.c_void_p, ctypes.c_void_p, _INT))
    if fn is None:  # pragma: no cover - f2py: the same product, holding the GIL
        from scipy.linalg.blas import dsyrk

        dsyrk(1.0, a, beta=1.0, c=c, lower=1, overwrite_c=1)
        return
    one = ctypes.c_double(1.0)
    fn(b"L", b"N", _i(n), _i(k), ctypes.byref(one), _p(a), _i(n), ctypes.byref(one), _p(c),
       _i(n))
