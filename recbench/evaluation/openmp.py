"""Running a compiled (numba) function on torch's own OpenMP threads.

After every parallel torch op (the score product), torch's OpenMP workers keep spinning
for a while before they sleep (libgomp's default: 300,000 spins). Work handed to threads
of another pool in that time shares the cores with the spinners: measured on 2 cores, the
ranking kernel right after the product took twice its time alone. Started as a parallel
region of the same OpenMP runtime (``GOMP_parallel``, which libgomp, LLVM's libomp and
Intel's libiomp5 all export), it runs on those very workers instead, as torch's own ops do.

:func:`torch_parallel` finds that runtime among the libraries torch ships, when torch's
parallel backend is OpenMP; None otherwise (callers keep their own threads). The
intrinsics let a ``cfunc`` read its arguments from one ``int64`` array of addresses.
:func:`on_own_threads` is the other way: a pool of this module's, as many threads as
torch's.
"""

from __future__ import annotations

import ctypes
import functools
import glob
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import torch
from numba import types
from numba.extending import intrinsic

#: file names of the OpenMP runtimes torch wheels ship (Linux: libgomp; macOS: libomp)
_RUNTIMES = ("libgomp*.so*", "libomp*.so*", "libiomp5*.so*", "libomp*.dylib", "libiomp5*.dylib")


@functools.cache
def torch_parallel():
    """``GOMP_parallel(fn, data, num_threads, flags)`` of the OpenMP runtime torch runs
    its parallel ops on (a ctypes function; it releases the GIL), or None when torch's
    backend is not OpenMP or its runtime is not among torch's libraries."""
    if "parallel backend: OpenMP" not in torch.__config__.parallel_info():
        return None
    root = os.path.dirname(torch.__file__)
    folders = (os.path.join(root, "lib"), root + ".libs")  # wheels, auditwheel-repaired
    loaded = _loaded_files()
    for folder in folders:
        for pattern in _RUNTIMES:
            for path in sorted(glob.glob(os.path.join(folder, pattern))):
                if loaded is not None and os.path.realpath(path) not in loaded:
                    continue  # not the copy torch loaded: a second runtime, a second pool
                try:
                    # loaded by torch: dlopen returns that copy, not a second one
                    launch = ctypes.CDLL(path).GOMP_parallel
                except (OSError, AttributeError):
                    continue
                launch.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint]
                launch.restype = None
                return launch
    return None


def _loaded_files() -> set[str] | None:
    """The shared libraries mapped into this process (Linux), None where unknown."""
    try:
        with open("/proc/self/maps") as maps:
            return {os.path.realpath(line.split(None, 5)[5].strip())
                    for line in maps if len(line.split(None, 5)) == 6}
    except OSError:
        return None


def _pointer(to):
    @intrinsic
    def cast(typingctx, address):
        sig = types.CPointer(to)(address)

        def codegen(context, builder, signature, args):
            return builder.inttoptr(args[0], context.get_value_type(sig.return_type))
        return sig, codegen
    return cast


#: ``int64`` address -> typed pointer (for ``numba.carray``)
float32_at = _pointer(types.float32)
int64_at = _pointer(types.int64)
uint8_at = _pointer(types.uint8)


@intrinsic
def fetch_add(typingctx, pointer, value):
    """Atomically add ``value`` to ``*pointer`` (``int64``); returns the value before."""
    sig = types.int64(pointer, value)

    def codegen(context, builder, signature, args):
        return builder.atomic_rmw("add", args[0], args[1], "monotonic")
    return sig, codegen


_executor: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def on_own_threads(fn, calls: list[tuple]) -> None:
    """``fn(*args)`` for every ``args`` of ``calls`` at once on a pool of as many threads
    as torch uses (``fn`` compiled without the GIL); returns when all are done."""
    global _executor
    with _lock:  # one batch at a time over the pool's threads
        if _executor is None or _executor._max_workers != torch.get_num_threads():
            if _executor is not None:
                _executor.shutdown(wait=False)  # torch.set_num_threads changed: resize
            _executor = ThreadPoolExecutor(max_workers=torch.get_num_threads(),
                                           thread_name_prefix="recbench-kernel")
        for future in [_executor.submit(fn, *args) for args in calls]:
            future.result()
